"""Boot: zone layout, the memmap, zonelists and the release of free memory to the buddy.

Models free_area_init / zone_sizes_init (arch/x86/mm/init.c),
calculate_node_totalpages, find_zone_movable_pfns_for_nodes (movablecore=,
kernelcore=), build_all_zonelists / find_next_best_node, memmap_init
(every pageblock MOVABLE), memblock_free_all -> __free_pages_memory, and the
late-init order of mm/page_alloc.c (setup_per_cpu_pageset,
init_per_zone_wmark_min, khugepaged's raise).

Deliberate difference: the kernel frees memory before it has computed the
final watermarks and frees init memory afterwards; the model does both
steps at once (clone a real zoneinfo to get a real machine's exact boot
watermarks, see sources/zoneinfo.py). No deferred struct page init.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .core import MM
from .memmap import LISTS_PER_ZONE, MemMap, PG_absent, PG_reserved
from .mmzone import (MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, PgData, Zone, ZoneType,
                     pageblock_nr_pages, pageblock_order)
from .page_alloc import FPI_SKIP_KASAN_POISON, FPI_TO_TAIL, __free_one_page
from .vmstat import EV_PGFREE
from .watermarks import init_per_zone_wmark_min, setup_zone_pageset

__all__ = ["MachineSpec", "NodeSpec", "free_area_init", "memblock_free_all",
           "build_all_zonelists", "boot", "LOCAL_DISTANCE", "REMOTE_DISTANCE"]

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
MAX_NUMNODES = 64
MAX_DMA_PFN = (16 << 20) >> 12
MAX_DMA32_PFN = 1 << 20


@dataclass
class NodeSpec:
    """One NUMA node: its memory as pfn ranges, and its CPUs."""
    nid: int
    ranges: list[tuple[int, int]] = field(default_factory=list)
    cpus: list[int] = field(default_factory=list)


@dataclass
class MachineSpec:
    """What a machine is made of, in pfns (end exclusive)."""
    nodes: list[NodeSpec]
    reserved: list[tuple[int, int]] = field(default_factory=list)
    device: list[tuple[int, int, int]] = field(default_factory=list)   # (nid, start, end)
    distance: list[list[int]] | None = None
    nr_cpus: int = 1
    profile: str = "x86_64"
    movablecore_pages: int = 0
    kernelcore_pages: int = 0
    movable_node: bool = False
    hotpluggable: list[tuple[int, int]] = field(default_factory=list)
    thp: str = "always"
    shuffle: bool = False
    cma: bool = False
    seed: int = 0
    max_pfn_extra: int = 0    # memmap room above the boot memory for hotplug


def _zone_limits(mm: MM, max_pfn: int) -> list[int]:
    """zone_sizes_init(): the highest pfn of each zone type (x86)."""
    limits = []
    for zt in mm.zone_types:
        if zt == ZoneType.DMA:
            limits.append(min(MAX_DMA_PFN, max_pfn))
        elif zt == ZoneType.DMA32:
            limits.append(min(MAX_DMA32_PFN, max_pfn))
        elif zt in (ZoneType.NORMAL, ZoneType.HIGHMEM):
            limits.append(max_pfn)
        else:
            limits.append(0)
    return limits


def _find_zone_movable_pfns(spec: MachineSpec, node_ranges: dict[int, tuple[int, int]],
                            memory: list[tuple[int, int]], movable_limit: int) -> dict[int, int]:
    """zone_movable_pfn[] per node for movablecore=/kernelcore=/movable_node.

    Models mm/page_alloc.c:find_zone_movable_pfns_for_nodes (spread
    kernelcore evenly over nodes, round the movable start up to
    MAX_ORDER_NR_PAGES).
    """
    out: dict[int, int] = {}
    if spec.movable_node and spec.hotpluggable:
        for nid, (s, e) in node_ranges.items():
            for hs, he in spec.hotpluggable:
                if s <= hs < e:
                    out[nid] = hs if nid not in out else min(out[nid], hs)
        return out
    total = sum(e - s for s, e in memory)
    required_kernelcore = 0
    if spec.movablecore_pages:
        movable = spec.movablecore_pages
        movable = (movable + MAX_ORDER_NR_PAGES - 1) // MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES
        movable = min(movable, total)
        required_kernelcore = total - movable
    if spec.kernelcore_pages:
        required_kernelcore = max(required_kernelcore, spec.kernelcore_pages)
    if not required_kernelcore or required_kernelcore >= total:
        return out
    usable_nodes = [nid for nid, (s, e) in sorted(node_ranges.items()) if e > s]
    kernelcore_remaining = required_kernelcore
    # restart loop as the kernel's: spread evenly, nodes too small give their all
    pending = list(usable_nodes)
    node_mem = {nid: [(max(s, node_ranges[nid][0]), min(e, node_ranges[nid][1]))
                      for s, e in memory if min(e, node_ranges[nid][1]) > max(s, node_ranges[nid][0])]
                for nid in usable_nodes}
    for nid in usable_nodes:
        out[nid] = 0
    while kernelcore_remaining > 0 and pending:
        kernelcore_node = kernelcore_remaining // len(pending)
        next_pending = []
        for nid in pending:
            need = kernelcore_node
            for s, e in node_mem[nid]:
                start = max(s, out[nid]) if out[nid] else s
                if start >= e:
                    continue
                if start < movable_limit:
                    # memory below the movable zone's eligible start is kernelcore for free
                    kernel_pages = min(e, movable_limit) - start
                    kernelcore_remaining -= min(kernel_pages, kernelcore_remaining)
                    need -= min(kernel_pages, need)
                    start = min(e, movable_limit)
                    if start >= e:
                        out[nid] = e
                        continue
                size = e - start
                take = min(size, need)
                out[nid] = start + take
                kernelcore_remaining -= take
                need -= take
                if need <= 0:
                    break
            if any(e > out[nid] for s, e in node_mem[nid]):
                next_pending.append(nid)
        if next_pending == pending and kernelcore_node == 0:
            break
        pending = next_pending
        if kernelcore_node == 0:
            break
    for nid in list(out):
        v = out[nid]
        v = (v + MAX_ORDER_NR_PAGES - 1) // MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES
        s, e = node_ranges[nid]
        if v >= e or v == 0:
            del out[nid]
        else:
            out[nid] = max(v, s)
    return out


def free_area_init(mm: MM, spec: MachineSpec) -> list[tuple[int, int]]:
    """Create nodes and zones with their spans and present pages; build the memmap.

    Returns the memblock free ranges (memory minus reservations) that
    memblock_free_all will release.
    """
    memory = sorted((s, e) for n in spec.nodes for s, e in n.ranges if e > s)
    max_pfn = max((e for s, e in memory), default=0)
    for _nid, s, e in spec.device:
        max_pfn = max(max_pfn, e)
    for s, e in spec.hotpluggable:
        max_pfn = max(max_pfn, e)
    npfn = max_pfn + spec.max_pfn_extra
    npfn = (npfn + MAX_ORDER_NR_PAGES - 1) // MAX_ORDER_NR_PAGES * MAX_ORDER_NR_PAGES
    nnodes = max((n.nid for n in spec.nodes), default=0) + 1
    nzones = nnodes * mm.MAX_NR_ZONES
    mm.mem = MemMap(npfn, nzones)
    mem = mm.mem
    # holes until proven present
    mem.a_flags[:] = PG_absent
    for s, e in memory:
        mem.a_flags[s:e] = PG_reserved
    mm.nr_cpu_ids = spec.nr_cpus
    mm.cpu_online = [True] * spec.nr_cpus
    cpu_to_node = [0] * spec.nr_cpus
    for n in spec.nodes:
        for c in n.cpus:
            cpu_to_node[c] = n.nid
    mm.cpu_to_node = cpu_to_node
    # nodes
    node_ranges: dict[int, tuple[int, int]] = {}
    for n in spec.nodes:
        if n.ranges:
            node_ranges[n.nid] = (min(s for s, _ in n.ranges), max(e for _, e in n.ranges))
    mem_start = memory[0][0] if memory else 0
    limits = _zone_limits(mm, max((e for _s, e in memory), default=0))
    zmovable = mm.ZONE_MOVABLE
    movable_limit = limits[mm.zone_types.index(ZoneType.DMA32)] if mm.ZONE_DMA32 >= 0 else 0
    zone_movable_pfn = _find_zone_movable_pfns(spec, node_ranges, memory, movable_limit)
    mm.nodes = []
    mm.zones = []
    for nid in range(nnodes):
        node = PgData(nid)
        mm.nodes.append(node)
        node.cpus = [c for c in range(spec.nr_cpus) if cpu_to_node[c] == nid]
        ns, ne = node_ranges.get(nid, (0, 0))
        node.node_start_pfn = ns
        node.node_spanned_pages = ne - ns
        node_mem = [(max(s, ns), min(e, ne)) for s, e in memory if min(e, ne) > max(s, ns)]
        low = mem_start
        for idx, zt in enumerate(mm.zone_types):
            z = Zone(node, idx, zt)
            z.gid = nid * mm.MAX_NR_ZONES + idx
            z.list_base = npfn + z.gid * LISTS_PER_ZONE
            z.lowmem_reserve = [0] * mm.MAX_NR_ZONES
            node.node_zones.append(z)
            mm.zones.append(z)
            if zt in (ZoneType.MOVABLE, ZoneType.DEVICE):
                continue
            high = limits[idx]
            zs, ze = max(low, ns), min(high, ne)
            low = max(low, high)
            if ze <= zs or not node_mem:
                continue
            # adjust_zone_range_for_zone_movable: the movable part leaves this zone
            mv = zone_movable_pfn.get(nid)
            if mv is not None:
                if zs >= mv:
                    continue
                if ze > mv:
                    ze = mv
            z.zone_start_pfn, z.zone_end_pfn = zs, ze
        if nid in zone_movable_pfn:
            z = node.node_zones[zmovable]
            z.zone_start_pfn = zone_movable_pfn[nid]
            z.zone_end_pfn = ne
        # trim spans to the memory present (calculate_node_totalpages keeps the
        # span from the first to the last memory pfn inside the zone range)
        for z in node.node_zones:
            if z.type == ZoneType.DEVICE:
                continue
            if z.zone_end_pfn <= z.zone_start_pfn:
                z.zone_start_pfn = z.zone_end_pfn = 0
                continue
            parts = [(max(s, z.zone_start_pfn), min(e, z.zone_end_pfn)) for s, e in node_mem
                     if min(e, z.zone_end_pfn) > max(s, z.zone_start_pfn)]
            if not parts:
                z.zone_start_pfn = z.zone_end_pfn = 0
                continue
            z.zone_start_pfn = parts[0][0]
            z.zone_end_pfn = parts[-1][1]
            z.spanned_pages = z.zone_end_pfn - z.zone_start_pfn
            z.present_pages = z.present_early_pages = sum(e - s for s, e in parts)
        node.node_present_pages = sum(z.present_pages for z in node.node_zones)
        node.nr_zones = max((z.idx + 1 for z in node.node_zones if z.present_pages), default=0)
    for nid, s, e in spec.device:
        z = mm.nodes[nid].node_zones[mm.zone_types.index(ZoneType.DEVICE)]
        z.zone_start_pfn, z.zone_end_pfn, z.spanned_pages = s, e, e - s
    # memmap_init: every pageblock MOVABLE
    mem.a_pageblock[:] = MIGRATE_MOVABLE
    for z in mm.zones:
        z.initialized = True
        if z.present_pages:
            setup_zone_pageset(mm, z)
        else:
            z.vm_stat_diff = [0] * mm.nr_cpu_ids
    # free ranges: memory minus reservations
    reserved = sorted(spec.reserved)
    free: list[tuple[int, int]] = []
    for s, e in memory:
        cur = s
        for rs, re_ in reserved:
            if re_ <= cur or rs >= e:
                continue
            if rs > cur:
                free.append((cur, rs))
            cur = max(cur, re_)
        if cur < e:
            free.append((cur, e))
    return free


def build_all_zonelists(mm: MM, distance: list[list[int]] | None = None) -> None:
    """Fallback and no-fallback zonelists of every node.

    Models mm/page_alloc.c:build_zonelists with find_next_best_node's
    scoring (distance, a penalty for lower node ids and for nodes with
    CPUs, the node_load spreading across the pass).
    """
    nn = len(mm.nodes)
    if distance is None:
        distance = [[LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nn)]
                    for i in range(nn)]
    mm.node_distance = distance
    memory_nodes = [n.node_id for n in mm.nodes if n.has_memory()]
    node_load = [0] * nn

    def zones_of(nid: int) -> list[Zone]:
        return [z for z in reversed(mm.nodes[nid].node_zones)
                if z.present_pages and z.type != ZoneType.DEVICE]

    for local in range(nn):
        used: set[int] = set()
        order: list[int] = []
        prev = local
        while True:
            # find_next_best_node
            if local not in used:
                best = local
            else:
                best = -1
                min_val = None
                for n in memory_nodes:
                    if n in used:
                        continue
                    val = distance[local][n]
                    val += 1 if n < local else 0
                    val += 1 if mm.nodes[n].cpus else 0
                    val *= MAX_NUMNODES
                    val += node_load[n]
                    if min_val is None or val < min_val:
                        min_val = val
                        best = n
                if best < 0:
                    break
            used.add(best)
            if best != local and distance[local][best] != distance[local][prev]:
                node_load[best] += 1
            if best != local or True:
                prev = best
            order.append(best)
        node = mm.nodes[local]
        node.zonelist_fallback = [z for nid in order for z in zones_of(nid)]
        node.zonelist_nofallback = zones_of(local)
        node.fallback_order = order
    # page_group_by_mobility_disabled from the first node's zonelist
    from .watermarks import nr_free_zone_pages
    vm_total_pages = nr_free_zone_pages(mm, mm.ZONE_MOVABLE, mm.cpu_to_node[0])
    mm.page_group_by_mobility_disabled = vm_total_pages < pageblock_nr_pages * (
        6 if mm.cma_enabled else 5)


def memblock_free_all(mm: MM, free: list[tuple[int, int]]) -> None:
    """Release free memory to the buddy in naturally aligned chunks, to the list tails.

    Models mm/memblock.c:memblock_free_all -> __free_pages_memory ->
    memblock_free_pages -> __free_pages_core (FPI_TO_TAIL). Runs of whole
    order-10 blocks are released vectorised: they cannot merge and land at
    the tail in ascending order, exactly as the page-by-page loop leaves them.
    """
    mem = mm.mem
    top = MAX_ORDER - 1
    for z in mm.zones:
        if z.present_pages:
            z.managed_pages = 0
    for start, end in free:
        for zone in mm.zones:
            if not zone.present_pages:
                continue
            s = max(start, zone.zone_start_pfn)
            e = min(end, zone.zone_end_pfn)
            if e <= s:
                continue
            _free_range(mm, zone, s, e, top)
    del mem


def _free_range(mm: MM, zone: Zone, start: int, end: int, top: int) -> None:
    mem = mm.mem
    pfn = start
    while pfn < end:
        order = min(top, (pfn & -pfn).bit_length() - 1) if pfn else top
        while pfn + (1 << order) > end:
            order -= 1
        if order == top:
            # vectorised run of whole max-order blocks
            nblk = (end - pfn) >> top
            _free_maxorder_run(mm, zone, pfn, nblk)
            pfn += nblk << top
            continue
        n = 1 << order
        mem.a_flags[pfn:pfn + n] = 0
        zone.managed_pages += n
        mt = mem.pageblock[pfn >> pageblock_order] & 7
        __free_one_page(mm, zone, pfn, order, mt, FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
        mm.events[EV_PGFREE] += n
        pfn += n


def _free_maxorder_run(mm: MM, zone: Zone, pfn: int, nblk: int) -> None:
    """Append nblk order-10 blocks starting at pfn to the tail of their MOVABLE list."""
    from .memmap import PG_buddy
    from .page_alloc import mod_zone_freepage_state
    mem = mm.mem
    top = MAX_ORDER - 1
    size = 1 << top
    end = pfn + nblk * size
    mem.a_flags[pfn:end] = 0
    heads = np.arange(pfn, end, size, dtype=np.int64)
    mts = mem.a_pageblock[heads >> pageblock_order]
    if not np.all(mts == mts[0]):
        # mixed labels: fall back to the exact loop
        for h in heads.tolist():
            mem.a_flags[h:h + size] = 0
            zone.managed_pages += size
            __free_one_page(mm, zone, h, top, int(mem.a_pageblock[h >> pageblock_order]) & 7,
                            FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
            mm.events[EV_PGFREE] += size
        return
    mt = int(mts[0]) & 7
    sent = zone.list_base + top * 6 + mt
    last = mem.prev[sent]
    h32 = heads.astype(np.int32)
    mem.a_flags[h32] = PG_buddy
    mem.a_order[h32] = top
    mem.a_mt[h32] = mt
    # thread the run: last -> h0 -> h1 ... -> hn-1 -> sent
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
    rep = mm.reporting
    if rep is not None and top >= rep.order:
        rep.notify_free(mm, top)


def boot(spec: MachineSpec) -> MM:
    """Build and boot a machine from a spec: layout, memmap, buddy, watermarks, pcps."""
    mm = MM(profile=spec.profile, cma=spec.cma, seed=spec.seed)
    mm.thp = spec.thp
    mm.khugepaged_running = spec.thp in ("always", "madvise")
    mm.shuffle = spec.shuffle
    free = free_area_init(mm, spec)
    build_all_zonelists(mm, spec.distance)
    memblock_free_all(mm, free)
    # vmstat folding happened at boot long ago: start with folded counters
    for z in mm.zones:
        z.vm_free += sum(z.vm_stat_diff)
        z.vm_stat_diff = [0] * mm.nr_cpu_ids
    build_all_zonelists(mm, spec.distance)
    if spec.shuffle:
        from .shuffle import shuffle_all_zones
        shuffle_all_zones(mm)
    init_per_zone_wmark_min(mm)
    return mm
