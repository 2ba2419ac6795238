"""Reports of a run: sampled metrics (CSV), plots (PNG), memory maps and one HTML page.

Not a kernel file: metrics.py samples the machine, plots.py and memmap.py draw
with matplotlib's Agg backend, html.py puts everything into one self-contained
page.
"""
from __future__ import annotations

from .metrics import Recorder

__all__ = ["Recorder"]
