"""Zones, nodes, free areas and the constants of include/linux/mmzone.h.

Models include/linux/mmzone.h and include/linux/pageblock-flags.h for an
x86_64 build of Linux 6.1 (Debian 12's configuration: NUMA, ZONE_DMA,
ZONE_DMA32, ZONE_DEVICE, MEMORY_ISOLATION, HUGETLB so pageblock_order 9,
MAX_ORDER 11). A 32-bit profile swaps DMA32 for HIGHMEM.

Deliberate difference: the model numbers migratetypes with CMA always
present internally (MIGRATE_CMA = 4, MIGRATE_ISOLATE = 5). A machine built
without CMA (the default, like Debian's kernel) prints and parses them with
the kernel's numbering (ISOLATE = 4) through :func:`kernel_migratetype` and
:func:`model_migratetype`; nothing else in the model needs to know.
"""
from __future__ import annotations

import enum
from typing import Any, Final, TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .pcp import PerCpuPages

__all__ = [
    "MAX_ORDER", "MAX_ORDER_NR_PAGES", "PAGE_SHIFT", "PAGE_SIZE", "pageblock_order",
    "pageblock_nr_pages", "PAGE_ALLOC_COSTLY_ORDER", "MigrateType", "ZoneType",
    "MIGRATE_UNMOVABLE", "MIGRATE_MOVABLE", "MIGRATE_RECLAIMABLE", "MIGRATE_PCPTYPES",
    "MIGRATE_HIGHATOMIC", "MIGRATE_CMA", "MIGRATE_ISOLATE", "MIGRATE_TYPES",
    "WMARK_MIN", "WMARK_LOW", "WMARK_HIGH", "WMARK_PROMO", "NR_WMARK",
    "ZONE_BOOSTED_WATERMARK", "ZONE_RECLAIM_ACTIVE", "Zone", "PgData",
    "migratetype_names", "kernel_migratetype", "model_migratetype", "fallbacks",
    "NR_PCP_LISTS", "NR_LOWORDER_PCP_LISTS", "order_to_pindex", "pindex_to_order",
    "pcp_allowed_order", "is_migrate_mergeable",
]

PAGE_SHIFT: Final = 12
PAGE_SIZE: Final = 1 << PAGE_SHIFT
MAX_ORDER: Final = 11                      # orders 0..10 ([6.1]; 6.4 redefined MAX_ORDER)
MAX_ORDER_NR_PAGES: Final = 1 << (MAX_ORDER - 1)
pageblock_order: Final = 9                 # min(HUGETLB_PAGE_ORDER, MAX_ORDER - 1)
pageblock_nr_pages: Final = 1 << pageblock_order
PAGE_ALLOC_COSTLY_ORDER: Final = 3
PCP_BATCH_SCALE_MAX: Final = 5             # CONFIG_PCP_BATCH_SCALE_MAX default [6.1.y-late]


class MigrateType(enum.IntEnum):
    """enum migratetype, model numbering (CMA always present, see module doc)."""
    UNMOVABLE = 0
    MOVABLE = 1
    RECLAIMABLE = 2
    HIGHATOMIC = 3
    CMA = 4
    ISOLATE = 5


MIGRATE_UNMOVABLE: Final = 0
MIGRATE_MOVABLE: Final = 1
MIGRATE_RECLAIMABLE: Final = 2
MIGRATE_PCPTYPES: Final = 3
MIGRATE_HIGHATOMIC: Final = 3
MIGRATE_CMA: Final = 4
MIGRATE_ISOLATE: Final = 5
MIGRATE_TYPES: Final = 6

migratetype_names: Final = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

# fallbacks[] of mm/page_alloc.c: the types a request may steal from, in order.
fallbacks: tuple[tuple[int, ...], ...] = (
    (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),      # UNMOVABLE
    (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),    # MOVABLE
    (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),        # RECLAIMABLE
    (), (), (),
)


def kernel_migratetype(mt: int, cma: bool) -> int:
    """The number the kernel prints for model migratetype ``mt``."""
    if not cma and mt == MIGRATE_ISOLATE:
        return 4
    return mt


def model_migratetype(kmt: int, cma: bool) -> int:
    """Inverse of :func:`kernel_migratetype`; raises ValueError when invalid."""
    if cma:
        if 0 <= kmt < MIGRATE_TYPES:
            return kmt
    else:
        if 0 <= kmt <= 3:
            return kmt
        if kmt == 4:
            return MIGRATE_ISOLATE
    raise ValueError(f"invalid migratetype {kmt}")


def is_migrate_mergeable(mt: int) -> bool:
    """migratetype_is_mergeable(): below MIGRATE_PCPTYPES."""
    return mt < MIGRATE_PCPTYPES


class ZoneType(enum.IntEnum):
    """Zone types. The value is a stable id; ``Zone.idx`` is the kernel's zone_idx."""
    DMA = 0
    DMA32 = 1
    NORMAL = 2
    HIGHMEM = 3
    MOVABLE = 4
    DEVICE = 5


ZONE_NAMES = {ZoneType.DMA: "DMA", ZoneType.DMA32: "DMA32", ZoneType.NORMAL: "Normal",
              ZoneType.HIGHMEM: "HighMem", ZoneType.MOVABLE: "Movable", ZoneType.DEVICE: "Device"}

WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO = 0, 1, 2, 3
NR_WMARK: Final = 4

# zone->flags bits
ZONE_BOOSTED_WATERMARK: Final = 1 << 0
ZONE_RECLAIM_ACTIVE: Final = 1 << 1

# pcp lists [6.1.y-late]: 3 types x 4 orders, then two THP lists.
NR_LOWORDER_PCP_LISTS: Final = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
NR_PCP_THP: Final = 2
NR_PCP_LISTS: Final = NR_LOWORDER_PCP_LISTS + NR_PCP_THP


def pcp_allowed_order(order: int) -> bool:
    """pcp_allowed_order(): orders 0..3 and the THP order."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == pageblock_order


def order_to_pindex(mt: int, order: int) -> int:
    """order_to_pindex() [6.1.y-late]: THP has a movable and a non-movable list."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if mt == MIGRATE_MOVABLE else 0)
    return MIGRATE_PCPTYPES * order + mt


def pindex_to_order(pindex: int) -> int:
    """pindex_to_order()."""
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return pageblock_order
    return pindex // MIGRATE_PCPTYPES


class Zone:
    """struct zone: identity, sizes, watermarks, reserves, free-area counts, pcps.

    The free lists themselves live in the machine's :class:`~pagealloc.mm.memmap.MemMap`
    (threaded through per-page arrays); a zone holds its list ids and counts.
    """

    __slots__ = (
        "node", "nid", "idx", "type", "name", "gid", "zone_start_pfn", "spanned_pages",
        "present_pages", "present_early_pages", "managed_pages", "cma_pages",
        "_watermark", "watermark_boost", "lowmem_reserve", "nr_reserved_highatomic",
        "nr_isolate_pageblock", "flags", "nr_free", "list_base", "pcp",
        "pageset_high", "pageset_batch", "vm_free", "vm_free_cma", "vm_stat",
        "vm_stat_diff", "stat_threshold", "percpu_drift_mark", "numa_events",
        "compact_considered", "compact_defer_shift", "compact_order_failed",
        "compact_cached_free_pfn", "compact_cached_migrate_pfn", "compact_init_migrate_pfn",
        "compact_init_free_pfn", "compact_blockskip_flush", "initialized", "zone_end_pfn",
        "capture",
    )

    def __init__(self, node: "PgData", idx: int, ztype: ZoneType) -> None:
        self.node = node
        self.nid = node.node_id
        self.idx = idx                   # zone_idx() in this build's enum zone_type
        self.type = ztype
        self.name = ZONE_NAMES[ztype]
        self.gid = -1                    # machine-wide zone number (set by the machine)
        self.zone_start_pfn = 0
        self.zone_end_pfn = 0
        self.spanned_pages = 0
        self.present_pages = 0
        self.present_early_pages = 0
        self.managed_pages = 0
        self.cma_pages = 0
        self._watermark = [0, 0, 0, 0]
        self.watermark_boost = 0
        self.lowmem_reserve: list[int] = []
        self.nr_reserved_highatomic = 0
        self.nr_isolate_pageblock = 0
        self.flags = 0
        self.nr_free = [0] * MAX_ORDER
        self.list_base = -1              # sentinel index of free_list[0][0]
        self.pcp: list["PerCpuPages"] = []
        self.pageset_high = 0
        self.pageset_batch = 1
        # NR_FREE_PAGES as the kernel keeps it: the folded counter plus per-CPU diffs.
        self.vm_free = 0
        self.vm_free_cma = 0
        self.vm_stat: dict[str, int] = {}
        self.vm_stat_diff: list[int] = []
        self.stat_threshold = 0
        self.percpu_drift_mark = 0
        self.numa_events = [0, 0, 0, 0, 0, 0]   # hit, miss, foreign, interleave, local, other
        self.compact_considered = 0
        self.compact_defer_shift = 0
        self.compact_order_failed = 0
        self.compact_cached_free_pfn = 0
        self.compact_cached_migrate_pfn = [0, 0]
        self.compact_init_migrate_pfn = 0
        self.compact_init_free_pfn = 0
        self.compact_blockskip_flush = False
        self.initialized = False
        self.capture: Any = None         # compaction capture_control, when a compactor runs

    # --- accessors named as the kernel's -------------------------------------------
    def populated(self) -> bool:
        """populated_zone()."""
        return self.present_pages != 0

    def managed(self) -> bool:
        """managed_zone()."""
        return self.managed_pages != 0

    def spans(self, pfn: int) -> bool:
        """zone_spans_pfn()."""
        return self.zone_start_pfn <= pfn < self.zone_end_pfn

    def min_wmark_pages(self) -> int:
        return self._watermark[WMARK_MIN] + self.watermark_boost

    def low_wmark_pages(self) -> int:
        return self._watermark[WMARK_LOW] + self.watermark_boost

    def high_wmark_pages(self) -> int:
        return self._watermark[WMARK_HIGH] + self.watermark_boost

    def wmark_pages(self, i: int) -> int:
        return self._watermark[i] + self.watermark_boost

    def nr_free_pages(self) -> int:
        """zone_page_state(zone, NR_FREE_PAGES): the folded counter, clamped at 0."""
        v = self.vm_free
        return v if v > 0 else 0

    def nr_free_pages_snapshot(self) -> int:
        """zone_page_state_snapshot(): folded counter plus every CPU's diff."""
        v = self.vm_free + sum(self.vm_stat_diff)
        return v if v > 0 else 0

    def __repr__(self) -> str:
        return f"<Zone node {self.nid} {self.name} pfn {self.zone_start_pfn:#x}+{self.spanned_pages}>"


class PgData:
    """struct pglist_data: one NUMA node with its zones and zonelists."""

    __slots__ = ("node_id", "node_zones", "node_start_pfn", "node_spanned_pages",
                 "node_present_pages", "zonelist_fallback", "zonelist_nofallback",
                 "totalreserve_pages", "kswapd_failures", "kswapd_order",
                 "kswapd_highest_zoneidx", "kcompactd_max_order", "kcompactd_highest_zoneidx",
                 "cpus", "vm_stat", "online", "nr_zones", "lru", "kswapd_sleeping",
                 "min_unmapped_pages", "min_slab_pages", "flags", "fallback_order")

    def __init__(self, nid: int) -> None:
        self.node_id = nid
        self.node_zones: list[Zone] = []
        self.node_start_pfn = 0
        self.node_spanned_pages = 0
        self.node_present_pages = 0
        self.zonelist_fallback: list[Zone] = []
        self.zonelist_nofallback: list[Zone] = []
        self.totalreserve_pages = 0
        self.kswapd_failures = 0
        self.kswapd_order = 0
        self.kswapd_highest_zoneidx = -1
        self.kcompactd_max_order = 0
        self.kcompactd_highest_zoneidx = -1
        self.cpus: list[int] = []
        self.vm_stat: dict[str, int] = {}
        self.online = True
        self.nr_zones = 0
        self.lru: Any = None
        self.kswapd_sleeping = True
        self.min_unmapped_pages = 0
        self.min_slab_pages = 0
        self.flags = 0
        self.fallback_order: list[int] = []

    def has_memory(self) -> bool:
        return any(z.present_pages for z in self.node_zones)

    def __repr__(self) -> str:
        return f"<PgData node {self.node_id}>"
