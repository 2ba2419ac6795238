"""Free page reporting (mm/page_reporting.c) with the virtio-balloon reporter, and timers."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pagealloc import Machine, PageAllocError, gfp
from pagealloc.mm.memmap import PG_buddy, PG_reported
from pagealloc.mm.mm_init import MachineSpec, NodeSpec
from pagealloc.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_TYPES
from pagealloc.mm.page_reporting import (PAGE_REPORTING_ACTIVE, PAGE_REPORTING_IDLE,
                                         PAGE_REPORTING_REQUESTED, PageReportingDevInfo,
                                         VirtioBalloonReporter, page_reporting_register,
                                         reported_pages, set_page_reporting_order)

SEC = 1_000_000_000
START = 0x8000           # 128 MiB: inside ZONE_DMA32, order-10 aligned


def machine(blocks: int, reserved=()) -> Machine:
    """One node, ``blocks`` order-10 blocks of RAM at 128 MiB, no boot reservations."""
    spec = MachineSpec(nodes=[NodeSpec(0, [(START, START + blocks * 1024)], [0])],
                       reserved=list(reserved))
    if hasattr(spec, "boot_reservations"):
        spec.boot_reservations = False
    return Machine.from_spec(spec)


def order10_list(m: Machine, mt: int = MIGRATE_MOVABLE) -> list[int]:
    z = m.zone("DMA32")
    return list(m.mm.mem.iter_list(z.list_base + 10 * MIGRATE_TYPES + mt))


def test_first_pass_reports_every_block_two_seconds_after_registration():
    m = machine(64)
    r = m.enable_page_reporting()
    assert m.mm.reporting.order == 9                     # pageblock_order: virtio on x86_64
    assert r.state == PAGE_REPORTING_REQUESTED
    assert "Free page reporting enabled" in m.mm.log
    assert m.run_until(2 * SEC - 1) == 0
    assert r.nr_reports == 0
    assert m.run_until(2 * SEC) == 1
    # 64 blocks, budget ceil(64 / 512) = 1: one full batch in the cycle, the second as the
    # zone's leftover; both at t = 2 s.
    assert r.nr_reports == 2 and r.blocks_reported == 64 and r.pages_reported == 65536
    assert [(b.pfn, b.order) for b in r.batches[0]] == [(0xFC00 - i * 0x400, 10) for i in range(32)]
    assert [b.pfn for b in r.batches[1]] == [0x17C00 - i * 0x400 for i in range(32)]
    assert {b.time_ns for b in r.reports} == {2 * SEC}
    assert r.reported_ranges() == [(START, START + 64 * 1024)]
    # put back at the tail in scatterlist order, flagged, and no new request from the put-backs
    assert order10_list(m) == ([0xFC00 - i * 0x400 for i in range(32)]
                               + [0x17C00 - i * 0x400 for i in range(32)])
    assert all(m.mm.mem.flags[p] == PG_buddy | PG_reported for p in order10_list(m))
    assert reported_pages(m.mm) == 65536
    assert r.state == PAGE_REPORTING_IDLE and m.pending_work() == []
    m.check()


def test_reported_blocks_are_skipped_and_a_freed_block_is_reported_alone():
    m = machine(64)
    r = m.enable_page_reporting()
    m.advance(2)
    pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 10)
    assert pfn == 0xFC00                                 # the head: a reported block
    assert not m.mm.mem.flags[pfn] & PG_reported         # allocation clears PG_reported
    assert reported_pages(m.mm) == 65536 - 1024
    m.advance(1)
    m.free_pages(pfn, 10)                                # final order 10 >= 9: notify
    assert r.state == PAGE_REPORTING_REQUESTED
    assert [w.expires for w in m.pending_work()] == [5 * SEC]
    m.advance(2)
    assert r.nr_reports == 3
    assert r.batches[-1] == [(5 * SEC, 0xFC00, 10)]     # only the unreported block
    assert reported_pages(m.mm) == 65536
    m.check()


def test_a_merged_block_is_unreported_and_reported_again():
    m = machine(64)
    r = m.enable_page_reporting()
    m.advance(2)
    pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 8)     # splits reported 0xFC00
    assert pfn == 0xFC00
    mem = m.mm.mem
    assert mem.flags[0xFD00] == PG_buddy and mem.order[0xFD00] == 8   # split-off: unreported
    assert mem.flags[0xFE00] == PG_buddy and mem.order[0xFE00] == 9
    assert r.state == PAGE_REPORTING_IDLE
    m.free_pages(pfn, 8)                                  # merges up to order 10: notify
    assert mem.flags[0xFC00] == PG_buddy and mem.order[0xFC00] == 10
    assert r.state == PAGE_REPORTING_REQUESTED
    m.advance(2)
    assert r.batches[-1] == [(4 * SEC, 0xFC00, 10)]
    m.check()


def test_budget_leaves_the_rest_for_the_next_pass():
    m = machine(100)
    r = m.enable_page_reporting()
    m.advance(2)
    # budget ceil(100 / 512) = 1: two reports of 32, then the budget is spent: REQUESTED
    assert r.nr_reports == 2 and r.blocks_reported == 64
    assert r.state == PAGE_REPORTING_REQUESTED
    assert [w.expires for w in m.pending_work()] == [4 * SEC]
    m.advance(2)
    assert r.nr_reports == 4 and r.blocks_reported == 100
    assert r.reported_ranges() == [(START, START + 100 * 1024)]
    assert r.state == PAGE_REPORTING_IDLE and m.pending_work() == []
    m.check()


def test_zone_watermark_condition():
    # low + (32 << 9) must be exceeded: 16 blocks (16384 free) never are
    m = machine(16)
    z = m.zone("DMA32")
    assert z.nr_free_pages() <= z.low_wmark_pages() + (32 << 9)
    r = m.enable_page_reporting()
    m.advance(10)
    assert r.nr_reports == 0 and r.state == PAGE_REPORTING_IDLE
    # a smaller reporting order lowers the bar (low + 32 << 5) and reports order 5..10
    m2 = machine(16)
    r2 = m2.enable_page_reporting(order=5)
    m2.advance(2)
    assert m2.mm.reporting.order == 5 and r2.nr_reports == 1
    # __isolate_free_page keeps min + 2^order: the last block stays behind
    z2 = m2.zone("DMA32")
    assert r2.blocks_reported == 15
    assert z2.nr_free_pages() == 16384
    m2.check()


def test_isolation_watermark_stops_the_walk():
    m = machine(17)
    z = m.zone("DMA32")
    r = m.enable_page_reporting()
    m.advance(2)
    # isolations continue while free - 1024 stays above min + 1024
    expected = 0
    free = z.nr_free_pages()
    while free > z._watermark[0] + 1024:
        free -= 1024
        expected += 1
    assert expected == 16
    assert r.blocks_reported == expected and r.nr_reports == 1
    assert r.state == PAGE_REPORTING_IDLE


def test_failed_report_puts_pages_back_unflagged_and_stops():
    m = machine(64)
    r = m.enable_page_reporting()
    r.fail_next = 1
    before = order10_list(m)
    m.advance(2)
    assert r.nr_failed == 1 and r.nr_reports == 0
    assert reported_pages(m.mm) == 0
    assert sorted(order10_list(m)) == sorted(before)
    assert r.state == PAGE_REPORTING_IDLE and m.pending_work() == []
    m.check()


def test_register_busy_unregister_and_module_parameter():
    m = machine(64)
    r = m.enable_page_reporting()
    assert page_reporting_register(m.mm, VirtioBalloonReporter()) == -16
    with pytest.raises(PageAllocError):
        m.enable_page_reporting()
    m.disable_page_reporting()
    assert m.pending_work() == []
    m.advance(5)
    assert r.nr_reports == 0
    # [6.1] the module parameter is overwritten at registration
    set_page_reporting_order(m.mm, 3)
    r2 = m.enable_page_reporting()
    assert m.mm.reporting.order == 9
    m.advance(2)
    assert r2.blocks_reported == 64


def test_custom_device_sees_scatterlists():
    class Recorder(PageReportingDevInfo):
        def __init__(self):
            super().__init__(order=10)
            self.calls = []

        def report(self, mm, sgl):
            assert self.state == PAGE_REPORTING_ACTIVE
            self.calls.append(list(sgl))
            return 0

    m = machine(40)
    dev = Recorder()
    m.enable_page_reporting(dev)
    m.advance(2)
    # the first 32 are back on the lists before the next isolations: all 40 go
    assert [len(c) for c in dev.calls] == [32, 8]
    m.check()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reported_flags_only_on_free_blocks_of_the_reporting_order(seed):
    rng = random.Random(seed)
    m = machine(48)
    r = m.enable_page_reporting(order=rng.choice([0, 5, 9]))
    pr_order = m.mm.reporting.order
    live = []
    for _ in range(300):
        if live and rng.random() < 0.5:
            pfn, order = live.pop(rng.randrange(len(live)))
            m.free_pages(pfn, order)
        else:
            order = rng.choice([0, 2, 5, 8, 10])
            pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_NOWARN, order)
            if pfn is not None:
                live.append((pfn, order))
        if rng.random() < 0.1:
            m.advance(rng.choice([0.5, 1, 2, 3]))
    mem = m.mm.mem
    flagged = np.flatnonzero(mem.a_flags & PG_reported)
    assert all(mem.flags[p] & PG_buddy and mem.order[p] >= pr_order for p in flagged.tolist())
    assert reported_pages(m.mm) <= r.pages_reported
    assert r.state in (PAGE_REPORTING_IDLE, PAGE_REPORTING_REQUESTED)
    m.check()
