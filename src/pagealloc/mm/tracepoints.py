"""The kmem page tracepoints, printed as ftrace text lines.

Models include/trace/events/kmem.h (mm_page_alloc, mm_page_free,
mm_page_free_batched, mm_page_alloc_zone_locked, mm_page_pcpu_drain,
mm_page_alloc_extfrag) and the line layout of kernel/trace/trace_output.c
with the default irq-info option (the flags column as the real captures show it:
``d..3.`` under zone->lock with IRQs off, ``...2.`` for batched frees under the pcp
lock, ``..s1.`` / ``d.s3.`` in softirq context):

    <comm:16>-<pid:<7> [<cpu:03>] <5 flags> <secs:5>.<usecs:06>: <event>: <fields>

``page=`` is a %p pointer: with the default hash-ptr option the kernel
prints a per-boot hash, here a seeded hash of the struct page address (16
hex digits, upper 8 zero), so traces are reproducible.

Tracing costs nothing when off: the allocator tests ``mm.trace is not None``.
"""
from __future__ import annotations

from typing import Callable, TextIO

from .gfp import format_gfp
from .mmzone import kernel_migratetype, pageblock_order

__all__ = ["Tracer", "format_trace_line", "trace_header"]

VMEMMAP_BASE = 0xFFFFEA0000000000
STRUCT_PAGE_SIZE = 64


def format_trace_line(comm: str, pid: int, cpu: int, flags: str, ts_ns: int, event: str,
                      fields: str) -> str:
    """One line of /sys/kernel/tracing/trace."""
    secs, rem = divmod(ts_ns // 1000, 1_000_000)
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags} {secs:5d}.{rem:06d}: {event}: {fields}"


def trace_header(entries: int, written: int, cpus: int) -> str:
    """The header tracefs prints above the lines (nop tracer, irq-info)."""
    return (
        "# tracer: nop\n#\n"
        f"# entries-in-buffer/entries-written: {entries}/{written}   #P:{cpus}\n#\n"
        "#                                _-----=> irqs-off/BH-disabled\n"
        "#                               / _----=> need-resched\n"
        "#                              | / _---=> hardirq/softirq\n"
        "#                              || / _--=> preempt-depth\n"
        "#                              ||| / _-=> migrate-disable\n"
        "#                              |||| /     delay\n"
        "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
        "#              | |         |   |||||     |         |\n")


class Tracer:
    """Collects tracepoint lines into a file, a callback or a list."""

    def __init__(self, out: TextIO | Callable[[str], None] | list | None = None, *,
                 seed: int = 0x5EED, comm: str = "pagealloc", pid: int = 1,
                 clock: Callable[[], int] | None = None) -> None:
        self.lines: list[str] | None = None
        if out is None:
            self.lines = []
            self._emit: Callable[[str], None] = self.lines.append
        elif isinstance(out, list):
            self.lines = out
            self._emit = out.append
        elif callable(out):
            self._emit = out
        else:
            fh = out
            self._emit = lambda line: fh.write(line + "\n")
        self.seed = seed & 0xFFFFFFFF
        self.comm = comm
        self.pid = pid
        self.clock = clock
        self.written = 0

    # -- helpers -------------------------------------------------------------------------
    def _ptr(self, pfn: int) -> str:
        if pfn < 0:
            return "0000000000000000"
        addr = VMEMMAP_BASE + pfn * STRUCT_PAGE_SIZE
        h = (addr ^ self.seed) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
        return f"00000000{h & 0xFFFFFFFF:08x}"

    def _line(self, mm, event: str, fields: str, flags: str = ".....") -> None:
        ts = self.clock() if self.clock is not None else getattr(mm, "clock_ns", 0)
        if mm.in_interrupt:
            # network receive runs in softirq: preempt depth 1 (3 under zone->lock)
            flags = "d.s3." if flags[0] == "d" else "..s1."
        self.written += 1
        self._emit(format_trace_line(self.comm, self.pid, mm.cpu, flags, ts, event, fields))

    def _mt(self, mm, mt: int) -> int:
        return kernel_migratetype(mt, mm.cma_enabled) if mt >= 0 else mt

    # -- the events ----------------------------------------------------------------------
    def mm_page_alloc(self, mm, pfn: int, order: int, gfp: int, mt: int) -> None:
        pfn_s = f"{pfn:#x}" if pfn >= 0 else "0x0"
        self._line(mm, "mm_page_alloc",
                   f"page={self._ptr(pfn)} pfn={pfn_s} order={order} "
                   f"migratetype={self._mt(mm, mt)} gfp_flags={format_gfp(gfp)}")

    def mm_page_free(self, mm, pfn: int, order: int) -> None:
        self._line(mm, "mm_page_free", f"page={self._ptr(pfn)} pfn={pfn:#x} order={order}")

    def mm_page_free_batched(self, mm, pfn: int) -> None:
        self._line(mm, "mm_page_free_batched", f"page={self._ptr(pfn)} pfn={pfn:#x} order=0",
                   "...2.")

    def mm_page_alloc_zone_locked(self, mm, pfn: int, order: int, mt: int, refill: bool) -> None:
        self._line(mm, "mm_page_alloc_zone_locked",
                   f"page={self._ptr(pfn)} pfn={pfn:#x} order={order} "
                   f"migratetype={self._mt(mm, mt)} percpu_refill={int(refill)}", "d..3.")

    def mm_page_pcpu_drain(self, mm, pfn: int, order: int, mt: int) -> None:
        self._line(mm, "mm_page_pcpu_drain",
                   f"page={self._ptr(pfn)} pfn={pfn:#x} order={order} "
                   f"migratetype={self._mt(mm, mt)}", "d..3.")

    def mm_page_alloc_extfrag(self, mm, pfn: int, alloc_order: int, fallback_order: int,
                              alloc_mt: int, fallback_mt: int) -> None:
        block_mt = mm.mem.pageblock[pfn >> pageblock_order] & 0x7
        self._line(mm, "mm_page_alloc_extfrag",
                   f"page={self._ptr(pfn)} pfn={pfn:#x} alloc_order={alloc_order} "
                   f"fallback_order={fallback_order} pageblock_order={pageblock_order} "
                   f"alloc_migratetype={self._mt(mm, alloc_mt)} "
                   f"fallback_migratetype={self._mt(mm, fallback_mt)} "
                   f"fragmenting={int(fallback_order < pageblock_order)} "
                   f"change_ownership={int(block_mt == alloc_mt)}", "d..3.")
