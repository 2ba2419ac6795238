"""The OOM killer: who dies, what is freed, when it does not kill, __GFP_NOFAIL."""
from __future__ import annotations

import pytest

from pagealloc import Machine
from pagealloc.mm import gfp as G
from pagealloc.mm.oom_kill import OOMPanic, oom_badness
from pagealloc.mm.vmstat import ev_index


def ev(m, name):
    return m.mm.events[ev_index(name)]


def machine(mem="128M", **kw):
    m = Machine.boot(mem, cpus=1)
    m.mm.watermark_boost_factor = 0
    m.enable_reclaim(**kw)
    return m


def free_pages(m):
    return sum(z.nr_free_pages() for z in m.zones)


def test_oom_kills_the_largest_owner_and_the_allocation_then_succeeds():
    m = machine()
    small = m.spawn("small")
    big = m.spawn("big")
    medium = m.spawn("medium")
    m.alloc_user("anon", 1000, owner=small)
    m.alloc_user("anon", 9000, owner=big)
    m.alloc_user("page_table", 20, owner=big)
    m.alloc_user("anon", 3000, owner=medium)
    grower = m.spawn("grower")
    # no swap, no page cache: anonymous memory is not reclaimable, so the grower's faults
    # end in the OOM killer, which picks the task with the most rss + page tables
    got = m.alloc_user("anon", 20000, owner=grower)
    assert len(got) == 20000 or not grower.alive
    assert m.oom_kills[0] is big
    assert ev(m, "oom_kill") >= 1
    assert not big.alive and m.pages_of(big) == []
    assert big.anon == 0 and big.pgtables == 0
    assert small.alive and len(m.pages_of(small)) == 1000
    log = m.mm.log
    header = [line for line in log if "invoked oom-killer" in line]
    assert header[0] == ("grower invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), "
                         "order=0, oom_score_adj=0")
    kill = [line for line in log if line.startswith("Out of memory: Killed process")]
    assert kill[0] == (f"Out of memory: Killed process {big.pid} (big) total-vm:36000kB, "
                       f"anon-rss:36000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:80kB "
                       f"oom_score_adj:0")
    i = log.index(header[0])
    assert log[i + 1] == "Mem-Info:"
    assert "Tasks state (memory values in pages):" in log
    assert any(line.startswith("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
                               "mems_allowed=0,global_oom,task_memcg=/,task=big,pid=")
               for line in log)
    m.check()
    m.check_users()


def test_after_the_kill_the_allocation_succeeds():
    m = machine()
    hog = m.spawn("hog")
    m.alloc_user("anon", 14000, owner=hog)
    before = ev(m, "oom_kill")
    pfn = m.alloc_pages(G.GFP_KERNEL)
    while pfn is not None and ev(m, "oom_kill") == before:
        pfn = m.alloc_pages(G.GFP_KERNEL)
    assert pfn is not None                  # the allocation that invoked the OOM killer
    assert m.oom_kills == [hog]
    assert free_pages(m) > 10000
    m.check()


def test_oom_score_adj_steers_the_choice():
    m = machine()
    big = m.spawn("big", oom_score_adj=-1000)       # OOM_SCORE_ADJ_MIN: never chosen
    small = m.spawn("small", oom_score_adj=500)
    other = m.spawn("other")
    m.alloc_user("anon", 9000, owner=big)
    m.alloc_user("anon", 500, owner=small)
    m.alloc_user("anon", 3000, owner=other)
    total = sum(z.managed_pages for z in m.zones)
    assert oom_badness(small, total) == 500 + 500 * (total // 1000)
    m.alloc_user("anon", 20000, owner=m.spawn("grower"))
    assert m.oom_kills[0] is small
    assert big.alive


def test_current_task_can_be_the_victim():
    m = machine()
    hog = m.spawn("hog")
    got = m.alloc_user("anon", 40000, owner=hog)
    assert not hog.alive and m.oom_kills == [hog]
    assert len(got) < 40000
    assert m.pages_of(hog) == []
    assert m.mm.nodes[0].vm_stat["nr_anon_pages"] == 0
    m.check()
    m.check_users()


@pytest.mark.parametrize("gfp,order,why", [
    (G.GFP_KERNEL | G.__GFP_COMP, 4, "costly order"),
    (G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL, 0, "__GFP_RETRY_MAYFAIL"),
    (G.GFP_KERNEL | G.__GFP_THISNODE, 0, "__GFP_THISNODE"),
    (G.GFP_DMA32 | G.GFP_KERNEL, 0, "lowmem only"),
    (G.GFP_KERNEL | G.__GFP_NORETRY, 0, "__GFP_NORETRY"),
])
def test_no_oom_kill(gfp, order, why):
    m = machine()
    hog = m.spawn("hog")
    m.alloc_user("anon", 10, owner=hog)
    # fill memory with a mask that does not OOM-kill
    while m.alloc_pages(G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL | G.__GFP_NOWARN) is not None:
        pass
    assert m.alloc_pages(gfp, order) is None, why
    assert ev(m, "oom_kill") == 0 and hog.alive
    assert any(f"page allocation failure: order:{order}" in line for line in m.mm.log)


def test_nofs_reports_progress_without_killing_and_fails_in_the_end():
    m = machine()
    hog = m.spawn("hog")
    m.alloc_user("anon", 10, owner=hog)
    while m.alloc_pages(G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL | G.__GFP_NOWARN) is not None:
        pass
    assert m.alloc_pages(G.GFP_NOFS) is None
    assert ev(m, "oom_kill") == 0 and hog.alive


def test_gfp_nofail_never_fails():
    m = machine()
    # exhaust memory with unkillable kernel pages
    while m.alloc_pages(G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL | G.__GFP_NOWARN) is not None:
        pass
    assert m.alloc_pages(G.GFP_NOFS | G.__GFP_NOWARN) is None
    for _ in range(20):
        assert m.alloc_pages(G.GFP_NOFS | G.__GFP_NOFAIL) is not None
    assert ev(m, "oom_kill") == 0
    # with a killable task, GFP_KERNEL | __GFP_NOFAIL kills it rather than fail
    m2 = machine()
    victim = m2.spawn("victim")
    m2.alloc_user("anon", 15000, owner=victim)
    while m2.alloc_pages(G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL | G.__GFP_NOWARN) is not None:
        pass
    assert m2.alloc_pages(G.GFP_KERNEL | G.__GFP_NOFAIL) is not None
    assert m2.oom_kills == [victim]
    m.check()
    m2.check()


def test_nothing_killable_panics():
    m = machine()
    while m.alloc_pages(G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL | G.__GFP_NOWARN) is not None:
        pass
    with pytest.raises(OOMPanic):
        m.alloc_pages(G.GFP_KERNEL)
    assert m.mm.log[-1] == "Kernel panic - not syncing: System is deadlocked on memory"
    assert "Out of memory and no killable processes..." in m.mm.log


def test_exit_frees_anon_but_keeps_page_cache():
    m = machine()
    t = m.spawn("t")
    anon = m.alloc_user("anon", 100, owner=t)
    m.alloc_user("page_table", 2, owner=t)
    m.alloc_user("kernel_stack", 4, owner=t)
    cache = m.alloc_user("file", 50, owner=t)
    vs = m.mm.nodes[0].vm_stat
    assert vs["nr_kernel_stack"] == 16
    freed = m.exit(t)
    assert freed == 106
    assert vs["nr_anon_pages"] == 0 and vs["nr_page_table_pages"] == 0
    assert vs["nr_kernel_stack"] == 0
    assert vs["nr_file_pages"] == 50
    assert all(m.page_user(p)[1] is None for p in cache)
    assert all(m.page_state(p) != "allocated" or m.page_user(p)[0] == 0 for p in anon)
    m.check()
    m.check_users()
