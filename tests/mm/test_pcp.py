"""Per-CPU page lists: sizing, refill sizes, free_factor, bulk frees and drain order.

Expected values are derived by hand from reference sections 5.1-5.5 ([6.1.y-late]:
two THP lists, free_factor capped at CONFIG_PCP_BATCH_SCALE_MAX = 5).
"""
from __future__ import annotations

import pytest

from pagealloc import Machine, gfp
from pagealloc.mm import page_alloc as pa
from pagealloc.mm.mmzone import ZONE_RECLAIM_ACTIVE, order_to_pindex
from pagealloc.mm.memmap import PG_buddy
from pagealloc.mm.pcp import PerCpuPages, nr_pcp_free, nr_pcp_high
from pagealloc.mm.vmstat import EV_PGFREE

from _pa_helpers import field, nr_free_snapshot, pcp_list, trace_events

KERNEL = gfp.GFP_KERNEL | gfp.__GFP_NOWARN
MOVABLE = gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_NOWARN
RECLAIMABLE = gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE | gfp.__GFP_NOWARN


def drained(lines: list[str]) -> list[int]:
    return [int(field(ln, "pfn"), 16) for ln in lines if "mm_page_pcpu_drain" in ln]


# --------------------------------------------------------------------------- sizing --

@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_batch_and_high_from_managed_pages_and_low_watermark(cpus):
    """zone_batchsize: min(managed>>10, 256)/4, then rounddown_pow_of_two(b + b/2) - 1;
    zone_highsize: low watermark / CPUs of the node, at least 4 batches."""
    m = Machine.boot(mem="256M", cpus=cpus)
    for z in (m.zone("DMA"), m.zone("DMA32")):
        b = max(min(z.managed_pages >> 10, 256) // 4, 1)
        b = (1 << ((b + b // 2).bit_length() - 1)) - 1
        batch = max(1, b)
        high = max(z.low_wmark_pages() // cpus, 4 * batch)
        for pcp in z.pcp:
            assert (pcp.batch, pcp.high) == (batch, high)
    # DMA (< 4096 managed pages): 3/4 = 0 -> 1 -> rounddown(1) - 1 = 0 -> batch 1
    assert m.zone("DMA").managed_pages < 4096 and m.zone("DMA").pcp[0].batch == 1
    assert m.zone("DMA32").pcp[0].batch > 1


@pytest.mark.parametrize("order", [0, 1, 2, 3, 9])
def test_refill_size_is_batch_shifted_by_order_at_least_two(order):
    """__rmqueue_pcplist asks rmqueue_bulk for max(batch >> order, 2) blocks (e.g. batch
    63: 63, 31, 15, 7 and 2 THPs)."""
    m = Machine.boot(mem="1G", cpus=1)
    dma32 = m.zone("DMA32")
    refill = max(dma32.pcp[0].batch >> order, 2)
    free0 = nr_free_snapshot(dma32)
    pfn = m.alloc_pages(KERNEL, order)
    assert pfn is not None
    assert dma32.pcp[0].count == (refill - 1) << order
    assert nr_free_snapshot(dma32) == free0 - (refill << order)
    lst = pcp_list(dma32, 0, order_to_pindex(0, order))
    assert len(lst) == refill - 1
    if order == 9:
        assert lst == [pfn + 512]          # two THPs: 1024 pages for one request
    m.check()


def test_batch_one_zone_refills_one_block():
    """DMA's batch is 1: `batch > 1` is false, so even order-3 refills take one block."""
    m = Machine.boot(mem="256M", cpus=1)
    assert m.zone("DMA").pcp[0].batch == 1
    dma = m.zone("DMA")
    for order in (0, 3):
        assert m.alloc_pages(gfp.GFP_DMA | gfp.__GFP_NOWARN, order) is not None
        assert dma.pcp[0].count == 0
    m.check()


# --------------------------------------------------------- free_factor and bulk frees --

def _many(m: Machine, g: int, n: int, cpu: int = 0) -> list[int]:
    out = [m.alloc_pages(g, 0, cpu=cpu) for _ in range(n)]
    assert None not in out
    return out


def test_free_factor_doubles_the_flush_up_to_batch_shl_5_and_drains_oldest_first():
    """Consecutive frees overflow `high` again and again: nr_pcp_free returns batch <<
    free_factor (clamped to high - batch) and free_factor grows by one per flush up to
    CONFIG_PCP_BATCH_SCALE_MAX = 5; free_pcppages_bulk takes each batch from the list
    tail, i.e. the oldest frees first."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    high, batch = pcp.high, pcp.batch
    assert batch << 5 < high - batch            # no clamping on this box: pure doubling
    expect_sizes = [batch << min(k, 5) for k in range(8)]
    expect_factors = [min(k + 1, 5) for k in range(8)]
    n = high + sum(expect_sizes[:-1])            # the last free triggers the last flush
    pages = _many(m, KERNEL, n)
    m.drain_all_pages()
    assert pcp.count == 0 and pcp.free_factor == 0
    lines = trace_events(m)
    flushes, factors = [], []
    for p in pages:
        before = pcp.count
        assert m.free_pages(p, 0)
        if pcp.count < before + 1:
            flushes.append(before + 1 - pcp.count)
            factors.append(pcp.free_factor)
    assert flushes == expect_sizes
    assert factors == expect_factors
    # the flushed pages are exactly the first ones freed, in the order they were freed
    assert drained(lines) == pages[:sum(flushes)]
    assert pcp.count == n - sum(flushes) == high - (batch << 5)
    m.mm.trace = None
    # every pcp allocation halves free_factor
    for expect in (2, 1, 0, 0):
        assert m.alloc_pages(KERNEL, 0) is not None
        assert pcp.free_factor == expect
    m.check()


def test_free_factor_stops_growing_once_the_flush_is_clamped():
    """With pcp->high = 4 x batch (the floor zone_highsize keeps), max_free = 3 x batch:
    the flushes are batch, 2 batch, then 3 batch for ever, and free_factor stays at 2."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    batch = pcp.batch
    pcp.high = high = 4 * batch
    pages = _many(m, KERNEL, high + 2 * batch + 3 * batch + 3 * batch)
    m.drain_all_pages()
    flushes, factors = [], []
    for p in pages:
        before = pcp.count
        assert m.free_pages(p, 0)
        if pcp.count < before + 1:
            flushes.append(before + 1 - pcp.count)
            factors.append(pcp.free_factor)
    assert flushes == [batch, 2 * batch, 3 * batch, 3 * batch]
    assert factors == [1, 2, 2, 2]
    m.check()


def test_free_factor_is_per_pcp_and_halved_by_allocations_of_any_list():
    m = Machine.boot(mem="256M", cpus=2)
    dma32 = m.zone("DMA32")
    pcp0, pcp1 = dma32.pcp
    pcp0.free_factor = 4
    assert m.alloc_pages(MOVABLE, 0, cpu=1) is not None
    assert (pcp0.free_factor, pcp1.free_factor) == (4, 0)
    assert m.alloc_pages(MOVABLE, 0, cpu=0) is not None     # another list, same pcp
    assert pcp0.free_factor == 2
    assert m.alloc_pages(gfp.GFP_DMA | gfp.__GFP_NOWARN, 0, cpu=0) is not None  # other zone
    assert pcp0.free_factor == 2


@pytest.mark.parametrize("high,batch,factor,expect,factor_after", [
    (2997, 15, 0, 15, 1),
    (2997, 15, 4, 240, 5),
    (2997, 15, 5, 480, 5),       # capped: 15 << 5 = 480 < 2982 but free_factor stays 5
    (60, 15, 0, 15, 1),
    (60, 15, 1, 30, 2),
    (60, 15, 2, 45, 2),          # 60 > max 45: clamped, and free_factor stops growing
    (60, 15, 3, 45, 3),
    (10, 15, 2, 1, 2),           # high < batch (boot pageset-like): one page
    (15, 15, 0, 0, 0),           # high == batch: max_free 0 wins the clamp
])
def test_nr_pcp_free_table(high, batch, factor, expect, factor_after):
    pcp = PerCpuPages(0)
    pcp.high, pcp.batch, pcp.free_factor, pcp.count = high, batch, factor, high
    assert nr_pcp_free(pcp, high, batch, False) == expect
    assert pcp.free_factor == factor_after
    assert nr_pcp_free(pcp, high, batch, True) == high      # free_high: the whole pcp


def test_nr_pcp_high_zero_for_free_high_and_capped_while_reclaim_active():
    m = Machine.boot(mem="1G", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    assert pcp.high > 4 * pcp.batch
    assert nr_pcp_high(pcp, dma32, False) == pcp.high
    assert nr_pcp_high(pcp, dma32, True) == 0
    dma32.flags |= ZONE_RECLAIM_ACTIVE
    assert nr_pcp_high(pcp, dma32, False) == 4 * pcp.batch


def test_high_order_free_with_free_factor_flushes_the_whole_pcp():
    """free_high: an order 1..3 free while free_factor > 0 sets high to 0 and frees
    pcp->count pages, i.e. every list; with free_factor 0 it is just queued."""
    m = Machine.boot(mem="1G", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    o0 = _many(m, KERNEL, 20)
    o1 = [m.alloc_pages(KERNEL, 1) for _ in range(2)]
    o3 = m.alloc_pages(MOVABLE, 3)
    thp = m.alloc_pages(MOVABLE, 9)
    m.drain_all_pages()
    for p in o0:
        assert m.free_pages(p, 0)
    assert m.free_pages(o1[0], 1)                # free_factor 0: queued, no flush
    assert pcp.count == 20 + 2
    assert pcp.high > 22 + 512
    assert m.free_pages(thp, 9)                  # THP is excluded from free_high
    assert pcp.count == 22 + 512
    pcp.free_factor = 1
    lines = trace_events(m)
    assert m.free_pages(o1[1], 1)
    assert pcp.count == 0
    assert all(not lst for lst in pcp.lists)
    # the drain starts with the list of the freed page (order-1 UNMOVABLE, pindex 3),
    # oldest first, then goes round: THP lists, then order-0 UNMOVABLE from its tail
    d = drained(lines)
    assert d[:2] == [o1[0], o1[1]]
    assert d[2] == thp
    assert d[3:] == o0
    assert pcp.free_factor == 1                  # a free_high flush leaves free_factor alone
    assert m.free_pages(o3, 3)                   # so the next order-3 free flushes again
    assert pcp.count == 0
    m.check()


# ------------------------------------------------------------------------ drain order --

def _pcp_with_lists(m: Machine):
    """CPU 0's DMA32 pcp holding UNMOVABLE u1..u3, MOVABLE m1, m2, RECLAIMABLE r1, r2
    (freed in that order) and one order-1 UNMOVABLE block."""
    u = _many(m, KERNEL, 3)
    mv = _many(m, MOVABLE, 2)
    r = _many(m, RECLAIMABLE, 2)
    a = m.alloc_pages(KERNEL, 1)
    m.drain_all_pages()
    for p in u + mv + r:
        assert m.free_pages(p, 0)
    assert m.free_pages(a, 1)
    return u, mv, r, a


def test_free_pcppages_bulk_round_robin_from_the_overflowing_list():
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    u, mv, r, a = _pcp_with_lists(m)
    assert pcp_list(dma32, 0, 1) == mv[::-1]
    lines = trace_events(m)
    # overflow on the MOVABLE list (pindex 1): that whole list from its tail, then the next
    pa.free_pcppages_bulk(m.mm, dma32, 3, pcp, 1)
    assert drained(lines) == [mv[0], mv[1], r[0]]
    assert pcp_list(dma32, 0, 2) == [r[1]] and pcp_list(dma32, 0, 0) == u[::-1]
    # from the order-1 list (pindex 3): a (2 pages), the empty lists 4..13, then wrap to 0
    del lines[:]
    pa.free_pcppages_bulk(m.mm, dma32, 5, pcp, 3)
    assert drained(lines) == [a, u[0], u[1], u[2]]           # count goes 5 -> 3 -> 0
    assert pcp.count == 1 and pcp_list(dma32, 0, 2) == [r[1]]
    m.check()


def test_real_overflow_drains_the_triggering_list_first():
    """high - 1 UNMOVABLE pages sit on the pcp; freeing one MOVABLE page reaches high: the
    flush of `batch` pages starts at the MOVABLE list, then wraps to list 0's tail."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    high, batch = pcp.high, pcp.batch
    pages = _many(m, KERNEL, high - 1)
    mv = m.alloc_pages(MOVABLE, 0)
    m.drain_all_pages()
    for p in pages:
        assert m.free_pages(p, 0)
    assert pcp.count == high - 1
    lines = trace_events(m)
    assert m.free_pages(mv, 0)
    assert drained(lines) == [mv] + pages[:batch - 1]
    assert pcp.count == high - batch and pcp.free_factor == 1
    m.check()


def test_drain_all_pages_empties_every_cpu_and_restores_the_counter():
    m = Machine.boot(mem="256M", cpus=2)
    dma32 = m.zone("DMA32")
    free0 = nr_free_snapshot(dma32)
    got = [(m.alloc_pages(KERNEL, o, cpu=c), o, c) for c in (0, 1) for o in (0, 1, 3)]
    for p, o, c in got:
        assert m.free_pages(p, o, cpu=c)
    assert all(pcp.count for pcp in dma32.pcp)
    m.drain_all_pages()
    assert [pcp.count for pcp in dma32.pcp] == [0, 0]
    assert nr_free_snapshot(dma32) == free0
    m.check()


# --------------------------------------------------------------------- trylock fallback --

def test_pcp_trylock_failure_falls_back_to_the_buddy():
    """With the pcp lock held (an interrupted holder), allocation goes to rmqueue_buddy and
    a free goes to free_one_page, which does not count PGFREE."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    left = pcp.batch - 1
    p = m.alloc_pages(KERNEL, 0)
    assert pcp.count == left
    head = pcp_list(dma32, 0, 0)[0]
    pcp.locked = True
    q = m.alloc_pages(KERNEL, 0)
    assert q is not None and q != head and pcp.count == left
    assert q == p + pcp.batch                    # the buddy's next page after the refill
    pgfree = m.mm.events[EV_PGFREE]
    assert m.free_pages(p, 0)
    assert m.mm.mem.flags[p] & PG_buddy
    assert m.mm.events[EV_PGFREE] == pgfree
    assert pcp.count == left
    pcp.locked = False
    assert m.free_pages(q, 0)
    assert m.mm.events[EV_PGFREE] == pgfree + 1 and pcp.count == left + 1
    m.check()


# ------------------------------------------------------------------- special lists --

def test_highatomic_page_is_freed_to_the_movable_list_and_drained_back_to_highatomic():
    """free_unref_page: a page of a HIGHATOMIC pageblock goes on the MOVABLE pcp list
    (pcpmigratetype) but keeps HIGHATOMIC as its cached type, so a movable request on that
    CPU may reuse it, and a drain returns it to the HIGHATOMIC free list."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    a, b = m.alloc_pages(KERNEL, 0), m.alloc_pages(KERNEL, 0)
    pa.reserve_highatomic_pageblock(m.mm, a, dma32, 0)
    assert m.mm.mem.get_pageblock_migratetype(a) == 3
    m.drain_all_pages()
    assert m.free_pages(a, 0)
    assert pcp_list(dma32, 0, 1) == [a]                     # pindex 1: order-0 MOVABLE
    lines = trace_events(m)
    m.drain_all_pages()
    assert [field(ln, "migratetype") for ln in lines if "mm_page_pcpu_drain" in ln] == ["3"]
    assert m.mm.mem.flags[a] & PG_buddy and m.mm.mem.mt[a] == 3
    m.mm.trace = None
    assert m.free_pages(b, 0)
    assert m.alloc_pages(MOVABLE, 0) == b                   # LIFO from the MOVABLE list
    m.check()


def test_thp_pcp_lists_are_split_by_mobility():
    """[6.1.y-late] NR_PCP_THP = 2: order-9 pages of movable pageblocks use pindex 13, the
    others pindex 12, so an unmovable THP request never gets a freed movable THP."""
    m = Machine.boot(mem="1G", cpus=1)
    dma32 = m.zone("DMA32")
    mv = m.alloc_pages(MOVABLE, 9)
    spare = pcp_list(dma32, 0, 13)
    assert len(spare) == 1                                  # the refill's second THP
    assert m.free_pages(mv, 9)
    assert pcp_list(dma32, 0, 13) == [mv] + spare
    un = m.alloc_pages(KERNEL | gfp.__GFP_COMP, 9)
    assert un not in (mv, *spare)
    assert pcp_list(dma32, 0, 13) == [mv] + spare
    assert m.alloc_pages(MOVABLE, 9) == mv
    m.check()
