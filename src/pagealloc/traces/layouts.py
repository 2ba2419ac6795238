"""Raw ftrace lines rewritten in the layouts of ``trace-cmd report`` and ``perf script``.

Not a kernel file. The readers take three layouts of the same events (reader.py); the
real captures are raw ftrace text. :func:`relayout` prints a raw line as the other
tools would, so that tests can hold the readers to the same events and benchmarks can
time them on real traces:

* trace-cmd report: pid padded to 5, the event column padded to 21, and a page pointer
  of its own making (it cannot hash %p as the kernel does);
* perf script: comm and pid in their own right-aligned columns, no flags, the event as
  ``kmem:<name>`` right-aligned in 30.
"""
from __future__ import annotations

import re

__all__ = ["LAYOUTS", "relayout"]

LAYOUTS = ("trace-cmd", "perf")

_RAW = re.compile(r"^(.{16})-(\d+)\s+\[(\d{3})\] (\S{5})\s+(\S+): ([a-z_]+): (.*)$")
_PAGE = re.compile(r"page=\S+ pfn=(0x[0-9a-f]+)(.*)")


def relayout(line: str, layout: str) -> str:
    """``line`` (raw ftrace, no newline) as ``layout`` prints it; a line that is not a raw
    event line comes back unchanged."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: {', '.join(LAYOUTS)}")
    m = _RAW.match(line)
    if not m:
        return line
    comm, pid, cpu, flags, ts, ev, fields = m.groups()
    if layout == "trace-cmd":
        f = _PAGE.match(fields)
        if f:
            fields = f"page=0xffffea{int(f.group(1), 16) * 64:010x} pfn={f.group(1)}{f.group(2)}"
        return f"{comm.strip():>16}-{int(pid):<5} [{cpu}] {flags} {ts:>12}: {ev + ':':<21} {fields}"
    return f"{comm.strip():>16} {int(pid):>6} [{cpu}] {ts:>12}: {'kmem:' + ev:>30}: {fields}"
