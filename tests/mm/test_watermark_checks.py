"""Watermark checks: __zone_watermark_ok, zone_watermark_fast, lowmem_reserve, counter folding.

The machine of reference section 12 (1 node, 4 CPUs; DMA/DMA32/Normal managed 3840 /
765000 / 1285000) is built by hand from its e820-like ranges, and every expected number
below is derived from that section's formulas in the test: the watermark table, the
lowmem reserves, the [6.1.y-late] reserve arithmetic of section 6.6, the boost-ignoring
re-check of section 6.7 and the vmstat fold of section 11.2.
"""
from __future__ import annotations

import pytest

from pagealloc import Machine, MachineSpec, NodeSpec, gfp
from pagealloc.mm import page_alloc as pa
from pagealloc.mm.internal import (ALLOC_HIGHATOMIC, ALLOC_KSWAPD, ALLOC_MIN_RESERVE,
                                   ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_WMARK_LOW,
                                   ALLOC_WMARK_MIN)
from pagealloc.mm.mm_init import boot
from pagealloc.mm.mmzone import MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE

from _pa_helpers import carve, free_list, nr_free_snapshot, put_free, take_all_free

DMA_IDX, DMA32_IDX, NORMAL_IDX, MOVABLE_IDX = 0, 1, 2, 3
NORMAL_START, NORMAL_PAGES = 0x100000, 1310720
DMA32_PRESENT = 782000


def section12_machine() -> Machine:
    """The worked example's box: present DMA 3998 (1..0x9e, 0x100..0xfff), DMA32 782000,
    Normal 1310720; reservations leave managed 3840 / 765000 / 1285000."""
    normal_end = NORMAL_START + NORMAL_PAGES
    spec = MachineSpec(
        nodes=[NodeSpec(0, [(1, 0x9F), (0x100, 0x1000), (0x1000, 0x1000 + DMA32_PRESENT),
                            (NORMAL_START, normal_end)], [0, 1, 2, 3])],
        nr_cpus=4,
        reserved=[(1, 0x9F), (0x1000, 0x1000 + 17000), (normal_end - 25720, normal_end)])
    spec.boot_reservations = False       # only the reservations above
    return Machine(boot(spec), spec)


@pytest.fixture(scope="module")
def m12() -> Machine:
    return section12_machine()


def fls(x: int) -> int:
    return x.bit_length()


# -------------------------------------------------------------- section 12 by formula --

def test_section12_watermarks_reserves_and_pcp(m12):
    dma, dma32, normal = (m12.zone(n) for n in ("DMA", "DMA32", "Normal"))
    managed = [z.managed_pages for z in (dma, dma32, normal)]
    assert managed == [3840, 765000, 1285000]
    # khugepaged: 11 x 512 x 3 zones = 16896 pages (under the 5% cap) = 67584 kB
    assert m12.mm.min_free_kbytes == 11 * 512 * 3 * 4 == 67584
    pages_min = 67584 >> 2
    lowmem = sum(managed)
    for z in (dma, dma32, normal):
        wmin = pages_min * z.managed_pages // lowmem
        gap = max(wmin >> 2, z.managed_pages * 10 // 10000)
        assert z._watermark[:3] == [wmin, wmin + gap, wmin + 2 * gap]
    assert [z._watermark[:3] for z in (dma, dma32, normal)] == [
        [31, 38, 45], [6293, 7866, 9439], [10571, 13213, 15855]]
    # lowmem_reserve: ratio 256 for DMA and DMA32, running sums of the upper zones
    assert dma.lowmem_reserve[:4] == [0, 765000 // 256, 2050000 // 256, 2050000 // 256]
    assert dma.lowmem_reserve[:4] == [0, 2988, 8007, 8007]
    assert dma32.lowmem_reserve[:4] == [0, 0, 1285000 // 256, 1285000 // 256] == [0, 0, 5019, 5019]
    assert normal.lowmem_reserve == [0] * len(normal.lowmem_reserve)
    assert m12.mm.totalreserve_pages == 3840 + (5019 + 9439) + 15855 == 34153
    # pcp: batch 1 / 63 / 63; high = low / 4 CPUs, at least 4 batches
    assert [(z.pcp[0].batch, z.pcp[0].high) for z in (dma, dma32, normal)] == [
        (1, max(38 // 4, 4)), (63, 7866 // 4), (63, 13213 // 4)] == [(1, 9), (63, 1966),
                                                                     (63, 3303)]
    # vmstat thresholds: 2 x fls(4 CPUs) x (1 + fls(managed >> 15)), at most 125
    for z, expect in ((dma, 6), (dma32, 36), (normal, 42)):
        assert z.stat_threshold == min(125, 2 * fls(4) * (1 + fls(z.managed_pages >> 15))) \
            == expect


# ------------------------------------------------------------ __zone_watermark_ok 6.6 --

def reduced(mark: int, flags: int) -> int:
    """Section 6.6 [6.1.y-late] by hand: -1/2 for MIN_RESERVE, then -1/4 more if also
    NON_BLOCK, then -1/2 for OOM; NON_BLOCK alone gives nothing."""
    m = mark
    if flags & ALLOC_MIN_RESERVE:
        m -= m // 2
        if flags & ALLOC_NON_BLOCK:
            m -= m // 4
    if flags & ALLOC_OOM:
        m -= m // 2
    return m


@pytest.mark.parametrize("flags,expect", [
    (ALLOC_WMARK_MIN, 10571),
    (ALLOC_MIN_RESERVE, 10571 - 5285),                               # 5286
    (ALLOC_NON_BLOCK, 10571),
    (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 5286 - 1321),              # GFP_ATOMIC: 3965
    (ALLOC_HIGHATOMIC, 10571),
    (ALLOC_OOM, 10571 - 5285),
    (ALLOC_OOM | ALLOC_NON_BLOCK, 5286),
    (ALLOC_OOM | ALLOC_MIN_RESERVE, 5286 - 2643),                    # 2643
    (ALLOC_OOM | ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK, 3965 - 1982),  # 1983
])
def test_reserve_arithmetic_at_the_boundary(m12, flags, expect):
    normal = m12.zone("Normal")
    mark = normal._watermark[0]
    assert mark == 10571 and reduced(mark, flags) == expect
    ok = pa.__zone_watermark_ok
    # order 0: fail iff free <= min + lowmem_reserve (strict)
    assert not ok(m12.mm, normal, 0, mark, NORMAL_IDX, flags, expect)
    assert ok(m12.mm, normal, 0, mark, NORMAL_IDX, flags, expect + 1)


@pytest.mark.parametrize("flags,subtracted", [
    (ALLOC_WMARK_MIN, True), (ALLOC_WMARK_LOW, True), (ALLOC_KSWAPD, True),
    (ALLOC_NON_BLOCK, False), (ALLOC_MIN_RESERVE, False), (ALLOC_HIGHATOMIC, False),
    (ALLOC_OOM, False)])
def test_highatomic_reserve_is_unusable_without_reserve_rights(m12, flags, subtracted):
    normal = m12.zone("Normal")
    saved = normal.nr_reserved_highatomic
    normal.nr_reserved_highatomic = 1024
    try:
        mark = 1000
        free = reduced(mark, flags) + 1 + (1024 if subtracted else 0)
        assert pa.__zone_watermark_ok(m12.mm, normal, 0, mark, NORMAL_IDX, flags, free)
        assert not pa.__zone_watermark_ok(m12.mm, normal, 0, mark, NORMAL_IDX, flags, free - 1)
        # and order-n requests lose 2^n - 1 pages more
        assert not pa.__zone_watermark_ok(m12.mm, normal, 2, mark, NORMAL_IDX, flags, free + 2)
        assert pa.__zone_watermark_ok(m12.mm, normal, 2, mark, NORMAL_IDX, flags, free + 3)
    finally:
        normal.nr_reserved_highatomic = saved


def test_section12_gfp_kernel_fast_path_marks(m12):
    """Step 8: a GFP_KERNEL order-0 request in the fast path (LOW, highest zone Normal) needs
    Normal > 13213, DMA32 > 7866 + 5019 = 12885, DMA > 38 + 8007 (beyond its 3840 pages)."""
    flags = ALLOC_WMARK_LOW | ALLOC_KSWAPD
    for name, need in (("Normal", 13213), ("DMA32", 12885), ("DMA", 8045)):
        z = m12.zone(name)
        mark = z.low_wmark_pages()
        assert mark + z.lowmem_reserve[NORMAL_IDX] == need
        for free, expect in ((need, False), (need + 1, True)):
            assert pa.__zone_watermark_ok(m12.mm, z, 0, mark, NORMAL_IDX, flags, free) == expect
    assert m12.zone("DMA").managed_pages <= 8045


# ------------------------------------------------------------------- zone_watermark_fast --

def _with_free(zone, free: int, boost: int = 0):
    """Set the folded NR_FREE_PAGES and boost of a zone for a pure watermark question."""
    saved = (zone.vm_free, list(zone.vm_stat_diff), zone.watermark_boost)
    zone.vm_free = free
    zone.vm_stat_diff = [0] * len(zone.vm_stat_diff)
    zone.watermark_boost = boost
    return saved


def _restore(zone, saved) -> None:
    zone.vm_free, zone.vm_stat_diff, zone.watermark_boost = saved[0], saved[1], saved[2]


ATOMIC_FLAGS = ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK | ALLOC_KSWAPD


@pytest.mark.parametrize("gfp_mask,order,flags,passes", [
    (gfp.GFP_ATOMIC, 0, ATOMIC_FLAGS, True),                          # the re-check
    (gfp.__GFP_HIGH | gfp.__GFP_KSWAPD_RECLAIM, 0, ATOMIC_FLAGS, False),   # no __GFP_ATOMIC
    (gfp.GFP_ATOMIC, 1, ATOMIC_FLAGS, False),                         # order 0 only
    (gfp.GFP_ATOMIC, 0, ATOMIC_FLAGS | ALLOC_WMARK_LOW, False),       # MIN watermark only
], ids=["atomic-order0-min", "high-without-atomic", "atomic-order1", "atomic-at-low"])
def test_zone_watermark_fast_ignores_boost_for_atomic_order0_at_min(m12, gfp_mask, order,
                                                                    flags, passes):
    """Boost 4096 on Normal: min+boost = 14667 reduces to 14667-7333 = 7334, 7334-1833 =
    5501; without boost 10571 reduces to 3965. Free 5000 sits in between: only the
    __GFP_ATOMIC order-0 re-check against _watermark[WMARK_MIN] lets it through."""
    normal = m12.zone("Normal")
    boost = 4096
    wmark = normal._watermark[flags & 3] + boost
    assert reduced(10571 + boost, ATOMIC_FLAGS) == 5501 and reduced(10571, ATOMIC_FLAGS) == 3965
    saved = _with_free(normal, 5000, boost)
    try:
        assert pa.zone_watermark_fast(m12.mm, normal, order, wmark, NORMAL_IDX, flags,
                                      gfp_mask) == passes
        normal.vm_free = 3965             # at the unboosted limit the re-check fails too
        assert not pa.zone_watermark_fast(m12.mm, normal, order, wmark, NORMAL_IDX, flags,
                                          gfp_mask)
    finally:
        _restore(normal, saved)


def test_zone_watermark_fast_order0_shortcut_clamps_reserved(m12):
    """The order-0 shortcut subtracts min(free, unusable): a highatomic reserve larger than
    free makes usable 0, never negative, and the full check then decides."""
    normal = m12.zone("Normal")
    saved = _with_free(normal, 100)
    normal.nr_reserved_highatomic = 512
    try:
        assert not pa.zone_watermark_fast(m12.mm, normal, 0, 0, NORMAL_IDX, ALLOC_WMARK_LOW,
                                          gfp.GFP_KERNEL)
        normal.vm_free = 513
        assert pa.zone_watermark_fast(m12.mm, normal, 0, 0, NORMAL_IDX, ALLOC_WMARK_LOW,
                                      gfp.GFP_KERNEL)
    finally:
        normal.nr_reserved_highatomic = 0
        _restore(normal, saved)


def test_high_order_check_needs_a_block_on_an_allowed_list():
    """Step 4 of __zone_watermark_ok: some order >= the request's must have a block on an
    UNMOVABLE/MOVABLE/RECLAIMABLE list, or on HIGHATOMIC for ALLOC_HIGHATOMIC/ALLOC_OOM;
    ISOLATE blocks never count, and the free count is not re-checked per order."""
    m = Machine.boot(mem="16M", cpus=1)
    dma = m.zone("DMA")
    taken = take_all_free(m, dma)
    r10 = next(p for p, o in taken if o == 10)
    carve(m, r10, 10)
    pa.set_pageblock_migratetype(m.mm, r10, MIGRATE_HIGHATOMIC)
    pa.set_pageblock_migratetype(m.mm, r10 + 512, MIGRATE_ISOLATE)
    dma.nr_isolate_pageblock += 1
    put_free(m, r10 + 8, 3, MIGRATE_HIGHATOMIC)
    put_free(m, r10 + 512, 5, MIGRATE_ISOLATE)
    put_free(m, r10 + 1, 0, MIGRATE_MOVABLE)
    put_free(m, r10 + 2, 1, MIGRATE_MOVABLE)
    assert nr_free_snapshot(dma) == 8 + 1 + 2          # ISOLATE pages are not counted
    ok = lambda order, flags: pa.__zone_watermark_ok(m.mm, dma, order, 0, NORMAL_IDX, flags,
                                                     nr_free_snapshot(dma))
    assert ok(1, 0)                                     # the MOVABLE order-1 block
    assert not ok(2, 0) and not ok(2, ALLOC_NON_BLOCK) and not ok(2, ALLOC_MIN_RESERVE)
    assert ok(2, ALLOC_HIGHATOMIC) and ok(3, ALLOC_OOM)
    assert not ok(4, ALLOC_HIGHATOMIC | ALLOC_OOM)       # only ISOLATE above order 3
    m.check()


# ------------------------------------------------------------------- lowmem reserve --

def smallest_head(m: Machine, zone, mt: int) -> int:
    """What __rmqueue_smallest(mt) takes: the head of the lowest non-empty order's list."""
    return next(lst[0] for lst in (free_list(m, zone, o, mt) for o in range(11)) if lst)


def test_lowmem_reserve_keeps_gfp_kernel_and_atomic_out_of_dma_but_not_gfp_dma32():
    """With Normal and DMA32 exhausted, section 12's DMA (3840 free) stays out of reach of
    GFP_KERNEL (low 38 + 8007, slowpath min 31 + 8007) and even of GFP_ATOMIC (31 -> 16 ->
    12, + 8007), but a request limited to DMA32 only has to leave lowmem_reserve[DMA32] =
    2988: 38 + 2988 < 3840, so the fast path serves it from DMA, as it serves GFP_DMA."""
    m = section12_machine()
    dma = m.zone("DMA")
    take_all_free(m, m.zone("Normal"))
    take_all_free(m, m.zone("DMA32"))
    assert nr_free_snapshot(dma) == 3840
    assert 3840 <= 38 + 8007 and 3840 <= 31 + 8007 and 3840 <= reduced(31, ATOMIC_FLAGS) + 8007
    assert 38 + 2988 < 3840
    nowarn = gfp.__GFP_NOWARN
    assert m.alloc_pages(gfp.GFP_KERNEL | nowarn, 0) is None
    assert m.alloc_pages(gfp.GFP_ATOMIC | nowarn, 0) is None
    assert m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE | nowarn, 0) is None    # reserve[MOVABLE]
    for mask in (gfp.GFP_DMA32 | gfp.__GFP_MOVABLE, gfp.GFP_KERNEL | gfp.GFP_DMA32 |
                 gfp.__GFP_MOVABLE, gfp.GFP_DMA | gfp.__GFP_MOVABLE):
        expect = smallest_head(m, dma, MIGRATE_MOVABLE)
        assert m.alloc_pages(mask, 0) == expect
    m.check()


def test_lowmem_reserve_arithmetic_is_strict(m12):
    dma = m12.zone("DMA")
    mark = dma._watermark[1]
    for hz, res in ((DMA_IDX, 0), (DMA32_IDX, 2988), (NORMAL_IDX, 8007), (MOVABLE_IDX, 8007)):
        assert dma.lowmem_reserve[hz] == res
        assert not pa.__zone_watermark_ok(m12.mm, dma, 0, mark, hz, 0, mark + res)
        assert pa.__zone_watermark_ok(m12.mm, dma, 0, mark, hz, 0, mark + res + 1)


# --------------------------------------------------------------- NR_FREE_PAGES folding --

def test_nr_free_pages_per_cpu_diff_folds_past_the_threshold():
    """__mod_zone_page_state: the delta goes to the CPU's diff; when |diff| exceeds
    stat_threshold the whole diff is folded into the zone counter."""
    m = section12_machine()
    dma = m.zone("DMA")
    t = dma.stat_threshold
    assert t == 6
    base = dma.vm_free
    m.mm.cpu = 1
    for i in range(1, t + 1):
        pa.mod_zone_freepage_state(m.mm, dma, -1, MIGRATE_MOVABLE)
        assert dma.vm_stat_diff[1] == -i and dma.vm_free == base   # |diff| == t: not yet
    pa.mod_zone_freepage_state(m.mm, dma, -1, MIGRATE_MOVABLE)
    assert dma.vm_stat_diff[1] == 0 and dma.vm_free == base - (t + 1)
    m.mm.cpu = 2
    pa.mod_zone_freepage_state(m.mm, dma, t, MIGRATE_MOVABLE)
    assert dma.vm_stat_diff[2] == t and dma.vm_free == base - (t + 1)
    pa.mod_zone_freepage_state(m.mm, dma, 1, MIGRATE_MOVABLE)
    assert dma.vm_stat_diff[2] == 0 and dma.vm_free == base
    m.mm.cpu = 0
    pa.mod_zone_freepage_state(m.mm, dma, 4 * t, MIGRATE_MOVABLE)     # one big step folds
    assert dma.vm_stat_diff[0] == 0 and dma.vm_free == base + 4 * t
    pa.mod_zone_freepage_state(m.mm, dma, -4 * t, MIGRATE_MOVABLE)
    assert dma.vm_free == base


def test_nr_free_pages_lags_by_the_per_cpu_diffs_on_allocation():
    """GFP_DMA order-0 requests refill DMA's pcp one page at a time (batch 1): the first
    `threshold` allocations on a CPU only move its diff, so zone_page_state (what the
    watermark checks and /proc read) lags; the next one folds all of them at once."""
    m = section12_machine()
    dma = m.zone("DMA")
    t = dma.stat_threshold
    assert dma.vm_stat_diff == [0, 0, 0, 0]
    base = dma.nr_free_pages()
    for cpu in (1, 3):
        for _ in range(t):
            assert m.alloc_pages(gfp.GFP_DMA, 0, cpu=cpu) is not None
        assert dma.vm_stat_diff[cpu] == -t
    assert dma.nr_free_pages() == base
    assert dma.nr_free_pages_snapshot() == base - 2 * t
    assert m.alloc_pages(gfp.GFP_DMA, 0, cpu=3) is not None
    assert dma.vm_stat_diff[3] == 0 and dma.nr_free_pages() == base - (t + 1)
    assert dma.nr_free_pages_snapshot() == base - (2 * t + 1)
    m.check()
