"""Machine methods: simulated time, free page reporting, page_owner and the debug checks.

Not a kernel file: part of the facade (machine.py), kept in its own module so each
block of the Machine class stays small; Machine inherits it.
"""
from __future__ import annotations

from .errors import PageAllocError
from .mm.mmzone import MAX_ORDER, PAGE_SIZE

__all__ = ["DebugMixin"]


class DebugMixin:
    """Machine methods; ``self.mm`` is the machine's mm state (see machine.Machine)."""

    # =====================================================================================
    # Simulated time, free page reporting, page_owner and the debug checks.
    # Facades over mm/timers.py, mm/page_reporting.py, mm/page_owner.py and mm/debug.py;
    # kept together at the end of the class (their owner edits only this block).
    # =====================================================================================

    @property
    def clock_ns(self) -> int:
        """The simulated clock (ns since boot); it moves only through run_until/advance."""
        from .mm.timers import timer_base
        timer_base(self.mm)
        return self.mm.clock_ns

    def run_until(self, ns: int) -> int:
        """Advance the clock to ``ns``, running the delayed works that fall due; their count."""
        from .mm.timers import run_timers, timer_base
        timer_base(self.mm)
        if ns < self.mm.clock_ns:
            raise PageAllocError(f"run_until({ns}): the clock is already at "
                                 f"{self.mm.clock_ns} ns (time only moves forward)")
        return run_timers(self.mm, int(ns))

    def advance(self, seconds: float) -> int:
        """Advance the clock by ``seconds``, running the delayed works that fall due."""
        if seconds < 0:
            raise PageAllocError(f"advance({seconds}): time only moves forward")
        return self.run_until(self.clock_ns + round(seconds * 1_000_000_000))

    def pending_work(self) -> list:
        """The armed delayed works (timers.DelayedWork), earliest first."""
        from .mm.timers import timer_base
        return timer_base(self.mm).pending()

    # --- free page reporting (mm/page_reporting.c) -----------------------------------------
    def enable_page_reporting(self, reporter=None, order: int | None = None):
        """Register a free page reporting device (default: a virtio-balloon reporter).

        ``order`` is the device's minimal order (default pageblock_order).
        Returns the device; its first pass runs 2 simulated seconds later.
        """
        from .mm.page_reporting import VirtioBalloonReporter, page_reporting_register
        dev = reporter if reporter is not None else VirtioBalloonReporter()
        if order is not None:
            if not 0 <= order < MAX_ORDER:
                raise PageAllocError(f"page reporting order {order} out of range 0..{MAX_ORDER - 1}")
            dev.order = order
        if page_reporting_register(self.mm, dev):
            raise PageAllocError("page reporting: a device is already registered (-EBUSY)")
        return dev

    def disable_page_reporting(self) -> None:
        """Unregister the reporting device, if any (reported pages stay PG_reported)."""
        from .mm.page_reporting import page_reporting_unregister
        pr = self.mm.reporting
        if pr is not None and pr.prdev is not None:
            page_reporting_unregister(self.mm, pr.prdev)

    # --- page_owner (mm/page_owner.c) --------------------------------------------------------
    def enable_page_owner(self) -> None:
        """Turn page_owner on, as if booted with page_owner=on now (pages in use become early)."""
        from .mm.page_owner import enable_page_owner
        enable_page_owner(self.mm)

    def _page_owner(self):
        from .mm.page_owner import page_owner_of
        po = page_owner_of(self.mm)
        if po is None:
            raise PageAllocError("page_owner is off (Machine.enable_page_owner or page_owner=on)")
        return po

    def owner_context(self, caller=None, *, pid: int | None = None, tgid: int | None = None,
                      comm: str | None = None, free_caller=None):
        """``with m.owner_context(caller="do_anonymous_page", pid=812, comm="stress"):``

        Allocations and frees inside the block are recorded by page_owner with
        this caller tag (standing in for the stack) and task.
        """
        return self._page_owner().context(caller, pid=pid, tgid=tgid, comm=comm,
                                          free_caller=free_caller)

    def page_owner_dump(self) -> str:
        """/sys/kernel/debug/page_owner."""
        from .mm.page_owner import read_page_owner
        self._page_owner()
        return read_page_owner(self.mm)

    def page_owner_summary(self, by: str = "stacktrace") -> str:
        """page_owner_sort-like summary: by stacktrace, pid, comm, tgid, txt, migratetype or mixed."""
        from .mm.page_owner import page_owner_summary
        self._page_owner()
        try:
            return page_owner_summary(self.mm, by)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    # --- debug checks (mm/debug.py: bad pages, page poisoning, use after free) --------------
    def enable_poisoning(self) -> None:
        """Turn page poisoning on, as if booted with page_poison=1."""
        from .mm.debug import enable_page_poisoning
        enable_page_poisoning(self.mm)

    def _access(self, pfn: int, write: bool, data: bytes, offset: int, what: str) -> bool:
        from .mm.debug import page_access
        mm = self.mm
        if pfn < 0 or pfn >= mm.mem.npfn:
            raise PageAllocError(f"pfn {pfn:#x} is outside the machine (0..{mm.mem.npfn - 1:#x})")
        if not 0 <= offset or offset + len(data) > PAGE_SIZE:
            raise PageAllocError(f"access at offset {offset:#x} of {len(data)} bytes does not "
                                 f"fit in a page")
        try:
            return page_access(mm, pfn, write, data, offset, what)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def touch(self, pfn: int) -> bool:
        """Read a page through the API: False (and a use-after-free report) if it is free."""
        return self._access(pfn, False, b"", 0, "Machine.touch")

    def write(self, pfn: int, data: bytes = b"\0" * 8, offset: int = 0) -> bool:
        """Write to a page through the API: False (and a use-after-free report) if it is free.

        With poisoning on, a write to a free page also damages its poison,
        which its next allocation reports ("pagealloc: memory corruption").
        """
        return self._access(pfn, True, bytes(data), offset, "Machine.write")

    def debug_counts(self) -> dict[str, int]:
        """Counts of every debug report: bad_page (and suppressed), poison, use_after_free."""
        from .mm.debug import debug_counts
        return debug_counts(self.mm)
