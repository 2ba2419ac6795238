"""Page users: kinds, owners, the gfp each kind uses, the counters the views print."""
from __future__ import annotations

import pytest

from pagealloc import Machine, PageAllocError
from pagealloc.mm import gfp as G
from pagealloc.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE
from pagealloc.mm.page_users import Kind, gfp_for_kind, kind_from_name, vma_thp_gfp_mask
from pagealloc.mm.vmstat import ev_index


def machine(**kw):
    m = Machine.boot("128M", cpus=2)
    m.enable_reclaim(**kw)
    return m


def vmstat(m):
    return dict(line.split() for line in m.show("vmstat").splitlines())


def test_gfp_of_each_kind():
    assert gfp_for_kind(Kind.ANON) == G.GFP_HIGHUSER_MOVABLE == 0x100cca
    assert gfp_for_kind(Kind.FILE) == G.GFP_HIGHUSER_MOVABLE
    assert gfp_for_kind(Kind.SLAB_RECLAIMABLE) == G.GFP_KERNEL | G.__GFP_RECLAIMABLE
    assert gfp_for_kind(Kind.SLAB_RECLAIMABLE, 1) == G.GFP_KERNEL | G.__GFP_RECLAIMABLE | G.__GFP_COMP
    assert gfp_for_kind(Kind.SLAB_UNRECLAIMABLE) == G.GFP_KERNEL
    assert gfp_for_kind(Kind.PAGE_TABLE) == G.GFP_KERNEL_ACCOUNT | G.__GFP_ZERO
    assert G.gfp_migratetype(gfp_for_kind(Kind.SLAB_RECLAIMABLE)) == MIGRATE_RECLAIMABLE
    assert G.gfp_migratetype(gfp_for_kind(Kind.FILE)) == MIGRATE_MOVABLE
    assert G.gfp_migratetype(gfp_for_kind(Kind.KERNEL_STACK)) == MIGRATE_UNMOVABLE


@pytest.mark.parametrize("defrag,madvised,expect", [
    ("always", False, G.GFP_TRANSHUGE | G.__GFP_NORETRY),
    ("always", True, G.GFP_TRANSHUGE),
    ("defer", False, G.GFP_TRANSHUGE_LIGHT | G.__GFP_KSWAPD_RECLAIM),
    ("defer+madvise", True, G.GFP_TRANSHUGE_LIGHT | G.__GFP_DIRECT_RECLAIM),
    ("defer+madvise", False, G.GFP_TRANSHUGE_LIGHT | G.__GFP_KSWAPD_RECLAIM),
    ("madvise", True, G.GFP_TRANSHUGE),
    ("madvise", False, G.GFP_TRANSHUGE_LIGHT),
    ("never", True, G.GFP_TRANSHUGE_LIGHT),
])
def test_thp_fault_gfp_per_defrag_setting(defrag, madvised, expect):
    assert vma_thp_gfp_mask(defrag, madvised) == expect


def test_kind_names():
    assert kind_from_name("slab_unmovable") is Kind.SLAB_UNRECLAIMABLE
    assert kind_from_name("file") is Kind.FILE
    with pytest.raises(ValueError):
        kind_from_name("bogus")


def test_counters_per_kind_in_vmstat_and_zoneinfo():
    m = machine()
    t = m.spawn("t")
    m.alloc_user("anon", 10, owner=t)
    m.alloc_user("file", 20, owner=t)
    m.alloc_user("shmem", 5, owner=t)
    m.alloc_user("slab_reclaimable", 3, owner=t)
    m.alloc_user("slab_unreclaimable", 2, order=1, owner=t)
    m.alloc_user("page_table", 4, owner=t)
    m.alloc_user("kernel_stack", 4, owner=t)
    m.alloc_user("kernel", 7, owner=t)
    v = vmstat(m)
    assert v["nr_inactive_anon"] == "15" and v["nr_zone_inactive_anon"] == "15"
    assert v["nr_inactive_file"] == "20" and v["nr_active_file"] == "0"
    assert v["nr_anon_pages"] == "10"
    assert v["nr_file_pages"] == "25" and v["nr_shmem"] == "5"
    assert v["nr_slab_reclaimable"] == "3" and v["nr_slab_unreclaimable"] == "4"
    assert v["nr_page_table_pages"] == "4"
    assert v["nr_kernel_stack"] == "16"
    assert t.rss() == 35 and t.pgtables == 4
    zi = m.show("zoneinfo")
    assert "nr_inactive_file 20" in zi.replace("  ", " ").replace("  ", " ") or \
        "nr_inactive_file" in zi
    m.check()
    m.check_users()


def test_free_user_reverses_everything():
    m = machine()
    t = m.spawn("t")
    pfns = (m.alloc_user("anon", 10, owner=t) + m.alloc_user("file", 10, owner=t, dirty=True)
            + m.alloc_user("slab_reclaimable", 2, order=2, owner=t))
    before = dict(m.mm.nodes[0].vm_stat)
    assert before["nr_dirty"] == 10
    assert m.free_user(pfns) == 28
    vs = m.mm.nodes[0].vm_stat
    for k in ("nr_inactive_anon", "nr_inactive_file", "nr_anon_pages", "nr_file_pages",
              "nr_slab_reclaimable", "nr_dirty"):
        assert vs[k] == 0, k
    assert vs.get("nr_written", 0) == 0          # truncated dirty pages were never written
    assert t.rss() == 0
    m.check()
    m.check_users()


def test_thp_counts_in_thp_units_and_falls_back_when_disabled():
    m = machine()
    t = m.spawn("t")
    m.mm.thp = "always"
    (thp,) = m.alloc_user("thp", 1, owner=t)
    v = vmstat(m)
    assert v["nr_anon_transparent_hugepages"] == "1"
    assert v["nr_anon_pages"] == "512" and v["thp_fault_alloc"] == "1"
    assert m.mm.mem.order[thp] == 9
    assert m.mm.mem.a_flags[thp:thp + 512].min() & 0x20     # PG_lru on every pfn
    m.mm.thp = "never"
    pages = m.alloc_user("thp", 1, owner=t)
    assert len(pages) == 512 and all(m.mm.mem.order[p] == 0 for p in pages)
    assert vmstat(m)["thp_fault_alloc"] == "1"
    m.check_users()


def test_thp_fault_fallback_counts_and_faults_small_pages():
    m = machine()
    t = m.spawn("t")
    m.mm.thp = "always"
    hog = m.spawn("hog")
    # take every block of order 9 or more, so that no THP can be had
    while m.alloc_pages(G.GFP_KERNEL | G.__GFP_NORETRY | G.__GFP_NOWARN, 9) is not None:
        pass
    got = m.alloc_user("thp", 1, owner=t)
    assert m.mm.events[ev_index("thp_fault_fallback")] == 1
    assert len(got) == 512 and all(m.mm.mem.order[p] == 0 for p in got)
    assert hog.rss() == 0


def test_owner_views_and_errors():
    m = machine()
    t = m.spawn("t", oom_score_adj=100)
    k = m.spawn("kworker", kernel=True)
    assert t.is_task and not k.is_task and t.oom_score_adj == 100
    pfns = m.alloc_user("anon", 3, owner=t)
    assert sorted(pfns) == m.pages_of(t) == m.pages_of(t, "anon")
    assert m.pages_of(t, "file") == []
    assert m.page_user(pfns[0]) == (Kind.ANON, t)
    with pytest.raises(PageAllocError):
        m.spawn("bad", oom_score_adj=2000)
    with pytest.raises(PageAllocError):
        m.free_user(0)
    with pytest.raises(PageAllocError):
        m.enable_reclaim()


def test_mark_accessed_activates_on_the_second_access():
    m = machine()
    t = m.spawn("t")
    (p,) = m.alloc_user("file", 1, owner=t)
    m.mark_accessed(p)
    assert m.mm.nodes[0].vm_stat.get("nr_active_file", 0) == 0
    m.mark_accessed(p)
    assert m.mm.nodes[0].vm_stat["nr_active_file"] == 1
    assert m.mm.events[ev_index("pgactivate")] == 1
    m.check_users()


def test_mem_info_on_failure_shows_the_lru_counts():
    m = machine()
    t = m.spawn("t")
    m.alloc_user("file", 100, owner=t)
    m.alloc_user("anon", 40, owner=t)
    log = m.mm.log
    while m.alloc_pages(G.GFP_NOWAIT | G.__GFP_COMP, 10) is not None:
        pass
    text = "\n".join(log)
    assert "page allocation failure: order:10, mode:0x40800(GFP_NOWAIT|__GFP_COMP)" in text
    assert "active_anon:0 inactive_anon:40 isolated_anon:0" in text
    assert " active_file:0 inactive_file:100 isolated_file:0" in text


def test_swap_setting_shows_in_meminfo():
    m = machine(swap="64M")
    assert m.mm.meminfo_extra["SwapTotal"] == 65536
    assert m.mm.page_users.swap_total == 16384
