"""Reading a block of raw ftrace kmem lines with numpy: offsets and numbers for every line.

Not a kernel file. Raw ftrace text (/sys/kernel/tracing/trace) prints every event
line with the same columns (kernel/trace/trace_output.c's default layout)::

    <comm, right-aligned in 16>-<pid, left-aligned in 7> [<cpu, 3 digits>] <flags, 5>
    <timestamp, at least 12 wide>: <event>: page=<16 hex> pfn=0x<hex> <the rest>

so the columns of a kmem page event sit at offsets that numpy can check and read
for a whole block of lines at once, instead of a Python string split per line. What
:func:`scan_block` cannot confirm byte for byte (another layout, another event, an
odd width, a pfn of 16 hex digits) it leaves to the per-line reader
(replay_input.EventBlocks), which gives the same result for the lines scanned here:
tests/traces/test_rawscan.py holds the two to that.

This module stays interpreted in the compiled build: its work is a few dozen numpy
calls per block, whatever the number of lines.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .reader import ALLOC, BATCHED, DRAIN, FREE, ZONE_LOCKED

__all__ = ["ScannedBlock", "scan_block", "EVENT_PREFIXES"]

#: The event column and the page field's name, per event the scan reads.
EVENT_PREFIXES: tuple[tuple[bytes, int], ...] = (
    (b"mm_page_alloc: page=", ALLOC),
    (b"mm_page_free: page=", FREE),
    (b"mm_page_free_batched: page=", BATCHED),
    (b"mm_page_alloc_zone_locked: page=", ZONE_LOCKED),
    (b"mm_page_pcpu_drain: page=", DRAIN),
)

_PAD = b"\0" * 128                          # room for the gathers past the last line
_TS_MIN = 12                                # "%5llu.%06lu"
_TS_MAX = 20
_PFN_DIGITS = 15                            # more goes to the per-line reader (int64)
_U8 = np.uint8


def _prefix_table() -> tuple[np.ndarray, ...]:
    """The event prefixes sorted by their bytes 8..15 (after "mm_page_", the key that
    tells them apart): the key, the prefix's bytes 16..23 and 24..31 as little-endian
    words with their byte masks, its length, its code. Bytes 0..7 are "mm_page_" for
    all."""
    rows = []
    for pat, code in EVENT_PREFIXES:
        assert pat.startswith(b"mm_page_") and len(pat) <= 32
        b = pat.ljust(32, b"\0")
        m = (b"\xff" * len(pat)).ljust(32, b"\0")
        w, mw = np.frombuffer(b, "<u8"), np.frombuffer(m, "<u8")
        rows.append((int(w[1]), w[2], w[3], mw[2], mw[3], len(pat), code))
    rows.sort(key=lambda r: r[0])
    if len({r[0] for r in rows}) != len(rows):
        raise AssertionError("event prefixes must differ in their bytes 8..15")
    cols = list(zip(*rows))
    return (np.array(cols[0], np.uint64), *(np.array(c, np.uint64) for c in cols[1:5]),
            np.array(cols[5], np.int64), np.array(cols[6], np.int64))


_KEYS, _P2, _P3, _M2, _M3, _PLEN, _PCODE = _prefix_table()
_MM_PAGE = np.uint64(int.from_bytes(b"mm_page_", "little"))


def _word(s: bytes) -> np.uint64:
    """Eight bytes as a little-endian word (NUL: a byte not compared)."""
    return np.uint64(int.from_bytes(s, "little"))


def _mask(s: bytes) -> np.uint64:
    return np.uint64(int.from_bytes(bytes(0 if c == 0 else 0xFF for c in s), "little"))


# head bytes 24..31: " [ccc] " and the first flag; the digits are checked apart
_HEAD_PAT = _word(b" [\0\0\0] \0")
_HEAD_MASK = _mask(b" [\0\0\0] \0")
_COLON_PAT = _word(b"\0\0\0\0\0\0: ")       # bytes 43..50: the timestamp's end
_COLON_MASK = _mask(b"\0\0\0\0\0\0: ")
_PFN_PAT = _word(b" pfn=0x\0")
_PFN_MASK = _mask(b" pfn=0x\0")
_SPACES = _word(b" " * 8)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_HIGH = np.uint64(0x8080808080808080)
_POW16 = 16 ** np.arange(_PFN_DIGITS - 1, -1, -1, dtype=np.int64)
_PFN_BITS = 35                              # pfns up to 2^35 - 1 (128 TiB of 4 KiB pages)


def _no_byte(w: np.ndarray, b: np.uint64) -> np.ndarray:
    """Per word: the top bit of each byte that differs from ``b``'s (the classic zero-byte
    test, exact: (x & 0x7f..) + 0x7f.. sets a byte's top bit when its low seven bits are
    not all zero)."""
    x = w ^ b
    return ((x & _LOW7) + _LOW7) | x


class ScannedBlock(NamedTuple):
    """Per line of a block (Python lists, line i of the block at index i).

    ``end``: the offset of the line's newline in the block's text (the line starts after
    the previous one's). ``info``: 0 where the line was not read here (the per-line
    reader takes it), else the kmem event code (bits 0..2), the cpu (3..12), the end of
    the columns before the event (13..19: the ``": "`` after the timestamp, from the
    line's start), the start of the fields after the pfn (20..27, from the line's start)
    and the pfn (28..).
    """

    n: int
    end: list[int]
    info: list[int]


def _windows(a: np.ndarray, width: int) -> np.ndarray:
    """Row k: a[k:k + width] (a read-only view; a must have width bytes of padding)."""
    return as_strided(a, shape=(len(a) - width, width), strides=(1, 1), writeable=False)


def _words(a: np.ndarray) -> np.ndarray:
    """Element k: the little-endian 8-byte word at byte k (unaligned, read-only)."""
    return np.ndarray(shape=(len(a) - 8,), dtype="<u8", buffer=a, strides=(1,))


def scan_block(text: bytes) -> ScannedBlock | None:
    """Scan ``text`` (whole lines, each ending with a newline); None when no line of it
    has raw ftrace's layout (then the caller reads it line by line)."""
    size = len(text)
    a = np.frombuffer(text + _PAD, np.uint8)
    end = np.flatnonzero(a[:size] == 10)
    n = len(end)
    if n == 0:
        return None
    start = np.empty(n, np.int64)
    start[0] = 0
    start[1:] = end[:-1] + 1
    w = _words(a)
    # comm (16) "-" pid (7) " [ccc] " flags (5) " " timestamp ": "
    hw = w[start + 24]
    d = (hw >> np.uint64(16)) & np.uint64(0xFFFFFF)
    ok = ((hw & _HEAD_MASK) == _HEAD_PAT) & (end - start > 60) \
        & ((d & np.uint64(0xF0F0F0)) == np.uint64(0x303030)) \
        & (((d + np.uint64(0x060606)) & np.uint64(0xF0F0F0)) == np.uint64(0x303030))
    if not ok.any():
        return None
    d = d.astype(np.int64)
    cpu = (d & 15) * 100 + ((d >> 8) & 15) * 10 + ((d >> 16) & 15)
    # the ": " that ends the timestamp (wider than 12 after 100,000 s of uptime)
    colon = start + (37 + _TS_MIN)
    found = (w[start + (37 + _TS_MIN - 6)] & _COLON_MASK) == _COLON_PAT
    todo = ok & ~found
    if todo.any():
        for tw in range(_TS_MIN + 1, _TS_MAX + 1):
            c = start + 37 + tw
            hit = todo & (a[c] == 0x3A) & (a[c + 1] == 0x20)
            colon = np.where(hit, c, colon)
            found |= hit
            todo &= ~hit
            if not todo.any():
                break
    ok &= found
    # the event column and "page=": keyed by the bytes after "mm_page_", then whole
    name = colon + 2
    key = w[name + 8]
    k = np.minimum(np.searchsorted(_KEYS, key), len(_KEYS) - 1)
    ok &= (_KEYS[k] == key) & (w[name] == _MM_PAGE) \
        & ((w[name + 16] & _M2[k]) == _P2[k]) & ((w[name + 24] & _M3[k]) == _P3[k])
    # <16 characters, no space> " pfn=0x" <1..15 hex> " "
    page = name + _PLEN[k]
    ok &= ((_no_byte(w[page], _SPACES) & _no_byte(w[page + 8], _SPACES) & _HIGH) == _HIGH) \
        & ((w[page + 16] & _PFN_MASK) == _PFN_PAT)
    q = _windows(a, 16)[page + 23]
    hx = ((q - _U8(0x30)) < 10) | ((q - _U8(0x61)) < 6)
    nd = np.argmin(hx, axis=1)
    ok &= (nd >= 1) & (nd <= _PFN_DIGITS) & (a[page + 23 + nd] == 0x20) & (page + 24 + nd <= end)
    if not ok.any():
        return None
    dv = q[:, :_PFN_DIGITS] - _U8(0x30)
    dv -= (dv > 9) * _U8(0x27)
    # the bytes after the digits count at most 15 each: together less than the last
    # digit's unit, so the shift drops them
    np.minimum(dv, _U8(15), out=dv)
    pfn = (dv.astype(np.int64) @ _POW16) >> (4 * (_PFN_DIGITS - np.minimum(nd, _PFN_DIGITS)))
    ok &= pfn < (1 << _PFN_BITS)
    info = _PCODE[k] | (cpu << 3) | ((colon - start) << 13) | ((page + 24 + nd - start) << 20) \
        | (pfn << 28)
    info[~ok] = 0
    return ScannedBlock(n, end.tolist(), info.tolist())
