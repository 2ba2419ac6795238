"""Trace readers and summaries: kmem events from ftrace, trace-cmd and perf text.

Not a kernel file. :mod:`.reader` streams events from a trace file;
:mod:`.stat` summarises one (``pagealloc stat``).
"""
from __future__ import annotations

from .reader import KMEM_EVENTS, TraceEvent, TraceReader, detect_format, read_events
from .stat import render_stat, stat_trace

__all__ = ["KMEM_EVENTS", "TraceEvent", "TraceReader", "detect_format", "read_events",
           "stat_trace", "render_stat"]
