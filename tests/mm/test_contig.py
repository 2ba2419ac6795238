"""alloc_contig_range / alloc_contig_pages / free_contig_range (mm/page_alloc.c)."""
from __future__ import annotations

import errno

import pytest

from pagealloc import Machine
from pagealloc.mm import contig
from pagealloc.mm.memmap import PG_buddy, PG_head, PG_lru
from pagealloc.mm.mmzone import MIGRATE_MOVABLE, pageblock_nr_pages

from _hotplug_helpers import migrated, FakeMigrator, free_order10_movable, simple_migrate, state


@pytest.fixture
def m() -> Machine:
    return Machine.boot(mem="512M", cpus=2)


def _in_use_order0(m, pfns) -> bool:
    mem = m.mm.mem
    return all(mem.flags[p] & PG_head and mem.order[p] == 0 for p in pfns)


def test_entirely_free_unaligned_range_succeeds_and_frees_back(m):
    mm = m.mm
    z = m.zone("DMA32")
    x = free_order10_movable(m)
    free0 = z.nr_free_pages_snapshot()
    start, end = x + 3, x + 700
    assert m.alloc_contig_range(start, end) == 0
    assert _in_use_order0(m, range(start, end))
    # the head and tail of the free block went back: only the range is taken
    assert z.nr_free_pages_snapshot() == free0 - (end - start)
    assert m.page_state(x) == "buddy" and m.page_state(end) == "buddy"
    assert m.mm.mem.get_pageblock_migratetype(x) == MIGRATE_MOVABLE
    assert m.mm.mem.get_pageblock_migratetype(x + 512) == MIGRATE_MOVABLE
    assert z.nr_isolate_pageblock == 0
    m.check()
    assert m.free_contig_range(start, end - start) == 0
    m.drain_all_pages()
    assert z.nr_free_pages_snapshot() == free0
    assert mm.mem.flags[x] & PG_buddy and mm.mem.order[x] == 10      # merged again
    m.check()


def test_pcp_pages_in_the_range_are_drained_and_taken(m):
    x = free_order10_movable(m)
    assert m.alloc_contig_range(x + 8, x + 9) == 0
    m.free_pages(x + 8, 0, cpu=1)
    assert m.page_state(x + 8) == "pcp"
    assert m.alloc_contig_range(x, x + 1024) == 0
    assert _in_use_order0(m, range(x, x + 1024))
    m.check()


def test_unmovable_page_fails_with_ebusy_and_changes_nothing(m):
    mm = m.mm
    x = free_order10_movable(m)
    assert m.alloc_contig_range(x + 600, x + 601) == 0   # in use, not on the LRU
    m.drain_all_pages()
    before = state(m, ordered=False)
    events = list(mm.events)
    assert m.alloc_contig_range(x, x + 1024) == -errno.EBUSY
    assert state(m, ordered=False) == before
    assert mm.events == events
    m.check()


def test_lru_page_needs_the_migration_hook(m):
    mm = m.mm
    x = free_order10_movable(m)
    assert m.alloc_contig_range(x + 600, x + 601) == 0
    mm.mem.flags[x + 600] |= PG_lru
    m.drain_all_pages()
    before = state(m, ordered=False)
    # isolation accepts it (movable), migration is not wired: -EBUSY, nothing changed
    assert contig.migrate_range(mm, x, x + 1024) == -errno.EBUSY
    assert m.alloc_contig_range(x, x + 1024) == -errno.EBUSY
    assert state(m, ordered=False) == before
    mm.migrate = simple_migrate
    assert m.alloc_contig_range(x, x + 1024) == 0
    (src, dst), = migrated(mm)
    assert src == x + 600 and not x <= dst < x + 1024 and mm.mem.flags[dst] & PG_lru
    assert _in_use_order0(m, range(x, x + 1024))
    m.check()


def test_the_hook_drives_a_compaction_style_migrator(m):
    mm = m.mm
    x = free_order10_movable(m)
    assert m.alloc_contig_range(x + 9, x + 10) == 0
    mm.mem.flags[x + 9] |= PG_lru
    mm.migrate = FakeMigrator(mm)
    assert m.alloc_contig_range(x, x + 512) == 0
    (pages, mode, reason), = mm.migrate.calls
    assert pages == [x + 9] and mode == contig.MIGRATE_SYNC and reason == "contig_range"
    dst = mm.migrate.moved[x + 9]
    assert not x <= dst < x + 1024 and mm.mem.flags[dst] & PG_lru
    m.check()


def test_unmovable_page_in_zone_movable_fails_at_test_pages_isolated():
    """In ZONE_MOVABLE isolation assumes movable; the in-use page is found later."""
    m = Machine.boot_hotpluggable(mem="512M", room="256M")
    assert m.add_memory(512 << 20, 128 << 20, online_type="online_movable") == 0
    mm = m.mm
    z = m.zone("Movable")
    x = (512 << 20 >> 12) + 4096
    assert m.alloc_contig_range(x + 5, x + 6) == 0
    m.drain_all_pages()
    before = state(m, ordered=False)
    assert m.alloc_contig_range(x, x + 1024) == -errno.EBUSY
    assert mm.memory_hotplug.test_pages_isolated == (x, x + 1024, x + 5)   # fin_pfn
    assert state(m, ordered=False) == before
    assert z.nr_isolate_pageblock == 0
    m.check()


def test_alloc_contig_pages_finds_an_aligned_free_range(m):
    mm = m.mm
    pfn = m.alloc_contig_pages(512)
    assert pfn is not None and pfn % 512 == 0
    assert _in_use_order0(m, range(pfn, pfn + 512))
    # DMA32 is the preferred zone of GFP_KERNEL on this machine
    assert m.zone("DMA32").spans(pfn)
    m.check()
    # nothing fits a node mask without nodes, nor a range larger than any zone
    assert m.alloc_contig_pages(512, nodemask=[]) is None
    assert m.alloc_contig_pages(1 << 18) is None
    assert m.free_contig_range(pfn, 512) == 0
    m.drain_all_pages()
    m.check()
    assert contig.alloc_contig_pages(mm, 0) == -1


def test_alloc_contig_pages_skips_candidates_with_unmovable_pages(m):
    first = m.alloc_contig_pages(pageblock_nr_pages)
    assert m.free_contig_range(first, pageblock_nr_pages) == 0
    m.drain_all_pages()
    # pin a page in that candidate: the next candidate is taken instead
    assert m.alloc_contig_range(first + 100, first + 101) == 0
    m.drain_all_pages()
    second = m.alloc_contig_pages(pageblock_nr_pages)
    assert second is not None and second != first
    assert not second <= first + 100 < second + pageblock_nr_pages
    m.check()


def test_free_contig_range_counts_pages_not_in_use(m):
    x = free_order10_movable(m)
    assert m.alloc_contig_range(x, x + 4) == 0
    assert m.free_contig_range(x, 4) == 0
    m.drain_all_pages()
    # a second free of the same pages: four bad pages and the kernel's warning
    assert m.free_contig_range(x, 4) == 4
    assert m.mm.nr_bad_pages >= 4
    assert "WARNING: 4 pages are still in use!" in m.mm.log
    m.check()


def test_machine_threadsafe_view_runs_contig_under_the_lock(m):
    ts = m.threadsafe()
    x = free_order10_movable(m)
    assert ts.alloc_contig_range(x, x + 16) == 0
    assert ts.free_contig_range(x, 16) == 0
