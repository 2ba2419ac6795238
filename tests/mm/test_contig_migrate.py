"""alloc_contig_range with the real migrator: movable pages move away, unmovable ones refuse."""
from __future__ import annotations

import errno

from pagealloc import Machine, gfp
from pagealloc.mm.memmap import PG_head
from pagealloc.mm.vmstat import ev_index


def _machine():
    m = Machine.boot(mem="512M", cpus=1)
    m.enable_reclaim(swap=0)
    return m, m.spawn("app")


def test_contig_range_over_movable_pages_migrates_them():
    m, app = _machine()
    pages = m.alloc_user("anon", 4096, owner=app)
    m.drain_all_pages()
    # a 2 MiB aligned range that is full of the app's anonymous pages
    in_use = sorted(pages)
    start = next(p for p in in_use if p % 512 == 0 and all(q in set(in_use) for q in range(p, p + 512)))
    before = set(m.pages_of(app))
    rc = m.alloc_contig_range(start, start + 512)
    assert rc == 0
    assert m.mm.events[ev_index("pgmigrate_success")] >= 512
    after = set(m.pages_of(app))
    assert len(after) == len(before)                       # nothing lost
    assert not after & set(range(start, start + 512))      # every page moved out
    assert all(m.mm.mem.flags[p] & PG_head for p in range(start, start + 512))
    m.free_contig_range(start, 512)
    m.check()


def test_contig_range_over_an_unmovable_page_fails_and_changes_nothing():
    m, app = _machine()
    pages = m.alloc_user("anon", 4096, owner=app)
    kernel = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.drain_all_pages()
    start = kernel & ~511
    snap = (bytes(m.mm.mem.a_flags), bytes(m.mm.mem.a_pageblock), sorted(m.pages_of(app)))
    rc = m.alloc_contig_range(start, start + 512)
    assert rc == -errno.EBUSY
    assert m.mm.mem.flags[kernel] & PG_head
    assert sorted(m.pages_of(app)) == snap[2]
    m.check()
