"""Memory hotplug (mm/memory_hotplug.c, drivers/base/memory.c): add, online, offline."""
from __future__ import annotations

import errno
import random

import pytest

from pagealloc import Machine, NodeSpec, gfp
from pagealloc.mm import memory_blocks as mb
from pagealloc.mm.memmap import PG_lru
from pagealloc.mm.page_alloc import set_pageblock_migratetype
from pagealloc.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE
from pagealloc.mm.pcp import zone_batchsize
from pagealloc.mm.watermarks import nr_free_buffer_pages
from pagealloc.sources.layout import spec_from_args

from _hotplug_helpers import migrated, MOVABLE_NOWAIT, FakeMigrator, simple_migrate, state

MiB = 1 << 20
BLOCK = 128 * MiB
PAGES = BLOCK >> 12


@pytest.fixture
def m() -> Machine:
    # RAM ends just below 1 GiB; room for four more memory blocks above it
    return Machine.boot_hotpluggable(mem="1G", room="512M", cpus=2)


def _kb_recommended(mm, nr_zones):
    """khugepaged's min_free_kbytes for nr_zones populated zones up to Normal."""
    pages = 512 * nr_zones * 2 + 512 * nr_zones * 3 * 3
    return min(pages, nr_free_buffer_pages(mm) // 20) << 2


def test_memory_block_size_as_x86_picks_it():
    assert mb.probe_memory_block_size((4 << 30) >> 12) == 128 * MiB
    big = (65 << 30) >> 12                       # boot RAM ends at 65 GiB
    assert mb.probe_memory_block_size(big, hypervisor=False) == 2 << 30
    assert mb.probe_memory_block_size(big, hypervisor=True) == 1 << 30   # 65G = 65 * 1G
    assert mb.probe_memory_block_size((66 << 30) >> 12, hypervisor=True) == 2 << 30
    assert mb.probe_memory_block_size(big, set_size=256 * MiB) == 256 * MiB


def test_boot_memory_blocks(m):
    blocks = m.memory_blocks()
    assert m.memory_block_size() == BLOCK
    assert [b.id for b in blocks] == list(range(8))
    assert all(b.state_name == "online" and b.early for b in blocks)
    # block 0 spans DMA and DMA32: no single zone, it cannot be offlined
    assert blocks[0].zone is None and m.memory_block_valid_zones(0) == "none"
    assert m.memory_block_valid_zones(3) == "DMA32"
    assert m.offline_memory(0, BLOCK) == -errno.EINVAL


def test_add_memory_checks_like_the_kernel(m):
    g = 1 << 30
    assert m.add_memory(g + 4 * MiB, BLOCK) == -errno.EINVAL           # unaligned
    assert m.add_memory(g, 64 * MiB) == -errno.EINVAL                   # partial block
    assert m.add_memory(g + 512 * MiB, BLOCK) == -errno.E2BIG           # beyond the memmap
    assert m.add_memory(512 * MiB, BLOCK) == -errno.EEXIST              # boot RAM
    assert m.add_memory(g, BLOCK, nid=3) == -errno.EINVAL               # no such node
    present = m.total_pages()
    assert m.add_memory(g, 2 * BLOCK) == 0
    assert m.add_memory(g, BLOCK) == -errno.EEXIST
    new = [b for b in m.memory_blocks() if not b.early]
    assert [(b.id, b.state_name, b.zone) for b in new] == [(8, "offline", None),
                                                          (9, "offline", None)]
    assert m.total_pages() == present                 # offline memory is not present
    assert m.page_state(g >> 12) == "a hole (no struct page)"
    # above DMA32's span the kernel zone is Normal; Movable is the alternative
    assert m.memory_block_valid_zones(8) == "Normal Movable"
    m.check()


def test_online_kernel_adds_managed_pages_and_recomputes_everything(m):
    mm = m.mm
    normal, dma32 = m.zone("Normal"), m.zone("DMA32")
    dma32_before = (list(dma32._watermark), list(dma32.lowmem_reserve), dma32.pageset_high)
    assert mm.min_free_kbytes == _kb_recommended(mm, 2)
    kb_before = mm.min_free_kbytes
    free_before = sum(z.nr_free_pages_snapshot() for z in mm.zones)
    assert m.add_memory(1 << 30, BLOCK) == 0
    assert not normal.populated() and not normal.pcp
    assert m.online_memory(1 << 30, BLOCK, "online_kernel") == 0
    start = (1 << 30) >> 12
    assert (normal.zone_start_pfn, normal.spanned_pages) == (start, PAGES)
    assert normal.present_pages == normal.managed_pages == PAGES
    assert normal.present_early_pages == 0
    assert sum(z.nr_free_pages_snapshot() for z in mm.zones) == free_before + PAGES
    # FPI_TO_TAIL and undo_isolate_page_range: every chunk at the tail, in address order
    lst = list(mm.mem.iter_list(normal.list_base + 10 * MIGRATE_TYPES + MIGRATE_MOVABLE))
    assert lst == [start + i * 1024 for i in range(PAGES // 1024)]
    assert normal.nr_isolate_pageblock == 0
    assert set(mm.mem.a_pageblock[start >> 9:(start + PAGES) >> 9] & 7) == {MIGRATE_MOVABLE}
    # init_per_zone_wmark_min: min_free_kbytes (khugepaged's rule, now 3 zones),
    # watermarks, lowmem_reserve and pcp high all follow the new managed pages
    assert mm.min_free_kbytes > kb_before
    lowmem = sum(z.managed_pages for z in mm.zones)
    assert normal._watermark[0] == (mm.min_free_kbytes >> 2) * PAGES // lowmem
    assert dma32._watermark[0] == (mm.min_free_kbytes >> 2) * dma32.managed_pages // lowmem
    assert dma32.lowmem_reserve[mm.ZONE_NORMAL] == PAGES // 256 != dma32_before[1][2]
    assert normal.pageset_batch == zone_batchsize(PAGES)
    assert normal.pageset_high == max(normal.low_wmark_pages() // 2, normal.pageset_batch * 4)
    assert all(p.high == normal.pageset_high for p in normal.pcp)
    assert dma32.pageset_high != dma32_before[2]
    # the new zone heads the zonelist and serves allocations
    assert mm.nodes[0].zonelist_fallback[0] is normal
    p = m.alloc_pages(gfp.GFP_KERNEL)
    assert normal.spans(p)
    assert any(line.startswith("Built 1 zonelists, mobility grouping on.") for line in mm.log)
    assert m.memory_block_valid_zones(8) == "Normal"
    m.check()


def test_contig_zones_policy_and_movable_node():
    m = Machine.boot_hotpluggable(mem="1G", room="512M")
    g = 1 << 30
    assert m.add_memory(g, 3 * BLOCK) == 0
    assert m.online_memory(g, BLOCK, "online_movable") == 0
    assert m.online_memory(g + 2 * BLOCK, BLOCK, "online_movable") == 0
    # the block in between lies inside Movable's span: "online" inherits Movable
    assert m.memory_block_valid_zones(9) == "Movable Normal"
    assert m.online_memory(g + BLOCK, BLOCK) == 0
    assert m.memory_blocks()[9].zone is m.zone("Movable")
    m.check()
    # with movable_node, a block touching no zone goes Movable; without, Normal
    a = Machine.boot_hotpluggable(mem="1G", room="512M")
    b = Machine.boot_hotpluggable(mem="1G", room="512M", movable_node=True)
    for mach, zone in ((a, "Normal"), (b, "Movable")):
        assert mach.add_memory(g, BLOCK, online_type="online") == 0
        assert mach.memory_blocks()[8].zone is mach.zone(zone)


def test_auto_movable_policy_keeps_the_movable_ratio():
    g = 1 << 30
    a = Machine.boot_hotpluggable(mem="1G", room="512M")
    a.memory_hotplug_config(online_policy="auto-movable")
    assert a.add_memory(g, BLOCK, online_type="online") == 0
    assert a.memory_blocks()[8].zone is a.zone("Movable")        # 301% allows it
    b = Machine.boot_hotpluggable(mem="1G", room="512M")
    b.memory_hotplug_config(online_policy="auto-movable", auto_movable_ratio=10)
    assert b.add_memory(g, BLOCK, online_type="online") == 0      # 10% of ~1G is < 128M
    assert b.memory_blocks()[8].zone is b.zone("Normal")


def _offline_fixture(m, online_type="online_kernel"):
    g = 1 << 30
    assert m.add_memory(g, BLOCK) == 0
    assert m.online_memory(g, BLOCK, online_type) == 0
    return g >> 12


@pytest.mark.parametrize("offset", [0, 5 * 512 + 17, PAGES - 1])
def test_offline_with_an_unmovable_page_fails_and_leaves_every_page_as_it_was(m, offset):
    mm = m.mm
    start = _offline_fixture(m)
    normal = m.zone("Normal")
    p = start + offset
    assert m.alloc_contig_range(p, p + 1) == 0          # an unmovable kernel page
    # some pages on pcp lists of both CPUs, then a clean starting point
    live = [m.alloc_pages(MOVABLE_NOWAIT, 0, cpu=c) for c in (0, 1) for _ in range(40)]
    for i, q in enumerate(live):
        m.free_pages(q, 0, cpu=i % 2)
    m.drain_all_pages()
    before = state(m, ordered=offset == 0)
    log = len(mm.log)
    assert m.offline_memory(1 << 30, BLOCK) == -errno.EBUSY
    # the first pageblock fails at once (even list order is kept); later ones are undone
    assert state(m, ordered=offset == 0) == before
    assert m.memory_blocks()[8].state_name == "online"
    assert mm.memory_hotplug.last_failure == ("failure to isolate range", -errno.EBUSY, p)
    assert "page dumped because: unmovable page" in mm.log[log:]
    assert [p_.high for p_ in normal.pcp] == [normal.pageset_high] * 2    # zone_pcp_enable
    m.check()
    # free it: the offline goes through and undoes the online
    assert m.free_contig_range(p, 1) == 0
    m.drain_all_pages()
    assert m.offline_memory(1 << 30, BLOCK) == 0
    assert not normal.populated() and normal.managed_pages == 0 and not normal.pcp
    assert normal.spanned_pages == 0
    m.check()


def test_failed_offline_turns_isolated_pageblocks_movable_as_the_kernel_does(m):
    """6.1 undoes isolation with MIGRATE_MOVABLE whatever the block was before."""
    mm = m.mm
    start = _offline_fixture(m)
    blk = start + 3 * 512
    set_pageblock_migratetype(mm, blk, MIGRATE_UNMOVABLE)  # say an earlier steal claimed it
    p = start + 10 * 512 + 1
    assert m.alloc_contig_range(p, p + 1) == 0             # an inner pageblock after it is pinned
    m.drain_all_pages()
    assert m.offline_memory(1 << 30, BLOCK) == -errno.EBUSY
    assert mm.mem.get_pageblock_migratetype(blk) == MIGRATE_MOVABLE
    m.check()


def test_offline_then_online_again_restores_counters(m):
    mm = m.mm
    _offline_fixture(m)
    online_state = state(m)
    kb = mm.min_free_kbytes
    assert m.offline_memory(1 << 30, BLOCK) == 0
    assert mm.min_free_kbytes < kb
    assert m.memory_blocks()[8].state_name == "offline"
    assert mm.nodes[0].zonelist_fallback[0] is m.zone("DMA32")
    assert m.online_memory(1 << 30, BLOCK, "online_kernel") == 0
    again = state(m)
    # the same free lists, pageblocks, counters and pcp sizes as after the first online
    for key in ("free_lists", "pageblock", "flags", "zones", "min_free_kbytes"):
        assert again[key] == online_state[key], key
    m.check()


def test_offline_of_boot_memory(m):
    mm = m.mm
    dma32 = m.zone("DMA32")
    early = dma32.present_early_pages
    managed = dma32.managed_pages
    # block 3 holds nothing in use: it goes
    assert m.offline_memory(3 * BLOCK, BLOCK) == 0
    assert dma32.present_early_pages == early - PAGES
    assert dma32.managed_pages == managed - PAGES
    assert dma32.spanned_pages > dma32.present_pages      # a hole inside the span now
    assert m.memory_block_valid_zones(3) == "DMA32 Movable"
    assert m.online_memory(3 * BLOCK, BLOCK) == 0          # back into DMA32
    assert m.memory_blocks()[3].zone is dma32
    assert dma32.present_early_pages == early and dma32.managed_pages == managed
    # the last block ends in the e820 hole below 1 GiB: memory holes
    assert m.offline_memory(7 * BLOCK, BLOCK) == -errno.EINVAL
    assert mm.memory_hotplug.last_failure[0] == "memory holes"
    m.check()


def test_offline_of_boot_memory_with_a_memblock_reservation():
    spec = spec_from_args(mem="1G", cpus=1)
    r = 5 * PAGES + 300
    spec.reserved.append((r, r + 8))
    m = Machine.from_spec(spec)
    before = state(m)
    assert m.offline_memory(5 * BLOCK, BLOCK) == -errno.EBUSY
    assert m.mm.memory_hotplug.last_failure == ("failure to isolate range", -errno.EBUSY, r)
    assert state(m) == before          # the reserved pages sit in the first pageblock
    m.check()


def test_offline_zone_movable_waits_for_migration(m):
    mm = m.mm
    start = _offline_fixture(m, "online_movable")
    mm.memory_hotplug.offline_retry_limit = 3
    p = start + 1000
    assert m.alloc_contig_range(p, p + 1) == 0
    m.drain_all_pages()
    before = state(m, ordered=False)
    # ZONE_MOVABLE: isolation assumes movable; an unmovable page is found by
    # test_pages_isolated again and again until a signal arrives
    assert m.offline_memory(1 << 30, BLOCK) == -errno.EINTR
    assert mm.memory_hotplug.last_failure[0] == "signal backoff"
    assert state(m, ordered=False) == before
    # an LRU page: scan_movable_pages finds it, migration is not wired: same
    mm.mem.flags[p] |= PG_lru
    before = state(m, ordered=False)
    assert m.offline_memory(1 << 30, BLOCK) == -errno.EINTR
    assert state(m, ordered=False) == before
    # with migration the page moves out and the block goes offline
    mm.migrate = simple_migrate
    assert m.offline_memory(1 << 30, BLOCK) == 0
    (src, dst), = migrated(mm)
    assert src == p and m.page_state(dst) == "allocated" and dst < start
    assert not m.zone("Movable").populated()
    m.check()


def _numa_with_memoryless_node() -> Machine:
    spec = spec_from_args(mem="1G", cpus=2)
    spec.nodes[0].cpus = [0]
    spec.nodes.append(NodeSpec(1, [], [1]))
    spec.distance = [[10, 20], [20, 10]]
    spec.max_pfn_extra = (512 * MiB) >> 12
    return Machine.from_spec(spec)


def test_node_becomes_memoryless_and_comes_back():
    m = _numa_with_memoryless_node()
    mm = m.mm
    n1 = mm.nodes[1]
    assert m.node_states()["has_memory"] == [0] and m.node_states()["has_cpu"] == [0, 1]
    assert n1.zonelist_fallback[0] is m.zone("DMA32", 0)
    assert m.add_memory(1 << 30, BLOCK, nid=1, online_type="online_kernel") == 0
    normal1 = m.zone("Normal", 1)
    assert m.node_states()["has_memory"] == [0, 1]
    assert m.node_states()["has_normal_memory"] == [0, 1]
    assert n1.node_present_pages == PAGES and n1.node_start_pfn == (1 << 30) >> 12
    assert n1.zonelist_fallback[0] is normal1
    p = m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=1)
    assert normal1.spans(p)
    m.free_pages(p, 0, cpu=1)
    m.check()
    assert m.offline_memory(1 << 30, BLOCK) == 0
    assert m.node_states()["has_memory"] == [0] and m.node_states()["has_normal_memory"] == [0]
    assert n1.node_present_pages == 0 and n1.node_spanned_pages == 0
    assert 1 not in mm.memory_hotplug.kswapd_nodes
    assert n1.zonelist_fallback[0] is m.zone("DMA32", 0)       # memoryless again
    assert not normal1.pcp
    q = m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=1)
    assert m.zone("DMA32", 0).spans(q) or m.zone("DMA", 0).spans(q)
    m.check()
    assert m.online_memory(1 << 30, BLOCK, "online_movable") == 0
    assert m.node_states()["has_memory"] == [0, 1]
    assert m.node_states()["has_normal_memory"] == [0]             # Movable only: not N_NORMAL
    assert n1.zonelist_fallback[0] is m.zone("Movable", 1)
    m.check()


def test_offline_migrates_to_another_node():
    """do_migrate_range allocates the targets on any other node with memory."""
    m = _numa_with_memoryless_node()
    mm = m.mm
    assert m.add_memory(1 << 30, BLOCK, nid=1, online_type="online_movable") == 0
    p = m.alloc_pages(MOVABLE_NOWAIT, 0, cpu=1)
    assert m.zone("Movable", 1).spans(p)
    mm.mem.flags[p] |= PG_lru
    mm.migrate = FakeMigrator(mm)
    assert m.offline_memory(1 << 30, BLOCK) == 0
    (pages, _mode, reason), = mm.migrate.calls
    assert pages == [p] and reason == "memory_hotplug"
    dst = mm.migrate.moved[p]
    assert mm.zone_of_pfn(dst).nid == 0
    m.check()


def test_remove_memory_needs_offline_blocks(m):
    g = 1 << 30
    assert m.add_memory(g, BLOCK, online_type="online_movable") == 0
    assert m.remove_memory(g, BLOCK) == -errno.EBUSY
    assert m.offline_memory(g, BLOCK) == 0
    assert m.remove_memory(g, BLOCK) == 0
    assert 8 not in [b.id for b in m.memory_blocks()]
    assert m.add_memory(g, BLOCK, online_type="online_movable") == 0
    m.check()


def test_state_store_semantics(m):
    mm = m.mm
    assert m.add_memory(1 << 30, BLOCK) == 0
    assert mb.memory_block_state_store(mm, 8, "bogus") == -errno.EINVAL
    assert mb.memory_block_state_store(mm, 8, "offline") == -errno.EINVAL   # already offline
    assert mb.memory_block_state_store(mm, 8, "online") == 0
    assert mb.memory_block_state_store(mm, 8, "online_movable") == -errno.EINVAL
    assert mb.memory_block_state_store(mm, 99, "online") == -errno.ENODEV


def test_random_hotplug_with_allocations_keeps_invariants():
    m = Machine.boot_hotpluggable(mem="512M", room="512M", cpus=2)
    mm = m.mm
    rng = random.Random(5)
    base = 512 * MiB
    assert m.add_memory(base, 4 * BLOCK) == 0
    live: list[tuple[int, int, int]] = []
    for step in range(600):
        r = rng.random()
        if r < 0.1:
            blk = rng.randrange(4)
            kind = rng.choice(["online", "online_kernel", "online_movable", "offline"])
            ret = m.online_memory(base + blk * BLOCK, BLOCK, kind)
            assert ret in (0, -errno.EINVAL, -errno.EBUSY, -errno.EINTR)
            if kind == "offline" and ret == 0:
                s = (base + blk * BLOCK) >> 12
                assert not any(s <= p < s + PAGES for p, _, _ in live)
        elif r < 0.55 or not live:
            order = rng.choice([0, 0, 1, 3, 9])
            g_ = rng.choice([gfp.GFP_KERNEL, MOVABLE_NOWAIT, gfp.GFP_ATOMIC]) | gfp.__GFP_NOWARN
            c = rng.randrange(2)
            p = m.alloc_pages(g_, order, cpu=c)
            if p is not None:
                live.append((p, order, c))
        else:
            p, order, c = live.pop(rng.randrange(len(live)))
            assert m.free_pages(p, order, cpu=c)
        if step % 50 == 0:
            m.check()
    m.check()
    mm.memory_hotplug.offline_retry_limit = 1
    for p, order, c in live:
        m.free_pages(p, order, cpu=c)
    m.drain_all_pages()
    for blk in range(4):
        assert m.online_memory(base + blk * BLOCK, BLOCK, "offline") in (0, -errno.EINVAL)
    assert m.total_pages() == sum(z.present_pages for z in mm.zones)
    assert all(b.state_name == "offline" for b in m.memory_blocks() if not b.early)
    m.check()
