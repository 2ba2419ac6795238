"""Compaction (mm/compaction.c): scenarios with concrete outcomes, deferral, suitability."""
from __future__ import annotations

import numpy as np
import pytest

from pagealloc import Machine, gfp
from pagealloc.mm import compaction as cp
from pagealloc.mm.memmap import PG_buddy, PG_head, PG_lru
from pagealloc.mm.mmzone import (MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE,
                                 pageblock_nr_pages)
from pagealloc.mm.page_alloc import move_to_free_list, split_page
from pagealloc.mm.slowpath import COMPACT_CONTINUE, COMPACT_SKIPPED, COMPACT_SUCCESS
from pagealloc.mm.vmstat import ev_index


def _ev(m, name):
    return m.mm.events[ev_index(name)]


def _fragment(kind: str):
    """A 512M machine whose free memory is only order-0 holes between ``kind`` pages."""
    m = Machine.boot(mem="512M", cpus=1)
    m.enable_reclaim(swap=0)
    owner = m.spawn("filler")
    z = m.zone("DMA32")
    n = z.nr_free_pages() - z.high_wmark_pages() - 64
    if kind == "anon":
        pages = m.alloc_user("anon", n, owner=owner)
    else:
        pages = [m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_NOWARN, 0) for _ in range(n)]
        pages = [p for p in pages if p is not None]
    if kind == "anon":
        m.free_user(pages[::2])
    else:
        for p in pages[::2]:
            m.free_pages(p, 0)
    m.drain_all_pages()
    # take every remaining high-order block (DMA too) so that only order-0 holes are left
    # (pcp refills park blocks on the pcp lists: repeat until a drain brings none back)
    for _ in range(8):
        for zz in m.zones:
            for o in range(10, 0, -1):
                while zz.nr_free[o]:
                    g = (gfp.GFP_DMA if zz.name == "DMA" else 0) | gfp.GFP_KERNEL | gfp.__GFP_NOWARN | gfp.__GFP_NORETRY
                    if m.alloc_pages(g, o) is None:
                        break
        m.drain_all_pages()
        if not any(sum(zz.nr_free[1:]) for zz in m.zones):
            break
    return m, owner, pages


def _total_pages(m):
    mem = m.mm.mem
    heads = np.flatnonzero(mem.a_flags & PG_head)
    allocated = int((1 << mem.a_order[heads].astype(np.int64)).sum())
    free = sum(z.vm_free + sum(z.vm_stat_diff) for z in m.zones)
    pcp = sum(p.count for z in m.zones for p in z.pcp)
    return allocated + free + pcp


def test_order3_succeeds_after_compacting_movable_holes():
    m, owner, pages = _fragment("anon")
    z = m.zone("DMA32")
    assert all(n == 0 for n in z.nr_free[1:]) and z.nr_free[0] > 10000
    before_total = _total_pages(m)
    before_owned = set(m.pages_of(owner))
    pfn = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_RETRY_MAYFAIL, 3)
    assert pfn is not None and pfn % 8 == 0
    assert _ev(m, "compact_stall") >= 1 and _ev(m, "compact_success") >= 1
    assert _ev(m, "pgmigrate_success") > 0
    # the owner's view follows migration: same number of pages, some at new pfns
    after_owned = set(m.pages_of(owner))
    assert len(after_owned) == len(before_owned)
    assert after_owned != before_owned
    assert not (after_owned & set(range(pfn, pfn + 8)))
    assert _total_pages(m) == before_total     # compaction conserves pages
    m.check()


def test_order3_fails_with_the_warning_when_holes_are_unmovable():
    m, _owner, _pages = _fragment("kernel")
    z = m.zone("DMA32")
    assert all(n == 0 for n in z.nr_free[1:])
    log_before = len(m.mm.log)
    pfn = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_RETRY_MAYFAIL, 3)
    assert pfn is None
    assert _ev(m, "pgmigrate_success") == 0
    assert _ev(m, "compact_fail") >= 1
    new = m.mm.log[log_before:]
    warn = [l for l in new if "page allocation failure: order:3" in l]
    assert warn and "GFP_KERNEL|__GFP_RETRY_MAYFAIL" in warn[0]
    assert "Mem-Info:" in new
    m.check()


def test_compact_memory_conserves_pages_and_invariants():
    m, owner, _ = _fragment("anon")
    m.check()
    before = _total_pages(m)
    owned = len(m.pages_of(owner))
    z = m.zone("DMA32")
    before_high = sum(z.nr_free[3:])
    m.write_sysctl("vm.compact_memory", "1")
    m.check()
    assert _total_pages(m) == before
    assert len(m.pages_of(owner)) == owned
    assert sum(z.nr_free[3:]) > before_high      # holes were gathered into blocks


def test_deferral_backs_off_exponentially():
    m = Machine.boot(mem="256M")
    z = m.zone("DMA32")
    z.compact_order_failed = 0
    cp.defer_compaction(z, 4)
    assert (z.compact_defer_shift, z.compact_considered, z.compact_order_failed) == (1, 0, 0)
    # shift 1: one attempt deferred, the second goes ahead
    assert cp.compaction_deferred(z, 4) is True
    assert cp.compaction_deferred(z, 4) is False
    for _ in range(10):
        cp.defer_compaction(z, 4)
    assert z.compact_defer_shift == cp.COMPACT_MAX_DEFER_SHIFT
    skipped = sum(cp.compaction_deferred(z, 4) for _ in range(64))
    assert skipped == 63
    cp.compaction_defer_reset(z, 4, True)
    assert z.compact_defer_shift == 0 and z.compact_order_failed == 5
    assert cp.compaction_deferred(z, 3) is False        # below order_failed: never deferred


def test_compaction_suitable_rules():
    m = Machine.boot(mem="512M")
    mm = m.mm
    z = m.zone("DMA32")
    # a fresh zone has free order-10 blocks: the allocation would succeed
    assert cp.compaction_suitable(mm, z, 9, 0, 1) == COMPACT_SUCCESS
    # manual compaction always continues
    assert cp.compaction_suitable(mm, z, -1, 0, 1) == COMPACT_CONTINUE
    m, _owner, _ = _fragment("anon")
    mm = m.mm
    z = m.zone("DMA32")
    assert cp.compaction_suitable(mm, z, 3, 0, 1) == COMPACT_CONTINUE
    # too few free pages to hold the migration targets (min + 2 << order): skipped
    z.vm_free = z.min_wmark_pages() + (2 << 3)
    assert cp.compaction_suitable(mm, z, 3, 0, 1) == COMPACT_SKIPPED


def test_fragmentation_index_gates_costly_orders():
    m, _owner, _ = _fragment("anon")
    mm = m.mm
    z = m.zone("DMA32")
    from pagealloc.mm.vmstat import fragmentation_index
    fi = fragmentation_index(z.nr_free, 9)
    assert fi > 500        # only order-0 holes: failure would be fragmentation
    assert cp.compaction_suitable(mm, z, 9, 0, 1) == COMPACT_CONTINUE
    mm.extfrag_threshold = 1000
    assert cp.compaction_suitable(mm, z, 9, 0, 1) == COMPACT_SKIPPED


def test_async_direct_compaction_skips_order_blocks_with_an_unmovable_page():
    """isolate_migratepages_block's skip_on_failure: a page that cannot be isolated
    (here a movable allocation that is not on the LRU) gives back the pages isolated from
    its cc->order aligned block and moves the scanner to the next block; isolation stops
    at the end of the first block that gave pages."""
    m = Machine.boot(mem="256M", cpus=1)
    m.enable_reclaim(swap=0)
    app = m.spawn("app")
    pages = set(m.alloc_user("anon", 3000, owner=app))
    b1 = next(p for p in sorted(pages) if p % 8 == 0 and all(p + i in pages for i in range(16)))
    b2 = b1 + 8
    m.free_user([b1 + 5])
    raw = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 0)      # LIFO from the pcp: the same page
    assert raw == b1 + 5
    z = m.mm.zone_of_pfn(b1)
    cc = cp.CompactControl(z, 3, gfp_mask=gfp.GFP_KERNEL, mode=cp.MIGRATE_ASYNC,
                           direct_compaction=True, highest_zoneidx=z.idx)
    cc.migrate_pfn = b1
    cc.free_pfn = z.zone_end_pfn - 512
    assert cp.isolate_migratepages(m.mm, cc) == cp.ISOLATE_SUCCESS
    assert sorted(cc.migratepages) == list(range(b2, b2 + 8))
    assert cc.migrate_pfn == b2 + 8
    m.mm.migrate.putback_movable_pages(cc.migratepages)
    m.check()


# ---------------------------------------------------------------------------------------
# the free-list fast paths (fast_isolate_freepages, fast_find_migrateblock) and the
# one-pageblock-per-call migrate scanner


def _movable_list(m, z, order):
    return list(m.mm.mem.iter_list(z.list_base + order * MIGRATE_TYPES + MIGRATE_MOVABLE))


def _set_movable_list(m, z, order, pfns):
    """Make ``pfns`` (free blocks of ``order``) the whole MOVABLE list of that order, head
    to tail in this order; the blocks that were on it are parked on the UNMOVABLE list."""
    for p in _movable_list(m, z, order):
        move_to_free_list(m.mm, z, p, order, MIGRATE_UNMOVABLE)
    for p in pfns:
        move_to_free_list(m.mm, z, p, order, MIGRATE_MOVABLE)       # to the tail
    assert _movable_list(m, z, order) == list(pfns)


def _free_pieces(m, nblocks, offsets, order):
    """Allocate ``nblocks`` movable pageblocks, split them to order-0 pages and free the
    2^order pages at each offset of every block: free blocks of ``order`` whose buddies
    stay allocated. Returns the pageblock starts, lowest first."""
    blocks = sorted(m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 9) for _ in range(nblocks))
    for b in blocks:
        split_page(m.mm, b, 9)
        for off in offsets:
            for p in range(b + off, b + off + (1 << order)):
                m.free_pages(p, 0)
    m.drain_all_pages()
    mem = m.mm.mem
    for b in blocks:
        for off in offsets:
            assert mem.flags[b + off] & PG_buddy and mem.order[b + off] == order
    return blocks


def _fast_free_setup():
    """Order-0 free pages at the odd offsets 1..31 of a low pageblock A and a high one C."""
    m = Machine.boot(mem="256M", cpus=1)
    z = m.zone("DMA32")
    blocks = _free_pieces(m, 8, range(1, 32, 2), 0)
    a, c = blocks[0], blocks[-1]
    assert c - a >= 4 * pageblock_nr_pages
    z.compact_init_free_pfn = 0          # free_pfn >= it: the start of a pass
    return m, z, a, c


def _cc(z, order, **kw):
    kw.setdefault("search_order", max(order, 0))
    return cp.CompactControl(z, order, highest_zoneidx=z.idx, **kw)


def test_fast_isolate_freepages_takes_a_page_from_the_top_quarter_and_rotates_the_list():
    m, z, a, c = _fast_free_setup()
    a_pages = list(range(a + 1, a + 32, 2))
    c_pages = list(range(c + 1, c + 32, 2))
    lst = c_pages + a_pages               # searched from the tail: A's pages come first
    _set_movable_list(m, z, 0, lst)
    cc = _cc(z, 1, mode=cp.MIGRATE_ASYNC, direct_compaction=True)
    cc.free_pfn = c + pageblock_nr_pages
    cc.migrate_pfn = cc.free_pfn - 4 * pageblock_nr_pages   # top quarter: block C
    cc.migratepages = [0] * 8
    isolated_before = _ev(m, "compact_isolated")
    got = cp.fast_isolate_freepages(m.mm, cc)
    p = c_pages[-1]                       # the first page in the top quarter, from the tail
    assert got == p and cc.freepages == [p]
    assert not m.mm.mem.flags[p] & PG_buddy
    assert cc.total_free_scanned == len(a_pages) + 1
    assert _ev(m, "compact_isolated") == isolated_before + 1
    assert (cc.fast_search_fail, cc.search_order) == (0, 0)
    # rotated: the pages scanned before it went to the head side, so the next search
    # starts with the pages not looked at yet
    i = lst.index(p)
    assert _movable_list(m, z, 0) == lst[i + 1:] + lst[:i]
    cc.freepages.clear()
    cc.total_free_scanned = 0
    assert cp.fast_isolate_freepages(m.mm, cc) == c_pages[-2]
    assert cc.total_free_scanned == 1
    # async direct compaction takes only the page; otherwise the rest of its pageblock
    # follows (fast_isolate_around) until there are targets for every page to migrate
    cc = _cc(z, 1, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.free_pfn = c + pageblock_nr_pages
    cc.migrate_pfn = cc.free_pfn - 4 * pageblock_nr_pages
    cc.migratepages = [0] * 4
    cp.isolate_freepages(m.mm, cc)
    assert cc.freepages == [c_pages[-3]] + c_pages[:3]
    assert cc.free_pfn == c + pageblock_nr_pages        # the linear scan did not run
    assert not cp._get_skip(m.mm, c)
    cc.freepages.clear()
    cc.migratepages = [0] * 64                          # the block cannot give enough
    cp.fast_isolate_freepages(m.mm, cc)
    assert len(cc.freepages) == len(c_pages) - 6
    assert cp._get_skip(m.mm, c)


def test_fast_isolate_freepages_falls_back_to_the_highest_candidate_in_the_top_half():
    m, z, a, c = _fast_free_setup()
    a_pages = list(range(a + 1, a + 32, 2))
    c_desc = list(range(c + 31, c, -2))
    lst = c_desc + a_pages                # from the tail: A's, then C's lowest first
    _set_movable_list(m, z, 0, lst)
    cc = _cc(z, 1, mode=cp.MIGRATE_ASYNC, direct_compaction=True)
    cc.free_pfn = c + 4 * pageblock_nr_pages
    cc.migrate_pfn = cc.free_pfn - 8 * pageblock_nr_pages   # top half from block C on,
    cc.migratepages = [0] * 8                                # top quarter above it
    got = cp.fast_isolate_freepages(m.mm, cc)
    # every higher candidate halves the limit (256 at the start of a pass): the scan
    # stops after c+1, c+3, c+5, c+7 and takes the highest of them
    assert got == c + 7 and cc.freepages == [c + 7]
    assert cc.total_free_scanned == len(a_pages) + 4
    i = lst.index(c + 7)
    assert _movable_list(m, z, 0) == lst[i + 1:] + lst[:i]


def test_fast_isolate_freepages_moves_the_free_scanner_when_nothing_is_found():
    m, z, a, c = _fast_free_setup()
    lst = list(range(c + 1, c + 32, 2)) + list(range(a + 1, a + 32, 2))
    _set_movable_list(m, z, 0, lst)
    migrate_pfn = c + pageblock_nr_pages           # every free page is below min_pfn
    free_pfn = migrate_pfn + 8 * pageblock_nr_pages
    min_pfn = free_pfn - 4 * pageblock_nr_pages
    z.compact_cached_free_pfn = c
    # start of a pass, direct compaction: the free scanner goes to min_pfn
    cc = _cc(z, 1, mode=cp.MIGRATE_ASYNC, direct_compaction=True)
    cc.migrate_pfn, cc.free_pfn = migrate_pfn, free_pfn
    cc.migratepages = [0] * 8
    assert cp.fast_isolate_freepages(m.mm, cc) == min_pfn
    assert cc.free_pfn == min_pfn and not cc.freepages
    assert cc.fast_search_fail == 1 and cc.total_free_scanned == len(lst)
    # the highest block seen (C) was at or above the cached position: cached below it
    assert z.compact_cached_free_pfn == c - pageblock_nr_pages
    assert _movable_list(m, z, 0) == lst
    # kcompactd leaves the free scanner where it is
    cc = _cc(z, 1, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.migrate_pfn, cc.free_pfn = migrate_pfn, free_pfn
    cc.migratepages = [0] * 8
    assert cp.fast_isolate_freepages(m.mm, cc) == free_pfn and cc.free_pfn == free_pfn
    # not the start of a pass: a short search (freelist_scan_limit / 2), nothing moves
    z.compact_init_free_pfn = free_pfn + 1
    cc = _cc(z, 1, mode=cp.MIGRATE_ASYNC, direct_compaction=True)
    cc.migrate_pfn, cc.free_pfn = migrate_pfn, free_pfn
    cc.migratepages = [0] * 8
    assert cp.fast_isolate_freepages(m.mm, cc) == free_pfn
    assert cc.free_pfn == free_pfn and cc.total_free_scanned == (32 + 1) // 2
    cc.fast_search_fail = 3                 # each failure shortens the next search
    cc.total_free_scanned = 0
    cp.fast_isolate_freepages(m.mm, cc)
    assert cc.total_free_scanned == ((32 >> 3) + 1) // 2 and cc.fast_search_fail == 4


def test_fast_isolate_freepages_does_nothing_for_order_0_or_compact_memory():
    m, z, a, c = _fast_free_setup()
    before = _movable_list(m, z, 0)
    for order in (0, -1):
        cc = _cc(z, order, mode=cp.MIGRATE_SYNC)
        cc.free_pfn = c + pageblock_nr_pages
        cc.migrate_pfn = z.zone_start_pfn
        cc.migratepages = [0] * 8
        assert cp.fast_isolate_freepages(m.mm, cc) == cc.free_pfn
        assert not cc.freepages and cc.total_free_scanned == 0 and cc.fast_search_fail == 0
    assert _movable_list(m, z, 0) == before


def _fast_migrate_setup():
    """Free order-4 blocks (offset 16) in three movable pageblocks, alone on the MOVABLE
    lists of orders 3..8 (the others parked)."""
    m = Machine.boot(mem="256M", cpus=1)
    z = m.zone("DMA32")
    blocks = _free_pieces(m, 8, [16], 4)
    for order in range(3, 9):
        _set_movable_list(m, z, order, [])
    return m, z, blocks


def test_fast_find_migrateblock_picks_a_block_with_free_pages_in_the_first_half():
    m, z, blocks = _fast_migrate_setup()
    x, w, y = blocks[0], blocks[1], blocks[-1]
    zs = z.zone_start_pfn
    free_pfn = (z.zone_end_pfn - 1) & ~(pageblock_nr_pages - 1)
    half = (zs + (free_pfn - zs) // 2) & ~(pageblock_nr_pages - 1)
    assert x < w < half <= y
    lst = [y + 16, w + 16, x + 16]
    _set_movable_list(m, z, 4, lst)
    cc = _cc(z, 9, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.migrate_pfn, cc.free_pfn = zs, free_pfn
    # from the zone start: the first block below half-way, not marked skip
    assert cp.fast_find_migrateblock(m.mm, cc) == w
    assert cp._get_skip(m.mm, w) and not cp._get_skip(m.mm, x) and not cp._get_skip(m.mm, y)
    assert cc.fast_start_pfn == w + 16 and cc.fast_search_fail == 0
    assert cc.total_migrate_scanned == 2
    assert _movable_list(m, z, 4) == [x + 16, y + 16, w + 16]     # rotated past it
    # its skip bit now set, the next search takes the other one
    assert cp.fast_find_migrateblock(m.mm, cc) == x
    assert cp._get_skip(m.mm, x) and cc.fast_start_pfn == x + 16
    # nothing left: the search fails and the linear scan restarts once at the lowest
    # free page a search found
    assert cp.fast_find_migrateblock(m.mm, cc) == x + 16
    assert cc.migrate_pfn == x + 16 and cc.fast_search_fail == 1
    assert cc.fast_start_pfn == cp.ULONG_MAX
    # isolate_migratepages does not rescan the block the fast search marked (as 6.1)
    m2, z2, blocks2 = _fast_migrate_setup()
    _set_movable_list(m2, z2, 4, [blocks2[0] + 16])
    cc = _cc(z2, 9, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.migrate_pfn, cc.free_pfn = zs, free_pfn
    assert cp.isolate_migratepages(m2.mm, cc) == cp.ISOLATE_NONE
    assert cc.migrate_pfn == blocks2[0] + pageblock_nr_pages


def test_fast_find_migrateblock_looks_only_at_the_first_eighth_after_the_start():
    m, z, blocks = _fast_migrate_setup()
    x, w = blocks[0], blocks[1]
    free_pfn = (z.zone_end_pfn - 1) & ~(pageblock_nr_pages - 1)
    start = x - pageblock_nr_pages
    assert start != z.zone_start_pfn
    eighth = (start + (free_pfn - start) // 8) & ~(pageblock_nr_pages - 1)
    assert x < eighth <= w
    _set_movable_list(m, z, 4, [w + 16, x + 16])
    cc = _cc(z, 9, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.migrate_pfn, cc.free_pfn = start, free_pfn
    assert cp.fast_find_migrateblock(m.mm, cc) == x
    assert not cp._get_skip(m.mm, w)
    # only orders cc.order - 1 down to PAGE_ALLOC_COSTLY_ORDER are searched
    _set_movable_list(m, z, 4, [])
    cc = _cc(z, 5, mode=cp.MIGRATE_SYNC_LIGHT)           # orders 4, 3
    cc.migrate_pfn, cc.free_pfn = start, free_pfn
    _set_movable_list(m, z, 4, [w + 16])
    assert cp.fast_find_migrateblock(m.mm, cc) == start and cc.fast_search_fail == 1
    cc = _cc(z, 4, mode=cp.MIGRATE_SYNC_LIGHT)           # order 3 only
    cc.migrate_pfn, cc.free_pfn = z.zone_start_pfn, free_pfn
    assert cp.fast_find_migrateblock(m.mm, cc) == z.zone_start_pfn
    assert cc.fast_search_fail == 1 and not cp._get_skip(m.mm, w)


@pytest.mark.parametrize("case", ["order3", "unmovable_direct", "ignore_skip_hint", "mid_block"])
def test_fast_find_migrateblock_is_not_used(case):
    m, z, blocks = _fast_migrate_setup()
    x = blocks[0]
    _set_movable_list(m, z, 4, [x + 16])
    free_pfn = (z.zone_end_pfn - 1) & ~(pageblock_nr_pages - 1)
    cc = _cc(z, 3 if case == "order3" else 9, mode=cp.MIGRATE_ASYNC,
             direct_compaction=case == "unmovable_direct",
             ignore_skip_hint=case == "ignore_skip_hint")
    if case == "unmovable_direct":
        cc.migratetype = MIGRATE_UNMOVABLE
    cc.migrate_pfn = z.zone_start_pfn + (5 if case == "mid_block" else 0)
    cc.free_pfn = free_pfn
    assert cp.fast_find_migrateblock(m.mm, cc) == cc.migrate_pfn
    assert not cp._get_skip(m.mm, x)
    assert cc.fast_search_fail == 0 and cc.total_migrate_scanned == 0
    assert _movable_list(m, z, 4) == [x + 16]
    # an unmovable request is fine for kcompactd (not direct)
    if case == "unmovable_direct":
        cc.direct_compaction = False
        assert cp.fast_find_migrateblock(m.mm, cc) == x


def test_isolate_migratepages_handles_one_pageblock_per_call():
    m = Machine.boot(mem="256M", cpus=1)
    m.enable_reclaim(swap=0)
    app = m.spawn("app")
    m.alloc_user("anon", 3000, owner=app)
    z = m.zone("DMA32")
    mem = m.mm.mem
    zs = z.zone_start_pfn
    nb = pageblock_nr_pages
    lru_blocks = [b for b in range(zs, z.zone_end_pfn, nb) if (mem.a_flags[b:b + nb] & PG_lru).any()]
    first_lru = lru_blocks[0]
    assert first_lru >= zs + 2 * nb        # blocks without LRU pages below it
    z.compact_cached_migrate_pfn[:] = [zs, zs]
    cc = _cc(z, 3, mode=cp.MIGRATE_SYNC_LIGHT)
    cc.migrate_pfn = zs
    cc.free_pfn = (z.zone_end_pfn - 1) & ~(nb - 1)
    for block in range(zs, first_lru, nb):
        assert cp.isolate_migratepages(m.mm, cc) == cp.ISOLATE_NONE
        assert cc.migrate_pfn == block + nb and not cc.migratepages
        # scanned to its end with nothing isolated: marked skip; the cached pfns are
        # moved to pageblock_end_pfn(block end), a block further, as in the kernel
        assert cp._get_skip(m.mm, block)
        assert z.compact_cached_migrate_pfn == [block + 2 * nb, block + 2 * nb]
    scanned = cc.total_migrate_scanned
    assert cp.isolate_migratepages(m.mm, cc) == cp.ISOLATE_SUCCESS
    assert len(cc.migratepages) == 32
    assert first_lru < cc.migrate_pfn < first_lru + nb
    assert cc.total_migrate_scanned - scanned == cc.migrate_pfn - first_lru
    # pages were isolated: the block is marked skip only if the first one was the
    # block's first pfn (test_and_set_skip); the cached pfns (left by the block
    # before) did not move
    assert cp._get_skip(m.mm, first_lru) == bool(mem.flags[first_lru] & PG_lru)
    assert z.compact_cached_migrate_pfn == [first_lru + nb, first_lru + nb]
    m.mm.migrate.putback_movable_pages(cc.migratepages)
    # a rescan is not limited to COMPACT_CLUSTER_MAX: it takes the rest of the block,
    # and having reached the block end it moves the cached pfns on
    cc.migratepages = []
    cc.rescan = True
    left = int(((mem.a_flags[cc.migrate_pfn:first_lru + nb] & PG_lru) != 0).sum())
    assert cp.isolate_migratepages(m.mm, cc) == cp.ISOLATE_SUCCESS
    assert len(cc.migratepages) == left > 32
    assert cc.migrate_pfn == first_lru + nb
    assert z.compact_cached_migrate_pfn == [first_lru + 2 * nb, first_lru + 2 * nb]
    m.mm.migrate.putback_movable_pages(cc.migratepages)
    m.check()


def test_compact_zone_for_a_costly_order_runs_and_conserves_pages():
    """A whole compaction for a costly order runs the fast searches and still gathers
    free pages; counters move and pages are conserved."""
    m, owner, _ = _fragment("anon")
    z = m.zone("DMA32")
    before = _total_pages(m)
    ev = {n: _ev(m, n) for n in ("compact_migrate_scanned", "compact_free_scanned",
                                 "compact_isolated", "pgmigrate_success")}
    cc = _cc(z, 9, mode=cp.MIGRATE_SYNC_LIGHT)
    cp.compact_zone(m.mm, cc)
    assert all(_ev(m, n) > v for n, v in ev.items())
    assert not cc.freepages and not cc.migratepages
    assert _total_pages(m) == before
    m.check()


def test_reset_isolation_suitable_sets_the_init_pfns():
    """kswapd's reset_isolation_suitable after a direct pass: skip bits cleared where a
    sample finds LRU or free pages, the init/cached pfns set to the first such blocks;
    the whole-zone arrays give what the pfn-by-pfn walk gives."""
    m, owner, _ = _fragment("anon")
    z = m.zone("DMA32")
    mm = m.mm
    mem = mm.mem
    b0, b1 = z.zone_start_pfn >> 9, (z.zone_end_pfn - 1) >> 9
    rng = np.random.default_rng(3)
    mem.a_pageblock[b0:b1 + 1] |= (rng.random(b1 - b0 + 1) < 0.7).astype(np.uint8) * 0x08
    saved = mem.a_pageblock.copy()
    results = []
    for walk in (False, True):
        mem.a_pageblock[:] = saved
        z.compact_init_migrate_pfn = z.compact_init_free_pfn = 0
        z.compact_blockskip_flush = False
        m.mm.compaction.reset_isolation_suitable(z.node)     # not flagged: nothing
        assert (mem.a_pageblock == saved).all()
        z.compact_blockskip_flush = True
        if walk:
            z.compact_blockskip_flush = False
            cp._reset_isolation_walk(mm, z, z.zone_start_pfn, z.zone_end_pfn - 1,
                                     z.zone_end_pfn - 1, z.zone_start_pfn, False, False)
        else:
            m.mm.compaction.reset_isolation_suitable(z.node)
        assert not z.compact_blockskip_flush
        results.append((mem.a_pageblock.copy(), z.compact_init_migrate_pfn,
                        z.compact_init_free_pfn, list(z.compact_cached_migrate_pfn),
                        z.compact_cached_free_pfn))
    (pb, init_m, init_f, cached_m, cached_f), walked = results
    assert (pb == walked[0]).all() and (init_m, init_f, cached_m, cached_f) == walked[1:]
    lru = [b for b in range(b0, b1 + 1) if (mem.a_flags[b * 512:b * 512 + 512:8] & PG_lru).any()]
    assert init_m == lru[0] * 512 and cached_m == [init_m, init_m]
    assert init_f == z.zone_end_pfn - 1 - ((z.zone_end_pfn - 1 - init_f) // 512) * 512
    assert init_f > init_m and cached_f == init_f
    assert int((saved != pb).sum()) > 0
