"""Memory hotplug: sections, hot-add, online and offline.

Models mm/memory_hotplug.c (add_memory, remove_memory, online_pages,
offline_pages, zone_for_pfn_range with the contig-zones and auto-movable
policies, move_pfn_range_to_zone, remove_pfn_range_from_zone,
pfn_to_online_page, node_states updates) and the page_alloc.c helpers
only hotplug uses: zone_pcp_disable / zone_pcp_enable / zone_pcp_reset and
__offline_isolated_pages. The memory block devices that drive it
(memoryN/state, valid_zones, the block size) are in memory_blocks.py.

The memmap is sized at boot (MachineSpec.max_pfn_extra, hotpluggable
ranges): hot-added memory must lie inside it. The model's per-page flags
say what pfn_to_online_page() says: a pfn of an offline (or never added)
section is PG_absent; the per-section state below tells "present but
offline" from "not there". Kernel x86_64 constants: sections of 128 MiB
(SECTION_SIZE_BITS 27), subsections of 2 MiB.

Deliberate differences: no memory notifiers (nothing in the model vetoes
MEM_GOING_ONLINE/OFFLINE), no memmap_on_memory, no memory groups
(virtio-mem), no hugetlb dissolving; the kernel's offline loop retries
until a signal is pending, the model delivers that signal after
``MemoryHotplug.offline_retry_limit`` fruitless passes (-EINTR,
"signal backoff"). Migration of in-use pages goes through
:func:`pagealloc.mm.contig.migrate_range`, a hook that fails until
migration is wired in.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import numpy as np

from .memmap import PG_absent, PG_buddy, PG_head, PG_lru, PG_reserved
from .memory_blocks import (MEM_OFFLINE, MEM_ONLINE, MMOP_OFFLINE, MMOP_ONLINE_KERNEL,
                            MMOP_ONLINE_MOVABLE, SECTION_SIZE_BITS, MemoryBlock,
                            _device_online, early_node_zone_for_memory_block,
                            probe_memory_block_size)
from .mm_init import N_CPU, N_HIGH_MEMORY, N_MEMORY, N_NORMAL_MEMORY, N_ONLINE, N_POSSIBLE
from .mmzone import (MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_MOVABLE, PAGE_SHIFT, Zone, ZoneType,
                     pageblock_nr_pages, pageblock_order)

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM

__all__ = [
    "PAGES_PER_SECTION", "PAGES_PER_SUBSECTION", "ONLINE_POLICIES", "MemoryHotplug", "memory_hotplug", "memory_hotplug_init",
    "pfn_to_online_page", "first_valid_page", "node_states", "zone_for_pfn_range",
    "move_pfn_range_to_zone", "remove_pfn_range_from_zone", "online_pages", "offline_pages",
    "add_memory", "remove_memory", "zone_pcp_disable", "zone_pcp_enable", "zone_pcp_reset",
    "__offline_isolated_pages", "scan_movable_pages", "do_migrate_range",
]

PFN_SECTION_SHIFT = SECTION_SIZE_BITS - PAGE_SHIFT
PAGES_PER_SECTION = 1 << PFN_SECTION_SHIFT          # 32768
PAGES_PER_SUBSECTION = 1 << (21 - PAGE_SHIFT)       # SUBSECTION_SHIFT 21: 512

# struct mem_section flag bits (include/linux/mmzone.h)
SECTION_MARKED_PRESENT = 1 << 0
SECTION_IS_ONLINE = 1 << 2
SECTION_IS_EARLY = 1 << 3

ONLINE_POLICIES = ("contig-zones", "auto-movable")


class MemoryHotplug:
    """Hotplug state of one machine: sections, memory blocks, policies.

    Not one kernel structure: mem_section[] flags, the memory block devices,
    the memory_hotplug.* module parameters and movable_node. node_states[]
    is ``mm.node_states``.
    """

    def __init__(self, mm: "MM", *, movable_node: bool = False, hypervisor: bool = True,
                 block_size: int = 0) -> None:
        mem = mm.mem
        npfn = mem.npfn
        nsec = (npfn + PAGES_PER_SECTION - 1) // PAGES_PER_SECTION
        present = (mem.a_flags & PG_absent) == 0
        for z in mm.zones:              # ZONE_DEVICE: no online memmap, no memory blocks
            if z.type == ZoneType.DEVICE and z.spanned_pages:
                present[z.zone_start_pfn:z.zone_end_pfn] = False
        padded = np.zeros(nsec * PAGES_PER_SECTION, dtype=bool)
        padded[:npfn] = present
        sec_present = padded.reshape(nsec, PAGES_PER_SECTION).any(axis=1)
        self.section = np.zeros(nsec, dtype=np.uint8)
        self.section[sec_present] = SECTION_MARKED_PRESENT | SECTION_IS_ONLINE | SECTION_IS_EARLY
        nz = np.flatnonzero(present)
        # max_pfn: the end of boot RAM, what probe_memory_block_size reads.
        self.max_pfn = int(nz[-1]) + 1 if nz.size else 0
        self.hypervisor = hypervisor
        self.block_size_bytes = probe_memory_block_size(self.max_pfn, hypervisor, block_size)
        self.pages_per_block = self.block_size_bytes >> PAGE_SHIFT
        self.sections_per_block = self.pages_per_block // PAGES_PER_SECTION
        # memory_hotplug.* parameters and boot options
        self.movable_node = movable_node
        self.online_policy = "contig-zones"
        self.auto_movable_ratio = 301
        self.auto_movable_numa_aware = True
        self.default_online_type = MMOP_OFFLINE      # memhp_default_state=
        self.offline_retry_limit = 8                 # the model's "signal" (module doc)
        # state the kernel keeps elsewhere
        self.blocks: dict[int, MemoryBlock] = {}
        self.kswapd_nodes: set[int] = {n.node_id for n in mm.nodes if n.has_memory()}
        self.kcompactd_nodes: set[int] = set(self.kswapd_nodes)
        self.last_failure: tuple[str, int, int] | None = None   # (reason, errno, pfn)
        # page isolation's last answers (dump_page / the test_pages_isolated tracepoint)
        self.last_unmovable_pfn = -1
        self.test_pages_isolated: tuple[int, int, int] | None = None
        if not mm.node_states:
            mm.node_states = _boot_node_states(mm)
        self._boot_blocks(mm, sec_present)

    def _boot_blocks(self, mm: "MM", sec_present: np.ndarray) -> None:
        spb = self.sections_per_block
        nblk = (len(sec_present) + spb - 1) // spb
        for bid in range(nblk):
            if not sec_present[bid * spb:(bid + 1) * spb].any():
                continue
            start = bid * self.pages_per_block
            nids = [n.node_id for n in mm.nodes
                    if any(z.present_pages and _zone_intersects(z, start, self.pages_per_block)
                           for z in n.node_zones if z.type != ZoneType.DEVICE)]
            nid = nids[-1] if nids else 0
            zone = (early_node_zone_for_memory_block(mm, nids[0], start, self.pages_per_block)
                    if len(nids) == 1 else None)
            self.blocks[bid] = MemoryBlock(bid, start, self.pages_per_block, MEM_ONLINE, nid,
                                           zone, early=True)

    def block_of_pfn(self, pfn: int) -> MemoryBlock | None:
        return self.blocks.get(pfn // self.pages_per_block)


def _boot_node_states(mm: "MM") -> dict[str, set[int]]:
    """node_states[] after boot (check_for_memory), for machines built without them."""
    st: dict[str, set[int]] = {k: set() for k in (N_POSSIBLE, N_ONLINE, N_NORMAL_MEMORY,
                                                   N_HIGH_MEMORY, N_MEMORY, N_CPU)}
    for n in mm.nodes:
        st[N_POSSIBLE].add(n.node_id)
        if n.online:
            st[N_ONLINE].add(n.node_id)
        if n.has_memory():
            st[N_MEMORY].add(n.node_id)
        for z in n.node_zones[:mm.ZONE_MOVABLE]:
            if z.present_pages:
                if z.idx <= mm.ZONE_NORMAL:
                    st[N_NORMAL_MEMORY].add(n.node_id)
                    st[N_HIGH_MEMORY].add(n.node_id)      # == N_NORMAL_MEMORY without HIGHMEM
                break
    for c in mm.online_cpus():
        st[N_CPU].add(mm.cpu_to_node[c])
    return st


def memory_hotplug_init(mm: "MM", *, movable_node: bool = False, hypervisor: bool = True,
                        block_size: int = 0) -> MemoryHotplug:
    """Create the machine's hotplug state from its boot layout (idempotent).

    :param movable_node: the ``movable_node`` boot option.
    :param hypervisor: X86_FEATURE_HYPERVISOR (qemu guests have it), read by
        probe_memory_block_size on machines with 64 GiB or more.
    :param block_size: ``set_memory_block_size_order`` as a size in bytes (0: probe).
    """
    hp = getattr(mm, "memory_hotplug", None)
    if hp is None:
        hp = MemoryHotplug(mm, movable_node=movable_node, hypervisor=hypervisor,
                           block_size=block_size)
        mm.memory_hotplug = hp
    return hp


def memory_hotplug(mm: "MM") -> MemoryHotplug:
    """The machine's hotplug state, created with defaults on first use."""
    hp = getattr(mm, "memory_hotplug", None)
    return hp if hp is not None else memory_hotplug_init(mm)


def node_states(mm: "MM") -> dict[str, set[int]]:
    """mm.node_states (include/linux/nodemask.h), kept up to date by memory and CPU hotplug.

    Keys are the names of /sys/devices/system/node/: mm_init.N_MEMORY ("has_memory"), ...
    """
    memory_hotplug(mm)
    return mm.node_states


# --------------------------------------------------------------------------------------
# block size and sections


def pfn_to_online_page(mm: "MM", pfn: int) -> bool:
    """Whether pfn has an online memmap (mm/memory_hotplug.c:pfn_to_online_page).

    Holes inside an online early section count as online (their struct
    pages exist, reserved) exactly as in the kernel; callers see PG_absent.
    """
    if pfn < 0 or pfn >= mm.mem.npfn:
        return False
    hp = getattr(mm, "memory_hotplug", None)
    if hp is None:
        hp = memory_hotplug(mm)
    return bool(hp.section[pfn >> PFN_SECTION_SHIFT] & SECTION_IS_ONLINE)


def first_valid_page(mm: "MM", pfn: int, nr_pages: int) -> int:
    """The first online pfn of [pfn, pfn + nr_pages), or -1 (__first_valid_page)."""
    hp = memory_hotplug(mm)
    end = min(pfn + nr_pages, mm.mem.npfn)
    sec = hp.section
    while pfn < end:
        if sec[pfn >> PFN_SECTION_SHIFT] & SECTION_IS_ONLINE:
            return pfn
        pfn = ((pfn >> PFN_SECTION_SHIFT) + 1) << PFN_SECTION_SHIFT
    return -1


def _set_sections(hp: MemoryHotplug, start_pfn: int, end_pfn: int, set_bits: int,
                  clear_bits: int) -> None:
    s = start_pfn >> PFN_SECTION_SHIFT
    e = (end_pfn + PAGES_PER_SECTION - 1) >> PFN_SECTION_SHIFT
    sec = hp.section
    sec[s:e] = (sec[s:e] & ~np.uint8(clear_bits)) | np.uint8(set_bits)


def _page_zone(mm: "MM", pfn: int) -> Zone | None:
    z = mm.pb_zone[pfn >> pageblock_order] if pfn < mm.mem.npfn else None
    return z if z is not None else mm.zone_of_pfn(pfn)


def _zone_intersects(zone: Zone, start_pfn: int, nr_pages: int) -> bool:
    """zone_intersects() (include/linux/mmzone.h)."""
    if not zone.spanned_pages:
        return False
    return not (start_pfn >= zone.zone_end_pfn or start_pfn + nr_pages <= zone.zone_start_pfn)


def _fixup_pb_zone(mm: "MM") -> None:
    """Point every pageblock of an online memory block at the block's zone.

    page_zone() reads page->flags in the kernel; the model derives it from
    zone spans, which hotplug can interleave (Normal, Movable, Normal).
    """
    hp = getattr(mm, "memory_hotplug", None)
    if hp is None:
        return
    pbz = mm.pb_zone
    for blk in hp.blocks.values():
        if blk.state == MEM_ONLINE and blk.zone is not None:
            for b in range(blk.start_pfn >> pageblock_order, blk.end_pfn >> pageblock_order):
                pbz[b] = blk.zone


def _update_page_zones(mm: "MM", zone: Zone | None = None, start_pfn: int = 0,
                       end_pfn: int = 0) -> None:
    """Rebuild page_zone() after span changes; [start_pfn, end_pfn) belongs to ``zone``."""
    mm.update_pb_zone()
    _fixup_pb_zone(mm)
    if zone is not None:
        pbz = mm.pb_zone
        for b in range(start_pfn >> pageblock_order, end_pfn >> pageblock_order):
            pbz[b] = zone


# --------------------------------------------------------------------------------------
# zones and nodes


def _default_kernel_zone_for_pfn(mm: "MM", nid: int, start_pfn: int, nr_pages: int) -> Zone:
    zones = mm.nodes[nid].node_zones
    for z in zones[:mm.ZONE_NORMAL]:
        if _zone_intersects(z, start_pfn, nr_pages):
            return z
    return zones[mm.ZONE_NORMAL]


def _auto_movable_can_online_movable(mm: "MM", nid: int, nr_pages: int) -> bool:
    """auto_movable_can_online_movable() without memory groups; nid -1 is system-wide."""
    hp = memory_hotplug(mm)
    kernel_early = 0
    movable = 0
    zones = mm.zones if nid < 0 else mm.nodes[nid].node_zones
    for z in zones:
        if not z.present_pages:
            continue
        if z.idx == mm.ZONE_MOVABLE:
            movable += z.present_pages
        else:
            kernel_early += z.present_early_pages
            movable += z.cma_pages           # CMA behaves like ZONE_MOVABLE
            kernel_early -= z.cma_pages
    if kernel_early <= 0:
        return False
    movable += nr_pages
    return movable <= hp.auto_movable_ratio * kernel_early // 100


def zone_for_pfn_range(mm: "MM", online_type: int, nid: int, start_pfn: int,
                       nr_pages: int) -> Zone:
    """The zone a range of pfns is onlined to.

    Models mm/memory_hotplug.c:zone_for_pfn_range: online_kernel -> the
    kernel zone (DMA/DMA32 when they already intersect, else Normal);
    online_movable -> Movable; online -> auto-movable's ratio rule or the
    contig-zones default (the one zone the range already touches, else
    Movable with movable_node, else the kernel zone). No memory groups.
    """
    hp = memory_hotplug(mm)
    zones = mm.nodes[nid].node_zones
    if online_type == MMOP_ONLINE_KERNEL:
        return _default_kernel_zone_for_pfn(mm, nid, start_pfn, nr_pages)
    if online_type == MMOP_ONLINE_MOVABLE:
        return zones[mm.ZONE_MOVABLE]
    if hp.online_policy == "auto-movable":
        if hp.auto_movable_ratio and _auto_movable_can_online_movable(mm, -1, nr_pages) and (
                not hp.auto_movable_numa_aware
                or _auto_movable_can_online_movable(mm, nid, nr_pages)):
            return zones[mm.ZONE_MOVABLE]
        return _default_kernel_zone_for_pfn(mm, nid, start_pfn, nr_pages)
    kernel_zone = _default_kernel_zone_for_pfn(mm, nid, start_pfn, nr_pages)
    movable_zone = zones[mm.ZONE_MOVABLE]
    in_kernel = _zone_intersects(kernel_zone, start_pfn, nr_pages)
    in_movable = _zone_intersects(movable_zone, start_pfn, nr_pages)
    if in_kernel != in_movable:
        return kernel_zone if in_kernel else movable_zone
    return movable_zone if hp.movable_node else kernel_zone


def move_pfn_range_to_zone(mm: "MM", zone: Zone, start_pfn: int, nr_pages: int,
                           migratetype: int) -> None:
    """Grow the zone and node spans over a range and init its memmap reserved.

    Models mm/memory_hotplug.c:move_pfn_range_to_zone with
    memmap_init_range(MEMINIT_HOTPLUG): pages PG_reserved, every pageblock
    set to ``migratetype``; nr_isolate_pageblock is the caller's business.
    """
    from .page_alloc import set_pageblock_migratetype
    end_pfn = start_pfn + nr_pages
    node = zone.node
    if not zone.spanned_pages:
        # init_currently_empty_zone()
        zone.zone_start_pfn = start_pfn
        zone.initialized = True
    old_end = zone.zone_end_pfn if zone.spanned_pages else start_pfn
    if not zone.spanned_pages or start_pfn < zone.zone_start_pfn:
        zone.zone_start_pfn = start_pfn
    zone.zone_end_pfn = max(end_pfn, old_end)
    zone.spanned_pages = zone.zone_end_pfn - zone.zone_start_pfn
    # resize_pgdat_range()
    old_node_end = node.node_start_pfn + node.node_spanned_pages
    if not node.node_spanned_pages or start_pfn < node.node_start_pfn:
        node.node_start_pfn = start_pfn
    node.node_spanned_pages = max(end_pfn, old_node_end if node.node_spanned_pages else 0) \
        - node.node_start_pfn
    mem = mm.mem
    mem.a_flags[start_pfn:end_pfn] = PG_reserved
    mem.a_order[start_pfn:end_pfn] = -1
    mem.a_mt[start_pfn:end_pfn] = 0
    for pfn in range(start_pfn, end_pfn, pageblock_nr_pages):
        set_pageblock_migratetype(mm, pfn, migratetype)


def _find_section_pfn(mm: "MM", nid: int, zone: Zone, start_pfn: int, end_pfn: int,
                      biggest: bool) -> int:
    """find_smallest_section_pfn / find_biggest_section_pfn: 0 when none."""
    if biggest:
        rng = range(end_pfn - 1, start_pfn - 1, -PAGES_PER_SUBSECTION)
    else:
        rng = range(start_pfn, end_pfn, PAGES_PER_SUBSECTION)
    for pfn in rng:
        if not pfn_to_online_page(mm, pfn):
            continue
        z = _page_zone(mm, pfn)
        if z is None or z.nid != nid or z is not zone:
            continue
        return pfn
    return 0


def remove_pfn_range_from_zone(mm: "MM", zone: Zone, start_pfn: int, nr_pages: int) -> None:
    """Shrink the zone and node spans after an offline.

    Models mm/memory_hotplug.c:remove_pfn_range_from_zone -> shrink_zone_span,
    update_pgdat_span (spans shrink only from their ends).
    """
    end_pfn = start_pfn + nr_pages
    nid = zone.nid
    if zone.zone_start_pfn == start_pfn:
        pfn = _find_section_pfn(mm, nid, zone, end_pfn, zone.zone_end_pfn, False)
        if pfn:
            zone.spanned_pages = zone.zone_end_pfn - pfn
            zone.zone_start_pfn = pfn
        else:
            zone.zone_start_pfn = zone.spanned_pages = 0
    elif zone.zone_end_pfn == end_pfn:
        pfn = _find_section_pfn(mm, nid, zone, zone.zone_start_pfn, start_pfn, True)
        if pfn:
            zone.spanned_pages = pfn - zone.zone_start_pfn + 1
        else:
            zone.zone_start_pfn = zone.spanned_pages = 0
    zone.zone_end_pfn = zone.zone_start_pfn + zone.spanned_pages
    # update_pgdat_span()
    node = zone.node
    ns = ne = 0
    for z in node.node_zones:
        if not z.spanned_pages:
            continue
        if not ne:
            ns, ne = z.zone_start_pfn, z.zone_end_pfn
            continue
        ne = max(ne, z.zone_end_pfn)
        ns = min(ns, z.zone_start_pfn)
    node.node_start_pfn = ns
    node.node_spanned_pages = ne - ns


def _adjust_present_page_count(mm: "MM", zone: Zone, pfn: int, nr_pages: int) -> None:
    """adjust_present_page_count(): zone and node present (and early) pages."""
    hp = memory_hotplug(mm)
    if hp.section[pfn >> PFN_SECTION_SHIFT] & SECTION_IS_EARLY:
        zone.present_early_pages += nr_pages
    zone.present_pages += nr_pages
    zone.node.node_present_pages += nr_pages
    zone.node.nr_zones = max((z.idx + 1 for z in zone.node.node_zones if z.present_pages),
                             default=0)


def _build_all_zonelists(mm: "MM") -> None:
    """build_all_zonelists(NULL) after boot (it prints the kernel's "Built ..." lines)."""
    from .mm_init import build_all_zonelists
    build_all_zonelists(mm)
    mm.invalidate_alloc_caches()


def _init_per_zone_wmark_min(mm: "MM") -> None:
    from .watermarks import init_per_zone_wmark_min
    init_per_zone_wmark_min(mm)


# --------------------------------------------------------------------------------------
# pcp control (mm/page_alloc.c helpers only hotplug uses)


def zone_pcp_disable(mm: "MM", zone: Zone) -> None:
    """Set every CPU's pcp of a zone to high 0, batch 1 and drain them all.

    Models mm/page_alloc.c:zone_pcp_disable (__drain_all_pages forced).
    """
    from .page_alloc import drain_all_pages
    for pcp in zone.pcp:
        pcp.high = 0
        pcp.batch = 1
    if zone.pcp:
        drain_all_pages(mm, zone)


def zone_pcp_enable(mm: "MM", zone: Zone) -> None:
    """Restore the zone's pageset_high/batch on every CPU (zone_pcp_enable)."""
    for pcp in zone.pcp:
        pcp.high = zone.pageset_high
        pcp.batch = zone.pageset_batch


def zone_pcp_reset(mm: "MM", zone: Zone) -> None:
    """Fold a depopulated zone's per-CPU stats and give it boot pagesets (zone_pcp_reset)."""
    if zone.pcp:
        zone.vm_free += sum(zone.vm_stat_diff)
        zone.vm_stat_diff = [0] * mm.nr_cpu_ids
        zone.pcp = []
    zone.pageset_high = 0
    zone.pageset_batch = 1


def __offline_isolated_pages(mm: "MM", zone: Zone, start_pfn: int, end_pfn: int) -> None:
    """Take every (isolated) free block of an offlined range off the free lists.

    Models mm/page_alloc.c:__offline_isolated_pages: the sections go offline
    and the pfns lose their online memmap (PG_absent in the model).
    """
    from .page_alloc import del_page_from_free_list
    hp = memory_hotplug(mm)
    _set_sections(hp, start_pfn, end_pfn, 0, SECTION_IS_ONLINE)
    mem = mm.mem
    pfn = start_pfn
    while pfn < end_pfn:
        if not mem.flags[pfn] & PG_buddy:
            raise AssertionError(f"__offline_isolated_pages: pfn {pfn:#x} is not free")
        order = mem.order[pfn]
        del_page_from_free_list(mm, zone, pfn, order)
        pfn += 1 << order
    mem.a_flags[start_pfn:end_pfn] = PG_absent
    mem.a_order[start_pfn:end_pfn] = -1


# --------------------------------------------------------------------------------------
# online


def _node_states_check_changes_online(mm: "MM", zone: Zone) -> tuple[int, int]:
    ns = node_states(mm)
    nid = zone.nid
    return (nid if nid not in ns[N_MEMORY] else -1,
            nid if zone.idx <= mm.ZONE_NORMAL and nid not in ns[N_NORMAL_MEMORY] else -1)


def online_pages(mm: "MM", pfn: int, nr_pages: int, zone: Zone) -> int:
    """Online a range into a zone: memmap, FPI_TO_TAIL release, counters, recomputation.

    Models mm/memory_hotplug.c:online_pages: pageblocks start ISOLATE (so
    the freed pages are not counted and cannot be allocated), the range is
    released in MAX_ORDER-1 chunks by __free_pages_core (FPI_TO_TAIL), then
    undo_isolate_page_range makes the blocks MOVABLE and counts them free;
    a newly populated zone gets pcps and the zonelists are rebuilt;
    init_per_zone_wmark_min recomputes min_free_kbytes, watermarks, pcp
    high, stat thresholds and lowmem reserves. Returns 0 or -EINVAL.
    """
    from .page_alloc import __free_pages_core
    from .page_isolation import undo_isolate_page_range
    from .watermarks import setup_zone_pageset
    if (not nr_pages or pfn % pageblock_nr_pages
            or (pfn + nr_pages) % PAGES_PER_SECTION):
        return -errno.EINVAL
    hp = memory_hotplug(mm)
    move_pfn_range_to_zone(mm, zone, pfn, nr_pages, MIGRATE_ISOLATE)
    _update_page_zones(mm, zone, pfn, pfn + nr_pages)
    status_nid, status_nid_normal = _node_states_check_changes_online(mm, zone)
    zone.nr_isolate_pageblock += nr_pages // pageblock_nr_pages
    need_zonelists_rebuild = False
    if not zone.populated():
        need_zonelists_rebuild = True
        setup_zone_pageset(mm, zone)
    # online_pages_range(): generic_online_page -> __free_pages_core per chunk
    end = pfn + nr_pages
    p = pfn
    while p < end:
        order = min(MAX_ORDER - 1, (p & -p).bit_length() - 1)
        __free_pages_core(mm, zone, p, order)
        p += 1 << order
    _set_sections(hp, pfn, end, SECTION_MARKED_PRESENT | SECTION_IS_ONLINE, 0)
    _adjust_present_page_count(mm, zone, pfn, nr_pages)
    ns = mm.node_states
    if status_nid_normal >= 0:
        ns[N_NORMAL_MEMORY].add(status_nid_normal)
        ns[N_HIGH_MEMORY].add(status_nid_normal)
    if status_nid >= 0:
        ns[N_MEMORY].add(status_nid)
    if need_zonelists_rebuild:
        _build_all_zonelists(mm)
    undo_isolate_page_range(mm, pfn, end, MIGRATE_MOVABLE)
    if mm.shuffle:
        try:
            from .shuffle import shuffle_zone
        except ImportError:       # shuffle.py not there yet
            pass
        else:
            shuffle_zone(mm, zone)
    _init_per_zone_wmark_min(mm)
    hp.kswapd_nodes.add(zone.nid)        # kswapd_run / kcompactd_run
    hp.kcompactd_nodes.add(zone.nid)
    mm.invalidate_alloc_caches()
    return 0


# --------------------------------------------------------------------------------------
# offline


def scan_movable_pages(mm: "MM", start: int, end: int) -> tuple[int, int]:
    """(0, pfn) of the first in-use movable (PG_lru) page of a range, or (-ENOENT, end).

    Models mm/memory_hotplug.c:scan_movable_pages (no PageOffline, no hugetlb).
    """
    mem = mm.mem
    flags = mem.a_flags[start:end]
    hits = np.flatnonzero((flags & (PG_lru | PG_head)) == (PG_lru | PG_head))
    if hits.size:
        return 0, start + int(hits[0])
    return -errno.ENOENT, end


def do_migrate_range(mm: "MM", start_pfn: int, end_pfn: int) -> int:
    """Migrate the movable pages of [start_pfn, end_pfn) away (mm/memory_hotplug.c).

    Goes through the migration hook :func:`pagealloc.mm.contig.migrate_range`.
    """
    from .contig import migrate_range
    return migrate_range(mm, start_pfn, end_pfn, "memory_hotplug")


def _node_states_check_changes_offline(mm: "MM", nr_pages: int, zone: Zone) -> tuple[int, int]:
    node = zone.node
    present = sum(z.present_pages for z in node.node_zones[:mm.ZONE_NORMAL + 1])
    status_normal = zone.nid if zone.idx <= mm.ZONE_NORMAL and nr_pages >= present else -1
    present += node.node_zones[mm.ZONE_MOVABLE].present_pages
    status = zone.nid if nr_pages >= present else -1
    return status, status_normal


def _dump_page(mm: "MM", pfn: int, reason: str) -> None:
    """dump_page(), the lines the model can fill (include/linux/mmdebug.h)."""
    from .debug import describe_page
    mm.printk(f"page:{pfn:#x} pfn:{pfn:#x} is {describe_page(mm, pfn)}")
    mm.printk(f"page dumped because: {reason}")


def _offline_failed(mm: "MM", start_pfn: int, end_pfn: int, reason: str, ret: int,
                    pfn: int = -1) -> int:
    hp = memory_hotplug(mm)
    hp.last_failure = (reason, ret, pfn)
    # pr_debug in the kernel: visible with dynamic debug only; kept in the log here.
    mm.printk(f"memory offlining [mem {start_pfn << PAGE_SHIFT:#010x}-"
              f"{(end_pfn << PAGE_SHIFT) - 1:#010x}] failed due to {reason}")
    return ret


def offline_pages(mm: "MM", start_pfn: int, nr_pages: int, zone: Zone) -> int:
    """Offline a range: disable pcps, isolate, migrate, check, remove, recompute.

    Models mm/memory_hotplug.c:offline_pages. Returns 0, -EINVAL (holes,
    several zones, misaligned), -EBUSY (an unmovable page prevents
    isolation; everything is rolled back: pageblocks MOVABLE again, free
    pages back on their lists and counted, pcp high/batch restored) or
    -EINTR (the model's signal after ``offline_retry_limit`` fruitless
    migrate/test passes, also rolled back).
    """
    from .page_isolation import (MEMORY_OFFLINE, REPORT_FAILURE, last_unmovable_pfn,
                                 start_isolate_page_range, test_pages_isolated,
                                 undo_isolate_page_range)
    from .gfp import GFP_USER, __GFP_MOVABLE, __GFP_RETRY_MAYFAIL
    hp = memory_hotplug(mm)
    end_pfn = start_pfn + nr_pages
    if (not nr_pages or start_pfn % pageblock_nr_pages or end_pfn % PAGES_PER_SECTION):
        return -errno.EINVAL
    mem = mm.mem
    if (mem.a_flags[start_pfn:end_pfn] & PG_absent).any():
        return _offline_failed(mm, start_pfn, end_pfn, "memory holes", -errno.EINVAL)
    if _page_zone(mm, start_pfn) is not zone or _page_zone(mm, end_pfn - 1) is not zone:
        return _offline_failed(mm, start_pfn, end_pfn, "multizone range", -errno.EINVAL)

    zone_pcp_disable(mm, zone)
    ret = start_isolate_page_range(mm, start_pfn, end_pfn, MIGRATE_MOVABLE,
                                   MEMORY_OFFLINE | REPORT_FAILURE,
                                   GFP_USER | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL)
    if ret:
        zone_pcp_enable(mm, zone)
        return _offline_failed(mm, start_pfn, end_pfn, "failure to isolate range", ret,
                               last_unmovable_pfn(mm))
    status_nid, status_nid_normal = _node_states_check_changes_offline(mm, nr_pages, zone)

    passes = 0
    reason = ""
    while True:
        pfn = start_pfn
        while True:
            if passes >= hp.offline_retry_limit:
                ret, reason = -errno.EINTR, "signal backoff"
                break
            ret, pfn = scan_movable_pages(mm, pfn, end_pfn)
            if ret:
                break
            if do_migrate_range(mm, pfn, end_pfn):
                passes += 1              # the kernel retries the same pages
        if ret == -errno.EINTR:
            break
        if ret != -errno.ENOENT:
            reason = "unmovable page"
            break
        ret = test_pages_isolated(mm, start_pfn, end_pfn, MEMORY_OFFLINE)
        if not ret:
            break
        passes += 1
        if passes >= hp.offline_retry_limit:
            ret, reason = -errno.EINTR, "signal backoff"
            break
    if ret:
        undo_isolate_page_range(mm, start_pfn, end_pfn, MIGRATE_MOVABLE)
        zone_pcp_enable(mm, zone)
        return _offline_failed(mm, start_pfn, end_pfn, reason, ret)

    __offline_isolated_pages(mm, zone, start_pfn, end_pfn)
    zone.nr_isolate_pageblock -= nr_pages // pageblock_nr_pages
    zone_pcp_enable(mm, zone)
    zone.managed_pages -= nr_pages                  # adjust_managed_page_count
    _adjust_present_page_count(mm, zone, start_pfn, -nr_pages)
    _init_per_zone_wmark_min(mm)
    if not zone.populated():
        zone_pcp_reset(mm, zone)
        _build_all_zonelists(mm)
    ns = mm.node_states
    if status_nid_normal >= 0:
        ns[N_NORMAL_MEMORY].discard(status_nid_normal)
        ns[N_HIGH_MEMORY].discard(status_nid_normal)
    if status_nid >= 0:
        ns[N_MEMORY].discard(status_nid)
        hp.kswapd_nodes.discard(status_nid)         # kcompactd_stop / kswapd_stop
        hp.kcompactd_nodes.discard(status_nid)
    remove_pfn_range_from_zone(mm, zone, start_pfn, nr_pages)
    _update_page_zones(mm)
    return 0


# --------------------------------------------------------------------------------------
# hot-add and hot-remove


def add_memory(mm: "MM", nid: int, start: int, size: int,
               online_type: int | None = None) -> int:
    """Hot-add [start, start + size) bytes to a node: present, offline memory blocks.

    Models mm/memory_hotplug.c:add_memory -> register_memory_resource
    (-E2BIG beyond the memmap the machine was booted with, -EEXIST over
    present memory) -> add_memory_resource (-EINVAL unless aligned to the
    memory block size or for an impossible node). The blocks are onlined
    right away when ``online_type`` (default: memhp_default_state, offline)
    says so. Returns 0 or -errno.
    """
    hp = memory_hotplug(mm)
    if start < 0 or size <= 0:
        return -errno.EINVAL
    start_pfn = start >> PAGE_SHIFT
    end_pfn = (start + size) >> PAGE_SHIFT
    if end_pfn > mm.mem.npfn:
        return -errno.E2BIG
    s_sec = start_pfn >> PFN_SECTION_SHIFT
    e_sec = (end_pfn + PAGES_PER_SECTION - 1) >> PFN_SECTION_SHIFT
    if ((mm.mem.a_flags[start_pfn:end_pfn] & PG_absent) == 0).any() \
            or (hp.section[s_sec:e_sec] & SECTION_MARKED_PRESENT).any():
        return -errno.EEXIST
    bs = hp.block_size_bytes
    if start % bs or size % bs:
        mm.printk(f"Block size [{bs:#x}] unaligned hotplug range: start {start:#x}, "
                  f"size {size:#x}")
        return -errno.EINVAL
    if not 0 <= nid < len(mm.nodes):
        return -errno.EINVAL
    # arch_add_memory: sections present (offline); create_memory_block_devices
    _set_sections(hp, start_pfn, end_pfn, SECTION_MARKED_PRESENT, SECTION_IS_ONLINE)
    for bid in range(start_pfn // hp.pages_per_block, end_pfn // hp.pages_per_block):
        hp.blocks[bid] = MemoryBlock(bid, bid * hp.pages_per_block, hp.pages_per_block,
                                     MEM_OFFLINE, nid, None)
    node = mm.nodes[nid]
    if not node.online:
        node.online = True
        mm.node_states[N_ONLINE].add(nid)
        mm.invalidate_alloc_caches()
    ot = hp.default_online_type if online_type is None else online_type
    if ot != MMOP_OFFLINE:
        for bid in range(start_pfn // hp.pages_per_block, end_pfn // hp.pages_per_block):
            blk = hp.blocks[bid]
            blk.online_type = ot
            _device_online(mm, blk)
    return 0


def remove_memory(mm: "MM", start: int, size: int) -> int:
    """Remove hot-added memory whose blocks are all offline (try_remove_memory).

    -EBUSY while a block is online (the kernel's check_memblock_offlined_cb),
    -EINVAL when misaligned. Boot memory can be removed the same way once
    offline.
    """
    hp = memory_hotplug(mm)
    bs = hp.block_size_bytes
    if size <= 0 or start % bs or size % bs:
        return -errno.EINVAL
    start_pfn = start >> PAGE_SHIFT
    end_pfn = (start + size) >> PAGE_SHIFT
    ids = range(start_pfn // hp.pages_per_block, end_pfn // hp.pages_per_block)
    for bid in ids:
        blk = hp.blocks.get(bid)
        if blk is not None and blk.state != MEM_OFFLINE:
            mm.printk(f"removing memory fails, because memory [{blk.start_pfn << PAGE_SHIFT:#x}-"
                      f"{(blk.end_pfn << PAGE_SHIFT) - 1:#x}] is onlined")
            return -errno.EBUSY
    for bid in ids:
        hp.blocks.pop(bid, None)
    _set_sections(hp, start_pfn, end_pfn, 0,
                  SECTION_MARKED_PRESENT | SECTION_IS_ONLINE | SECTION_IS_EARLY)
    return 0

