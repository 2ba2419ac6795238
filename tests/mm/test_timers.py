"""Simulated time: the clock, jiffies and delayed work (mm/timers.py)."""
from __future__ import annotations

import pytest

from pagealloc import Machine, PageAllocError
from pagealloc.mm.timers import (HZ, TICK_NSEC, DelayedWork, cancel_delayed_work,
                                 mod_delayed_work, msecs_to_jiffies, run_timers,
                                 schedule_delayed_work)

SEC = 1_000_000_000


def test_timers_run_in_expiry_order_on_the_arming_cpu():
    m = Machine.boot(mem="64M", cpus=2)
    mm = m.mm
    ran = []
    a = DelayedWork(lambda mm: ran.append(("a", mm.clock_ns, mm.cpu)), "a")
    b = DelayedWork(lambda mm: ran.append(("b", mm.clock_ns, mm.cpu)), "b")
    c = DelayedWork(lambda mm: ran.append(("c", mm.clock_ns, mm.cpu)), "c")
    mm.cpu = 1
    assert schedule_delayed_work(mm, a, 2 * HZ)
    assert not schedule_delayed_work(mm, a, HZ)          # already pending
    mm.cpu = 0
    schedule_delayed_work(mm, b, HZ)
    schedule_delayed_work(mm, c, HZ)
    assert cancel_delayed_work(mm, c)
    assert mod_delayed_work(mm, b, HZ // 2) is True
    m.advance(3)
    assert ran == [("b", SEC // 2, 0), ("a", 2 * SEC, 1)]
    assert m.clock_ns == 3 * SEC
    with pytest.raises(ValueError):
        run_timers(mm, SEC)
    # a delay counts from the current jiffy
    m.run_until(3 * SEC + TICK_NSEC // 2)
    schedule_delayed_work(mm, c, 1)
    assert c.expires == 3 * SEC + TICK_NSEC


def test_works_rearming_themselves_run_at_each_expiry():
    m = Machine.boot(mem="64M")
    mm = m.mm
    seen = []

    def tick(mm):
        seen.append(mm.clock_ns)
        schedule_delayed_work(mm, w, HZ)

    w = DelayedWork(tick, "vmstat_update")
    schedule_delayed_work(mm, w, HZ)
    assert m.advance(3.5) == 3
    assert seen == [SEC, 2 * SEC, 3 * SEC]
    assert [x.expires for x in m.pending_work()] == [4 * SEC]
    assert msecs_to_jiffies(10) == 3                    # rounds up to whole 4 ms ticks
    with pytest.raises(PageAllocError):
        m.advance(-1)
