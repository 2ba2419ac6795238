"""Page isolation (mm/page_isolation.c): pageblocks to MIGRATE_ISOLATE and back."""
from __future__ import annotations

import errno

import pytest

from pagealloc import Machine, gfp
from pagealloc.mm import page_isolation as pi
from pagealloc.mm.memmap import PG_buddy, PG_lru
from pagealloc.mm.mmzone import (MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES,
                                 MIGRATE_UNMOVABLE, pageblock_nr_pages)

from _hotplug_helpers import migrated, MOVABLE_NOWAIT, free_order10_movable, simple_migrate, state


@pytest.fixture
def m() -> Machine:
    return Machine.boot(mem="512M", cpus=2)


def _mt(m, pfn):
    return m.mm.mem.get_pageblock_migratetype(pfn)


def test_isolate_free_pageblock_moves_pages_and_uncounts_them(m):
    mm = m.mm
    z = m.zone("DMA32")
    x = free_order10_movable(m)
    before = z.nr_free_pages_snapshot()
    assert pi.set_migratetype_isolate(mm, x, MIGRATE_MOVABLE, 0, x, x + 512) == 0
    # the order-10 block starts in this pageblock: it moves whole to the ISOLATE list
    assert _mt(m, x) == MIGRATE_ISOLATE and z.nr_isolate_pageblock == 1
    assert z.nr_free_pages_snapshot() == before - 1024
    assert x in mm.mem.iter_list(z.list_base + 10 * MIGRATE_TYPES + MIGRATE_ISOLATE)
    # isolating it twice is the kernel's race answer
    assert pi.set_migratetype_isolate(mm, x, MIGRATE_MOVABLE, 0, x, x + 512) == -errno.EBUSY
    m.check()
    pi.unset_migratetype_isolate(mm, x, MIGRATE_MOVABLE)
    assert _mt(m, x) == MIGRATE_MOVABLE and z.nr_isolate_pageblock == 0
    assert z.nr_free_pages_snapshot() == before
    m.check()


def test_has_unmovable_pages_judges_in_use_pages_by_pg_lru(m):
    mm = m.mm
    p = m.alloc_pages(gfp.GFP_KERNEL, 0)
    blk = p & ~(pageblock_nr_pages - 1)
    assert pi.has_unmovable_pages(mm, blk, blk + 512, MIGRATE_MOVABLE, 0) == p
    mm.mem.flags[p] |= PG_lru               # an LRU page: migratable later
    assert pi.has_unmovable_pages(mm, blk, blk + 512, MIGRATE_MOVABLE, 0) == -1
    # a THP-like block is judged by its head, also from a tail
    t = m.alloc_pages(MOVABLE_NOWAIT, 9)
    assert pi.has_unmovable_pages(mm, t + 7, t + 512, MIGRATE_MOVABLE, 0) == t + 7
    mm.mem.flags[t] |= PG_lru
    assert pi.has_unmovable_pages(mm, t + 7, t + 512, MIGRATE_MOVABLE, 0) == -1
    # reserved memory (the kernel image) is never movable
    assert pi.has_unmovable_pages(mm, 0x1000, 0x1200, MIGRATE_MOVABLE, 0) == 0x1000


def test_boundary_pageblock_splits_a_free_block_and_undo_merges_it(m):
    mm = m.mm
    z = m.zone("DMA32")
    x = free_order10_movable(m)
    before = state(m, ordered=False)
    free_before = z.nr_free_pages_snapshot()
    # isolate only the upper pageblock of a free order-10 block
    assert pi.start_isolate_page_range(mm, x + 512, x + 1024, MIGRATE_MOVABLE, 0, 0) == 0
    mem = mm.mem
    assert mem.flags[x] & PG_buddy and mem.order[x] == 9 and mem.mt[x] == MIGRATE_MOVABLE
    assert mem.flags[x + 512] & PG_buddy and mem.order[x + 512] == 9
    assert mem.mt[x + 512] == MIGRATE_ISOLATE
    assert z.nr_free_pages_snapshot() == free_before - 512
    assert pi.test_pages_isolated(mm, x + 512, x + 1024, 0) == 0
    assert pi.test_pages_isolated(mm, x, x + 1024, 0) == -errno.EBUSY   # lower block not isolated
    m.check()
    pi.undo_isolate_page_range(mm, x + 512, x + 1024, MIGRATE_MOVABLE)
    # __isolate_free_page + __putback_isolated_page merged the halves again
    assert mem.flags[x] & PG_buddy and mem.order[x] == 10
    assert state(m, ordered=False) == before
    m.check()


def _adjacent_free_blocks(m, n):
    """The first of n adjacent free order-10 MOVABLE blocks of DMA32."""
    z = m.zone("DMA32")
    heads = set(m.mm.mem.iter_list(z.list_base + 10 * MIGRATE_TYPES + MIGRATE_MOVABLE))
    for h in sorted(heads):
        if all(h + 1024 * i in heads for i in range(n)):
            return h
    raise AssertionError("no adjacent free blocks")


@pytest.mark.parametrize("where", [100, 1024 + 100, 2048 - 1])
def test_failed_isolation_leaves_every_page_as_it_was(m, where):
    """An unmovable page in the first, an inner or the last pageblock of the range."""
    mm = m.mm
    x = _adjacent_free_blocks(m, 2)
    p = x + where
    assert m.alloc_contig_range(p, p + 1) == 0      # an in-use page, not on the LRU
    m.drain_all_pages()
    before = state(m, ordered=False)
    ret = pi.start_isolate_page_range(mm, x, x + 2048, MIGRATE_MOVABLE, pi.REPORT_FAILURE, 0)
    assert ret == -errno.EBUSY
    assert pi.last_unmovable_pfn(mm) == p
    assert state(m, ordered=False) == before
    assert "page dumped because: unmovable page" in mm.log
    m.check()


def test_failure_on_the_first_pageblock_changes_nothing_not_even_list_order(m):
    mm = m.mm
    p = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.drain_all_pages()
    blk = p & ~(pageblock_nr_pages - 1)
    before = state(m)
    assert pi.start_isolate_page_range(mm, blk, blk + 4 * 512, MIGRATE_MOVABLE, 0, 0) \
        == -errno.EBUSY
    assert state(m) == before


def test_pcp_pages_are_not_isolated_until_drained(m):
    mm = m.mm
    blk = free_order10_movable(m)
    p = blk + 5
    assert m.alloc_contig_range(p, p + 1) == 0  # exactly that page, in use
    m.free_pages(p, 0, cpu=1)                  # now on cpu 1's pcp list
    assert m.page_state(p) == "pcp"
    assert pi.start_isolate_page_range(mm, blk, blk + 512, MIGRATE_MOVABLE, 0, 0) == 0
    assert pi.test_pages_isolated(mm, blk, blk + 512, 0) == -errno.EBUSY
    m.drain_all_pages()                        # free_pcppages_bulk re-reads the pageblock
    assert pi.test_pages_isolated(mm, blk, blk + 512, 0) == 0
    pi.undo_isolate_page_range(mm, blk, blk + 512, MIGRATE_MOVABLE)
    m.check()


def test_isolation_is_pageblock_granular_and_restores_migratetype(m):
    mm = m.mm
    x = free_order10_movable(m)
    # an unaligned range isolates the whole pageblocks around it
    assert pi.start_isolate_page_range(mm, x + 10, x + 600, MIGRATE_MOVABLE, 0, 0) == 0
    assert _mt(m, x) == _mt(m, x + 512) == MIGRATE_ISOLATE
    pi.undo_isolate_page_range(mm, x + 10, x + 600, MIGRATE_UNMOVABLE)
    assert _mt(m, x) == _mt(m, x + 512) == MIGRATE_UNMOVABLE
    m.check()


def test_in_use_block_across_the_boundary_needs_migration(m):
    mm = m.mm
    t = m.alloc_pages(MOVABLE_NOWAIT, 10)
    mm.mem.flags[t] |= PG_lru
    before = state(m, ordered=False)
    # the range starts in the middle of the in-use order-10 block: it must move
    assert pi.start_isolate_page_range(mm, t + 512, t + 1024, MIGRATE_MOVABLE, 0, 0) \
        == -errno.EBUSY
    assert state(m, ordered=False) == before
    mm.migrate = simple_migrate
    assert pi.start_isolate_page_range(mm, t + 512, t + 1024, MIGRATE_MOVABLE, 0, 0) == 0
    (src, dst), = migrated(mm)
    assert src == t and mm.mem.flags[dst] & PG_lru
    # the freed block was split at the boundary: the upper half is isolated and free
    assert mm.mem.flags[t + 512] & PG_buddy and mm.mem.mt[t + 512] == MIGRATE_ISOLATE
    assert pi.test_pages_isolated(mm, t + 512, t + 1024, 0) == 0
    pi.undo_isolate_page_range(mm, t + 512, t + 1024, MIGRATE_MOVABLE)
    m.check()
