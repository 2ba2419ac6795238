"""The global state of the modelled mm/: what the kernel keeps in globals.

Not a kernel file: the kernel spreads this state over globals in
mm/page_alloc.c (min_free_kbytes, watermark_*_factor, gfp_allowed_mask,
page_group_by_mobility_disabled ...), mm/vmstat.c (vm_event_states),
include/linux/nodemask.h (node_states) and the per-CPU areas. The model
gathers it in one object, :class:`MM`, which every mm function takes as its
first argument, so that several machines can live in one process.
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable

from .memmap import MemMap
from .mmzone import PgData, Zone, ZoneType
from .vmstat import VM_EVENT_ITEMS

__all__ = ["MM", "PROFILE_ZONES", "BadPageReport"]

# enum zone_type per build profile (kernel zone_idx order).
PROFILE_ZONES: dict[str, tuple[ZoneType, ...]] = {
    "x86_64": (ZoneType.DMA, ZoneType.DMA32, ZoneType.NORMAL, ZoneType.MOVABLE, ZoneType.DEVICE),
    "i386": (ZoneType.DMA, ZoneType.NORMAL, ZoneType.HIGHMEM, ZoneType.MOVABLE, ZoneType.DEVICE),
}


class BadPageReport:
    """One "BUG: Bad page state" report (mm/page_alloc.c:bad_page)."""

    __slots__ = ("pfn", "reason", "text")

    def __init__(self, pfn: int, reason: str, text: str) -> None:
        self.pfn = pfn
        self.reason = reason
        self.text = text

    def __repr__(self) -> str:
        return f"<BadPage pfn {self.pfn:#x}: {self.reason}>"


# alloc_pages_fast's cached context: (preferred zone, highest_zoneidx, migratetype,
# alloc_flags, pcp usable, pgalloc event index, local node)
AcCacheEntry = tuple[Zone | None, int, int, int, bool, int, bool]


class MM:
    """Global mm state of one simulated machine."""

    def __init__(self, *, profile: str = "x86_64", cma: bool = False, seed: int = 0) -> None:
        if profile not in PROFILE_ZONES:
            raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILE_ZONES)})")
        self.profile = profile
        self.zone_types = PROFILE_ZONES[profile]
        self.MAX_NR_ZONES = len(self.zone_types)
        self.ZONE_NORMAL = self.zone_types.index(ZoneType.NORMAL)
        self.ZONE_MOVABLE = self.zone_types.index(ZoneType.MOVABLE)
        self.ZONE_DMA32 = (self.zone_types.index(ZoneType.DMA32)
                           if ZoneType.DMA32 in self.zone_types else -1)
        self.cma_enabled = cma
        self.cma_areas: list[tuple[int, int]] = []
        self.cma_bitmaps: dict[tuple[int, int], bytearray] = {}
        self.mem: MemMap = MemMap(0, 0)
        self.nodes: list[PgData] = []
        self.zones: list[Zone] = []
        # page_zone() by pageblock (None where a pageblock straddles zones); rebuilt by
        # update_pb_zone() whenever zone spans change.
        self.pb_zone: list[Zone | None] = []
        # prepare_alloc_pages results per (gfp, node) for the fast path
        self.ac_cache: dict[int, AcCacheEntry] = {}
        self.prep_cache: dict = {}        # prepare_alloc_pages per (gfp, node), general path
        self.node_distance: list[list[int]] = []
        # node_states[] (include/linux/nodemask.h): state name -> node ids
        self.node_states: dict[str, set[int]] = {}
        self.memblock: Any = None         # mm/memblock.c state kept after boot (mm_init)
        # CPUs
        self.nr_cpu_ids = 1
        self.cpu_online: list[bool] = [True]
        self.cpu_to_node: list[int] = [0]
        self.cpu = 0                      # smp_processor_id() of the running context
        self.in_interrupt = False
        self.preempt_rt = False
        # counters
        self.events: list[int] = [0] * len(VM_EVENT_ITEMS)
        # tunables (kernel defaults)
        self.min_free_kbytes = 1024
        self.user_min_free_kbytes = -1
        self.watermark_scale_factor = 10
        self.watermark_boost_factor = 15000
        self.lowmem_reserve_ratio: list[int] = [256, 256, 32, 0, 0]
        self.percpu_pagelist_high_fraction = 0
        self.extfrag_threshold = 500
        self.compaction_proactiveness = 20
        self.zone_reclaim_mode = 0
        self.dirty_ratio = 20
        self.dirty_background_ratio = 10
        self.dirty_bytes = 0
        self.dirty_background_bytes = 0
        self.highmem_is_dirtyable = 0
        self.overcommit_ratio = 50
        self.overcommit_kbytes = 0
        # meminfo fields owned by subsystems the model does not have (swap, vmalloc, ...)
        self.meminfo_extra: dict[str, int] = {}
        self.cma_events: dict[str, int] = {"cma_alloc_success": 0, "cma_alloc_fail": 0}
        self.stat_interval = 1
        self.min_unmapped_ratio = 1
        self.min_slab_ratio = 5
        self.sysctl_vm: dict[str, int] = {}   # other /proc/sys/vm values (sysctl.py)
        self.totalreserve_pages = 0
        self.page_group_by_mobility_disabled = False
        self.gfp_allowed_mask = (1 << 27) - 1
        self.thp = "always"
        self.khugepaged_running = True
        # randomness (shuffle); always seeded
        self.rng = random.Random(seed)
        self.shuffle = False
        self.shuffle_rand = 0
        self.shuffle_rand_bits = 0
        # observers
        self.trace: Any = None            # tracepoints.Tracer when tracing is on
        self.explain: list[str] | None = None
        self.bad_pages: list[BadPageReport] = []
        self.nr_bad_pages = 0
        self.log: list[str] = []          # printk
        self.log_cb: Callable[[str], None] | None = None
        # hooks for the parts of mm/ outside page_alloc.c
        self.reporting: Any = None        # page_reporting device state
        self.page_owner: Any = None
        self.page_poisoning = False
        self.debug: Any = None            # debug.DebugState, created on first use
        self.current: Any = None          # the allocating task (vmscan/oom_kill), if modelled
        self.clock_ns = 0                 # simulated time
        self.timers: Any = None           # timers.TimerBase, created on first use
        self.wakeup_kswapd_cb: Callable[..., None] | None = None
        self.kswapd_wakeups = 0
        # pcp_spin_trylock failures: allocations that went to rmqueue_buddy and frees that
        # went to free_one_page (the RT vs non-RT counter; cpus.py reports them)
        self.pcp_trylock_failures = 0
        self.pcp_trylock_failures_alloc = 0
        self.pcp_trylock_failures_free = 0
        self.memory_hotplug: Any = None   # memory_hotplug state, once hotplug is used
        self.cpu_sched: Any = None        # cpus.CpuSched, once CPUs are scheduled
        self.migrate: Any = None          # the migrator compaction/contig/offline use
        self.page_users: Any = None       # page_users.PageUsers when users are modelled
        self.alloc_failures = 0           # allocations that reached nopage (slowpath)
        # warn_alloc's Mem-Info block renderer (the facade installs procfs's)
        self.render_mem_info: Callable[[int], str] | None = None
        self.vmscan: Any = None           # vmscan.Vmscan when reclaim is modelled
        self.compaction: Any = None       # compaction.Compaction
        self.oom: Any = None              # oom_kill.OOMKiller
        self.lock = threading.RLock()     # zone->lock / pcp locks (one lock: see docs)

    # --- helpers ---------------------------------------------------------------------
    def run_timers(self, now_ns: int) -> None:
        """Run delayed work due up to now_ns (see timers.py)."""
        from .timers import run_timers
        run_timers(self, now_ns)

    def printk(self, line: str) -> None:
        self.log.append(line)
        if self.log_cb is not None:
            self.log_cb(line)

    def nr_online_nodes(self) -> int:
        return sum(1 for n in self.nodes if n.online)

    def online_cpus(self) -> list[int]:
        return [c for c in range(self.nr_cpu_ids) if self.cpu_online[c]]

    def num_online_cpus(self) -> int:
        return sum(self.cpu_online)

    def populated_zones(self) -> list[Zone]:
        return [z for z in self.zones if z.present_pages]

    def invalidate_alloc_caches(self) -> None:
        """Drop the memoised allocation contexts (zonelists, node or CPU states changed)."""
        self.ac_cache.clear()
        self.prep_cache.clear()

    def update_pb_zone(self) -> None:
        """Rebuild the pageblock -> zone map and drop cached allocation contexts."""
        from .mmzone import pageblock_order
        nblocks = (self.mem.npfn + (1 << pageblock_order) - 1) >> pageblock_order
        pbz: list[Zone | None] = [None] * nblocks
        for z in self.zones:
            if not z.spanned_pages or z.type.name == "DEVICE":
                continue
            first = z.zone_start_pfn >> pageblock_order
            last = (z.zone_end_pfn - 1) >> pageblock_order
            for b in range(first, last + 1):
                pbz[b] = z
            # blocks shared with another zone's span are ambiguous
        for z in self.zones:
            if not z.spanned_pages or z.type.name == "DEVICE":
                continue
            for pfn in (z.zone_start_pfn, z.zone_end_pfn - 1):
                b = pfn >> pageblock_order
                bs, be = b << pageblock_order, (b + 1) << pageblock_order
                if bs < z.zone_start_pfn or be > z.zone_end_pfn:
                    other = [o for o in self.zones if o is not z and o.spanned_pages
                             and o.zone_start_pfn < be and o.zone_end_pfn > bs
                             and o.type.name != "DEVICE"]
                    if other:
                        pbz[b] = None
        self.pb_zone = pbz
        self.prep_cache.clear()
        if self.memory_hotplug is not None:
            # hotplug can interleave zones (Normal, Movable, Normal): per-block owners
            from .memory_hotplug import _fixup_pb_zone
            _fixup_pb_zone(self)
        self.ac_cache.clear()

    def zone_of_pfn(self, pfn: int) -> Zone | None:
        for z in self.zones:
            if z.zone_start_pfn <= pfn < z.zone_end_pfn:
                return z
        return None
