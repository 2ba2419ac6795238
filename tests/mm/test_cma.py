"""cma_alloc over a cma= area: movable borrowers are migrated out; counters as vmstat shows."""
from __future__ import annotations

from pagealloc import Machine, gfp
from pagealloc.mm.mmzone import MIGRATE_CMA


def _vm(m, name):
    return int([l for l in m.show("vmstat").splitlines() if l.startswith(name + " ")][0].split()[1])


def test_cma_alloc_migrates_movable_borrowers_and_counts():
    m = Machine.boot(mem="1G", cmdline="cma=32M")
    m.enable_reclaim(swap=0)
    app = m.spawn("app")
    base, end = m.mm.cma_areas[0]
    # fill memory so that movable allocations spill into the CMA area
    z = m.zone("DMA32")
    m.alloc_user("anon", z.nr_free_pages() - 15000, owner=app)   # CMA free > half of free
    in_cma = [p for p in m.pages_of(app) if base <= p < end]
    assert in_cma, "movable pages should have borrowed CMA pageblocks"
    pfn = m.cma_alloc(1024, align_order=10)
    assert pfn is not None and base <= pfn and pfn + 1024 <= end and pfn % 1024 == 0
    assert not set(m.pages_of(app)) & set(range(pfn, pfn + 1024))
    assert _vm(m, "cma_alloc_success") == 1
    assert all(m.mm.mem.pageblock[(pfn >> 9) + i] & 7 == MIGRATE_CMA for i in range(2))
    m.check()
    assert m.cma_release(pfn, 1024)
    m.check()


def test_cma_alloc_fails_when_the_area_is_pinned():
    m = Machine.boot(mem="1G", cmdline="cma=4M")
    base, end = m.mm.cma_areas[0]
    got = m.cma_alloc(end - base)
    assert got == base
    assert m.cma_alloc(512) is None          # nothing left
    assert _vm(m, "cma_alloc_fail") == 1
    # unmovable requests never took CMA pages
    for _ in range(200):
        p = m.alloc_pages(gfp.GFP_KERNEL, 0)
        assert not base <= p < end
