"""Compaction (mm/compaction.c): scenarios with concrete outcomes, deferral, suitability."""
from __future__ import annotations

import numpy as np
import pytest

from pagealloc import Machine, gfp
from pagealloc.mm import compaction as cp
from pagealloc.mm.memmap import PG_head
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
    assert cp.isolate_migratepages(m.mm, cc)
    assert sorted(cc.migratepages) == list(range(b2, b2 + 8))
    assert cc.migrate_pfn == b2 + 8
    m.mm.migrate.putback_movable_pages(cc.migratepages)
    m.check()
