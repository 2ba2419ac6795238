"""Where the shared reference material (the real-kernel oracle captures) lives.

Not a kernel file. Looked up in order: $PAGEALLOC_REFERENCE, ``../shared/reference``
beside the checkout, ``/work/shared/reference``. Tests and benchmarks that compare
with the real kernel use it; they skip when none exists.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["reference_dir", "oracle_dir"]


def reference_dir() -> Path | None:
    """The reference folder, or None when it is not on this machine."""
    env = os.environ.get("PAGEALLOC_REFERENCE")
    here = Path(__file__).resolve()
    candidates = [Path(env)] if env else []
    candidates += [here.parents[3] / "shared" / "reference", Path("/work/shared/reference")]
    for c in candidates:
        if (c / "oracle").is_dir():
            return c
    return None


def oracle_dir() -> Path:
    """The oracle captures folder (a path that may not exist when there is none)."""
    ref = reference_dir()
    return (ref / "oracle") if ref is not None else Path("/work/shared/reference/oracle")
