"""min_free_kbytes, watermarks, lowmem reserves, totalreserve and pcp sizing.

Models mm/page_alloc.c of Linux 6.1: calculate_min_free_kbytes,
__setup_per_zone_wmarks / setup_per_zone_wmarks, setup_per_zone_lowmem_reserve,
calculate_totalreserve_pages, zone_pcp_update / zone_set_pageset_high_and_batch,
setup_zone_pageset, init_per_zone_wmark_min, setup_min_unmapped_ratio,
setup_min_slab_ratio, nr_free_zone_pages / nr_free_buffer_pages;
mm/khugepaged.c: set_recommended_min_free_kbytes, start_stop_khugepaged and
khugepaged_min_free_kbytes_update; and mm/vmstat.c: refresh_zone_stat_thresholds.
The pcp batch/high formulas themselves are in pcp.py (zone_batchsize, zone_highsize).
"""
from __future__ import annotations

import math

from .mmzone import (MIGRATE_PCPTYPES, WMARK_HIGH, WMARK_LOW, WMARK_MIN, WMARK_PROMO, Zone,
                     ZoneType, pageblock_nr_pages)
from .pcp import zone_batchsize, zone_highsize
from .vmstat import calculate_normal_threshold

__all__ = ["calculate_min_free_kbytes", "setup_per_zone_wmarks", "__setup_per_zone_wmarks",
           "setup_per_zone_lowmem_reserve", "calculate_totalreserve_pages", "zone_pcp_update",
           "zone_set_pageset_high_and_batch", "init_per_zone_wmark_min",
           "set_recommended_min_free_kbytes", "start_stop_khugepaged",
           "khugepaged_min_free_kbytes_update", "hugepage_flags_enabled", "nr_free_zone_pages",
           "nr_free_buffer_pages", "refresh_zone_stat_thresholds", "setup_zone_pageset",
           "setup_min_unmapped_ratio", "setup_min_slab_ratio", "mult_frac",
           "default_lowmem_reserve_ratio",
           "MIN_FREE_KBYTES_MIN", "MIN_FREE_KBYTES_MAX", "SWAP_CLUSTER_MAX"]

MIN_FREE_KBYTES_MIN = 128
MIN_FREE_KBYTES_MAX = 262144
SWAP_CLUSTER_MAX = 32


def mult_frac(x: int, numer: int, denom: int) -> int:
    """mult_frac(): x * numer / denom without overflowing (== floor for x >= 0)."""
    q, r = divmod(x, denom)
    return q * numer + r * numer // denom


def _online_zones(mm):
    """for_each_zone(): the zones of online nodes, in node then zone order."""
    for node in mm.nodes:
        if node.online:
            yield from node.node_zones


def default_lowmem_reserve_ratio(mm) -> list[int]:
    """sysctl_lowmem_reserve_ratio's initialiser in this build's zone order.

    DMA 256, DMA32 256, Normal 32, HighMem, Movable and Device 0 (mm/page_alloc.c).
    """
    by_type = {ZoneType.DMA: 256, ZoneType.DMA32: 256, ZoneType.NORMAL: 32}
    return [by_type.get(zt, 0) for zt in mm.zone_types]


def nr_free_zone_pages(mm, offset: int, nid: int | None = None) -> int:
    """Sum of managed - high over the zones <= offset of the running CPU's zonelist.

    Models mm/page_alloc.c:nr_free_zone_pages (node_zonelist(numa_node_id(),
    GFP_KERNEL)); ``nid`` overrides the running CPU's node.
    """
    if nid is None:
        nid = mm.cpu_to_node[mm.cpu] if mm.cpu_to_node else 0
    total = 0
    for z in mm.nodes[nid].zonelist_fallback:
        if z.idx <= offset:
            size = z.managed_pages
            high = z.high_wmark_pages()
            if size > high:
                total += size - high
    return total


def nr_free_buffer_pages(mm) -> int:
    """nr_free_buffer_pages(): nr_free_zone_pages(gfp_zone(GFP_USER)), zones up to Normal."""
    return nr_free_zone_pages(mm, mm.ZONE_NORMAL)


def calculate_min_free_kbytes(mm) -> None:
    """The square-root rule: min_free_kbytes = int_sqrt(lowmem_kbytes * 16), 128..262144.

    Models mm/page_alloc.c:calculate_min_free_kbytes; a larger user value
    (from a sysctl write) is kept, with the kernel's warning.
    """
    lowmem_kbytes = nr_free_buffer_pages(mm) * 4
    new = math.isqrt(lowmem_kbytes * 16)
    if new > mm.user_min_free_kbytes:
        mm.min_free_kbytes = max(MIN_FREE_KBYTES_MIN, min(new, MIN_FREE_KBYTES_MAX))
    else:
        mm.printk(f"min_free_kbytes is not updated to {new} because user defined value "
                  f"{mm.user_min_free_kbytes} is preferred")


def __setup_per_zone_wmarks(mm) -> None:
    """min/low/high/promo of every zone from min_free_kbytes and watermark_scale_factor.

    Models mm/page_alloc.c:__setup_per_zone_wmarks: min is the zone's share
    of min_free_kbytes by managed pages (a highmem zone gets managed/1024
    clamped to 32..128); the gap is max(min/4, managed * factor / 10000);
    any boost is cleared.
    """
    pages_min = mm.min_free_kbytes >> 2
    lowmem_pages = 0
    for z in _online_zones(mm):
        if z.type != ZoneType.HIGHMEM:
            lowmem_pages += z.managed_pages
    for z in _online_zones(mm):
        managed = z.managed_pages
        tmp = pages_min * managed // lowmem_pages if lowmem_pages else 0
        if z.type == ZoneType.HIGHMEM:
            wmin = max(SWAP_CLUSTER_MAX, min(managed // 1024, 128))
        else:
            wmin = tmp
        gap = max(tmp >> 2, mult_frac(managed, mm.watermark_scale_factor, 10000))
        z.watermark_boost = 0
        z._watermark[WMARK_MIN] = wmin
        z._watermark[WMARK_LOW] = wmin + gap
        z._watermark[WMARK_HIGH] = wmin + 2 * gap
        z._watermark[WMARK_PROMO] = wmin + 3 * gap
    calculate_totalreserve_pages(mm)


def setup_per_zone_wmarks(mm) -> None:
    """Recompute every zone's watermarks, then pcp high/batch (setup_per_zone_wmarks)."""
    __setup_per_zone_wmarks(mm)
    for z in _online_zones(mm):
        zone_pcp_update(mm, z, 0)


def setup_per_zone_lowmem_reserve(mm) -> None:
    """lowmem_reserve[] (zoneinfo "protection") from lowmem_reserve_ratio.

    Models mm/page_alloc.c:setup_per_zone_lowmem_reserve: for zone i and
    each higher zone j, the managed pages of zones i+1..j divided by
    ratio[i]; zero when the ratio is 0 or zone i manages nothing. Entry i
    itself and the last zone's row are never written.
    """
    n = mm.MAX_NR_ZONES
    for node in mm.nodes:
        if not node.online:
            continue
        zones = node.node_zones
        for i in range(n - 1):
            zone = zones[i]
            ratio = mm.lowmem_reserve_ratio[i] if i < len(mm.lowmem_reserve_ratio) else 0
            clear = not ratio or not zone.managed_pages
            managed = 0
            for j in range(i + 1, n):
                managed += zones[j].managed_pages
                zone.lowmem_reserve[j] = 0 if clear else managed // ratio
    calculate_totalreserve_pages(mm)


def calculate_totalreserve_pages(mm) -> None:
    """totalreserve_pages: per zone, the largest protection plus high, capped at managed."""
    total = 0
    for node in mm.nodes:
        if not node.online:
            continue
        node_total = 0
        for i, zone in enumerate(node.node_zones):
            max_r = 0
            for j in range(i, mm.MAX_NR_ZONES):
                if zone.lowmem_reserve[j] > max_r:
                    max_r = zone.lowmem_reserve[j]
            max_r += zone.high_wmark_pages()
            if max_r > zone.managed_pages:
                max_r = zone.managed_pages
            node_total += max_r
        node.totalreserve_pages = node_total
        total += node_total
    mm.totalreserve_pages = total


def _node_online_cpus(mm, nid: int) -> int:
    """cpumask_weight(cpumask_of_node(nid)): the node's online CPUs."""
    return sum(1 for c in range(mm.nr_cpu_ids) if mm.cpu_online[c] and mm.cpu_to_node[c] == nid)


def zone_set_pageset_high_and_batch(mm, zone: Zone, cpu_online: int) -> None:
    """Recompute pcp batch and high; write every CPU's pageset only if they changed.

    Models mm/page_alloc.c:zone_set_pageset_high_and_batch. ``cpu_online``
    is 1 when called for a CPU coming online (it is not in the node's mask yet).
    """
    new_batch = max(1, zone_batchsize(zone.managed_pages))
    new_high = zone_highsize(zone, new_batch, cpu_online,
                             high_fraction=mm.percpu_pagelist_high_fraction,
                             node_cpus=_node_online_cpus(mm, zone.nid),
                             online_cpus=mm.num_online_cpus())
    if zone.pageset_high == new_high and zone.pageset_batch == new_batch:
        return
    zone.pageset_high = new_high
    zone.pageset_batch = new_batch
    for pcp in zone.pcp:                 # for_each_possible_cpu
        pcp.batch = new_batch
        pcp.high = new_high


def zone_pcp_update(mm, zone: Zone, cpu_online: int) -> None:
    """zone_pcp_update(): zone_set_pageset_high_and_batch under pcp_batch_high_lock."""
    zone_set_pageset_high_and_batch(mm, zone, cpu_online)


def setup_zone_pageset(mm, zone: Zone) -> None:
    """Give a populated zone its per-CPU pagesets, sized from the current watermarks.

    Models mm/page_alloc.c:setup_zone_pageset (per_cpu_pages_init: high 0,
    batch 1, then zone_set_pageset_high_and_batch).
    """
    from .pcp import PerCpuPages
    if not zone.pcp:
        zone.pcp = [PerCpuPages(c) for c in range(mm.nr_cpu_ids)]
    if len(zone.vm_stat_diff) != mm.nr_cpu_ids:
        zone.vm_stat_diff = [0] * mm.nr_cpu_ids
    zone.pageset_high = 0
    zone.pageset_batch = 1
    zone_set_pageset_high_and_batch(mm, zone, 0)


def refresh_zone_stat_thresholds(mm) -> None:
    """Per-CPU vmstat thresholds of every populated zone, and the drift mark.

    Models mm/vmstat.c:refresh_zone_stat_thresholds (the node thresholds,
    the largest of their zones', are not kept: nothing the model shows
    reads them).
    """
    ncpus = mm.num_online_cpus()
    for z in mm.zones:
        if not z.present_pages:
            continue
        t = calculate_normal_threshold(z.managed_pages, ncpus)
        z.stat_threshold = t
        for pcp in z.pcp:
            pcp.stat_threshold = t
        tolerate_drift = z.low_wmark_pages() - z.min_wmark_pages()
        max_drift = ncpus * t
        if max_drift > tolerate_drift:
            z.percpu_drift_mark = z.high_wmark_pages() + max_drift


def setup_min_unmapped_ratio(mm) -> None:
    """pgdat->min_unmapped_pages = sum of managed * min_unmapped_ratio / 100 (NUMA)."""
    for node in mm.nodes:
        if node.online:
            node.min_unmapped_pages = 0
    for z in _online_zones(mm):
        z.node.min_unmapped_pages += z.managed_pages * mm.min_unmapped_ratio // 100


def setup_min_slab_ratio(mm) -> None:
    """pgdat->min_slab_pages = sum of managed * min_slab_ratio / 100 (NUMA)."""
    for node in mm.nodes:
        if node.online:
            node.min_slab_pages = 0
    for z in _online_zones(mm):
        z.node.min_slab_pages += z.managed_pages * mm.min_slab_ratio // 100


def hugepage_flags_enabled(mm) -> bool:
    """hugepage_flags_enabled(): THP "always" or "madvise"."""
    return mm.thp in ("always", "madvise")


def set_recommended_min_free_kbytes(mm) -> None:
    """khugepaged's raise of min_free_kbytes for THP, then setup_per_zone_wmarks.

    Models mm/khugepaged.c:set_recommended_min_free_kbytes: 2 free
    pageblocks plus 3 x 3 for fallback avoidance per populated zone up to
    Normal, at most 5% of nr_free_buffer_pages(); with THP disabled the
    square-root rule is recomputed instead.
    """
    if not hugepage_flags_enabled(mm):
        calculate_min_free_kbytes(mm)
        setup_per_zone_wmarks(mm)
        return
    nr_zones = 0
    for z in mm.zones:
        if z.populated() and z.idx <= mm.ZONE_NORMAL:   # zone_idx <= gfp_zone(GFP_USER)
            nr_zones += 1
    recommended = pageblock_nr_pages * nr_zones * 2
    recommended += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    recommended = min(recommended, nr_free_buffer_pages(mm) // 20)
    recommended <<= 2   # pages -> kB
    if recommended > mm.min_free_kbytes:
        if mm.user_min_free_kbytes >= 0:
            mm.printk(f"raising min_free_kbytes from {mm.min_free_kbytes} to {recommended} "
                      "to help transparent hugepage allocations")
        mm.min_free_kbytes = recommended
    setup_per_zone_wmarks(mm)


def start_stop_khugepaged(mm) -> None:
    """Start (THP enabled) or stop khugepaged, then set_recommended_min_free_kbytes.

    Models mm/khugepaged.c:start_stop_khugepaged, run by hugepage_init at
    boot and by writes to /sys/kernel/mm/transparent_hugepage/enabled.
    """
    mm.khugepaged_running = hugepage_flags_enabled(mm)
    set_recommended_min_free_kbytes(mm)


def khugepaged_min_free_kbytes_update(mm) -> None:
    """Re-raise min_free_kbytes while khugepaged runs (after memory hotplug)."""
    if hugepage_flags_enabled(mm) and mm.khugepaged_running:
        set_recommended_min_free_kbytes(mm)


def init_per_zone_wmark_min(mm) -> None:
    """init_per_zone_wmark_min(): the postcore and memory-hotplug recomputation."""
    calculate_min_free_kbytes(mm)
    setup_per_zone_wmarks(mm)
    refresh_zone_stat_thresholds(mm)
    setup_per_zone_lowmem_reserve(mm)
    setup_min_unmapped_ratio(mm)
    setup_min_slab_ratio(mm)
    khugepaged_min_free_kbytes_update(mm)
