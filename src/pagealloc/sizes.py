"""Sizes as users write them ("4G", "512M", "1T"): parse_size.

Not a kernel file (the kernel's memparse accepts K, M, G, T, P, E suffixes; this
accepts those up to T, optionally followed by B or iB, and plain byte counts).
"""
from __future__ import annotations

from .errors import PageAllocError

__all__ = ["parse_size"]

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
          "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
          "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from "4G", "512M", "1T", "1048576" (memparse-like, binary units)."""
    if isinstance(text, int):
        return text
    s = str(text).strip().upper()
    num = s.rstrip("BKMGTI")
    unit = s[len(num):]
    try:
        value = float(num)
    except ValueError:
        raise PageAllocError(f"invalid size {text!r}: expected a number with K, M, G or T") from None
    if unit not in _UNITS:
        raise PageAllocError(f"invalid size {text!r}: unknown unit {unit!r}")
    return int(value * _UNITS[unit])
