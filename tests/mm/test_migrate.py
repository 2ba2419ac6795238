"""Migration: the page's identity follows it to the new pfn; counters and LRU stay right."""
from __future__ import annotations

from pagealloc import Machine
from pagealloc.mm import gfp as G
from pagealloc.mm.memmap import PG_lru
from pagealloc.mm.migrate import MigrateMode, MigrateReason, migrate_pages
from pagealloc.mm.page_users import PGU_ACTIVE, Kind
from pagealloc.mm.swap import isolate_lru_page, putback_lru_page
from pagealloc.mm.vmstat import ev_index


def ev(m, name):
    return m.mm.events[ev_index(name)]


def machine(mem="128M"):
    m = Machine.boot(mem, cpus=1)
    m.enable_reclaim()
    return m


def new_page_from(m, gfp=G.GFP_HIGHUSER_MOVABLE):
    def get_new_page(src, order):
        p = m.alloc_pages(gfp | (G.__GFP_COMP if order else 0), order)
        return -1 if p is None else p
    return get_new_page


def lru_neighbours(m, pfn):
    pu = m.mm.page_users
    return pu.lru_prev[pfn], pu.lru_next[pfn]


def test_migrated_page_owner_sees_its_new_pfn_and_keeps_its_lru_place():
    m = machine()
    t = m.spawn("t")
    pages = m.alloc_user("anon", 5, owner=t)
    src = pages[2]
    m.mark_accessed(src)
    prev, nxt = lru_neighbours(m, src)
    moved = {}
    ok, failed = migrate_pages(m.mm, [src], new_page_from(m), None, MigrateMode.SYNC,
                               MigrateReason.SYSCALL, moved)
    assert (ok, failed) == (1, 0)
    dst = moved[src]
    assert dst != src
    assert dst in m.pages_of(t) and src not in m.pages_of(t)
    assert m.page_user(dst) == (Kind.ANON, t)
    assert lru_neighbours(m, dst) == (prev, nxt)          # same place in the list
    assert m.mm.mem.flags[dst] & PG_lru and not m.mm.mem.flags[src] & PG_lru
    assert m.page_state(src) in ("pcp", "buddy")           # freed through the free path
    assert t.anon == 5 and m.mm.nodes[0].vm_stat["nr_inactive_anon"] == 5
    assert ev(m, "pgmigrate_success") == 1 and ev(m, "pgmigrate_fail") == 0
    m.check()
    m.check_users()


def test_isolated_page_is_put_back_at_the_head_after_migration():
    m = machine()
    t = m.spawn("t")
    pages = m.alloc_user("file", 4, owner=t)
    src = pages[0]                                        # oldest: at the tail
    assert isolate_lru_page(m.mm, src)
    vs = m.mm.nodes[0].vm_stat
    assert vs["nr_isolated_file"] == 1 and vs["nr_inactive_file"] == 3
    m.check_users()
    moved = {}
    migrate_pages(m.mm, [src], new_page_from(m), moved=moved)
    dst = moved[src]
    lv = m.mm.nodes[0].lru
    assert m.mm.page_users.lru_next[lv.base + 2] == dst  # head of inactive_file
    assert vs["nr_isolated_file"] == 0 and vs["nr_inactive_file"] == 4
    m.check()
    m.check_users()


def test_active_flag_and_dirty_state_follow():
    m = machine()
    t = m.spawn("t")
    (src,) = m.alloc_user("file", 1, owner=t, dirty=True)
    m.mark_accessed(src)
    m.mark_accessed(src)
    pu = m.mm.page_users
    assert pu.pflags[src] & PGU_ACTIVE
    moved = {}
    migrate_pages(m.mm, [src], new_page_from(m), moved=moved)
    dst = moved[src]
    assert pu.pflags[dst] & PGU_ACTIVE
    vs = m.mm.nodes[0].vm_stat
    assert vs["nr_active_file"] == 1 and vs["nr_dirty"] == 1
    m.check_users()


def test_cross_zone_migration_moves_the_zone_counters():
    m = machine()
    t = m.spawn("t")
    (src,) = m.alloc_user("anon", 1, owner=t)
    dma32, dma = m.zone("DMA32"), m.zone("DMA")
    assert m.mm.zone_of_pfn(src) is dma32
    moved = {}
    migrate_pages(m.mm, [src], new_page_from(m, G.GFP_DMA | G.GFP_KERNEL), moved=moved)
    assert m.mm.zone_of_pfn(moved[src]) is dma
    assert dma.vm_stat["nr_zone_inactive_anon"] == 1
    assert dma32.vm_stat["nr_zone_inactive_anon"] == 0
    m.check_users()


def test_thp_migration():
    m = machine()
    t = m.spawn("t")
    m.mm.thp = "always"
    (thp,) = m.alloc_user("thp", 1, owner=t)
    assert m.mm.mem.order[thp] == 9
    moved = {}
    ok, failed = migrate_pages(m.mm, [thp], new_page_from(m), moved=moved)
    assert (ok, failed) == (512, 0)
    assert ev(m, "thp_migration_success") == 1 and ev(m, "pgmigrate_success") == 512
    assert m.pages_of(t) == [moved[thp]]
    assert m.mm.nodes[0].vm_stat["nr_anon_transparent_hugepages"] == 512
    m.check()
    m.check_users()


def test_unmovable_pages_fail_and_enomem_stops():
    m = machine()
    t = m.spawn("t")
    slab = m.alloc_user("slab_unreclaimable", 1, owner=t)
    anon = m.alloc_user("anon", 3, owner=t)
    lst = slab + anon
    ok, failed = migrate_pages(m.mm, lst, new_page_from(m))
    assert (ok, failed) == (3, 1)
    assert lst == slab                                     # the failure stays on the list
    lst = list(m.pages_of(t, "anon"))
    ok, failed = migrate_pages(m.mm, lst, lambda src, order: -1)
    assert (ok, failed) == (0, 1)                          # -ENOMEM: the rest untried
    assert lst == m.pages_of(t, "anon")
    assert ev(m, "pgmigrate_fail") == 2
    m.check()
    m.check_users()


def test_putback_after_failed_migration():
    m = machine()
    t = m.spawn("t")
    pages = m.alloc_user("anon", 3, owner=t)
    for p in pages:
        assert isolate_lru_page(m.mm, p)
    assert m.mm.nodes[0].vm_stat["nr_isolated_anon"] == 3
    for p in pages:
        putback_lru_page(m.mm, p)
    assert m.mm.nodes[0].vm_stat["nr_isolated_anon"] == 0
    m.check_users()


def test_machine_migrate_pages_facade():
    m = machine()
    t = m.spawn("t")
    pages = m.alloc_user("anon", 10, owner=t)
    assert m.migrate_pages(pages) == (10, 0)
    # freed sources go to the pcp and serve the next destinations (LIFO), so only the
    # last source is certainly gone from the owner
    assert pages[-1] not in m.pages_of(t)
    assert len(m.pages_of(t)) == 10 and ev(m, "pgmigrate_success") == 10
    m.check()
    m.check_users()
