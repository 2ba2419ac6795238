"""Reclaim scenarios: kswapd's wake and balance, direct reclaim, GFP_NOWAIT, boosts, slab."""
from __future__ import annotations

import pytest

from pagealloc import Machine
from pagealloc.mm import gfp as G
from pagealloc.mm.vmstat import ev_index


def ev(m, name):
    return m.mm.events[ev_index(name)]


def machine(mem="128M", boost=False, **kw):
    m = Machine.boot(mem, cpus=1)
    if not boost:
        # no watermark boosting: kswapd wakes on the low watermark only
        m.mm.watermark_boost_factor = 0
    m.enable_reclaim(**kw)
    return m


def fill_until_woken(m, kind, owner, limit=100000, **kw):
    """(kswapd="clock") allocate until an allocation wakes kswapd; the pages allocated."""
    ks = m.mm.vmscan.kswapd[0]
    out = []
    for _ in range(limit):
        got = m.alloc_user(kind, owner=owner, **kw)
        assert got
        out += got
        if ks.woken:
            return out
    raise AssertionError("kswapd was never woken")


def balanced(m):
    """pgdat_balanced() for an order-0 GFP_HIGHUSER_MOVABLE request (highest zone MOVABLE)."""
    from pagealloc.mm.vmscan import pgdat_balanced
    return pgdat_balanced(m.mm, m.mm.nodes[0], 0, m.mm.ZONE_MOVABLE)


def fill_until_kswapd(m, owner, limit=100000):
    """Stream page cache until kswapd runs; the free pages of each zone just before."""
    for _ in range(limit):
        before = [z.nr_free_pages() for z in m.zones]
        assert m.alloc_user("file", owner=owner)
        if ev(m, "pageoutrun"):
            return before
    raise AssertionError("kswapd never ran")


def test_page_cache_grows_until_kswapd_wakes_at_low_and_stops_at_high():
    m = machine()
    z = m.zone("DMA32")
    hz = m.mm.ZONE_MOVABLE
    reader = m.spawn("cat")
    before = fill_until_kswapd(m, reader)
    # woken by an allocation that failed the low watermark in every zone it may use ...
    for zone, free in zip(m.zones, before):
        if zone.managed_pages:
            assert free <= zone.low_wmark_pages() + zone.lowmem_reserve[hz]
    assert before[z.idx] <= z.low_wmark_pages()
    # ... and it reclaimed until an eligible zone was above its high watermark (any zone
    # will do: pgdat_balanced), then napped
    assert balanced(m)
    assert any(zone.nr_free_pages() > zone.high_wmark_pages() + zone.lowmem_reserve[hz]
               for zone in m.zones if zone.managed_pages)
    assert ev(m, "pageoutrun") == 1
    assert ev(m, "pgsteal_kswapd") == ev(m, "pgscan_kswapd") > 0    # clean, unreferenced
    assert ev(m, "pgscan_direct") == 0 and ev(m, "allocstall_normal") == 0
    assert m.kswapd_state() == "napping"
    # the nap ends balanced: kswapd goes to sleep without another pass
    assert m.run_kswapd() == 0
    assert m.kswapd_state() == "sleeping"
    assert ev(m, "kswapd_high_wmark_hit_quickly") == 0
    node = m.mm.nodes[0]
    assert node.vm_stat["nr_inactive_file"] == node.vm_stat["nr_file_pages"]
    assert node.vm_stat["nr_file_pages"] == len(m.pages_of(reader)) == reader.file
    m.check()
    m.check_users()


def test_kswapd_stops_reclaiming_once_balanced_and_keeps_the_page_cache():
    m = machine()
    reader = m.spawn("cat")
    fill_until_kswapd(m, reader)
    steal = ev(m, "pgsteal_kswapd")
    # what kswapd freed is about one pass of high watermarks, not the whole cache
    high = sum(max(z.high_wmark_pages(), 32) for z in m.zones[:2])
    assert steal <= 2 * high
    assert m.mm.nodes[0].vm_stat["nr_file_pages"] > 10 * steal


def test_gfp_nowait_fails_without_reclaim_and_gfp_kernel_reclaims_directly():
    m = machine(kswapd="clock")
    reader = m.spawn("cat")
    z = m.zone("DMA32")
    # page cache down to the low watermark; kswapd is woken but gets no CPU (no time passes)
    fill_until_woken(m, "file", reader)
    assert m.kswapd_state() == "sleeping" and m.mm.vmscan.kswapd[0].woken
    got = []
    while True:
        pfn = m.alloc_pages(G.GFP_NOWAIT)
        if pfn is None:
            break
        got.append(pfn)
    assert got                                          # it dipped towards min first
    assert ev(m, "pgscan_direct") == 0 and ev(m, "allocstall_normal") == 0
    assert ev(m, "pageoutrun") == 0
    assert any("page allocation failure: order:0, mode:0x800(GFP_NOWAIT)" in line
               for line in m.mm.log)
    assert any(line.startswith("Mem-Info:") for line in m.mm.log)
    assert m.mm.nodes[0].vm_stat["nr_inactive_file"] > 1000   # reclaimable, not reclaimed
    # a GFP_KERNEL allocation in the same state reclaims for itself
    pfn = m.alloc_pages(G.GFP_KERNEL)
    assert pfn is not None
    assert ev(m, "allocstall_normal") == 1
    assert ev(m, "pgsteal_direct") >= 32
    assert ev(m, "pgscan_direct") >= ev(m, "pgsteal_direct")
    # time passes: kswapd runs on the clock and balances the node
    m.advance(0.001)
    assert ev(m, "pageoutrun") >= 1
    assert balanced(m)
    m.check()
    m.check_users()


def test_anon_without_swap_is_not_reclaimed_but_with_swap_it_is():
    for swap, expect_swapout in ((0, False), ("64M", True)):
        m = machine(swap=swap, kswapd="clock")
        task = m.spawn("stress")
        fill_until_woken(m, "anon", task)
        m.run_kswapd()
        if expect_swapout:
            assert ev(m, "pswpout") > 0 and task.swapents == ev(m, "pswpout")
            assert ev(m, "pgsteal_anon") == ev(m, "pswpout")
            assert balanced(m)
            assert m.mm.meminfo_extra["SwapFree"] < m.mm.meminfo_extra["SwapTotal"]
        else:
            assert ev(m, "pgscan_anon") == 0 and ev(m, "pswpout") == 0
            assert m.mm.nodes[0].kswapd_failures >= 1
        m.check()
        m.check_users()


def test_hopeless_node_after_16_failed_kswapd_runs():
    m = machine(kswapd="clock")
    task = m.spawn("stress")
    fill_until_woken(m, "anon", task)
    m.run_kswapd()
    node = m.mm.nodes[0]
    assert node.kswapd_failures == 16
    assert ev(m, "pageoutrun") == 16
    assert "node_unreclaimable:  1" in m.show("zoneinfo")
    assert m.kswapd_state() == "sleeping"
    # a hopeless node is not woken again
    runs = ev(m, "pageoutrun")
    m.alloc_user("anon", owner=task)
    m.run_kswapd()
    assert ev(m, "pageoutrun") == runs


def test_referenced_page_cache_is_activated_not_reclaimed():
    m = machine(kswapd="clock")
    reader = m.spawn("cat")
    hot = m.alloc_user("file", 64, owner=reader)
    for p in hot:
        m.mark_accessed(p)
        m.mark_accessed(p)                     # second access: activation
    assert ev(m, "pgactivate") == 64
    assert m.mm.nodes[0].vm_stat["nr_active_file"] == 64
    fill_until_woken(m, "file", reader)
    m.run_kswapd()
    assert ev(m, "pgsteal_kswapd") > 0
    assert set(hot) <= set(m.pages_of(reader))          # the hot pages survived
    m.check_users()


def test_dirty_page_cache_waits_for_the_flusher():
    m = machine(kswapd="clock")
    writer = m.spawn("dd")
    fill_until_woken(m, "file", writer, dirty=True)
    node = m.mm.nodes[0]
    dirty = node.vm_stat["nr_dirty"]
    assert dirty == node.vm_stat["nr_file_pages"]
    m.run_kswapd()
    # the first batches were all dirty: activated, and the flusher wrote everything back
    assert node.vm_stat["nr_dirty"] == 0
    assert node.vm_stat["nr_written"] == dirty
    assert node.vm_stat["nr_vmscan_immediate_reclaim"] > 0
    assert balanced(m)
    m.check_users()


def test_reclaimable_slab_is_shrunk_at_high_scan_pressure():
    m = machine(kswapd="clock")
    fs = m.spawn("dcache", kernel=True)
    slab = m.alloc_user("slab_reclaimable", 4000, owner=fs)
    assert len(slab) == 4000
    assert m.mm.nodes[0].vm_stat["nr_slab_reclaimable"] == 4000
    fill_until_woken(m, "kernel", fs)
    m.run_kswapd()
    assert ev(m, "slabs_scanned") > 0
    assert m.mm.nodes[0].vm_stat["nr_slab_reclaimable"] < 4000
    m.check()
    m.check_users()


def test_boosted_watermark_wakes_kswapd_for_boost_reclaim():
    m = machine(kswapd="clock", boost=True)
    reader = m.spawn("cat")
    z = m.zone("DMA32")
    for _ in range(8000):
        m.alloc_user("file", owner=reader)
    z.watermark_boost = 512
    from pagealloc.mm.mmzone import ZONE_BOOSTED_WATERMARK
    z.flags |= ZONE_BOOSTED_WATERMARK
    m.alloc_pages(G.GFP_KERNEL)                 # rmqueue sees the flag: wakeup_kswapd(zone, 0, 0)
    assert m.mm.vmscan.kswapd[0].woken
    m.run_kswapd(expire_naps=False)
    assert ev(m, "pageoutrun") == 1
    assert z.watermark_boost == 0                # decremented by what was recorded
    assert ev(m, "pgsteal_kswapd") > 0
    assert not z.flags & 2                       # ZONE_RECLAIM_ACTIVE cleared again


def test_kswapd_woken_during_its_nap_counts_low_wmark_hit_quickly():
    m = machine()
    reader = m.spawn("cat")
    fill_until_kswapd(m, reader)
    assert m.kswapd_state() == "napping"
    runs = ev(m, "pageoutrun")
    while ev(m, "pageoutrun") == runs:
        m.alloc_user("file", owner=reader)
    assert ev(m, "kswapd_low_wmark_hit_quickly") == 1
    assert balanced(m)


def test_zone_reclaimable_pages_counts_file_and_anon_only_with_swap():
    from pagealloc.mm.vmscan import zone_reclaimable_pages
    for swap in (0, "16M"):
        m = machine(swap=swap)
        t = m.spawn("t")
        m.alloc_user("file", 100, owner=t)
        m.alloc_user("anon", 50, owner=t)
        z = m.zone("DMA32")
        expect = 100 + (50 if swap else 0)
        assert zone_reclaimable_pages(m.mm, z) == expect


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_drop_caches(mode):
    m = machine()
    t = m.spawn("t")
    m.alloc_user("file", 300, owner=t)
    m.alloc_user("slab_reclaimable", 300, owner=t)
    m.drop_caches(mode)
    vs = m.mm.nodes[0].vm_stat
    assert vs["nr_file_pages"] == (300 if mode == 2 else 0)
    assert (vs["nr_slab_reclaimable"] < 300) == bool(mode & 2)
    assert ev(m, "drop_pagecache") == (1 if mode & 1 else 0)
    m.check()
    m.check_users()
