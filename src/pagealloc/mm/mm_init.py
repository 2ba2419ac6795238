"""Boot: zone layout, the memmap, zonelists, memblock_free_all and the late-init order.

Models mm/page_alloc.c as Linux 6.1 boots an x86_64 machine:
zone_sizes_init (arch/x86/mm/init.c), free_area_init with
find_zone_movable_pfns_for_nodes, calculate_node_totalpages,
free_area_init_core (the managed estimate, nr_kernel_pages) and
memmap_init (pageblocks MOVABLE, "pages in unavailable ranges"),
check_for_memory / node_states, build_all_zonelists / find_next_best_node,
memblock_free_all (mm/memblock.c), setup_per_cpu_pageset,
init_per_zone_wmark_min (postcore), hugepage_init's start_stop_khugepaged
(mm/huge_memory.c, mm/khugepaged.c), and the freeing of init memory and the
initrd (free_reserved_area) after both.

Because the watermarks are computed at postcore, before the kernel frees its
init sections and the initrd, a booted machine's watermarks and protection
are a little smaller than its final managed counts imply, exactly as on the
real kernel (compare zoneinfo.boot and zoneinfo.mfk20000 of the oracle).

Deliberate differences: no deferred struct page init (every page is freed by
memblock_free_all; the resulting free lists are the same, ascending order-10
blocks at the list tails); init memory goes straight to the buddy rather than
through CPU 0's pcp list; kernelcore=mirror is not modelled (no mirrored
memory); the early reservations follow mm/memblock.py's model of Debian's
kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .core import MM
from .memblock import (DEFAULT_INITRD_PAGES, MAX_DMA_PFN, MAX_DMA32_PFN, NODE_DATA_PAGES,
                       SECTION_PAGES, Memblock, memblock_find_dma_reserve, memblock_from_spec,
                       numa_clear_kernel_node_hotplug, reserve_before_zonelists,
                       reserve_hash_tables_and_swiotlb, setup_arch_reserve, sparse_init)
from .memmap import LISTS_PER_ZONE, MemMap, PG_absent, PG_reserved
from .mmzone import (MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, PAGE_SHIFT, ZONE_NAMES, PgData,
                     Zone, ZoneType, pageblock_nr_pages, pageblock_order)
from .page_alloc import FPI_NONE, FPI_SKIP_KASAN_POISON, FPI_TO_TAIL, __free_one_page
from .vmstat import EV_PGFREE
from .watermarks import (default_lowmem_reserve_ratio, init_per_zone_wmark_min, nr_free_zone_pages,
                         setup_zone_pageset, start_stop_khugepaged)

__all__ = ["MachineSpec", "NodeSpec", "free_area_init", "memblock_free_all",
           "build_all_zonelists", "boot", "find_zone_movable_pfns_for_nodes",
           "calc_memmap_size", "free_reserved_area", "__free_pages_memory", "init_node_states",
           "refresh_cpu_vm_stats", "LOCAL_DISTANCE", "REMOTE_DISTANCE",
           "MAX_NUMNODES", "N_POSSIBLE", "N_ONLINE", "N_NORMAL_MEMORY", "N_HIGH_MEMORY",
           "N_MEMORY", "N_CPU"]

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
MAX_NUMNODES = 64                 # NODES_SHIFT 6 (Debian: no MAXSMP)
PENALTY_FOR_NODE_WITH_CPUS = 1
MAX_LOW_PFN_I386 = 0x377FE        # 896 MiB lowmem minus the vmalloc reserve (i386 profile)
HPAGE_PMD_THP_MIN_TOTALRAM = 512 << (20 - PAGE_SHIFT)   # hugepage_init: THP off below 512 MiB

N_POSSIBLE, N_ONLINE, N_NORMAL_MEMORY, N_HIGH_MEMORY, N_MEMORY, N_CPU = (
    "possible", "online", "has_normal_memory", "has_high_memory", "has_memory", "has_cpu")


@dataclass
class NodeSpec:
    """One NUMA node: its memory as pfn ranges (end exclusive), its CPUs, hotpluggability."""
    nid: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    cpus: list[int] = field(default_factory=list)
    hotpluggable: bool = False


@dataclass
class MachineSpec:
    """What a machine is made of, in pfns (end exclusive), and how its kernel boots.

    ``reserved`` are extra firmware or user memblock reservations;
    ``device`` ZONE_DEVICE ranges as (nid, start, end). With
    ``boot_reservations`` the early allocations of Debian's kernel are
    modelled (mm/memblock.py); without, only ``reserved`` is kept back.
    """
    nodes: list[NodeSpec]
    reserved: list[tuple[int, int]] = field(default_factory=list)
    device: list[tuple[int, int, int]] = field(default_factory=list)
    distance: list[list[int]] | None = None
    nr_cpus: int = 1
    profile: str = "x86_64"
    movablecore_pages: int = 0
    movablecore_percent: int = 0
    kernelcore_pages: int = 0
    kernelcore_percent: int = 0
    movable_node: bool = False
    hotpluggable: list[tuple[int, int]] = field(default_factory=list)
    thp: str = "always"
    shuffle: bool = False
    cma_pages: int = 0                   # cma= (CONFIG_CMA machines only)
    page_owner: bool = False             # page_owner=on
    page_poison: bool = False            # page_poison=1
    page_reporting_order: int | None = None   # page_reporting.page_reporting_order=
    cma: bool = False
    seed: int = 0
    max_pfn_extra: int = 0            # memmap room above the boot memory for hotplug
    boot_reservations: bool = True
    kernel_base: int = 0x1000          # pfn of _text (16 MiB: CONFIG_PHYSICAL_START, nokaslr)
    initrd_pages: int = DEFAULT_INITRD_PAGES
    initrd_end: int | None = None      # pfn; None: top of RAM below 4 GiB, 64 KiB aligned
    crashkernel: tuple[int, int | None, bool] | None = None   # (pages, base pfn, ,high)
    log_buf_len: int = 0               # log_buf_len= in bytes
    swiotlb: bool | None = None        # None: on when memory reaches above 4 GiB
    cmdline: str = ""
    ignored_params: list[str] = field(default_factory=list)
    e820: object | None = None         # sources.e820.E820Table the layout came from


# --------------------------------------------------------------------------------------
# zone layout


def _zone_max_pfns(mm: MM, max_pfn: int) -> list[int]:
    """zone_sizes_init(): max_zone_pfns[] (x86; max_low_pfn = max_pfn on 64-bit)."""
    max_low_pfn = max_pfn if mm.profile == "x86_64" else min(max_pfn, MAX_LOW_PFN_I386)
    out = []
    for zt in mm.zone_types:
        if zt == ZoneType.DMA:
            out.append(min(MAX_DMA_PFN, max_low_pfn))
        elif zt == ZoneType.DMA32:
            out.append(min(MAX_DMA32_PFN, max_low_pfn))
        elif zt == ZoneType.NORMAL:
            out.append(max_low_pfn)
        elif zt == ZoneType.HIGHMEM:
            out.append(max_pfn)
        else:
            out.append(0)
    return out


def _pfn_range_for_nid(mb: Memblock, nid: int) -> tuple[int, int]:
    """get_pfn_range_for_nid(): (0, 0) for a node without memory."""
    rs = [r for r in mb.memory if r.nid == nid]
    if not rs:
        return 0, 0
    return min(r.start for r in rs), max(r.end for r in rs)


def find_zone_movable_pfns_for_nodes(mm: MM, spec: MachineSpec, mb: Memblock,
                                     arch_lo: list[int], arch_hi: list[int],
                                     movable_zone: int) -> dict[int, int]:
    """The pfn at which ZONE_MOVABLE starts on each node (absent: no Movable zone).

    Models mm/page_alloc.c:find_zone_movable_pfns_for_nodes: movable_node
    takes every hotpluggable region; otherwise kernelcore= / movablecore=
    (sizes or percentages) are spread evenly over the memory nodes, memory
    below the movable zone's lowest pfn counting as kernelcore, with the
    kernel's restart loop; the result is rounded up to MAX_ORDER_NR_PAGES.
    """
    zmp: dict[int, int] = {}
    memory = mb.memory
    totalpages = sum(r.end - r.start for r in memory)
    mem_nodes = sorted({r.nid for r in memory if r.end > r.start})
    usable_nodes = len(mem_nodes)

    def out2() -> dict[int, int]:
        res = {}
        for nid, pfn in zmp.items():
            pfn = (pfn + MAX_ORDER_NR_PAGES - 1) // MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES
            _s, e = _pfn_range_for_nid(mb, nid)
            if pfn and pfn < e:
                res[nid] = pfn
        return res

    if spec.movable_node:
        for r in memory:
            if not r.hotplug:
                continue
            zmp[r.nid] = min(r.start, zmp[r.nid]) if zmp.get(r.nid) else r.start
        return out2()

    required_kernelcore = spec.kernelcore_pages
    required_movablecore = spec.movablecore_pages
    if spec.kernelcore_percent:
        required_kernelcore = totalpages * 100 * spec.kernelcore_percent // 10000
    if spec.movablecore_percent:
        required_movablecore = totalpages * 100 * spec.movablecore_percent // 10000
    if required_movablecore:
        required_movablecore = -(-required_movablecore // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
        required_movablecore = min(totalpages, required_movablecore)
        corepages = totalpages - required_movablecore
        required_kernelcore = max(required_kernelcore, corepages)
    if not required_kernelcore or required_kernelcore >= totalpages:
        return {}
    usable_startpfn = arch_lo[movable_zone]
    while True:
        kernelcore_node = required_kernelcore // usable_nodes
        for nid in mem_nodes:
            if required_kernelcore < kernelcore_node:
                kernelcore_node = required_kernelcore // usable_nodes
            kernelcore_remaining = kernelcore_node
            for r in memory:
                if r.nid != nid:
                    continue
                start_pfn = max(r.start, zmp.get(nid, 0))
                end_pfn = r.end
                if start_pfn >= end_pfn:
                    continue
                if start_pfn < usable_startpfn:
                    kernel_pages = min(end_pfn, usable_startpfn) - start_pfn
                    kernelcore_remaining -= min(kernel_pages, kernelcore_remaining)
                    required_kernelcore -= min(kernel_pages, required_kernelcore)
                    if end_pfn <= usable_startpfn:
                        zmp[nid] = end_pfn
                        continue
                    start_pfn = usable_startpfn
                size_pages = end_pfn - start_pfn
                if size_pages > kernelcore_remaining:
                    size_pages = kernelcore_remaining
                zmp[nid] = start_pfn + size_pages
                required_kernelcore -= min(required_kernelcore, size_pages)
                kernelcore_remaining -= size_pages
                if not kernelcore_remaining:
                    break
        usable_nodes -= 1
        if not (usable_nodes and required_kernelcore > usable_nodes):
            break
    return out2()


def calc_memmap_size(spanned_pages: int, present_pages: int) -> int:
    """Pages of struct page a zone is charged at free_area_init_core (an estimate)."""
    pages = spanned_pages
    if spanned_pages > present_pages + (present_pages >> 4):
        pages = present_pages
    return (pages * 64 + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT


def _adjust_zone_range_for_zone_movable(idx: int, zmovable: int, mv: int, node_end: int,
                                        movable_hi: int, zs: int, ze: int) -> tuple[int, int]:
    if not mv:
        return zs, ze
    if idx == zmovable:
        return mv, min(node_end, movable_hi)
    if zs < mv < ze:
        return zs, mv
    if zs >= mv:
        return ze, ze
    return zs, ze


def _absent(mb: Memblock, nid: int, s: int, e: int) -> int:
    """__absent_pages_in_range() for one node."""
    n = e - s
    for r in mb.memory:
        if r.nid != nid:
            continue
        a, b = min(max(r.start, s), e), min(max(r.end, s), e)
        n -= b - a
    return n


def free_area_init(mm: MM, spec: MachineSpec, mb: Memblock, dma_reserve: int = 0) -> dict:
    """Create the nodes and zones with their spans, present pages and managed estimate.

    Models free_area_init -> free_area_init_node -> calculate_node_totalpages
    and free_area_init_core, then memmap_init. Returns the boot facts later
    steps need (nr_kernel_pages, nr_all_pages, zone_movable_pfn, max_pfn).
    """
    memory = mb.memory
    max_pfn = max((r.end for r in memory), default=0)
    start_pfn = min((r.start for r in memory), default=0)
    nz = mm.MAX_NR_ZONES
    zmovable = mm.ZONE_MOVABLE
    max_zone = _zone_max_pfns(mm, max_pfn)
    arch_lo = [0] * nz
    arch_hi = [0] * nz
    s = start_pfn
    for i in range(nz):
        if i == zmovable:
            continue
        e = max(max_zone[i], s)
        arch_lo[i], arch_hi[i] = s, e
        s = e
    movable_zone = 0
    for i in range(nz - 1, -1, -1):
        if i != zmovable and arch_hi[i] > arch_lo[i]:
            movable_zone = i
            break
    zmp = find_zone_movable_pfns_for_nodes(mm, spec, mb, arch_lo, arch_hi, movable_zone)
    _log_zone_ranges(mm, arch_lo, arch_hi, zmp, mb)

    # memmap arrays: every pfn up to the top of memory and device ranges
    top = max_pfn
    for _nid, ds, de in spec.device:
        top = max(top, de)
    npfn = top + spec.max_pfn_extra
    npfn = (npfn + MAX_ORDER_NR_PAGES - 1) // MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES
    nnodes = max([n.nid for n in spec.nodes] + [0]) + 1
    mm.mem = MemMap(npfn, nnodes * nz)
    mem = mm.mem
    mem.a_flags[:] = PG_absent
    for r in memory:
        mem.a_flags[r.start:r.end] = PG_reserved

    nr_kernel_pages = 0
    nr_all_pages = 0
    mm.nodes = []
    mm.zones = []
    node_has_cpus = {n.nid: bool(n.cpus) for n in spec.nodes}
    spec_nids = {n.nid for n in spec.nodes}
    for nid in range(nnodes):
        node = PgData(nid)
        mm.nodes.append(node)
        node.cpus = [c for c in range(mm.nr_cpu_ids) if mm.cpu_to_node[c] == nid]
        ns, ne = _pfn_range_for_nid(mb, nid)
        node.online = ne > ns or node_has_cpus.get(nid, False)
        if nid in spec_nids and ne <= ns:
            mm.printk(f"Initializing node {nid} as memoryless")
        if ne > ns:
            mm.printk(f"Initmem setup node {nid} [mem {ns << PAGE_SHIFT:#018x}-"
                      f"{(ne << PAGE_SHIFT) - 1:#018x}]")
        node.node_start_pfn = ns
        totalpages = realtotal = 0
        mv = zmp.get(nid, 0)
        for idx, zt in enumerate(mm.zone_types):
            z = Zone(node, idx, zt)
            z.gid = nid * nz + idx
            z.list_base = npfn + z.gid * LISTS_PER_ZONE
            z.lowmem_reserve = [0] * nz
            z.vm_stat_diff = [0] * mm.nr_cpu_ids
            node.node_zones.append(z)
            mm.zones.append(z)
            if ne <= ns:
                continue
            # zone_spanned_pages_in_node / zone_absent_pages_in_node
            zs = min(max(ns, arch_lo[idx]), arch_hi[idx])
            ze = min(max(ne, arch_lo[idx]), arch_hi[idx])
            zs, ze = _adjust_zone_range_for_zone_movable(idx, zmovable, mv, ne,
                                                         arch_hi[movable_zone], zs, ze)
            if ze < ns or zs > ne:
                spanned = 0
            else:
                ze = min(ze, ne)
                zs = max(zs, ns)
                spanned = ze - zs
            absent = _absent(mb, nid, zs, ze) if spanned else 0
            present = spanned - absent
            z.zone_start_pfn = zs if spanned else 0
            z.spanned_pages = spanned
            z.zone_end_pfn = z.zone_start_pfn + spanned
            z.present_pages = z.present_early_pages = present
            totalpages += spanned
            realtotal += present
            # free_area_init_core: the managed estimate and nr_kernel_pages
            freesize = present
            memmap_pages = calc_memmap_size(spanned, present)
            if zt != ZoneType.HIGHMEM and freesize >= memmap_pages:
                freesize -= memmap_pages
            if idx == 0 and freesize > dma_reserve:
                freesize -= dma_reserve
            if zt != ZoneType.HIGHMEM:
                nr_kernel_pages += freesize
            elif nr_kernel_pages > memmap_pages * 2:
                nr_kernel_pages -= memmap_pages
            nr_all_pages += freesize
            z.managed_pages = freesize
            if spanned:
                node.nr_zones = max(node.nr_zones, idx + 1)
                z.initialized = True
        node.node_spanned_pages = totalpages
        node.node_present_pages = realtotal
    _memmap_init(mm, mb)
    init_node_states(mm, spec)
    for nid, ds, de in spec.device:
        _move_pfn_range_to_device_zone(mm, nid, ds, de)
    return {"nr_kernel_pages": nr_kernel_pages, "nr_all_pages": nr_all_pages,
            "zone_movable_pfn": zmp, "max_pfn": max_pfn}


def _log_zone_ranges(mm: MM, lo: list[int], hi: list[int], zmp: dict[int, int],
                     mb: Memblock) -> None:
    mm.printk("Zone ranges:")
    for i, zt in enumerate(mm.zone_types):
        if i == mm.ZONE_MOVABLE:
            continue
        name = ZONE_NAMES[zt]
        if lo[i] == hi[i]:
            mm.printk(f"  {name:<8} empty")
        else:
            mm.printk(f"  {name:<8} [mem {lo[i] << PAGE_SHIFT:#018x}-{(hi[i] << PAGE_SHIFT) - 1:#018x}]")
    mm.printk("Movable zone start for each node")
    for nid in sorted(zmp):
        mm.printk(f"  Node {nid}: {zmp[nid] << PAGE_SHIFT:#018x}")
    mm.printk("Early memory node ranges")
    for r in mb.memory:
        mm.printk(f"  node {r.nid:3d}: [mem {r.start << PAGE_SHIFT:#018x}-{(r.end << PAGE_SHIFT) - 1:#018x}]")


def _memmap_init(mm: MM, mb: Memblock) -> None:
    """memmap_init(): pageblocks of memory MOVABLE; holes reported per zone.

    A pageblock whose first pfn is a hole is never set and stays 0
    (Unmovable): DMA's first block (pfn 0 is not RAM) is the usual case.
    """
    mem = mm.mem
    pb = mem.a_pageblock
    pb[:] = 0
    present_sections = set()
    for r in mb.memory:
        present_sections.update(range(r.start // SECTION_PAGES, (r.end - 1) // SECTION_PAGES + 1))
    hole = 0
    nid = 0
    zone_name = ""
    for r in mb.memory:
        node = mm.nodes[r.nid]
        for z in node.node_zones:
            if not z.present_pages:
                continue
            s = min(max(r.start, z.zone_start_pfn), z.zone_end_pfn)
            e = min(max(r.end, z.zone_start_pfn), z.zone_end_pfn)
            if s >= e:
                continue
            first = -(-s // pageblock_nr_pages)
            last = -(-e // pageblock_nr_pages)
            if last > first:
                pb[first:last] = MIGRATE_MOVABLE
            if hole < s:
                _init_unavailable_range(mm, hole, s, z.name, r.nid, present_sections)
            hole = e
            nid, zone_name = r.nid, z.name
    end = max((r.end for r in mb.memory), default=0)
    end = -(-end // SECTION_PAGES) * SECTION_PAGES
    if hole < end and zone_name:
        _init_unavailable_range(mm, hole, end, zone_name, nid, present_sections)


def _init_unavailable_range(mm: MM, spfn: int, epfn: int, zname: str, nid: int,
                            present_sections: set[int]) -> None:
    """Count the hole pages that have a struct page (their pageblock's section is present)."""
    n = 0
    pfn = spfn
    while pfn < epfn:
        blk = pfn - pfn % pageblock_nr_pages
        if blk // SECTION_PAGES not in present_sections:
            pfn = (blk // SECTION_PAGES + 1) * SECTION_PAGES      # the whole section is invalid
            continue
        nxt = min(epfn, blk + pageblock_nr_pages)
        n += nxt - pfn
        pfn = nxt
    if n:
        mm.printk(f"On node {nid}, zone {zname}: {n} pages in unavailable ranges")


def init_node_states(mm: MM, spec: MachineSpec) -> None:
    """node_states[]: possible, online, normal/high memory (check_for_memory), memory, cpu."""
    st = {k: set() for k in (N_POSSIBLE, N_ONLINE, N_NORMAL_MEMORY, N_HIGH_MEMORY, N_MEMORY, N_CPU)}
    for n in spec.nodes:
        st[N_POSSIBLE].add(n.nid)
    for node in mm.nodes:
        nid = node.node_id
        if node.online:
            st[N_ONLINE].add(nid)
        if node.node_present_pages:
            st[N_MEMORY].add(nid)
        for z in node.node_zones[:mm.ZONE_MOVABLE]:
            if z.present_pages:
                if z.type == ZoneType.HIGHMEM:
                    st[N_HIGH_MEMORY].add(nid)
                if z.idx <= mm.ZONE_NORMAL:
                    st[N_NORMAL_MEMORY].add(nid)
                    if mm.profile == "x86_64":       # N_HIGH_MEMORY == N_NORMAL_MEMORY without HIGHMEM
                        st[N_HIGH_MEMORY].add(nid)
                break
        if node.cpus:
            st[N_CPU].add(nid)
    mm.node_states = st


def _move_pfn_range_to_device_zone(mm: MM, nid: int, start: int, end: int) -> None:
    """memremap_pages -> move_pfn_range_to_zone(ZONE_DEVICE): span grows, present does not."""
    node = mm.nodes[nid]
    z = node.node_zones[mm.zone_types.index(ZoneType.DEVICE)]
    if z.spanned_pages:
        s = min(z.zone_start_pfn, start)
        e = max(z.zone_end_pfn, end)
    else:
        s, e = start, end
    z.zone_start_pfn, z.zone_end_pfn, z.spanned_pages = s, e, e - s
    z.initialized = True
    if node.node_spanned_pages:
        ns = min(node.node_start_pfn, s)
        ne = max(node.node_start_pfn + node.node_spanned_pages, e)
    else:
        ns, ne = s, e
    node.node_start_pfn, node.node_spanned_pages = ns, ne - ns
    mm.mem.a_flags[start:end] = PG_reserved
    mm.mem.a_pageblock[start // pageblock_nr_pages:-(-end // pageblock_nr_pages)] = MIGRATE_MOVABLE


# --------------------------------------------------------------------------------------
# zonelists


def build_all_zonelists(mm: MM, distance: list[list[int]] | None = None) -> int:
    """Fallback and no-fallback zonelists of every node; returns "Total pages".

    Models mm/page_alloc.c:__build_all_zonelists -> build_zonelists with
    find_next_best_node (distance, +1 for a lower node id, +1 for a node
    with CPUs, times MAX_NUMNODES, plus node_load), node_load reset once per
    pass and bumped for the first node of each new distance group; then
    build_all_zonelists' page_group_by_mobility_disabled from
    nr_free_zone_pages(gfp_zone(GFP_HIGHUSER_MOVABLE)).
    """
    nn = len(mm.nodes)
    if distance is None:
        distance = mm.node_distance if len(mm.node_distance) == nn else None
    if distance is None:
        distance = [[LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nn)]
                    for i in range(nn)]
    mm.node_distance = distance
    memory_nodes = [n.node_id for n in mm.nodes if n.node_present_pages]
    node_load = [0] * nn

    def zonerefs(nid: int) -> list[Zone]:
        return [z for z in reversed(mm.nodes[nid].node_zones) if z.present_pages]

    for node in mm.nodes:                          # for_each_node: every possible node
        local = node.node_id
        used: set[int] = set()
        order: list[int] = []
        prev = local
        while True:
            best = -1
            if local not in used:
                best = local
            else:
                min_val = None
                for n in memory_nodes:
                    if n in used:
                        continue
                    val = distance[local][n]
                    val += 1 if n < local else 0
                    if mm.nodes[n].cpus:
                        val += PENALTY_FOR_NODE_WITH_CPUS
                    val *= MAX_NUMNODES
                    val += node_load[n]
                    if min_val is None or val < min_val:
                        min_val = val
                        best = n
            if best < 0:
                break
            used.add(best)
            if distance[local][best] != distance[local][prev]:
                node_load[best] += 1
            order.append(best)
            prev = best
        node.zonelist_fallback = [z for nid in order for z in zonerefs(nid)]
        node.zonelist_nofallback = zonerefs(local)
        node.fallback_order = order
        if node.online:
            mm.printk(f"Fallback order for Node {local}: " + "".join(f"{n} " for n in order))
    cpu0_node = mm.cpu_to_node[mm.cpu] if mm.cpu_to_node else 0
    vm_total_pages = nr_free_zone_pages(mm, mm.ZONE_MOVABLE, cpu0_node)
    migrate_types = 6 if mm.cma_enabled else 5
    mm.page_group_by_mobility_disabled = vm_total_pages < pageblock_nr_pages * migrate_types
    policy = 0
    for z in mm.zones:
        if z.present_pages and z.idx > policy and z.idx != mm.ZONE_MOVABLE:
            policy = z.idx
    mm.printk(f"Built {mm.nr_online_nodes()} zonelists, mobility grouping "
              f"{'off' if mm.page_group_by_mobility_disabled else 'on'}.  Total pages: {vm_total_pages}")
    name = ZONE_NAMES[mm.zone_types[policy]]
    mm.printk(f"Policy zone: {name}")
    mm.invalidate_alloc_caches()
    return vm_total_pages


# --------------------------------------------------------------------------------------
# releasing memory to the buddy


def memblock_free_all(mm: MM, free: list[tuple[int, int]]) -> int:
    """Release free memory to the buddy in naturally aligned chunks, to the list tails.

    Models mm/memblock.c:memblock_free_all -> free_low_memory_core_early ->
    __free_pages_memory -> memblock_free_pages -> __free_pages_core
    (FPI_TO_TAIL); every zone's managed count is reset first and becomes the
    pages freed. Runs of whole order-10 blocks are released vectorised: they
    cannot merge and land at the tail in ascending order, exactly as the
    page-by-page loop leaves them. Returns the pages freed.
    """
    for z in mm.zones:
        z.managed_pages = 0
    total = 0
    zones = sorted((z for z in mm.zones if z.present_pages), key=lambda z: z.zone_start_pfn)
    for start, end in sorted(free):
        for zone in zones:
            s = max(start, zone.zone_start_pfn)
            e = min(end, zone.zone_end_pfn)
            if e <= s:
                continue
            __free_pages_memory(mm, zone, s, e, FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
            total += e - s
    return total


def __free_pages_memory(mm: MM, zone: Zone, start: int, end: int, fpi: int) -> None:
    """Free [start, end) of one zone in naturally aligned chunks (mm/memblock.c:__free_pages_memory)."""
    top = MAX_ORDER - 1
    mem = mm.mem
    pfn = start
    while pfn < end:
        order = min(top, (pfn & -pfn).bit_length() - 1) if pfn else top
        while pfn + (1 << order) > end:
            order -= 1
        if order == top and fpi & FPI_TO_TAIL:
            nblk = (end - pfn) >> top
            _free_maxorder_run(mm, zone, pfn, nblk)
            pfn += nblk << top
            continue
        n = 1 << order
        mem.a_flags[pfn:pfn + n] = 0
        mem.a_order[pfn:pfn + n] = -1
        zone.managed_pages += n
        mt = mem.pageblock[pfn >> pageblock_order] & 7
        __free_one_page(mm, zone, pfn, order, mt, fpi)
        mm.events[EV_PGFREE] += n
        pfn += n


def _free_maxorder_run(mm: MM, zone: Zone, pfn: int, nblk: int) -> None:
    """Append nblk order-10 blocks starting at pfn to the tail of their free lists."""
    from .memmap import PG_buddy
    from .page_alloc import mod_zone_freepage_state
    mem = mm.mem
    top = MAX_ORDER - 1
    size = 1 << top
    end = pfn + nblk * size
    mem.a_flags[pfn:end] = 0
    heads = np.arange(pfn, end, size, dtype=np.int64)
    mts = mem.a_pageblock[heads >> pageblock_order] & 7
    # order-10 blocks never merge (MAX_ORDER - 1 is the top order); mixed pageblock types or
    # page reporting take the exact path
    if not np.all(mts == mts[0]) or mm.reporting is not None:
        for h in heads.tolist():
            mem.a_flags[h:h + size] = 0
            zone.managed_pages += size
            __free_one_page(mm, zone, h, top, int(mem.a_pageblock[h >> pageblock_order]) & 7,
                            FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
            mm.events[EV_PGFREE] += size
        return
    mt = int(mts[0])
    sent = zone.list_base + top * 6 + mt
    last = mem.prev[sent]
    h32 = heads.astype(np.int32)
    mem.a_flags[h32] = PG_buddy
    mem.a_order[h32] = top
    mem.a_mt[h32] = mt
    mem.a_next[h32[:-1]] = h32[1:]
    mem.a_prev[h32[1:]] = h32[:-1]
    mem.a_prev[h32[0]] = last
    mem.a_next[last] = h32[0]
    mem.a_next[h32[-1]] = sent
    mem.a_prev[sent] = h32[-1]
    zone.nr_free[top] += nblk
    zone.managed_pages += nblk * size
    mod_zone_freepage_state(mm, zone, nblk * size, mt)
    mm.events[EV_PGFREE] += nblk * size


def free_reserved_area(mm: MM, start: int, end: int) -> int:
    """Give reserved pages to the buddy after init, page by page (managed += n).

    Models mm/page_alloc.c:free_reserved_area -> free_reserved_page ->
    adjust_managed_page_count + __free_page; the model frees straight to
    the buddy (the kernel's pages pass through CPU 0's pcp list).
    """
    mem = mm.mem
    n = 0
    for z in mm.zones:
        if not z.present_pages:
            continue
        s, e = max(start, z.zone_start_pfn), min(end, z.zone_end_pfn)
        for pfn in range(s, e):
            if not mem.flags[pfn] & PG_reserved:
                continue
            mem.flags[pfn] = 0
            mem.order[pfn] = -1
            z.managed_pages += 1
            mt = mem.pageblock[pfn >> pageblock_order] & 7
            __free_one_page(mm, z, pfn, 0, mt, FPI_NONE)
            mm.events[EV_PGFREE] += 1
            n += 1
    return n


def _mem_init_print_info(mm: MM, freed: int, totalcma: int = 0) -> None:
    physpages = sum(z.present_pages for z in mm.zones)
    K = lambda p: p << (PAGE_SHIFT - 10)  # noqa: E731
    mm.printk(f"Memory: {K(freed)}K/{K(physpages)}K available (14343K kernel code, 2338K rwdata, "
              f"9132K rodata, 2824K init, 17344K bss, {K(physpages - freed - totalcma)}K reserved, "
              f"{K(totalcma)}K cma-reserved)")


# --------------------------------------------------------------------------------------
# boot


def _setup_cpus(mm: MM, spec: MachineSpec) -> None:
    mm.nr_cpu_ids = max(1, spec.nr_cpus)
    mm.cpu_online = [True] * mm.nr_cpu_ids
    cpu_to_node = [0] * mm.nr_cpu_ids
    seen = set()
    for n in spec.nodes:
        for c in n.cpus:
            if not 0 <= c < mm.nr_cpu_ids or c in seen:
                from ..errors import PageAllocError
                raise PageAllocError(f"cpu {c} of node {n.nid} is outside 0..{mm.nr_cpu_ids - 1} "
                                     "or listed twice")
            seen.add(c)
            cpu_to_node[c] = n.nid
    mm.cpu_to_node = cpu_to_node


def boot(spec: MachineSpec) -> MM:
    """Build and boot a machine from a spec, in start_kernel's order.

    setup_arch's reservations, sparse_init and free_area_init; percpu,
    build_all_zonelists, the hash tables and swiotlb; memblock_free_all;
    setup_per_cpu_pageset; init_per_zone_wmark_min (postcore);
    hugepage_init (khugepaged's min_free_kbytes, or THP off below 512 MiB);
    then the init sections and the initrd are freed. ``mm.log`` holds the
    boot messages the kernel prints on the way.
    """
    mm = MM(profile=spec.profile, cma=spec.cma, seed=spec.seed)
    mm.lowmem_reserve_ratio = default_lowmem_reserve_ratio(mm)
    mm.thp = spec.thp
    mm.khugepaged_running = False
    mm.shuffle = spec.shuffle
    _setup_cpus(mm, spec)
    mb = memblock_from_spec(spec)
    for s, e in spec.reserved:
        mb.reserve(s, e, "reserved")
    if spec.boot_reservations:
        setup_arch_reserve(mm, spec, mb)
        numa_clear_kernel_node_hotplug(mb)
        for nid in sorted({r.nid for r in mb.memory}):      # numa_register_memblks
            mb.alloc(NODE_DATA_PAGES, nid=nid, what=f"NODE_DATA({nid})")
    cma_base = -1
    if spec.cma_pages:
        # dma_contiguous_reserve -> cma_declare_contiguous_nid: top-down, pageblock aligned
        cma_base = mb.alloc(spec.cma_pages, align=pageblock_nr_pages, what="cma")
        if cma_base < 0:
            mm.printk(f"cma: Failed to reserve {spec.cma_pages << 2 >> 10} MiB")
        else:
            mm.printk(f"cma: Reserved {spec.cma_pages << 2 >> 10} MiB at "
                      f"{cma_base << PAGE_SHIFT:#018x}")
    dma_reserve = memblock_find_dma_reserve(mb)
    if spec.boot_reservations:
        sparse_init(mm, mb)
    facts = free_area_init(mm, spec, mb, dma_reserve)
    if spec.boot_reservations:
        reserve_before_zonelists(mm, spec, mb, facts)
    build_all_zonelists(mm, spec.distance)
    if spec.boot_reservations:
        reserve_hash_tables_and_swiotlb(mm, spec, mb, facts)
    freed = memblock_free_all(mm, [(s, e) for s, e, _n in mb.free_ranges()])
    _mem_init_print_info(mm, freed, spec.cma_pages if cma_base >= 0 else 0)
    for z in mm.zones:                               # setup_per_cpu_pageset
        if z.present_pages:
            setup_zone_pageset(mm, z)
    if spec.shuffle:
        try:
            from .shuffle import shuffle_all_zones  # type: ignore[import-not-found]
        except ImportError:
            mm.printk("pagealloc: page_alloc.shuffle=1 given but mm/shuffle.py is not available")
        else:
            shuffle_all_zones(mm)
    if cma_base >= 0:
        cma_init_reserved_areas(mm, cma_base, spec.cma_pages)
    for s, e, what in sorted(mb.late_free):           # alternative_instructions, before smp_init
        if what == "SMP alternatives":
            free_reserved_area(mm, s, e)
    refresh_cpu_vm_stats(mm)
    init_per_zone_wmark_min(mm)                      # postcore_initcall
    totalram = sum(z.managed_pages for z in mm.zones)
    if totalram < HPAGE_PMD_THP_MIN_TOTALRAM:        # hugepage_init: THP off on small machines
        mm.thp = "never"
    else:
        start_stop_khugepaged(mm)
    sysctl_vm = mm.sysctl_vm
    free_kb = sum(z.vm_free for z in mm.zones) << (PAGE_SHIFT - 10)
    sysctl_vm["user_reserve_kbytes"] = min(free_kb // 32, 1 << 17)     # init_user_reserve
    sysctl_vm["admin_reserve_kbytes"] = min(free_kb // 32, 1 << 13)    # init_admin_reserve
    for s, e, what in sorted(mb.late_free):          # populate_rootfs, free_initmem
        if what != "SMP alternatives":
            free_reserved_area(mm, s, e)
    refresh_cpu_vm_stats(mm)
    mm.memblock = mb
    return mm


def cma_init_reserved_areas(mm: MM, base: int, nr_pages: int) -> None:
    """Hand a reserved CMA area to the buddy as MIGRATE_CMA pageblocks.

    Models mm/cma.c:cma_activate_area -> init_cma_reserved_pageblock: each
    pageblock is labelled CMA, freed (it lands on the CMA free list; the
    kernel passes it through the pcp, whose boot-time high flushes it at
    once) and added to managed and cma_pages.
    """
    from .memmap import PG_absent
    from .mmzone import MIGRATE_CMA
    from .page_alloc import FPI_NONE, __free_one_page, set_pageblock_migratetype
    from .vmstat import EV_PGFREE
    mem = mm.mem
    mm.cma_areas.append((base, base + nr_pages))
    for pfn in range(base, base + nr_pages, pageblock_nr_pages):
        zone = mm.zone_of_pfn(pfn)
        if zone is None or mem.flags[pfn] & PG_absent:
            continue
        mem.a_flags[pfn:pfn + pageblock_nr_pages] = 0
        mem.a_order[pfn:pfn + pageblock_nr_pages] = -1
        set_pageblock_migratetype(mm, pfn, MIGRATE_CMA)
        zone.managed_pages += pageblock_nr_pages
        zone.cma_pages += pageblock_nr_pages
        __free_one_page(mm, zone, pfn, pageblock_order, MIGRATE_CMA, FPI_NONE)
        mm.events[EV_PGFREE] += pageblock_nr_pages


def refresh_cpu_vm_stats(mm: MM) -> None:
    """Fold every CPU's NR_FREE_PAGES diffs (mm/vmstat.c:refresh_cpu_vm_stats on each CPU)."""
    for z in mm.zones:
        if z.vm_stat_diff:
            z.vm_free += sum(z.vm_stat_diff)
        z.vm_stat_diff = [0] * mm.nr_cpu_ids
