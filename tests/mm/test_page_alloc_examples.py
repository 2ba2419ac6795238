"""Hand-checked allocator scenarios: exact pfns, lists and labels, in the kernel's terms.

Every expectation below is derived by hand from the rules of the reference
(kernel-6.1-page-alloc.md sections 3, 4, 5, 7 and 14) and the state the test builds,
never copied from a capture. The states are built through the model's own primitives
(see _pa_helpers.py): a freshly booted machine, or a zone whose free blocks were all
taken and a few chosen blocks put back on chosen lists.
"""
from __future__ import annotations

import pytest

from pagealloc import Machine, MachineSpec, NodeSpec, gfp
from pagealloc.mm import page_alloc as pa
from pagealloc.mm.mm_init import boot
from pagealloc.mm.internal import ALLOC_KSWAPD
from pagealloc.mm.memmap import PG_buddy, PG_head, PG_lru
from pagealloc.mm.mmzone import (MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE,
                                 MIGRATE_RECLAIMABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE,
                                 ZONE_BOOSTED_WATERMARK)
from pagealloc.mm.vmstat import EV_PGALLOC

from _pa_helpers import (carve, field, fold_vmstat, free_list, nr_free_snapshot, pcp_list,
                         put_free, take_all_free, trace_events, zero_watermarks)

U, M, R, H = MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_HIGHATOMIC
KERNEL = gfp.GFP_KERNEL | gfp.__GFP_NOWARN
MOVABLE = gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_NOWARN
ATOMIC = gfp.GFP_ATOMIC
NOWAIT = gfp.GFP_NOWAIT | gfp.__GFP_NOWARN


def label(m: Machine, pfn: int) -> int:
    return m.mm.mem.get_pageblock_migratetype(pfn)


def as_block(m: Machine, pfn: int, order: int) -> None:
    """Turn 2^order carved pages into one allocated block of that order (as rmqueue leaves it)."""
    mem = m.mm.mem
    for p in range(pfn, pfn + (1 << order)):
        assert mem.flags[p] & PG_head and mem.order[p] == 0
        mem.flags[p] = 0
        mem.order[p] = -1
    mem.flags[pfn] = PG_head
    mem.order[pfn] = order


def own_order10(m: Machine, zone_name: str = "DMA32") -> int:
    """Allocate the head of the zone's order-10 MOVABLE list and carve it into order-0 pages."""
    zone = m.zone(zone_name)
    head = free_list(m, zone, 10, M)[0]
    pfn = m.alloc_pages(MOVABLE, 10)
    assert pfn == head          # rmqueue_buddy -> __rmqueue_smallest: the list head
    carve(m, pfn, 10)
    return pfn


def expected_boost(zone, boost0: int) -> int:
    """boost_watermark() by hand (reference 3.7), default watermark_boost_factor 15000."""
    max_boost = zone._watermark[2] * 15000 // 10000
    if 4 * 512 > zone.managed_pages or not max_boost:
        return boost0
    return min(boost0 + 512, max(512, max_boost))


def zone_batchsize(managed: int) -> int:
    """zone_batchsize() by hand (reference 5.2)."""
    b = min(managed >> 10, 256) // 4
    b = max(b, 1)
    b = b + b // 2
    return (1 << (b.bit_length() - 1)) - 1


# ------------------------------------------------------------------------ fresh blocks --

def test_fresh_block_gives_ascending_pfns_through_pcp_refills():
    """A GFP_KERNEL request on a fresh 256M box steals the head order-10 MOVABLE block of
    DMA32 whole (relabelling both its pageblocks), and expand() + refills of `batch` pages
    then hand out P, P+1, P+2, ... for the whole 1024-page block."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    pcp = dma32.pcp[0]
    batch = zone_batchsize(dma32.managed_pages)
    assert pcp.batch == batch > 1
    assert not any(free_list(m, dma32, o, U) for o in range(11))
    P = free_list(m, dma32, 10, M)[0]
    free0 = nr_free_snapshot(dma32)

    first = m.alloc_pages(KERNEL, 0)
    assert first == P
    assert label(m, P) == U and label(m, P + 512) == U          # whole-block steal
    assert pcp.count == batch - 1
    assert pcp_list(dma32, 0, 0) == list(range(P + 1, P + batch))
    assert nr_free_snapshot(dma32) == free0 - batch              # rmqueue_bulk: i << order

    got = [first] + [m.alloc_pages(KERNEL, 0) for _ in range(1023)]
    assert got == list(range(P, P + 1024))
    m.check()


def test_lifo_reuse_from_the_pcp():
    """Freed order-0 pages go to the head of the CPU's pcp list and come back first;
    another CPU's pcp does not see them."""
    m = Machine.boot(mem="256M", cpus=2)
    dma32 = m.zone("DMA32")
    a = m.alloc_pages(KERNEL, 0, cpu=0)
    b = m.alloc_pages(KERNEL, 0, cpu=0)
    assert b == a + 1
    next_fresh = pcp_list(dma32, 0, 0)[0]
    assert m.free_pages(a, 0, cpu=0) and m.free_pages(b, 0, cpu=0)
    assert pcp_list(dma32, 0, 0)[:2] == [b, a]
    assert m.alloc_pages(KERNEL, 0, cpu=0) == b
    assert m.alloc_pages(KERNEL, 0, cpu=0) == a
    assert m.alloc_pages(KERNEL, 0, cpu=0) == next_fresh
    # freed on CPU 1: CPU 0 does not get it back, CPU 1 does
    assert m.free_pages(a, 0, cpu=1)
    assert m.alloc_pages(KERNEL, 0, cpu=0) != a
    assert m.alloc_pages(KERNEL, 0, cpu=1) == a
    m.check()


def test_rmqueue_bulk_refill_takes_smallest_order_first_and_list_heads():
    """rmqueue_bulk calls __rmqueue `batch` times: each call takes the smallest non-empty
    order's list head and splits it, lower half out, upper halves to the list heads."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    batch = dma32.pcp[0].batch
    assert not any(free_list(m, dma32, o, U) for o in range(11))
    Rg = own_order10(m)
    A, B, C, D = Rg, Rg + 4, Rg + 40, Rg + 24
    put_free(m, A, 0, U)
    put_free(m, B, 2, U)
    put_free(m, D, 3, U)
    put_free(m, C, 3, U)            # to the head: the order-3 list is [C, D], C > D
    assert free_list(m, dma32, 3, U) == [C, D]
    # by hand: A; B split (B+2 to o1, B+1 to o0); B+1; B+2 split; B+3; C split; ...; D ...
    expected = [A, B, B + 1, B + 2, B + 3] + list(range(C, C + 8)) + list(range(D, D + 8))
    assert 1 < batch <= len(expected)
    lines = trace_events(m)
    got = [m.alloc_pages(KERNEL, 0)]
    refill = [ln for ln in lines if "mm_page_alloc_zone_locked" in ln]
    assert [int(field(ln, "pfn"), 16) for ln in refill] == expected[:batch]
    assert all(field(ln, "percpu_refill") == "1" for ln in refill)
    assert pcp_list(dma32, 0, 0) == expected[1:batch]
    m.mm.trace = None
    # later refills finish the hand-placed pages before any fallback
    got += [m.alloc_pages(KERNEL, 0) for _ in range(len(expected) - 1)]
    assert got == expected
    assert all(label(m, p) == M for p in expected)
    m.check()


# ------------------------------------------------------------- fallback and stealing --

def _block_with_chunk(m: Machine, old: int, chunk: tuple[int, int], lru: int) -> int:
    """A pageblock Q labelled ``old`` holding one free chunk (offset, order) on the ``old``
    list, with ``lru`` of its allocated pages marked PageLRU. Returns Q."""
    Q = own_order10(m)
    pa.set_pageblock_migratetype(m.mm, Q, old)
    off, order = chunk
    put_free(m, Q + off, order, old)
    mem = m.mm.mem
    marked = 0
    for p in range(Q, Q + 512):
        if marked == lru:
            break
        if mem.flags[p] & PG_head:
            mem.flags[p] |= PG_lru
            marked += 1
    assert marked == lru
    return Q


@pytest.mark.parametrize("lru,claimed", [(0, True), (255, True), (256, True), (257, False),
                                         (448, False)])
def test_half_pageblock_rule_unmovable_steals_from_movable(lru, claimed):
    """start UNMOVABLE, old MOVABLE: alike = 512 - free - movable, so the block is claimed
    iff free + alike = 512 - movable >= 256, i.e. iff at most 256 pages are on the LRU."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Q = _block_with_chunk(m, M, (448, 6), lru)
    boost0 = dma32.watermark_boost
    pa.steal_suitable_fallback(m.mm, dma32, Q + 448, ALLOC_KSWAPD, U, True)
    assert label(m, Q) == (U if claimed else M)
    assert free_list(m, dma32, 6, U)[-1] == Q + 448      # moved to the tail either way
    assert Q + 448 not in free_list(m, dma32, 6, M)
    # a sub-pageblock steal boosts the watermark by a pageblock and flags the zone
    assert dma32.watermark_boost == expected_boost(dma32, boost0) > boost0
    assert dma32.flags & ZONE_BOOSTED_WATERMARK
    m.check()


@pytest.mark.parametrize("lru,claimed", [(191, False), (192, True)])
def test_half_pageblock_rule_movable_steals_from_unmovable(lru, claimed):
    """start MOVABLE: alike = the PageLRU pages, claimed iff free (64) + lru >= 256."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Q = _block_with_chunk(m, U, (448, 6), lru)
    pa.steal_suitable_fallback(m.mm, dma32, Q + 448, 0, M, True)
    assert label(m, Q) == (M if claimed else U)
    assert free_list(m, dma32, 6, M)[-1] == Q + 448
    m.check()


@pytest.mark.parametrize("chunks,claimed", [
    ([(256, 7), (384, 6), (448, 5), (480, 4), (496, 3), (504, 2), (508, 1), (510, 0)], False),
    ([(256, 8)], True)])
def test_half_pageblock_rule_between_unmovable_and_reclaimable(chunks, claimed):
    """UNMOVABLE <-> RECLAIMABLE: alike is 0, so only the free pages count: move_freepages_block
    moves (and counts) every free chunk of the block, 255 pages stay short of 256."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Q = own_order10(m)
    pa.set_pageblock_migratetype(m.mm, Q, U)
    for off, order in chunks:
        put_free(m, Q + off, order, U)
    pa.steal_suitable_fallback(m.mm, dma32, Q + chunks[0][0], 0, R, True)
    assert label(m, Q) == (R if claimed else U)
    for off, order in chunks:
        assert Q + off in free_list(m, dma32, order, R)
    m.check()


def test_steal_from_a_highatomic_block_moves_only_the_chunk():
    """steal_suitable_fallback: a chunk on an ordinary list inside a HIGHATOMIC pageblock
    (a page freed with a stale cached type) is moved alone: no relabel, no boost."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Q = own_order10(m)
    pa.set_pageblock_migratetype(m.mm, Q, H)
    put_free(m, Q + 8, 3, U)
    boost0 = dma32.watermark_boost
    pa.steal_suitable_fallback(m.mm, dma32, Q + 8, ALLOC_KSWAPD, M, True)
    assert label(m, Q) == H
    assert free_list(m, dma32, 3, M)[-1] == Q + 8 and Q + 8 not in free_list(m, dma32, 3, U)
    assert dma32.watermark_boost == boost0 and not dma32.flags & ZONE_BOOSTED_WATERMARK
    m.check()


@pytest.mark.parametrize("lru,claimed", [(300, False), (200, True)])
def test_gfp_kernel_fallback_steals_the_largest_chunk_and_applies_the_half_block_rule(lru,
                                                                                       claimed):
    """End to end on a 16M DMA-only box: the free memory is one order-6 MOVABLE chunk in
    block Q plus just enough order-5 chunks elsewhere to pass the low watermark. GFP_KERNEL order 0 falls back from the
    largest order down, so it splits Q's chunk; Q becomes UNMOVABLE only if its LRU pages
    leave half the block "alike"."""
    m = Machine.boot(mem="16M", cpus=1)
    dma = m.zone("DMA")
    taken = take_all_free(m, dma)
    R10 = next(p for p, o in taken if o == 10)
    carve(m, R10, 10)
    Q = R10
    put_free(m, Q + 448, 6, M)
    nchunks = (dma.low_wmark_pages() - 64) // 32 + 1     # just enough to pass LOW
    assert 0 < nchunks <= 8
    for k in range(nchunks):
        put_free(m, R10 + 512 + 64 * k, 5, M)
    mem = m.mm.mem
    for p in range(Q, Q + lru):
        mem.flags[p] |= PG_lru
    assert nr_free_snapshot(dma) == 64 + nchunks * 32 > dma.low_wmark_pages()
    kswapd0 = m.mm.kswapd_wakeups

    assert m.alloc_pages(KERNEL, 0) == Q + 448
    assert label(m, Q) == (U if claimed else M)
    assert label(m, R10 + 512) == M
    # expand() left the rest of the chunk on the UNMOVABLE lists
    for o in range(6):
        assert free_list(m, dma, o, U) == [Q + 448 + (1 << o)]
    # boost by a pageblock (capped at max(pageblock, 1.5 x high)); rmqueue woke kswapd
    assert dma.watermark_boost == expected_boost(dma, 0) == 512
    assert not dma.flags & ZONE_BOOSTED_WATERMARK
    assert m.mm.kswapd_wakeups > kswapd0
    m.check()


@pytest.mark.parametrize("with_order4", [False, True])
def test_movable_request_that_cannot_steal_takes_the_smallest_chunk(with_order4):
    """A MOVABLE request finding only UNMOVABLE chunks below order 4 (can_steal false)
    switches to "find smallest": it moves the smallest chunk alone (no relabel). When an
    order-4 chunk exists it can steal, so it takes the largest, whole-block style."""
    m = Machine.boot(mem="16M", cpus=1)
    dma = m.zone("DMA")
    taken = take_all_free(m, dma)
    zero_watermarks(dma)
    R10 = next(p for p, o in taken if o == 10)
    carve(m, R10, 10)
    for blk in (R10, R10 + 512):
        pa.set_pageblock_migratetype(m.mm, blk, U)
    put_free(m, R10 + 8, 3, U)
    put_free(m, R10 + 2, 1, U)
    put_free(m, R10 + 4, 2, U)
    if with_order4:
        put_free(m, R10 + 512 + 16, 4, U)
        for p in range(R10 + 512 + 32, R10 + 512 + 32 + 240):
            m.mm.mem.flags[p] |= PG_lru          # 16 free + 240 movable = 256: claimed
    lines = trace_events(m)
    pfn = m.alloc_pages(MOVABLE, 0)
    extfrag = [ln for ln in lines if "mm_page_alloc_extfrag" in ln]
    assert len(extfrag) == 1
    if not with_order4:
        assert pfn == R10 + 2
        assert field(extfrag[0], "fallback_order") == "1"
        assert field(extfrag[0], "change_ownership") == "0"
        assert label(m, R10) == U
        assert free_list(m, dma, 0, M) == [R10 + 3]
        assert free_list(m, dma, 3, U) == [R10 + 8] and free_list(m, dma, 2, U) == [R10 + 4]
    else:
        assert pfn == R10 + 512 + 16
        assert field(extfrag[0], "fallback_order") == "4"
        assert label(m, R10 + 512) == M and label(m, R10) == U
        assert free_list(m, dma, 1, U) == [R10 + 2]
    m.check()


# ---------------------------------------------------------------- ALLOC_NOFRAGMENT --

def _strip_to_order8_chunks(m: Machine, zone, nblocks: int) -> list[int]:
    """Leave the zone with ``nblocks`` free order-8 MOVABLE chunks (one per order-10 block)."""
    taken = take_all_free(m, zone)
    heads = [p for p, o in taken if o == 10][:nblocks]
    for p in heads:
        carve(m, p, 10)
        put_free(m, p, 8, M)
    return heads


def test_nofragment_spills_into_dma32_before_fragmenting_normal():
    """Normal holds only sub-pageblock MOVABLE chunks: the first walk (ALLOC_NOFRAGMENT)
    may only steal whole free pageblocks, so it passes over Normal and claims a whole
    order-10 block in DMA32."""
    m = Machine.boot(mem="4G", cpus=1)
    normal, dma32 = m.zone("Normal"), m.zone("DMA32")
    n = normal.low_wmark_pages() // 256 + 4
    _strip_to_order8_chunks(m, normal, n)
    assert nr_free_snapshot(normal) == n * 256 > normal.low_wmark_pages()
    normal_lists = [free_list(m, normal, o, mt) for o in range(11) for mt in range(6)]
    normal_free = nr_free_snapshot(normal)
    P = free_list(m, dma32, 10, M)[0]
    pgalloc32 = m.mm.events[EV_PGALLOC + dma32.idx]

    assert m.alloc_pages(KERNEL, 0) == P
    assert label(m, P) == U and label(m, P + 512) == U
    assert [free_list(m, normal, o, mt) for o in range(11) for mt in range(6)] == normal_lists
    assert nr_free_snapshot(normal) == normal_free
    assert m.mm.events[EV_PGALLOC + dma32.idx] == pgalloc32 + 1
    assert m.alloc_pages(KERNEL, 0) == P + 1
    m.check()


def test_nofragment_second_walk_fragments_normal_when_no_zone_has_a_whole_block():
    """Neither Normal nor DMA32 has a free pageblock and DMA is protected by its lowmem
    reserve: the walk is repeated without ALLOC_NOFRAGMENT, starting at Normal again,
    which now splits its largest chunk (the head of the order-8 MOVABLE list) and claims
    the block (256 free + 256 non-LRU "alike" pages)."""
    m = Machine.boot(mem="4G", cpus=1)
    normal, dma32 = m.zone("Normal"), m.zone("DMA32")
    _strip_to_order8_chunks(m, normal, normal.low_wmark_pages() // 256 + 4)
    _strip_to_order8_chunks(m, dma32,
                            (dma32.low_wmark_pages() + dma32.lowmem_reserve[2]) // 256 + 4)
    assert nr_free_snapshot(dma32) > dma32.low_wmark_pages() + dma32.lowmem_reserve[2]
    dma = m.zone("DMA")
    assert nr_free_snapshot(dma) <= dma.low_wmark_pages() + dma.lowmem_reserve[2]
    N0 = free_list(m, normal, 8, M)[0]
    dma32_free = nr_free_snapshot(dma32)
    assert m.alloc_pages(KERNEL, 0) == N0
    assert label(m, N0) == U
    assert nr_free_snapshot(dma32) == dma32_free
    assert normal.watermark_boost == expected_boost(normal, 0)
    assert pcp_list(normal, 0, 0) == list(range(N0 + 1, N0 + normal.pcp[0].batch))
    m.check()


# ---------------------------------------------------------------------- highatomic --

def test_highatomic_reserve_after_an_atomic_high_order_success_in_the_slowpath():
    """16M DMA-only box whose only free memory is one order-k MOVABLE chunk X, k chosen so
    that 2^k - 1 lies between the GFP_ATOMIC-reduced min and the low mark. GFP_ATOMIC
    order 1 fails the fast path (LOW), succeeds in the slowpath (MIN - 1/2 - 1/4,
    ALLOC_HIGHATOMIC), and get_page_from_freelist reserves X's pageblock."""
    m = Machine.boot(mem="16M", cpus=1)
    dma = m.zone("DMA")
    wmin, wlow = dma._watermark[0], dma._watermark[1]
    reserve = dma.lowmem_reserve[2]
    atomic_min = wmin - wmin // 2
    atomic_min -= atomic_min // 4
    k = max(o for o in range(3, 9) if (1 << o) - 1 <= wlow + reserve)
    size = 1 << k
    assert size - 1 > atomic_min + reserve                  # the slowpath passes
    assert size - 4 > atomic_min + reserve                  # ... and still does below
    assert size - 2 <= wmin + 512 + reserve                 # NOWAIT fails once boosted
    taken = take_all_free(m, dma)
    R10 = next(p for p, o in taken if o == 10)
    carve(m, R10, 10)
    X = R10 + size
    put_free(m, X, k, M)

    assert m.alloc_pages(ATOMIC, 1) == X
    assert dma.nr_reserved_highatomic == 512
    assert label(m, X) == H
    # the steal claimed X's block for UNMOVABLE and split X; the reservation then moved
    # every free chunk of the block to the HIGHATOMIC lists
    for o in range(1, k):
        assert free_list(m, dma, o, H) == [X + (1 << o)]
        assert free_list(m, dma, o, U) == []
    assert dma.watermark_boost == expected_boost(dma, 0) == 512   # order-k < 9 steal
    fold_vmstat(m)
    assert dma.nr_free_pages() == size - 2

    # a caller without reserve rights has the whole reserve subtracted
    mark = 100
    assert not pa.__zone_watermark_ok(m.mm, dma, 0, mark, 2, 0, mark + reserve + 512)
    assert pa.__zone_watermark_ok(m.mm, dma, 0, mark, 2, 0, mark + reserve + 513)
    assert pa.__zone_watermark_ok(m.mm, dma, 0, mark, 2, 0x10, mark + reserve + 1)  # NON_BLOCK

    # GFP_NOWAIT: NON_BLOCK only, no reduction and no boost-free re-check: fails
    assert m.alloc_pages(NOWAIT, 0) is None
    # GFP_ATOMIC order 0: the boost-ignoring MIN re-check passes; no UNMOVABLE or fallback
    # page exists, so rmqueue_buddy's last resort (ALLOC_NON_BLOCK) takes HIGHATOMIC
    assert m.alloc_pages(ATOMIC, 0) == X + 2
    assert free_list(m, dma, 0, H) == [X + 3]
    # once kswapd consumed the boost, an order-1 atomic request uses the reserve first
    dma.watermark_boost = 0
    assert m.alloc_pages(ATOMIC, 1) == X + 4
    assert free_list(m, dma, 1, H) == [X + 6]
    assert dma.nr_reserved_highatomic == 512
    m.check()

    # GFP_KERNEL has no reserve rights: free - 512 fails even the min mark, so the
    # slowpath's should_reclaim_retry gives up and, [6.1.y-late], forcibly unreserves the
    # block for the request's migratetype before saying no; the retry then succeeds from
    # the released chunks, smallest first.
    j = 0
    while nr_free_snapshot(dma) <= wmin + reserve:     # top up, away from X's block
        put_free(m, R10 + 512 + 128 * j, 6, M)
        j += 1
    fold_vmstat(m)
    free = dma.nr_free_pages()
    assert free - 512 <= wmin and free > wmin + reserve
    assert m.alloc_pages(KERNEL, 0) == X + 3
    assert dma.nr_reserved_highatomic == 0
    assert label(m, X) == U
    assert all(free_list(m, dma, o, H) == [] for o in range(11))
    assert free_list(m, dma, 1, U) == [X + 6]
    m.check()


# ----------------------------------------------------------------- merging, placement --

@pytest.mark.parametrize("parent_buddy_free", [True, False])
def test_buddy_merge_likely_puts_the_block_at_the_tail(parent_buddy_free):
    """__free_one_page: a block that cannot merge goes to the tail when the buddy of its
    order+1 parent is free (buddy_merge_likely), else to the head."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Rg = own_order10(m)
    Z = Rg + 128
    put_free(m, Z, 4, M)             # Rg+144 is allocated and so is Z's parent buddy
    assert free_list(m, dma32, 4, M)[0] == Z
    if parent_buddy_free:
        put_free(m, Rg + 32, 5, M)
    S = Rg
    as_block(m, S, 4)
    assert m.free_pages(S, 4)                    # order 4: __free_pages_ok, no pcp
    assert m.mm.mem.flags[S] & PG_buddy and m.mm.mem.order[S] == 4
    lst = free_list(m, dma32, 4, M)
    if parent_buddy_free:
        assert lst[-1] == S and lst[0] == Z
    else:
        assert lst[:2] == [S, Z]
    # the next order-4 request takes the head
    assert m.alloc_pages(MOVABLE, 4) == lst[0]
    m.check()


def test_buddy_merge_likely_is_off_for_final_order_9():
    """buddy_merge_likely returns false for a final order >= MAX_ORDER - 2 (9): an order-9
    block goes to the head even though its parent's order-10 buddy is free."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    taken = take_all_free(m, dma32)
    o10 = {p for p, o in taken if o == 10}
    Rg = min(p for p in o10 if p ^ 1024 in o10)
    for p in (Rg, Rg ^ 1024):
        carve(m, p, 10)
    put_free(m, Rg ^ 1024, 10, M)
    other = Rg + 2048 if Rg + 2048 in o10 else min(o10 - {Rg, Rg ^ 1024})
    carve(m, other, 10)
    put_free(m, other, 9, M)
    put_free(m, Rg, 9, M)
    assert free_list(m, dma32, 9, M) == [Rg, other]
    # one order lower the heuristic applies: Rg+768's order-9 parent buddy (Rg) is free,
    # so it goes behind a block whose parent buddy is not
    third = min(o10 - {Rg, Rg ^ 1024, other})
    carve(m, third, 10)
    put_free(m, third + 768, 8, M)
    put_free(m, Rg + 768, 8, M)
    assert free_list(m, dma32, 8, M) == [third + 768, Rg + 768]
    m.check()


@pytest.mark.parametrize("buddy_mt,merges", [(M, True), (U, True), (R, True), (H, False),
                                             (MIGRATE_ISOLATE, False)])
def test_no_merge_9_to_10_across_highatomic_or_isolate(buddy_mt, merges):
    """At the 9 -> 10 merge the buddy's pageblock type is checked: different types merge
    only if both are mergeable (not HIGHATOMIC/CMA/ISOLATE). The order-9 block is freed
    through the THP pcp list and reaches __free_one_page on drain."""
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    Rg = own_order10(m)
    pa.set_pageblock_migratetype(m.mm, Rg + 512, buddy_mt)
    if buddy_mt == MIGRATE_ISOLATE:
        dma32.nr_isolate_pageblock += 1
    free0 = nr_free_snapshot(dma32)
    put_free(m, Rg + 512, 9, buddy_mt)
    as_block(m, Rg, 9)
    assert m.free_pages(Rg, 9)                    # THP pcp list (or straight through if
    m.drain_all_pages()                          # pcp->high < 512): __free_one_page on drain
    mem = m.mm.mem
    if merges:
        assert mem.order[Rg] == 10 and Rg in free_list(m, dma32, 10, M)
        assert not mem.flags[Rg + 512] & PG_buddy
    else:
        assert mem.order[Rg] == 9 and free_list(m, dma32, 9, M)[0] == Rg
        assert free_list(m, dma32, 9, buddy_mt) == [Rg + 512]
    # ISOLATE free pages are not counted in NR_FREE_PAGES
    counted = 512 if buddy_mt != MIGRATE_ISOLATE else 0
    assert nr_free_snapshot(dma32) == free0 + counted + 512
    m.check()


# --------------------------------------------------------------------- NUMA counters --

HIT, MISS, FOREIGN, LOCAL, OTHER = 0, 1, 2, 4, 5


def test_zone_statistics_hit_miss_foreign_local_other():
    """zone_statistics(preferred, z): hit when z is on the preferred zone's node (the
    preferred zone is the first of the zonelist inside the nodemask), else miss on z and
    foreign on the preferred zone; local/other compare z's node with the running CPU's."""
    m = Machine.boot(mem="512M", nodes=2, cpus=2)
    n0, n1 = m.zone("DMA32", 0), m.zone("DMA32", 1)
    ev0, ev1 = n0.numa_events, n1.numa_events

    def delta(f):
        before = (list(ev0), list(ev1))
        pfn = f()
        assert pfn is not None
        return ([a - b for a, b in zip(ev0, before[0])],
                [a - b for a, b in zip(ev1, before[1])], pfn)

    d0, d1, pfn = delta(lambda: m.alloc_pages(KERNEL, 0, cpu=0))
    assert n0.spans(pfn) and d0[HIT] == d0[LOCAL] == 1 and not any(d1)
    # a nodemask of {1} makes node 1's zone the preferred one: a hit there, but "other"
    d0, d1, pfn = delta(lambda: m.alloc_pages(KERNEL, 0, cpu=0, nodemask=[1]))
    assert n1.spans(pfn) and d1[HIT] == d1[OTHER] == 1 and sum(d1) == 2 and not any(d0)
    d0, d1, pfn = delta(lambda: m.alloc_pages(KERNEL, 0, cpu=1, nid=0))
    assert n0.spans(pfn) and d0[HIT] == d0[OTHER] == 1 and not any(d1)
    # node 0 exhausted: the zonelist falls back to node 1, a miss there, foreign on node 0
    take_all_free(m, n0)
    take_all_free(m, m.zone("DMA", 0))
    d0, d1, pfn = delta(lambda: m.alloc_pages(KERNEL, 0, cpu=0))
    assert n1.spans(pfn)
    assert d1[MISS] == d1[OTHER] == 1 and d1[HIT] == 0
    assert d0[FOREIGN] == 1 and sum(d0) == 1
    m.check()


# ---------------------------------------------------------------------------- boot --

def _low_memory_machine() -> Machine:
    """DMA from pfn 1 (pfn 0 is firmware's), a DMA32 tail, nothing reserved below 16M."""
    spec = MachineSpec(nodes=[NodeSpec(0, [(1, 0x9F), (0x100, 0x4000)], [0])], nr_cpus=1)
    spec.boot_reservations = False       # no modelled early allocations: all RAM is freed
    return Machine(boot(spec), spec)


def test_first_partial_dma_pageblock_is_unmovable_at_boot():
    """memmap_init_range labels a pageblock only at pageblock-aligned pfns inside the zone:
    DMA starts at pfn 1, so pageblock 0 is never written and stays 0 = MIGRATE_UNMOVABLE
    (the real pagetypeinfo shows DMA "Unmovable 1, Movable 7"). Boot therefore frees
    pfns 1..511 onto UNMOVABLE lists; every other pageblock starts MOVABLE."""
    m = _low_memory_machine()
    dma = m.zone("DMA")
    assert dma.zone_start_pfn == 1
    assert label(m, 1) == U
    assert [label(m, p) for p in range(512, 4096, 512)] == [M] * 7
    low = [(p, o, mt) for o in range(11) for mt in range(MIGRATE_TYPES)
           for p in free_list(m, dma, o, mt) if p < 512]
    assert sum(1 << o for p, o, mt in low) == (0x9F - 1) + (0x200 - 0x100)
    assert {mt for p, o, mt in low} == {U}
    high = [(p, mt) for o in range(11) for mt in range(MIGRATE_TYPES)
            for p in free_list(m, dma, o, mt) if p >= 512]
    assert high and {mt for p, mt in high} == {M}
    m.check()


def test_dma32_and_later_pageblocks_are_movable_at_boot():
    m = Machine.boot(mem="256M", cpus=1)
    dma32 = m.zone("DMA32")
    assert dma32.zone_start_pfn % 512 == 0
    assert all(label(m, p) == M for p in range(dma32.zone_start_pfn, dma32.zone_end_pfn, 512))
    assert [label(m, p) for p in range(512, 4096, 512)] == [M] * 7


# ------------------------------------------------------------------ /proc views --

KERNEL_MT_NAMES = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"]  # no CMA
KERNEL_MT_MODEL = [U, M, R, H, MIGRATE_ISOLATE]


def _list_counts(m: Machine, zone, mt: int) -> list[int]:
    return [len(free_list(m, zone, o, mt)) for o in range(11)]


def expected_buddyinfo(m: Machine) -> list[str]:
    """frag_show_print: free blocks per order over all lists, counted off the lists."""
    out = []
    for node in m.mm.nodes:
        for z in node.node_zones:
            if not z.present_pages:
                continue
            per_order = [sum(len(free_list(m, z, o, mt)) for mt in range(MIGRATE_TYPES))
                         for o in range(11)]
            out.append(f"Node {node.node_id}, zone {z.name:>8} "
                       + "".join(f"{n:6d} " for n in per_order))
    return out


def _sampled_blocks(m: Machine, zone) -> list[int]:
    """pagetypeinfo_showblockcount_print: zone_start_pfn, +512, ... skipping pfns without
    an online memmap (a 512-page subsection with no memory) and pfns of another zone."""
    mem = m.mm.mem
    counts = [0] * MIGRATE_TYPES
    for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, 512):
        sub = pfn & ~511
        if all(mem.flags[p] & 0x40 for p in range(sub, sub + 512)):      # PG_absent
            continue
        owners = [z for z in m.mm.zones if z.present_pages and z.spans(pfn)]
        if owners and owners[0] is not zone:
            continue
        counts[mem.get_pageblock_migratetype(pfn)] += 1
    return counts


def expected_pagetypeinfo(m: Machine) -> list[str]:
    out = []
    for node in m.mm.nodes:
        zones = [z for z in node.node_zones if z.present_pages]
        if not zones:
            continue                                   # memoryless: nothing at all
        out += ["Page block order: 9", "Pages per block:  512", ""]
        out.append(f"{'Free pages count per migrate type at order':<43} "
                   + "".join(f"{o:6d} " for o in range(11)))
        for z in zones:
            for name, mt in zip(KERNEL_MT_NAMES, KERNEL_MT_MODEL):
                out.append(f"Node {node.node_id:4d}, zone {z.name:>8}, type {name:>12} "
                           + "".join(f"{n:6d} " for n in _list_counts(m, z, mt)))
        out.append("")
        out.append(f"{'Number of blocks type ':<23}" + "".join(f"{n:>12} " for n in KERNEL_MT_NAMES))
        for z in zones:
            counts = _sampled_blocks(m, z)
            out.append(f"Node {node.node_id}, zone {z.name:>8} "
                       + "".join(f"{counts[mt]:12d} " for mt in KERNEL_MT_MODEL))
    return out


def _show_or_skip(m: Machine, view: str) -> str:
    """The view, or a skip while procfs.py (another developer's) does not offer it yet."""
    from pagealloc import PageAllocError
    try:
        return m.show(view)
    except (ImportError, NotImplementedError) as e:
        pytest.skip(f"m.show({view!r}) not available yet: {e}")
    except PageAllocError as e:
        if "unknown view" not in str(e):
            raise
        pytest.skip(f"m.show({view!r}) not available yet: {e}")


def scripted_workload(m: Machine, seed: int = 7) -> dict[int, tuple[int, int]]:
    """A fixed mix on every CPU: unmovable, movable, reclaimable, atomic and THP requests,
    frees of a third of them (some on another CPU), a pcp drain, and one highatomic
    reservation through the kernel's helper. Returns the live blocks."""
    import random
    rng = random.Random(seed)
    masks = [KERNEL, MOVABLE, gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE | gfp.__GFP_NOWARN,
             ATOMIC | gfp.__GFP_NOWARN, gfp.GFP_TRANSHUGE_LIGHT]
    live: dict[int, tuple[int, int]] = {}
    cpus = m.mm.nr_cpu_ids
    for step in range(600):
        cpu = step % cpus
        if live and rng.random() < 0.33:
            pfn = rng.choice(sorted(live))
            order, _ = live.pop(pfn)
            assert m.free_pages(pfn, order, cpu=rng.randrange(cpus))
            continue
        g = rng.choice(masks)
        order = 9 if g == gfp.GFP_TRANSHUGE_LIGHT else rng.choice([0, 0, 0, 1, 2, 3, 4, 6])
        pfn = m.alloc_pages(g, order, cpu=cpu)
        if pfn is not None:
            live[pfn] = (order, cpu)
        if step == 300:
            m.drain_all_pages()
    atomic = next(p for p, (o, _) in live.items() if o >= 1)
    zone = pa._page_zone(m.mm, atomic)
    pa.reserve_highatomic_pageblock(m.mm, atomic, zone, live[atomic][0])
    assert label(m, atomic) == H
    return live


@pytest.mark.parametrize("shape", ["256M", "2nodes", "memoryless"])
def test_buddyinfo_after_a_scripted_workload(shape):
    m = _view_machine(shape)
    scripted_workload(m)
    m.check()
    text = _show_or_skip(m, "buddyinfo")
    assert text.endswith("\n")
    assert text.split("\n")[:-1] == expected_buddyinfo(m)
    # and nr_free agrees with the lists it summarises
    for line, z in zip(text.split("\n"), [z for z in m.mm.zones if z.present_pages]):
        assert [int(x) for x in line.split()[4:]] == z.nr_free


@pytest.mark.parametrize("shape", ["256M", "2nodes", "memoryless"])
def test_pagetypeinfo_after_a_scripted_workload(shape):
    m = _view_machine(shape)
    scripted_workload(m)
    m.check()
    text = _show_or_skip(m, "pagetypeinfo")
    assert text.endswith("\n")
    got = text.split("\n")[:-1]
    expected = expected_pagetypeinfo(m)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"line {i + 1}"
    assert len(got) == len(expected)
    # the workload left something to see in more than one row type
    rows = [ln for ln in got if ", type " in ln]
    nonzero = {ln.split(", type ")[1].split()[0] for ln in rows if any(
        int(x) for x in ln.split()[6:])}
    assert {"Unmovable", "Movable"} <= nonzero
    blocks = [ln for ln in got if ln.startswith("Node ") and ", type " not in ln]
    assert sum(int(ln.split()[7]) for ln in blocks) == 1        # the HighAtomic column


def _view_machine(shape: str) -> Machine:
    if shape == "256M":
        return Machine.boot(mem="256M", cpus=2)
    if shape == "2nodes":
        return Machine.boot(mem="512M", nodes=2, cpus=2)
    spec = MachineSpec(nodes=[NodeSpec(0, [(1, 0x9F), (0x100, 0x8000)], [0]),
                              NodeSpec(1, [], [1])], nr_cpus=2)
    return Machine(boot(spec), spec)
