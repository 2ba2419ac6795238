"""The kernel's /proc and debugfs views, rendered from the model's state.

Models the seq_file show functions of Linux 6.1 (Debian 12's build: NUMA,
NUMA_BALANCING, ZSMALLOC, ZSWAP, SWAP, THP, HUGETLB, MEMORY_FAILURE, x86_64):

    /proc/buddyinfo                     mm/vmstat.c:frag_show_print
    /proc/pagetypeinfo                  mm/vmstat.c:pagetypeinfo_show (+ mm/page_owner.c's
                                        pagetypeinfo_showmixedcount_print when page_owner is on)
    /proc/zoneinfo                      mm/vmstat.c:zoneinfo_show_print
    /proc/vmstat                        mm/vmstat.c:vmstat_start/vmstat_show, with
                                        mm/page-writeback.c:global_dirty_limits
    /proc/meminfo                       fs/proc/meminfo.c:meminfo_proc_show, si_mem_available
    /sys/kernel/debug/extfrag/*         mm/vmstat.c:unusable_show_print, extfrag_show_print
    Mem-Info (OOM, warn_alloc, sysrq)   lib/show_mem.c:__show_mem, mm/page_alloc.c:__show_free_areas

Owns no state: every number comes from the machine (``machine.mm``). Reading
pagetypeinfo with page_owner on drains every pcp first, as the kernel does.

Values the model has no mechanism for are read from the state it does keep:
node and zone stat items from ``PgData.vm_stat`` / ``Zone.vm_stat`` (absent
means 0; THP items are kept in pages and shown in THPs), and the meminfo
fields of other subsystems (Buffers, Committed_AS, VmallocUsed, Percpu,
DirectMap*, HugePages_*, swap ...) from the optional dict ``mm.meminfo_extra``,
keyed by the meminfo field name without the colon, in the units meminfo prints
(kB, or pages for HugePages_*). A clone of a real machine fills both.
"""
from __future__ import annotations

import numpy as np

from .errors import PageAllocError
from .mm.memmap import PG_absent, PG_buddy, PG_reserved
from .mm.mmzone import (MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_CMA, MIGRATE_ISOLATE,
                        MIGRATE_MOVABLE, PAGE_SHIFT, PAGE_SIZE, ZoneType, migratetype_names,
                        pageblock_nr_pages, pageblock_order)
from .mm.vmstat import (NODE_STAT_ITEMS, NUMA_STAT_ITEMS, THP_NODE_ITEMS, VM_EVENT_ITEMS,
                        ZONE_STAT_ITEMS, fragmentation_index, unusable_free_index)

__all__ = ["render", "VIEWS", "buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo",
           "extfrag_index", "unusable_index", "show_free_areas", "global_dirty_limits",
           "si_mem_available", "global_zone_page_state", "global_node_page_state",
           "totalram_pages", "vm_commit_limit"]

HPAGE_PMD_NR = 1 << 9            # THP items are printed in units of PMD-sized pages
MAX_RECLAIM_RETRIES = 16         # node_unreclaimable: kswapd_failures >= this
FREE_LIST_SCAN_LIMIT = 100000    # pagetypeinfo_showfree_print's cap on a list walk
# x86_64 with 5-level paging (the captures: qemu -cpu max has LA57): VMALLOC_SIZE_TB_L5
# = 12800 TiB, minus one byte, in kB. With 4-level paging it is 34359738367.
VMALLOC_TOTAL_KB_L5 = 13743895347199
VMALLOC_TOTAL_KB_L4 = 34359738367
# Hugetlb hstates as x86_64 registers them: gigantic pages (arch_initcall) before the
# default 2 MiB size (hugetlb_init); the order of the Mem-Info hugepages lines.
HSTATE_SIZES_KB = (1 << 20, 2048)
DEFAULT_HSTATE_KB = 2048


def _K(pages: int) -> int:
    """K(x): pages to kB."""
    return pages << (PAGE_SHIFT - 10)


def _mm(machine):
    """Accept a Machine or its MM."""
    return getattr(machine, "mm", machine)


def _online_nodes(mm):
    return [n for n in mm.nodes if n.online]


def _online_cpus(mm) -> list[int]:
    return [c for c in range(mm.nr_cpu_ids) if mm.cpu_online[c]]


def _kernel_migratetypes(mm) -> tuple[int, ...]:
    """Model migratetypes in the kernel's enum order (no CMA entry unless CONFIG_CMA)."""
    if mm.cma_enabled:
        return (0, 1, 2, 3, MIGRATE_CMA, MIGRATE_ISOLATE)
    return (0, 1, 2, 3, MIGRATE_ISOLATE)


def _c_div(a: int, b: int) -> tuple[int, int]:
    """C's truncating / and % (the sign of % follows the dividend)."""
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q, a - q * b


# --- counters as the kernel reads them ----------------------------------------------------

def zone_page_state(zone, item: str) -> int:
    """zone_page_state(): the folded zone counter, clamped at 0 (SMP)."""
    if item == "nr_free_pages":
        v = zone.vm_free
    elif item == "nr_free_cma":
        v = zone.vm_free_cma
    else:
        v = zone.vm_stat.get(item, 0)
    return v if v > 0 else 0


def node_page_state(node, item: str) -> int:
    """node_page_state_pages(): the node counter, clamped at 0 (SMP)."""
    v = node.vm_stat.get(item, 0)
    return v if v > 0 else 0


def global_zone_page_state(mm, item: str) -> int:
    """global_zone_page_state(): the sum over zones, clamped at 0."""
    if item == "nr_free_pages":
        v = sum(z.vm_free for z in mm.zones)
    elif item == "nr_free_cma":
        v = sum(z.vm_free_cma for z in mm.zones)
    else:
        v = sum(z.vm_stat.get(item, 0) for z in mm.zones)
    return v if v > 0 else 0


def global_node_page_state(mm, item: str) -> int:
    """global_node_page_state_pages(): the sum over nodes, clamped at 0."""
    v = sum(n.vm_stat.get(item, 0) for n in mm.nodes)
    return v if v > 0 else 0


def _global_numa_event_state(mm, i: int) -> int:
    return sum(_numa_events(mm, z)[i] for z in mm.zones)


def totalram_pages(mm) -> int:
    """totalram_pages(): managed pages of every zone."""
    return sum(z.managed_pages for z in mm.zones)


def _extra(mm) -> dict:
    return getattr(mm, "meminfo_extra", None) or {}


# --- /proc/buddyinfo ------------------------------------------------------------------------

def buddyinfo(machine) -> str:
    """/proc/buddyinfo: nr_free per order of every populated zone.

    Models mm/vmstat.c:frag_show_print.
    """
    mm = _mm(machine)
    out = []
    for node in _online_nodes(mm):
        for z in node.node_zones:
            if not z.present_pages:
                continue
            out.append(f"Node {node.node_id}, zone {z.name:>8} "
                       + "".join(f"{n:6d} " for n in z.nr_free) + "\n")
    return "".join(out)


# --- /proc/pagetypeinfo ---------------------------------------------------------------------

def _free_list_counts(mm, zone, mt: int) -> str:
    """One pagetypeinfo row's counts: list entries per order, capped at 100000."""
    mem = mm.mem
    base = zone.list_base + mt
    cells = []
    for order in range(MAX_ORDER):
        n = mem.list_len(base + order * 6, FREE_LIST_SCAN_LIMIT)
        cells.append(f">{n:6d} " if n >= FREE_LIST_SCAN_LIMIT else f"{n:6d} ")
    return "".join(cells)


def _online_subsections(mm, lo_pfn: int, hi_pfn: int) -> tuple[int, np.ndarray]:
    """Which 512-page subsections of [lo_pfn, hi_pfn) have a memmap (pfn_to_online_page).

    A subsection is valid when any of its pfns is memory (memblock.memory, so
    holes inside it have reserved struct pages): the kernel's subsection_map
    as free_area_init sets it. Returns (first subsection number, bool array).
    """
    mem = mm.mem
    lo = lo_pfn >> pageblock_order
    hi = min((hi_pfn + pageblock_nr_pages - 1) >> pageblock_order,
             mem.npfn >> pageblock_order)
    if hi <= lo:
        return lo, np.zeros(0, dtype=bool)
    valid = np.empty(hi - lo, dtype=bool)
    step = 1 << 13                  # subsections per chunk: bounded temporaries (4 MiB)
    for s in range(lo, hi, step):
        e = min(s + step, hi)
        flags = mem.a_flags[s << pageblock_order:e << pageblock_order]
        absent = (flags & PG_absent).reshape(e - s, pageblock_nr_pages)
        valid[s - lo:e - lo] = absent.min(axis=1) == 0
    return lo, valid


def _zone_owns(mm, zone, pfn: int) -> bool:
    """page_zone(pfn_to_page(pfn)) == zone: the first populated zone spanning pfn."""
    for z in mm.zones:
        if z.present_pages and z.zone_start_pfn <= pfn < _zone_end(z):
            return z is zone
    return False


def _zone_end(zone) -> int:
    return zone.zone_start_pfn + zone.spanned_pages


def _overlapping_zones(mm, zone) -> bool:
    """Whether another populated zone's span overlaps this one (interleaved nodes)."""
    start, end = zone.zone_start_pfn, _zone_end(zone)
    return any(z is not zone and z.present_pages and z.zone_start_pfn < end
               and _zone_end(z) > start for z in mm.zones)


def _pageblock_counts(mm, zone) -> list[int]:
    """Pageblocks per model migratetype, sampled from zone_start_pfn in pageblock steps.

    Models mm/vmstat.c:pagetypeinfo_showblockcount_print: the samples are not
    aligned to the pageblock grid when the zone start is not, and pfns without
    an online memmap or of another zone are skipped.
    """
    mem = mm.mem
    start, end = zone.zone_start_pfn, _zone_end(zone)
    end = min(end, mem.npfn)
    counts = [0] * 8
    if end <= start:
        return counts
    pfns = np.arange(start, end, pageblock_nr_pages, dtype=np.int64)
    lo, valid = _online_subsections(mm, start, end)
    pfns = pfns[valid[(pfns >> pageblock_order) - lo]]
    if _overlapping_zones(mm, zone):
        pfns = np.array([p for p in pfns.tolist() if _zone_owns(mm, zone, p)], dtype=np.int64)
    if pfns.size:
        mts = mem.a_pageblock[pfns >> pageblock_order] & 7
        for mt, n in enumerate(np.bincount(mts, minlength=8).tolist()):
            counts[mt] = n
    return counts


def _mixed_counts(mm, zone) -> list[int]:
    """Pageblocks holding a page allocated with another migratetype than their label.

    Models mm/page_owner.c:pagetypeinfo_showmixedcount_print. Needs
    ``mm.page_owner.lookup(pfn) -> (order, gfp_mask) | None`` (None unless the
    page's PAGE_EXT_OWNER_ALLOCATED bit is set).
    """
    from .mm.gfp import gfp_migratetype
    mem = mm.mem
    po = mm.page_owner
    flags = mem.flags
    orders = mem.order
    counts = [0] * 8
    pfn = zone.zone_start_pfn
    end_pfn = min(_zone_end(zone), mem.npfn)
    lo, valid = _online_subsections(mm, pfn, end_pfn)
    shared = _overlapping_zones(mm, zone)
    while pfn < end_pfn:
        if not valid[(pfn >> pageblock_order) - lo]:
            pfn = (pfn + 1 + MAX_ORDER_NR_PAGES - 1) & ~(MAX_ORDER_NR_PAGES - 1)
            continue
        block_end = min(((pfn >> pageblock_order) + 1) << pageblock_order, end_pfn)
        pageblock_mt = mem.pageblock[pfn >> pageblock_order] & 7
        while pfn < block_end:
            if shared and not _zone_owns(mm, zone, pfn):
                pfn += 1
                continue
            f = flags[pfn]
            if f & PG_buddy:
                o = orders[pfn]
                pfn += 1 << o if 0 <= o < MAX_ORDER else 1
                continue
            if f & (PG_reserved | PG_absent):
                pfn += 1
                continue
            owner = po.lookup(pfn)
            if owner is None:
                pfn += 1
                continue
            order, gfp_mask = owner
            page_mt = gfp_migratetype(gfp_mask)
            if pageblock_mt != page_mt:
                counts[MIGRATE_MOVABLE if pageblock_mt == MIGRATE_CMA else pageblock_mt] += 1
                pfn = block_end
                break
            pfn += 1 << order
    return counts


def pagetypeinfo(machine) -> str:
    """/proc/pagetypeinfo: free list lengths per migratetype and pageblock counts, per node.

    Models mm/vmstat.c:pagetypeinfo_show. Memoryless nodes print nothing.
    """
    mm = _mm(machine)
    mts = _kernel_migratetypes(mm)
    out: list[str] = []
    for node in _online_nodes(mm):
        if not node.has_memory():
            continue
        zones = [z for z in node.node_zones if z.present_pages]
        out.append(f"Page block order: {pageblock_order}\n")
        out.append(f"Pages per block:  {pageblock_nr_pages}\n\n")
        out.append(f"{'Free pages count per migrate type at order':<43} "
                   + "".join(f"{o:6d} " for o in range(MAX_ORDER)) + "\n")
        for z in zones:
            for mt in mts:
                out.append(f"Node {node.node_id:4d}, zone {z.name:>8}, type "
                           f"{migratetype_names[mt]:>12} " + _free_list_counts(mm, z, mt) + "\n")
        header = "".join(f"{migratetype_names[mt]:>12} " for mt in mts)
        out.append(f"\n{'Number of blocks type ':<23}" + header + "\n")
        for z in zones:
            counts = _pageblock_counts(mm, z)
            out.append(f"Node {node.node_id}, zone {z.name:>8} "
                       + "".join(f"{counts[mt]:12d} " for mt in mts) + "\n")
        if mm.page_owner is not None:
            from .mm.page_alloc import drain_all_pages
            drain_all_pages(mm, None)
            out.append(f"\n{'Number of mixed blocks ':<23}" + header + "\n")
            for z in zones:
                counts = _mixed_counts(mm, z)
                out.append(f"Node {node.node_id}, zone {z.name:>8} "
                           + "".join(f"{counts[mt]:12d} " for mt in mts) + "\n")
    return "".join(out)


# --- /proc/zoneinfo -------------------------------------------------------------------------

def _stat_line(name: str, value: int) -> str:
    return f"\n      {name:<12} {value}"


def zoneinfo(machine) -> str:
    """/proc/zoneinfo: every zone of every online node, populated or not.

    Models mm/vmstat.c:zoneinfo_show_print. The node's first populated zone
    carries the per-node stats; an unpopulated zone ends after protection.
    """
    mm = _mm(machine)
    cpus = _online_cpus(mm)
    out: list[str] = []
    for node in _online_nodes(mm):
        first = next((z for z in node.node_zones if z.present_pages), None)
        for z in node.node_zones:
            s = [f"Node {node.node_id}, zone {z.name:>8}"]
            if z is first:
                s.append("\n  per-node stats")
                for item in NODE_STAT_ITEMS:
                    v = node_page_state(node, item)
                    if item in THP_NODE_ITEMS:
                        v //= HPAGE_PMD_NR
                    s.append(_stat_line(item, v))
            s.append(f"\n  pages free     {z.nr_free_pages()}"
                     f"\n        boost    {z.watermark_boost}"
                     f"\n        min      {z.min_wmark_pages()}"
                     f"\n        low      {z.low_wmark_pages()}"
                     f"\n        high     {z.high_wmark_pages()}"
                     f"\n        spanned  {z.spanned_pages}"
                     f"\n        present  {z.present_pages}"
                     f"\n        managed  {z.managed_pages}"
                     f"\n        cma      {z.cma_pages}")
            s.append("\n        protection: (" + ", ".join(str(v) for v in z.lowmem_reserve) + ")")
            if not z.present_pages:
                s.append("\n")
                out.append("".join(s))
                continue
            for item in ZONE_STAT_ITEMS:
                s.append(_stat_line(item, zone_page_state(z, item)))
            for i, item in enumerate(NUMA_STAT_ITEMS):
                s.append(_stat_line(item, _numa_events(mm, z)[i]))
            s.append("\n  pagesets")
            for c in cpus:
                pcp = z.pcp[c]
                s.append(f"\n    cpu: {c}"
                         f"\n              count: {pcp.count}"
                         f"\n              high:  {pcp.high}"
                         f"\n              batch: {pcp.batch}"
                         f"\n  vm stats threshold: {z.stat_threshold}")
            s.append(f"\n  node_unreclaimable:  "
                     f"{int(node.kswapd_failures >= MAX_RECLAIM_RETRIES)}"
                     f"\n  start_pfn:           {z.zone_start_pfn}\n")
            out.append("".join(s))
    return "".join(out)


# --- /proc/vmstat ---------------------------------------------------------------------------

def _highmem_dirtyable_memory(mm, total: int) -> int:
    """Free and file pages of highmem zones (0 on x86_64, which has no HIGHMEM)."""
    x = 0
    for z in mm.zones:
        if z.type != ZoneType.HIGHMEM or not z.present_pages:
            continue
        n = zone_page_state(z, "nr_free_pages")
        n -= min(n, z.high_wmark_pages())
        n += zone_page_state(z, "nr_zone_inactive_file")
        n += zone_page_state(z, "nr_zone_active_file")
        x += n
    return min(x, total)


def global_dirty_limits(machine) -> tuple[int, int]:
    """(background threshold, dirty threshold) in pages, for the global domain.

    Models mm/page-writeback.c:global_dirty_limits -> global_dirtyable_memory,
    domain_dirty_limits (a non-RT reader). Tunables vm.dirty_ratio (20),
    vm.dirty_background_ratio (10), vm.dirty_bytes, vm.dirty_background_bytes
    and vm.highmem_is_dirtyable are read from the machine when it has them.
    """
    mm = _mm(machine)
    x = global_zone_page_state(mm, "nr_free_pages")
    x -= min(x, mm.totalreserve_pages)
    x += global_node_page_state(mm, "nr_inactive_file")
    x += global_node_page_state(mm, "nr_active_file")
    if not getattr(mm, "highmem_is_dirtyable", 0):
        x -= _highmem_dirtyable_memory(mm, x)
    available = x + 1
    ratio = getattr(mm, "dirty_ratio", 20) * PAGE_SIZE // 100
    bg_ratio = getattr(mm, "dirty_background_ratio", 10) * PAGE_SIZE // 100
    dirty_bytes = getattr(mm, "dirty_bytes", 0)
    bg_bytes = getattr(mm, "dirty_background_bytes", 0)
    if dirty_bytes:
        thresh = -(-dirty_bytes // PAGE_SIZE)
    else:
        thresh = ratio * available // PAGE_SIZE
    if bg_bytes:
        bg_thresh = -(-bg_bytes // PAGE_SIZE)
    else:
        bg_thresh = bg_ratio * available // PAGE_SIZE
    thresh = min(thresh, (1 << 32) - 1)
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    return bg_thresh, thresh


def _vm_event_lines(mm) -> list[tuple[str, int]]:
    ev = list(zip(VM_EVENT_ITEMS, mm.events))
    out = []
    for name, v in ev:
        if name in ("pgpgin", "pgpgout"):
            v //= 2          # kept in 512-byte sectors, shown in kB
        out.append((name, v))
        if name == "htlb_buddy_alloc_fail" and mm.cma_enabled:
            cma = mm.cma_events
            out.append(("cma_alloc_success", cma["cma_alloc_success"]))
            out.append(("cma_alloc_fail", cma["cma_alloc_fail"]))
    return out


def vmstat(machine) -> str:
    """/proc/vmstat: zone, NUMA and node counters, dirty thresholds, events.

    Models mm/vmstat.c:vmstat_start and vmstat_show (then the constant
    "nr_unstable 0"). ``mm.events`` holds the kernel's raw counters (pgpgin
    and pgpgout in 512-byte sectors).
    """
    mm = _mm(machine)
    lines = [(item, global_zone_page_state(mm, item)) for item in ZONE_STAT_ITEMS]
    lines += [(item, _global_numa_event_state(mm, i)) for i, item in enumerate(NUMA_STAT_ITEMS)]
    for item in NODE_STAT_ITEMS:
        v = global_node_page_state(mm, item)
        if item in THP_NODE_ITEMS:
            v //= HPAGE_PMD_NR
        lines.append((item, v))
    bg, thresh = global_dirty_limits(mm)
    lines += [("nr_dirty_threshold", thresh), ("nr_dirty_background_threshold", bg)]
    lines += _vm_event_lines(mm)
    lines.append(("nr_unstable", 0))
    return "".join(f"{name} {v}\n" for name, v in lines)


# --- /proc/meminfo --------------------------------------------------------------------------

def si_mem_available(machine) -> int:
    """Pages available to user space without swapping (MemAvailable).

    Models mm/page_alloc.c:si_mem_available: free minus totalreserve, plus
    page cache and reclaimable slab beyond what the low watermarks keep.
    """
    mm = _mm(machine)
    wmark_low = sum(z.low_wmark_pages() for z in mm.zones)
    available = global_zone_page_state(mm, "nr_free_pages") - mm.totalreserve_pages
    pagecache = (global_node_page_state(mm, "nr_active_file")
                 + global_node_page_state(mm, "nr_inactive_file"))
    pagecache -= min(pagecache // 2, wmark_low)
    available += pagecache
    reclaimable = (global_node_page_state(mm, "nr_slab_reclaimable")
                   + global_node_page_state(mm, "nr_kernel_misc_reclaimable"))
    available += reclaimable - min(reclaimable // 2, wmark_low)
    return max(available, 0)


def _hugetlb_total_pages(mm) -> int:
    return _extra(mm).get("Hugetlb", 0) >> (PAGE_SHIFT - 10)


def vm_commit_limit(machine) -> int:
    """CommitLimit in pages (mm/util.c:vm_commit_limit)."""
    mm = _mm(machine)
    ex = _extra(mm)
    kbytes = getattr(mm, "overcommit_kbytes", 0)
    if kbytes:
        allowed = kbytes >> (PAGE_SHIFT - 10)
    else:
        allowed = ((totalram_pages(mm) - _hugetlb_total_pages(mm))
                   * getattr(mm, "overcommit_ratio", 50) // 100)
    return allowed + (ex.get("SwapTotal", 0) >> (PAGE_SHIFT - 10))


def meminfo(machine) -> str:
    """/proc/meminfo.

    Models fs/proc/meminfo.c:meminfo_proc_show with hugetlb_report_meminfo and
    x86's arch_report_meminfo. Fields outside the page allocator come from
    ``mm.meminfo_extra`` (module docstring); absent ones print 0.
    """
    mm = _mm(machine)
    ex = _extra(mm)
    out: list[str] = []

    def kb(label: str, kbytes: int) -> None:
        out.append(f"{label + ':':<16}{kbytes:8d} kB\n")

    def pages(label: str, n: int) -> None:
        kb(label, _K(n))

    gn = lambda item: global_node_page_state(mm, item)  # noqa: E731
    buffers = ex.get("Buffers", 0) >> (PAGE_SHIFT - 10)
    swapcache = gn("nr_swapcached")
    cached = max(gn("nr_file_pages") - swapcache - buffers, 0)
    sreclaimable = gn("nr_slab_reclaimable")
    sunreclaim = gn("nr_slab_unreclaimable")
    pages("MemTotal", totalram_pages(mm))
    pages("MemFree", global_zone_page_state(mm, "nr_free_pages"))
    pages("MemAvailable", si_mem_available(mm))
    pages("Buffers", buffers)
    pages("Cached", cached)
    pages("SwapCached", swapcache)
    pages("Active", gn("nr_active_anon") + gn("nr_active_file"))
    pages("Inactive", gn("nr_inactive_anon") + gn("nr_inactive_file"))
    pages("Active(anon)", gn("nr_active_anon"))
    pages("Inactive(anon)", gn("nr_inactive_anon"))
    pages("Active(file)", gn("nr_active_file"))
    pages("Inactive(file)", gn("nr_inactive_file"))
    pages("Unevictable", gn("nr_unevictable"))
    pages("Mlocked", global_zone_page_state(mm, "nr_mlock"))
    if any(z.type == ZoneType.HIGHMEM for z in mm.zones):
        high = [z for z in mm.zones if z.type == ZoneType.HIGHMEM]
        totalhigh = sum(z.managed_pages for z in high)
        freehigh = sum(zone_page_state(z, "nr_free_pages") for z in high)
        pages("HighTotal", totalhigh)
        pages("HighFree", freehigh)
        pages("LowTotal", totalram_pages(mm) - totalhigh)
        pages("LowFree", global_zone_page_state(mm, "nr_free_pages") - freehigh)
    kb("SwapTotal", ex.get("SwapTotal", 0))
    kb("SwapFree", ex.get("SwapFree", 0))
    kb("Zswap", ex.get("Zswap", 0))
    kb("Zswapped", ex.get("Zswapped", 0))
    pages("Dirty", gn("nr_dirty"))
    pages("Writeback", gn("nr_writeback"))
    pages("AnonPages", gn("nr_anon_pages"))
    pages("Mapped", gn("nr_mapped"))
    pages("Shmem", gn("nr_shmem"))
    pages("KReclaimable", sreclaimable + gn("nr_kernel_misc_reclaimable"))
    pages("Slab", sreclaimable + sunreclaim)
    pages("SReclaimable", sreclaimable)
    pages("SUnreclaim", sunreclaim)
    kb("KernelStack", gn("nr_kernel_stack"))       # NR_KERNEL_STACK_KB is in kB
    pages("PageTables", gn("nr_page_table_pages"))
    pages("SecPageTables", gn("nr_sec_page_table_pages"))
    kb("NFS_Unstable", 0)
    pages("Bounce", global_zone_page_state(mm, "nr_bounce"))
    pages("WritebackTmp", gn("nr_writeback_temp"))
    pages("CommitLimit", vm_commit_limit(mm))
    kb("Committed_AS", ex.get("Committed_AS", 0))
    kb("VmallocTotal", ex.get("VmallocTotal", VMALLOC_TOTAL_KB_L5))
    kb("VmallocUsed", ex.get("VmallocUsed", 0))
    kb("VmallocChunk", 0)
    kb("Percpu", ex.get("Percpu", 0))
    out.append(f"HardwareCorrupted: {ex.get('HardwareCorrupted', 0):5d} kB\n")
    pages("AnonHugePages", gn("nr_anon_transparent_hugepages"))
    pages("ShmemHugePages", gn("nr_shmem_hugepages"))
    pages("ShmemPmdMapped", gn("nr_shmem_pmdmapped"))
    pages("FileHugePages", gn("nr_file_hugepages"))
    pages("FilePmdMapped", gn("nr_file_pmdmapped"))
    if mm.cma_enabled:
        pages("CmaTotal", sum(z.cma_pages for z in mm.zones))
        pages("CmaFree", global_zone_page_state(mm, "nr_free_cma"))
    out.append(f"HugePages_Total:   {ex.get('HugePages_Total', 0):5d}\n"
               f"HugePages_Free:    {ex.get('HugePages_Free', 0):5d}\n"
               f"HugePages_Rsvd:    {ex.get('HugePages_Rsvd', 0):5d}\n"
               f"HugePages_Surp:    {ex.get('HugePages_Surp', 0):5d}\n")
    kb("Hugepagesize", ex.get("Hugepagesize", DEFAULT_HSTATE_KB))
    kb("Hugetlb", ex.get("Hugetlb", 0))
    kb("DirectMap4k", ex.get("DirectMap4k", 0))
    kb("DirectMap2M", ex.get("DirectMap2M", 0))
    kb("DirectMap1G", ex.get("DirectMap1G", 0))
    return "".join(out)


# --- /sys/kernel/debug/extfrag/ -------------------------------------------------------------

def _fraction_lines(mm, fn, width: int) -> str:
    out = []
    for node in _online_nodes(mm):
        if not node.has_memory():
            continue
        for z in node.node_zones:
            if not z.present_pages:
                continue
            cells = []
            for order in range(MAX_ORDER):
                q, r = _c_div(fn(z.nr_free, order), 1000)
                cells.append(f"{q:{width}d}.{abs(r):03d} ")
            out.append(f"Node {node.node_id}, zone {z.name:>8} " + "".join(cells) + "\n")
    return "".join(out)


def unusable_index(machine) -> str:
    """/sys/kernel/debug/extfrag/unusable_index (mm/vmstat.c:unusable_show_print)."""
    return _fraction_lines(_mm(machine), unusable_free_index, 1)


def extfrag_index(machine) -> str:
    """/sys/kernel/debug/extfrag/extfrag_index (mm/vmstat.c:extfrag_show_print)."""
    return _fraction_lines(_mm(machine), fragmentation_index, 2)


# --- Mem-Info -------------------------------------------------------------------------------

def _migratetype_letters(mm, zone, order: int) -> str:
    """show_migration_types(): the non-empty lists of one order, as U M E H C I."""
    letters = {0: "U", 1: "M", 2: "E", 3: "H", MIGRATE_CMA: "C", MIGRATE_ISOLATE: "I"}
    mem = mm.mem
    base = zone.list_base + order * 6
    return "".join(letters[mt] for mt in _kernel_migratetypes(mm)
                   if not mem.list_empty(base + mt))


def show_free_areas(machine, max_zone_idx: int | None = None,
                    nodemask: frozenset[int] | set[int] | None = None) -> str:
    """The Mem-Info block of an OOM report or allocation failure warning.

    Models lib/show_mem.c:__show_mem with mm/page_alloc.c:__show_free_areas,
    hugetlb_show_meminfo_node and show_swap_cache_info. Zones above
    ``max_zone_idx`` (default: all) are left out; ``nodemask`` given means
    SHOW_MEM_FILTER_NODES with that mask.
    """
    mm = _mm(machine)
    if max_zone_idx is None:
        max_zone_idx = mm.MAX_NR_ZONES - 1
    cpus = _online_cpus(mm)
    ex = _extra(mm)

    def skip(nid: int) -> bool:
        return nodemask is not None and nid not in nodemask

    shown = [z for z in mm.zones if z.present_pages and z.idx <= max_zone_idx and not skip(z.nid)]

    def pcp_count(z) -> int:
        return sum(z.pcp[c].count for c in cpus) if z.pcp else 0

    gn = lambda item: global_node_page_state(mm, item)  # noqa: E731
    gz = lambda item: global_zone_page_state(mm, item)  # noqa: E731
    out = ["Mem-Info:\n"]
    out.append(
        f"active_anon:{gn('nr_active_anon')} inactive_anon:{gn('nr_inactive_anon')} "
        f"isolated_anon:{gn('nr_isolated_anon')}\n"
        f" active_file:{gn('nr_active_file')} inactive_file:{gn('nr_inactive_file')} "
        f"isolated_file:{gn('nr_isolated_file')}\n"
        f" unevictable:{gn('nr_unevictable')} dirty:{gn('nr_dirty')} "
        f"writeback:{gn('nr_writeback')}\n"
        f" slab_reclaimable:{gn('nr_slab_reclaimable')} "
        f"slab_unreclaimable:{gn('nr_slab_unreclaimable')}\n"
        f" mapped:{gn('nr_mapped')} shmem:{gn('nr_shmem')} "
        f"pagetables:{gn('nr_page_table_pages')}\n"
        f" sec_pagetables:{gn('nr_sec_page_table_pages')} bounce:{gz('nr_bounce')}\n"
        f" kernel_misc_reclaimable:{gn('nr_kernel_misc_reclaimable')}\n"
        f" free:{gz('nr_free_pages')} free_pcp:{sum(pcp_count(z) for z in shown)} "
        f"free_cma:{gz('nr_free_cma')}\n")
    for node in _online_nodes(mm):
        if skip(node.node_id):
            continue
        if not any(z.managed_pages for z in node.node_zones[:max_zone_idx + 1]):
            continue
        K = lambda item: _K(node_page_state(node, item))  # noqa: E731
        out.append(
            f"Node {node.node_id} active_anon:{K('nr_active_anon')}kB"
            f" inactive_anon:{K('nr_inactive_anon')}kB"
            f" active_file:{K('nr_active_file')}kB"
            f" inactive_file:{K('nr_inactive_file')}kB"
            f" unevictable:{K('nr_unevictable')}kB"
            f" isolated(anon):{K('nr_isolated_anon')}kB"
            f" isolated(file):{K('nr_isolated_file')}kB"
            f" mapped:{K('nr_mapped')}kB"
            f" dirty:{K('nr_dirty')}kB"
            f" writeback:{K('nr_writeback')}kB"
            f" shmem:{K('nr_shmem')}kB"
            f" shmem_thp: {K('nr_shmem_hugepages')}kB"
            f" shmem_pmdmapped: {K('nr_shmem_pmdmapped')}kB"
            f" anon_thp: {K('nr_anon_transparent_hugepages')}kB"
            f" writeback_tmp:{K('nr_writeback_temp')}kB"
            f" kernel_stack:{node_page_state(node, 'nr_kernel_stack')}kB"
            f" pagetables:{K('nr_page_table_pages')}kB"
            f" sec_pagetables:{K('nr_sec_page_table_pages')}kB"
            f" all_unreclaimable? {'yes' if node.kswapd_failures >= MAX_RECLAIM_RETRIES else 'no'}"
            "\n")
    for z in shown:
        local = z.pcp[mm.cpu].count if z.pcp else 0
        zs = lambda item: _K(zone_page_state(z, item))  # noqa: E731
        out.append(
            f"Node {z.nid} {z.name}"
            f" free:{zs('nr_free_pages')}kB"
            f" boost:{_K(z.watermark_boost)}kB"
            f" min:{_K(z.min_wmark_pages())}kB"
            f" low:{_K(z.low_wmark_pages())}kB"
            f" high:{_K(z.high_wmark_pages())}kB"
            f" reserved_highatomic:{_K(z.nr_reserved_highatomic)}KB"
            f" active_anon:{zs('nr_zone_active_anon')}kB"
            f" inactive_anon:{zs('nr_zone_inactive_anon')}kB"
            f" active_file:{zs('nr_zone_active_file')}kB"
            f" inactive_file:{zs('nr_zone_inactive_file')}kB"
            f" unevictable:{zs('nr_zone_unevictable')}kB"
            f" writepending:{zs('nr_zone_write_pending')}kB"
            f" present:{_K(z.present_pages)}kB"
            f" managed:{_K(z.managed_pages)}kB"
            f" mlocked:{zs('nr_mlock')}kB"
            f" bounce:{zs('nr_bounce')}kB"
            f" free_pcp:{_K(pcp_count(z))}kB"
            f" local_pcp:{_K(local)}kB"
            f" free_cma:{zs('nr_free_cma')}kB\n")
        out.append("lowmem_reserve[]:" + "".join(f" {v}" for v in z.lowmem_reserve) + "\n")
    for z in shown:
        cells = [f"Node {z.nid} {z.name}: "]
        total = 0
        for order in range(MAX_ORDER):
            n = z.nr_free[order]
            total += n << order
            cells.append(f"{n}*{_K(1) << order}kB ")
            if n:
                cells.append(f"({_migratetype_letters(mm, z, order)}) ")
        cells.append(f"= {_K(total)}kB\n")
        out.append("".join(cells))
    single = len(mm.nodes) == 1
    for node in _online_nodes(mm):
        if skip(node.node_id):
            continue
        for size in HSTATE_SIZES_KB:
            if size == DEFAULT_HSTATE_KB and single:
                total, free, surp = (ex.get("HugePages_Total", 0), ex.get("HugePages_Free", 0),
                                     ex.get("HugePages_Surp", 0))
            else:
                total = free = surp = 0
            out.append(f"Node {node.node_id} hugepages_total={total} hugepages_free={free} "
                       f"hugepages_surp={surp} hugepages_size={size}kB\n")
    out.append(f"{gn('nr_file_pages')} total pagecache pages\n")
    out.append(f"{gn('nr_swapcached')} pages in swap cache\n")
    out.append(f"Free swap  = {ex.get('SwapFree', 0)}kB\n")
    out.append(f"Total swap = {ex.get('SwapTotal', 0)}kB\n")
    total = reserved = highmem = 0
    for node in _online_nodes(mm):
        for z in node.node_zones:
            if not z.present_pages:
                continue
            total += z.present_pages
            reserved += z.present_pages - z.managed_pages
            if z.type == ZoneType.HIGHMEM:
                highmem += z.present_pages
    out.append(f"{total} pages RAM\n")
    out.append(f"{highmem} pages HighMem/MovableOnly\n")
    out.append(f"{reserved} pages reserved\n")
    if mm.cma_enabled:
        out.append(f"{sum(z.cma_pages for z in mm.zones)} pages cma reserved\n")
    out.append(f"{ex.get('HardwareCorrupted', 0) >> (PAGE_SHIFT - 10)} pages hwpoisoned\n")
    return "".join(out)


# --- dispatch -------------------------------------------------------------------------------

def _page_owner(machine) -> str:
    mm = _mm(machine)
    po = mm.page_owner
    if po is None:
        raise PageAllocError("view page_owner: page_owner is off (boot with page_owner=on)")
    show = getattr(po, "show", None)
    if show is None:
        raise PageAllocError("view page_owner: not yet available")
    return show(mm)


VIEWS = {
    "zoneinfo": zoneinfo,
    "buddyinfo": buddyinfo,
    "pagetypeinfo": pagetypeinfo,
    "vmstat": vmstat,
    "meminfo": meminfo,
    "extfrag_index": extfrag_index,
    "unusable_index": unusable_index,
    "page_owner": _page_owner,
}


def _numa_events(mm, z) -> list[int]:
    """A zone's NUMA counters; all 0 while vm.numa_stat is 0 (the kernel stops counting).

    The model keeps counting underneath; the sysctl handler zeroes the counters on
    both transitions, so what is shown equals the kernel's.
    """
    if not getattr(mm, "sysctl_vm", {}).get("numa_stat", 1):
        return [0] * len(z.numa_events)
    return z.numa_events


def render(machine, view: str) -> str:
    """Render one view by its name (INTERFACES.md "View names")."""
    fn = VIEWS.get(view)
    if fn is None:
        raise PageAllocError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    return fn(machine)
