"""VM counters and fragmentation indexes.

Models include/linux/vm_event_item.h, include/linux/mmzone.h's stat item
enums and mm/vmstat.c (fill_contig_page_info, __fragmentation_index,
unusable_free_index, extfrag_for_order, the stat thresholds) for Debian's
6.1 configuration (NUMA, NUMA_BALANCING, MIGRATION, COMPACTION, HUGETLB,
THP, BALLOON, SWAP, ZSMALLOC, no CMA, no DEBUG_TLBFLUSH). The names and
their order are those of that kernel's /proc/vmstat.

Event counters are one flat list indexed by the ``EV_*`` constants; the
kernel keeps them per CPU and sums on read, which gives the same numbers.
"""
from __future__ import annotations

from typing import Final

from .mmzone import MAX_ORDER

__all__ = ["ZONE_STAT_ITEMS", "NUMA_STAT_ITEMS", "NODE_STAT_ITEMS", "VM_EVENT_ITEMS",
           "ev_index", "fill_contig_page_info", "fragmentation_index", "unusable_free_index",
           "extfrag_for_order", "calculate_normal_threshold", "calculate_pressure_threshold",
           "THP_NODE_ITEMS"]

ZONE_STAT_ITEMS = (
    "nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
    "nr_zone_active_file", "nr_zone_unevictable", "nr_zone_write_pending", "nr_mlock",
    "nr_bounce", "nr_zspages", "nr_free_cma",
)
NUMA_STAT_ITEMS = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
                   "numa_other")
NODE_STAT_ITEMS = (
    "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file", "nr_unevictable",
    "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_isolated_anon", "nr_isolated_file",
    "workingset_nodes", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file", "workingset_restore_anon",
    "workingset_restore_file", "workingset_nodereclaim", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_writeback", "nr_writeback_temp", "nr_shmem",
    "nr_shmem_hugepages", "nr_shmem_pmdmapped", "nr_file_hugepages", "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages", "nr_vmscan_write", "nr_vmscan_immediate_reclaim",
    "nr_dirtied", "nr_written", "nr_throttled_written", "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired", "nr_foll_pin_released", "nr_kernel_stack", "nr_page_table_pages",
    "nr_sec_page_table_pages", "nr_swapcached", "pgpromote_success", "pgpromote_candidate",
)
# Node items kept in pages but shown in THP units (HPAGE_PMD_NR) by /proc.
THP_NODE_ITEMS = frozenset({"nr_shmem_hugepages", "nr_shmem_pmdmapped", "nr_file_hugepages",
                            "nr_file_pmdmapped", "nr_anon_transparent_hugepages"})

_ZONE_SUFFIXES = ("dma", "dma32", "normal", "movable", "device")


def _events() -> tuple[str, ...]:
    out = ["pgpgin", "pgpgout", "pswpin", "pswpout"]
    for prefix in ("pgalloc", "allocstall", "pgskip"):
        out += [f"{prefix}_{z}" for z in _ZONE_SUFFIXES]
    out += [
        "pgfree", "pgactivate", "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault",
        "pglazyfreed", "pgrefill", "pgreuse", "pgsteal_kswapd", "pgsteal_direct",
        "pgdemote_kswapd", "pgdemote_direct", "pgscan_kswapd", "pgscan_direct",
        "pgscan_direct_throttle", "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
        "zone_reclaim_failed", "pginodesteal", "slabs_scanned", "kswapd_inodesteal",
        "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun",
        "pgrotated", "drop_pagecache", "drop_slab", "oom_kill", "numa_pte_updates",
        "numa_huge_pte_updates", "numa_hint_faults", "numa_hint_faults_local",
        "numa_pages_migrated", "pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
        "thp_migration_fail", "thp_migration_split", "compact_migrate_scanned",
        "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail",
        "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
        "compact_daemon_free_scanned", "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
        "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
        "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
        "unevictable_pgs_stranded", "thp_fault_alloc", "thp_fault_fallback",
        "thp_fault_fallback_charge", "thp_collapse_alloc", "thp_collapse_alloc_failed",
        "thp_file_alloc", "thp_file_fallback", "thp_file_fallback_charge", "thp_file_mapped",
        "thp_split_page", "thp_split_page_failed", "thp_deferred_split_page", "thp_split_pmd",
        "thp_scan_exceed_none_pte", "thp_scan_exceed_swap_pte", "thp_scan_exceed_share_pte",
        "thp_split_pud", "thp_zero_page_alloc", "thp_zero_page_alloc_failed", "thp_swpout",
        "thp_swpout_fallback", "balloon_inflate", "balloon_deflate", "balloon_migrate",
        "swap_ra", "swap_ra_hit", "ksm_swpin_copy", "cow_ksm", "zswpin", "zswpout",
        "direct_map_level2_splits", "direct_map_level3_splits",
    ]
    return tuple(out)


VM_EVENT_ITEMS = _events()
_EV = {name: i for i, name in enumerate(VM_EVENT_ITEMS)}


def ev_index(name: str) -> int:
    """Index of a vm event counter by its /proc/vmstat name."""
    return _EV[name]


EV_PGALLOC: Final = _EV["pgalloc_dma"]          # + zone_idx
EV_ALLOCSTALL: Final = _EV["allocstall_dma"]    # + zone_idx
EV_PGSKIP: Final = _EV["pgskip_dma"]
EV_PGFREE: Final = _EV["pgfree"]


def fill_contig_page_info(nr_free: list[int], suitable_order: int) -> tuple[int, int, int]:
    """(free_pages, free_blocks_total, free_blocks_suitable) of a zone.

    Models mm/vmstat.c:fill_contig_page_info.
    """
    free_pages = 0
    total = 0
    suitable = 0
    for order in range(MAX_ORDER):
        blocks = nr_free[order]
        total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            suitable += blocks << (order - suitable_order)
    return free_pages, total, suitable


def fragmentation_index(nr_free: list[int], order: int) -> int:
    """-1000 if an order-``order`` block exists, else 0..1000 (0: lack of memory).

    Models mm/vmstat.c:__fragmentation_index.
    """
    free_pages, total, suitable = fill_contig_page_info(nr_free, order)
    if not total:
        return 0
    if suitable:
        return -1000
    requested = 1 << order
    return 1000 - (1000 + (free_pages * 1000 // requested)) // total


def unusable_free_index(nr_free: list[int], order: int) -> int:
    """Free memory unusable for an order-``order`` allocation, in 1/1000.

    Models mm/vmstat.c:unusable_free_index.
    """
    free_pages, _total, suitable = fill_contig_page_info(nr_free, order)
    if not free_pages:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def extfrag_for_order(nr_free: list[int], order: int) -> int:
    """The proactive compaction score of a zone (0..100).

    Models mm/vmstat.c:extfrag_for_order.
    """
    free_pages, _total, suitable = fill_contig_page_info(nr_free, order)
    if not free_pages:
        return 0
    return (free_pages - (suitable << order)) * 100 // free_pages


def _fls(x: int) -> int:
    return x.bit_length()


def calculate_normal_threshold(managed_pages: int, online_cpus: int) -> int:
    """The per-CPU vmstat fold threshold of a zone.

    Models mm/vmstat.c:calculate_normal_threshold.
    """
    mem = managed_pages >> (27 - 12)
    threshold = 2 * _fls(online_cpus) * (1 + _fls(mem))
    return min(125, threshold)


def calculate_pressure_threshold(low: int, min_: int, online_cpus: int) -> int:
    """The smaller threshold used while kswapd is awake.

    Models mm/vmstat.c:calculate_pressure_threshold.
    """
    watermark_distance = low - min_
    threshold = max(1, watermark_distance // online_cpus)
    return min(125, threshold)
