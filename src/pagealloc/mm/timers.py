"""Simulated time and delayed work: the machine's clock, jiffies and schedule_delayed_work.

Models the part of kernel/workqueue.c and kernel/time/timer.c that mm/
relies on: a ``struct delayed_work`` armed with a delay in jiffies runs its
function once the clock reaches the expiry, on the CPU that armed it
(system_wq, WORK_CPU_UNBOUND queues locally). Page reporting's 2-second
delay uses it; kswapd, kcompactd and vmstat_update can reuse it.

Time is simulated, explicit and monotonic: ``mm.clock_ns`` only moves when
the driver of the simulation calls :func:`run_timers` (``Machine.run_until``,
``Machine.advance``). Allocation and freeing take no time. HZ is 250
(Debian 12's CONFIG_HZ_250); a delay of ``d`` jiffies armed at time ``t``
expires at the jiffy boundary ``(t // TICK_NSEC + d) * TICK_NSEC``, as a
timer armed for ``jiffies + d`` fires on that tick.

Deliberate differences: works expire exactly at their jiffy (the timer
wheel's slack of up to 1/8 of the delay for delays above 63 jiffies is not
modelled); a work runs to completion when it expires, with nothing else
interleaved; works due at the same jiffy run in the order they were armed.
"""
from __future__ import annotations

import heapq
from typing import Callable

__all__ = ["HZ", "NSEC_PER_SEC", "NSEC_PER_MSEC", "TICK_NSEC", "DelayedWork", "TimerBase",
           "timer_base", "jiffies", "msecs_to_jiffies", "schedule_delayed_work",
           "mod_delayed_work", "cancel_delayed_work", "cancel_delayed_work_sync",
           "delayed_work_pending", "run_timers", "advance"]

HZ = 250
NSEC_PER_SEC = 1_000_000_000
NSEC_PER_MSEC = 1_000_000
TICK_NSEC = NSEC_PER_SEC // HZ


class DelayedWork:
    """struct delayed_work: ``func(mm)`` to run when the armed delay has passed.

    :param func: called with the machine's MM when the work runs.
    :param name: the work function's kernel name, for listings
        ("page_reporting_process", "vmstat_update", ...).
    """

    __slots__ = ("func", "name", "expires", "cpu", "_seq", "runs")

    def __init__(self, func: Callable[..., None], name: str = "") -> None:
        self.func = func
        self.name = name or getattr(func, "__name__", "work")
        self.expires: int | None = None     # ns; None when not pending
        self.cpu = 0                        # the CPU the work runs on (the one that armed it)
        self._seq = 0
        self.runs = 0                       # times the work has run

    @property
    def pending(self) -> bool:
        """delayed_work_pending()."""
        return self.expires is not None

    def __repr__(self) -> str:
        when = "idle" if self.expires is None else f"expires {self.expires} ns"
        return f"<DelayedWork {self.name} {when}>"


class TimerBase:
    """The armed delayed works of one machine, earliest expiry first."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, DelayedWork]] = []
        self._seq = 0

    def arm(self, work: DelayedWork, expires: int, cpu: int) -> None:
        self._seq += 1
        work.expires = expires
        work.cpu = cpu
        work._seq = self._seq
        heapq.heappush(self._heap, (expires, self._seq, work))

    def disarm(self, work: DelayedWork) -> bool:
        # lazy deletion: the heap entry goes stale and is skipped when popped
        was = work.expires is not None
        work.expires = None
        work._seq = 0
        return was

    def next_expiry(self) -> int | None:
        """Expiry (ns) of the earliest pending work, or None."""
        heap = self._heap
        while heap and heap[0][2]._seq != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pending(self) -> list[DelayedWork]:
        """The pending works, earliest first."""
        return [w for _, seq, w in sorted(self._heap, key=lambda e: (e[0], e[1]))
                if w._seq == seq]

    def pop_due(self, now_ns: int) -> DelayedWork | None:
        heap = self._heap
        while heap:
            expires, seq, work = heap[0]
            if work._seq != seq:
                heapq.heappop(heap)
                continue
            if expires > now_ns:
                return None
            heapq.heappop(heap)
            return work
        return None


def timer_base(mm) -> TimerBase:
    """The machine's timer base, created on first use with the clock at 0 if unset."""
    tb = getattr(mm, "timers", None)
    if tb is None:
        tb = TimerBase()
        mm.timers = tb
        if not hasattr(mm, "clock_ns"):
            mm.clock_ns = 0
    return tb


def _now(mm) -> int:
    return getattr(mm, "clock_ns", 0)


def jiffies(mm) -> int:
    """jiffies: whole ticks since boot of the simulated clock."""
    return _now(mm) // TICK_NSEC


def msecs_to_jiffies(ms: int) -> int:
    """msecs_to_jiffies() for HZ=250: rounds up to whole ticks."""
    return -(-ms * HZ // 1000)


def _expiry(mm, delay: int) -> int:
    return (jiffies(mm) + max(0, delay)) * TICK_NSEC


def schedule_delayed_work(mm, work: DelayedWork, delay: int) -> bool:
    """Arm ``work`` to run ``delay`` jiffies from now on the running CPU.

    Models schedule_delayed_work(): False (and nothing changes) when the
    work is already pending.
    """
    tb = timer_base(mm)
    if work.expires is not None:
        return False
    tb.arm(work, _expiry(mm, delay), mm.cpu)
    return True


def mod_delayed_work(mm, work: DelayedWork, delay: int) -> bool:
    """Arm or re-arm ``work`` for ``delay`` jiffies from now; True if it was pending.

    Models mod_delayed_work() (used by kswapd-like wakeups that pull a timer in).
    """
    tb = timer_base(mm)
    was = tb.disarm(work)
    tb.arm(work, _expiry(mm, delay), mm.cpu)
    return was


def cancel_delayed_work(mm, work: DelayedWork) -> bool:
    """Disarm ``work``; True if it was pending (cancel_delayed_work())."""
    return timer_base(mm).disarm(work)


def cancel_delayed_work_sync(mm, work: DelayedWork) -> bool:
    """cancel_delayed_work_sync(): as cancel, works never run concurrently in the model."""
    return cancel_delayed_work(mm, work)


def delayed_work_pending(work: DelayedWork) -> bool:
    """delayed_work_pending()."""
    return work.expires is not None


def run_timers(mm, now_ns: int) -> int:
    """Advance the clock to ``now_ns``, running every work that expires on the way.

    Each work runs with the clock at its own expiry and ``mm.cpu`` set to the
    CPU that armed it; a work may re-arm itself or others, and those run too
    if they fall due before ``now_ns``. Returns the number of works run.
    Raises ValueError if ``now_ns`` is before the current time.
    """
    tb = timer_base(mm)
    if now_ns < mm.clock_ns:
        raise ValueError(f"time is monotonic: {now_ns} ns is before the clock "
                         f"({mm.clock_ns} ns)")
    ran = 0
    with mm.lock:
        while True:
            work = tb.pop_due(now_ns)
            if work is None:
                break
            if work.expires > mm.clock_ns:
                mm.clock_ns = work.expires
            work.expires = None
            work._seq = 0
            saved = mm.cpu
            cpu = work.cpu
            if 0 <= cpu < mm.nr_cpu_ids and mm.cpu_online[cpu]:
                mm.cpu = cpu
            try:
                work.runs += 1
                work.func(mm)
            finally:
                mm.cpu = saved
            ran += 1
        mm.clock_ns = now_ns
    return ran


def advance(mm, delta_ns: int) -> int:
    """run_timers(mm, clock + delta_ns)."""
    if delta_ns < 0:
        raise ValueError(f"time is monotonic: cannot advance by {delta_ns} ns")
    timer_base(mm)
    return run_timers(mm, mm.clock_ns + delta_ns)
