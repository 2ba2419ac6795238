"""min_free_kbytes, watermarks, lowmem reserves, totalreserve and pcp sizing.

Models mm/page_alloc.c: calculate_min_free_kbytes, __setup_per_zone_wmarks,
setup_per_zone_lowmem_reserve, calculate_totalreserve_pages,
zone_pcp_update / zone_set_pageset_high_and_batch, init_per_zone_wmark_min,
nr_free_zone_pages; mm/khugepaged.c: set_recommended_min_free_kbytes; and
mm/vmstat.c: refresh_zone_stat_thresholds.
"""
from __future__ import annotations

import math

from .mmzone import (MIGRATE_PCPTYPES, WMARK_HIGH, WMARK_LOW, WMARK_MIN, WMARK_PROMO, Zone,
                     ZoneType, pageblock_nr_pages)
from .pcp import zone_batchsize, zone_highsize
from .vmstat import calculate_normal_threshold

__all__ = ["calculate_min_free_kbytes", "setup_per_zone_wmarks", "setup_per_zone_lowmem_reserve",
           "calculate_totalreserve_pages", "zone_pcp_update", "init_per_zone_wmark_min",
           "set_recommended_min_free_kbytes", "nr_free_zone_pages", "nr_free_buffer_pages",
           "refresh_zone_stat_thresholds", "setup_zone_pageset"]


def nr_free_zone_pages(mm, offset: int, nid: int = 0) -> int:
    """Sum of managed - high over the zones <= offset of a node's zonelist.

    Models mm/page_alloc.c:nr_free_zone_pages (zonelist of numa_node_id()).
    """
    node = mm.nodes[nid]
    total = 0
    for z in node.zonelist_fallback:
        if z.idx <= offset:
            size = z.managed_pages
            high = z.high_wmark_pages()
            if size > high:
                total += size - high
    return total


def nr_free_buffer_pages(mm) -> int:
    """nr_free_buffer_pages(): nr_free_zone_pages(gfp_zone(GFP_USER)) = up to Normal."""
    return nr_free_zone_pages(mm, mm.ZONE_NORMAL, mm.cpu_to_node[0])


def calculate_min_free_kbytes(mm) -> None:
    """The square-root rule: min_free_kbytes = sqrt(lowmem_kbytes * 16), 128..262144.

    Models mm/page_alloc.c:calculate_min_free_kbytes.
    """
    lowmem_kbytes = nr_free_buffer_pages(mm) * 4
    new = math.isqrt(lowmem_kbytes * 16)
    if new > mm.user_min_free_kbytes:
        mm.min_free_kbytes = max(128, min(new, 262144))
    else:
        mm.printk(f"min_free_kbytes is not updated to {new} because user defined value "
                  f"{mm.user_min_free_kbytes} is preferred")


def __setup_per_zone_wmarks(mm) -> None:
    pages_min = mm.min_free_kbytes >> 2
    lowmem_pages = sum(z.managed_pages for z in mm.zones if z.type != ZoneType.HIGHMEM)
    for z in mm.zones:
        managed = z.managed_pages
        tmp = pages_min * managed // lowmem_pages if lowmem_pages else 0
        if z.type == ZoneType.HIGHMEM:
            wmin = max(32, min(managed // 1024, 128))
        else:
            wmin = tmp
        gap = max(tmp >> 2, managed * mm.watermark_scale_factor // 10000)
        z.watermark_boost = 0
        z._watermark[WMARK_MIN] = wmin
        z._watermark[WMARK_LOW] = wmin + gap
        z._watermark[WMARK_HIGH] = wmin + 2 * gap
        z._watermark[WMARK_PROMO] = wmin + 3 * gap
    calculate_totalreserve_pages(mm)


def setup_per_zone_wmarks(mm) -> None:
    """Recompute every zone's watermarks, then pcp high (setup_per_zone_wmarks)."""
    __setup_per_zone_wmarks(mm)
    for z in mm.zones:
        zone_pcp_update(mm, z, 0)


def setup_per_zone_lowmem_reserve(mm) -> None:
    """lowmem_reserve[] from lowmem_reserve_ratio (setup_per_zone_lowmem_reserve)."""
    n = mm.MAX_NR_ZONES
    for node in mm.nodes:
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
    """totalreserve_pages (mm/page_alloc.c:calculate_totalreserve_pages)."""
    total = 0
    for node in mm.nodes:
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


def zone_pcp_update(mm, zone: Zone, cpu_online: int) -> None:
    """Recompute pcp high/batch and write them to every CPU's pageset if changed.

    Models zone_pcp_update -> zone_set_pageset_high_and_batch.
    """
    if not zone.pcp:
        return
    new_batch = max(1, zone_batchsize(zone.managed_pages))
    node_cpus = sum(1 for c in range(mm.nr_cpu_ids)
                    if mm.cpu_online[c] and mm.cpu_to_node[c] == zone.nid)
    new_high = zone_highsize(zone, new_batch, cpu_online,
                             high_fraction=mm.percpu_pagelist_high_fraction,
                             node_cpus=node_cpus, online_cpus=mm.num_online_cpus())
    if zone.pageset_high == new_high and zone.pageset_batch == new_batch:
        return
    zone.pageset_high = new_high
    zone.pageset_batch = new_batch
    for pcp in zone.pcp:
        pcp.high = new_high
        pcp.batch = new_batch


def setup_zone_pageset(mm, zone: Zone) -> None:
    """Give a populated zone its per-CPU pagesets (setup_zone_pageset)."""
    from .pcp import PerCpuPages
    if not zone.pcp:
        zone.pcp = [PerCpuPages(c) for c in range(mm.nr_cpu_ids)]
        zone.vm_stat_diff = [0] * mm.nr_cpu_ids
    zone.pageset_high = 0
    zone.pageset_batch = 1
    zone_pcp_update(mm, zone, 0)


def refresh_zone_stat_thresholds(mm) -> None:
    """Per-CPU vmstat thresholds and the drift mark (mm/vmstat.c)."""
    ncpus = mm.num_online_cpus()
    for z in mm.zones:
        if not z.managed_pages and not z.present_pages:
            z.stat_threshold = 0
            continue
        t = calculate_normal_threshold(z.managed_pages, ncpus)
        z.stat_threshold = t
        for pcp in z.pcp:
            pcp.stat_threshold = t
        max_drift = ncpus * t
        if max_drift > z.low_wmark_pages() - z.min_wmark_pages():
            z.percpu_drift_mark = z.high_wmark_pages() + max_drift


def set_recommended_min_free_kbytes(mm) -> None:
    """The khugepaged raise of min_free_kbytes for THP (mm/khugepaged.c)."""
    nr_zones = 0
    for z in mm.zones:
        if z.populated() and z.idx <= mm.ZONE_NORMAL:
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


def init_per_zone_wmark_min(mm) -> None:
    """init_per_zone_wmark_min(): the boot and hotplug recomputation."""
    calculate_min_free_kbytes(mm)
    setup_per_zone_wmarks(mm)
    refresh_zone_stat_thresholds(mm)
    setup_per_zone_lowmem_reserve(mm)
    if mm.khugepaged_running and mm.thp in ("always", "madvise"):
        set_recommended_min_free_kbytes(mm)
