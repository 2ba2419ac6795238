"""Memory compaction: the two scanners, suitability, deferral, capture, kcompactd.

Models mm/compaction.c of 6.1: compaction_suitable / __compaction_suitable
(with the fragmentation index and vm.extfrag_threshold), defer_compaction /
compaction_deferred / compaction_defer_reset / compaction_restarting,
compact_zone with isolate_migratepages and isolate_freepages, the capture of
a freed block by the direct compactor (compaction_capture in page_alloc),
try_to_compact_pages, __alloc_pages_direct_compact and should_compact_retry
(mm/page_alloc.c), kcompactd (wakeup_kcompactd, kcompactd_do_work), proactive
compaction (fragmentation scores, vm.compaction_proactiveness) and
/proc/sys/vm/compact_memory.

Deliberate differences: the scanners are the linear ones (no
fast_isolate_freepages / fast_find_migrateblock free-list searches), the
migrate scanner skips compound pages (allocated blocks of order > 0) as the
kernel does outside alloc_contig, migration goes through mm/migrate.py, and
"contention"/need_resched never happen (a simulated compactor is never
preempted).
"""
from __future__ import annotations

import numpy as np

from .gfp import GFP_KERNEL, gfp_migratetype
from .internal import ALLOC_CMA, ALLOC_WMARK_MASK, COMPACT_CLUSTER_MAX
from .memmap import PB_migrate_skip, PG_buddy, PG_head, PG_lru, PG_pcp, PG_reserved
from .mmzone import (MAX_ORDER, MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES,
                     PAGE_ALLOC_COSTLY_ORDER, Zone, pageblock_nr_pages, pageblock_order)
from .page_alloc import (__isolate_free_page, __zone_watermark_ok, drain_all_pages,
                         find_suitable_fallback, get_page_from_freelist, prep_new_page,
                         zone_watermark_ok)
from .slowpath import (COMPACT_COMPLETE, COMPACT_CONTINUE, COMPACT_DEFERRED,
                       COMPACT_NO_SUITABLE_PAGE, COMPACT_NOT_SUITABLE_ZONE,
                       COMPACT_PARTIAL_SKIPPED, COMPACT_PRIO_ASYNC, COMPACT_SKIPPED,
                       COMPACT_SUCCESS, MAX_COMPACT_RETRIES, MIN_COMPACT_COSTLY_PRIORITY,
                       MIN_COMPACT_PRIORITY)
from .vmstat import ev_index, extfrag_for_order, fragmentation_index

__all__ = ["Compaction", "CompactControl", "compaction_suitable", "compact_zone",
           "defer_compaction", "compaction_deferred", "compaction_defer_reset",
           "try_to_compact_pages", "compact_memory", "fragmentation_score_node",
           "COMPACT_MAX_DEFER_SHIFT", "MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC"]

COMPACT_MAX_DEFER_SHIFT = 6
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC = 0, 1, 2
HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500

_EV = {n: ev_index(n) for n in (
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "compact_stall",
    "compact_fail", "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned")}


class CompactControl:
    """struct compact_control."""

    __slots__ = ("zone", "order", "gfp_mask", "migratetype", "mode", "alloc_flags",
                 "highest_zoneidx", "direct_compaction", "whole_zone", "ignore_skip_hint",
                 "ignore_block_suitable", "proactive_compaction", "migrate_pfn", "free_pfn",
                 "freepages", "migratepages", "total_migrate_scanned", "total_free_scanned",
                 "nr_isolated_free", "nr_isolated_migrate")

    def __init__(self, zone: Zone, order: int, *, gfp_mask: int = GFP_KERNEL,
                 mode: int = MIGRATE_SYNC_LIGHT, alloc_flags: int = 0, highest_zoneidx: int = 0,
                 direct_compaction: bool = False, whole_zone: bool = False,
                 ignore_skip_hint: bool = False, ignore_block_suitable: bool = False,
                 proactive_compaction: bool = False) -> None:
        self.zone = zone
        self.order = order
        self.gfp_mask = gfp_mask
        self.migratetype = MIGRATE_MOVABLE
        self.mode = mode
        self.alloc_flags = alloc_flags
        self.highest_zoneidx = highest_zoneidx
        self.direct_compaction = direct_compaction
        self.whole_zone = whole_zone
        self.ignore_skip_hint = ignore_skip_hint
        self.ignore_block_suitable = ignore_block_suitable
        self.proactive_compaction = proactive_compaction
        self.migrate_pfn = 0
        self.free_pfn = 0
        self.freepages: list[int] = []     # isolated order-0 target pages
        self.migratepages: list[int] = []  # isolated source pages
        self.total_migrate_scanned = 0
        self.total_free_scanned = 0
        self.nr_isolated_free = 0
        self.nr_isolated_migrate = 0


class CaptureControl:
    """struct capture_control: the direct compactor's claim on a freed block."""

    __slots__ = ("cc", "page")

    def __init__(self, cc: CompactControl) -> None:
        self.cc = cc
        self.page = -1

    def capture(self, mm, zone: Zone, pfn: int, order: int, mt: int) -> bool:
        """compaction_capture() as __free_one_page asks it (mm/page_alloc.c)."""
        if self.page >= 0 or zone is not self.cc.zone or order != self.cc.order:
            return False
        if mt == MIGRATE_CMA or mt == MIGRATE_ISOLATE:
            return False
        if order < pageblock_order and mt == MIGRATE_MOVABLE:
            return False
        self.page = pfn
        return True


# ---------------------------------------------------------------------------------------
# deferral


def defer_compaction(zone: Zone, order: int) -> None:
    """defer_compaction()."""
    zone.compact_considered = 0
    zone.compact_defer_shift += 1
    if order < zone.compact_order_failed:
        zone.compact_order_failed = order
    if zone.compact_defer_shift > COMPACT_MAX_DEFER_SHIFT:
        zone.compact_defer_shift = COMPACT_MAX_DEFER_SHIFT


def compaction_deferred(zone: Zone, order: int) -> bool:
    """compaction_deferred(): True when this attempt should be skipped."""
    defer_limit = 1 << zone.compact_defer_shift
    if order < zone.compact_order_failed:
        return False
    zone.compact_considered += 1
    if zone.compact_considered >= defer_limit:
        zone.compact_considered = defer_limit
        return False
    return True


def compaction_defer_reset(zone: Zone, order: int, alloc_success: bool) -> None:
    """compaction_defer_reset()."""
    if alloc_success:
        zone.compact_considered = 0
        zone.compact_defer_shift = 0
    if order >= zone.compact_order_failed:
        zone.compact_order_failed = order + 1


def compaction_restarting(zone: Zone, order: int) -> bool:
    """compaction_restarting(): deferred to the maximum and due again."""
    if order < zone.compact_order_failed:
        return False
    return (zone.compact_defer_shift == COMPACT_MAX_DEFER_SHIFT
            and zone.compact_considered >= 1 << zone.compact_defer_shift)


# ---------------------------------------------------------------------------------------
# suitability


def compact_gap(order: int) -> int:
    return 2 << order


def __compaction_suitable(mm, zone: Zone, order: int, alloc_flags: int, hz: int,
                          wmark_target: int) -> int:
    """__compaction_suitable(): SUCCESS (no need), SKIPPED (too little memory) or CONTINUE."""
    if order == -1:
        return COMPACT_CONTINUE
    watermark = zone.wmark_pages(alloc_flags & ALLOC_WMARK_MASK)
    if zone_watermark_ok(mm, zone, order, watermark, hz, alloc_flags):
        return COMPACT_SUCCESS
    watermark = zone.low_wmark_pages() if order > PAGE_ALLOC_COSTLY_ORDER else zone.min_wmark_pages()
    watermark += compact_gap(order)
    if not __zone_watermark_ok(mm, zone, 0, watermark, hz, ALLOC_CMA, wmark_target):
        return COMPACT_SKIPPED
    return COMPACT_CONTINUE


def compaction_suitable(mm, zone: Zone, order: int, alloc_flags: int, hz: int) -> int:
    """compaction_suitable(): adds the fragmentation-index test for costly orders."""
    ret = __compaction_suitable(mm, zone, order, alloc_flags, hz, zone.nr_free_pages())
    if ret == COMPACT_CONTINUE and order > PAGE_ALLOC_COSTLY_ORDER:
        fi = fragmentation_index(zone.nr_free, order)
        if 0 <= fi <= mm.extfrag_threshold:
            ret = COMPACT_NOT_SUITABLE_ZONE
    if ret == COMPACT_NOT_SUITABLE_ZONE:
        ret = COMPACT_SKIPPED
    return ret


def compaction_zonelist_suitable(mm, ac, order: int, alloc_flags: int) -> bool:
    """compaction_zonelist_suitable(): would more reclaim make compaction possible?"""
    vmscan = getattr(mm, "vmscan", None)
    for zone in ac.zones():
        reclaimable = vmscan.zone_reclaimable_pages(zone) if vmscan is not None else 0
        available = reclaimable // order + zone.nr_free_pages_snapshot()
        if __compaction_suitable(mm, zone, order, alloc_flags, ac.highest_zoneidx,
                                 available) == COMPACT_CONTINUE:
            return True
    return False


# ---------------------------------------------------------------------------------------
# the scanners


def _pageblock_start(pfn: int) -> int:
    return pfn & ~(pageblock_nr_pages - 1)


def _get_skip(mm, pfn: int) -> bool:
    return bool(mm.mem.pageblock[pfn >> pageblock_order] & PB_migrate_skip)


def _set_skip(mm, pfn: int) -> None:
    i = pfn >> pageblock_order
    mm.mem.pageblock[i] = mm.mem.pageblock[i] | PB_migrate_skip


def __reset_isolation_suitable(mm, zone: Zone) -> None:
    """Clear every pageblock skip bit of a zone (__reset_isolation_suitable)."""
    a = mm.mem.a_pageblock
    first = zone.zone_start_pfn >> pageblock_order
    last = (zone.zone_end_pfn - 1) >> pageblock_order
    a[first:last + 1] &= ~PB_migrate_skip & 0xFF
    _reset_cached_positions(zone)


def _reset_cached_positions(zone: Zone) -> None:
    zone.compact_cached_migrate_pfn[0] = zone.zone_start_pfn
    zone.compact_cached_migrate_pfn[1] = zone.zone_start_pfn
    zone.compact_cached_free_pfn = _pageblock_start(zone.zone_end_pfn - 1)


def _scanners_met(cc: CompactControl) -> bool:
    return (cc.free_pfn >> pageblock_order) <= (cc.migrate_pfn >> pageblock_order)


def _suitable_migration_source(mm, cc: CompactControl, pfn: int) -> bool:
    if cc.mode != MIGRATE_ASYNC or not cc.direct_compaction:
        return True
    block_mt = mm.mem.pageblock[pfn >> pageblock_order] & 7
    if cc.migratetype == MIGRATE_MOVABLE:
        return block_mt in (MIGRATE_MOVABLE, MIGRATE_CMA)
    return block_mt == cc.migratetype


def _suitable_migration_target(mm, cc: CompactControl, pfn: int) -> bool:
    mem = mm.mem
    if mem.flags[pfn] & PG_buddy and mem.order[pfn] >= pageblock_order:
        return False
    if cc.ignore_block_suitable:
        return True
    return (mem.pageblock[pfn >> pageblock_order] & 7) in (MIGRATE_MOVABLE, MIGRATE_CMA)


def isolate_migratepages(mm, cc: CompactControl) -> bool:
    """Isolate up to COMPACT_CLUSTER_MAX movable pages from the next suitable pageblock.

    Models isolate_migratepages / isolate_migratepages_block (linear scan):
    free blocks are stepped over, compound pages skipped, PageLRU pages
    isolated. Returns True when something was isolated.
    """
    mem = mm.mem
    zone = cc.zone
    low_pfn = max(cc.migrate_pfn, zone.zone_start_pfn)
    block_start = _pageblock_start(low_pfn)
    if block_start < zone.zone_start_pfn:
        block_start = zone.zone_start_pfn
    block_end = _pageblock_start(low_pfn) + pageblock_nr_pages
    migrate = getattr(mm, "migrate", None)
    while block_end <= cc.free_pfn:
        if not cc.ignore_skip_hint and _get_skip(mm, block_start):
            low_pfn = block_end
            block_start = block_end
            block_end += pageblock_nr_pages
            continue
        if not _suitable_migration_source(mm, cc, block_start):
            low_pfn = block_end
            block_start = block_end
            block_end += pageblock_nr_pages
            continue
        isolated = 0
        pfn = low_pfn
        end = min(block_end, zone.zone_end_pfn)
        # Visit only the pfns where something happens (free blocks and compound pages
        # to step over, LRU pages to isolate); every other pfn costs one scan, as in
        # isolate_migratepages_block's loop.
        fl = mem.a_flags[pfn:end]
        od = mem.a_order[pfn:end]
        lru_head = ((fl & PG_head) != 0) & ((fl & PG_lru) != 0) & (od == 0)
        stops_mask = ((fl & PG_buddy) != 0) | (((fl & PG_head) != 0) & ((od > 0) | lru_head))
        # skip_on_failure (async direct compaction): a page that cannot be isolated
        # dooms its cc->order aligned block, so its isolated pages go back and the
        # scanner jumps to the next such block (isolate_migratepages_block).
        skip_on_failure = cc.direct_compaction and cc.mode == MIGRATE_ASYNC and cc.order > 0
        if skip_on_failure:
            in_use = (fl & (PG_head | PG_pcp | PG_reserved)) != 0
            stops_mask |= in_use & ~lru_head
        stops = np.flatnonzero(stops_mask)
        cur = pfn
        hit_limit = False
        blk = 1 << max(cc.order, 0)
        next_skip = (pfn // blk + 1) * blk
        block_isolated: list[int] = []
        for off in stops.tolist():
            p = pfn + off
            if p < cur:
                continue
            if skip_on_failure and p >= next_skip:
                if block_isolated:
                    # migrate what one order-aligned block gave; resume at the next
                    cc.total_migrate_scanned += next_skip - cur
                    cur = next_skip
                    hit_limit = True
                    break
                next_skip = (p // blk + 1) * blk
            cc.total_migrate_scanned += p - cur + 1
            f = mem.flags[p]
            if f & PG_buddy:
                cur = p + (1 << mem.order[p])
                continue
            is_lru = f & PG_head and f & PG_lru and mem.order[p] == 0
            if not is_lru or migrate is None or not migrate.isolate_lru_page(p):
                cur = p + (1 << mem.order[p]) if f & PG_head and mem.order[p] > 0 else p + 1
                if skip_on_failure:
                    # isolate_fail: give back this block's pages, go to the next block
                    if block_isolated:
                        back = set(block_isolated)
                        cc.migratepages[:] = [q for q in cc.migratepages if q not in back]
                        isolated -= len(back)
                        migrate.putback_movable_pages(block_isolated)
                        block_isolated = []
                    if cur < next_skip:
                        cur = next_skip
                    next_skip = (cur // blk + 1) * blk
                continue
            cur = p + 1
            cc.migratepages.append(p)
            block_isolated.append(p)
            isolated += 1
            if isolated >= COMPACT_CLUSTER_MAX:
                hit_limit = True
                break
        if not hit_limit and cur < end:
            cc.total_migrate_scanned += end - cur
            cur = end
        pfn = max(cur, pfn)
        cc.migrate_pfn = pfn
        if not isolated and not cc.ignore_skip_hint and pfn >= end:
            _set_skip(mm, block_start)
        if isolated:
            cc.nr_isolated_migrate += isolated
            mm.events[_EV["compact_isolated"]] += isolated
            return True
        low_pfn = pfn
        if pfn < block_end:
            continue
        block_start = block_end
        block_end += pageblock_nr_pages
        # cache the position for the next compactor
        zone.compact_cached_migrate_pfn[0 if cc.mode == MIGRATE_ASYNC else 1] = low_pfn
    cc.migrate_pfn = max(cc.migrate_pfn, low_pfn)
    return False


def isolate_freepages(mm, cc: CompactControl) -> None:
    """Isolate free pages from the top of the zone down, as migration targets.

    Models isolate_freepages / isolate_freepages_block (linear scan, no
    fast search): suitable target blocks only, each free block taken with
    __isolate_free_page (watermark checked) and split to order 0.
    """
    mem = mm.mem
    zone = cc.zone
    block_start = cc.free_pfn
    low_pfn = _pageblock_start(cc.migrate_pfn) + pageblock_nr_pages
    while block_start >= low_pfn and len(cc.freepages) < len(cc.migratepages):
        block_end = min(block_start + pageblock_nr_pages, zone.zone_end_pfn)
        start = max(block_start, zone.zone_start_pfn)
        if (cc.ignore_skip_hint or not _get_skip(mm, start)) and _suitable_migration_target(mm, cc, start):
            got = 0
            fl = mem.a_flags[start:block_end]
            heads = np.flatnonzero(fl & PG_buddy)
            cur = start
            stopped = False
            for off in heads.tolist():
                pfn = start + off
                cc.total_free_scanned += pfn - cur + 1
                order = mem.order[pfn]
                n = __isolate_free_page(mm, zone, pfn, order)
                if not n:
                    stopped = True
                    break
                mem.a_flags[pfn:pfn + n] = 0
                mem.a_order[pfn:pfn + n] = -1
                cc.freepages.extend(range(pfn, pfn + n))
                got += n
                cur = pfn + n
                if len(cc.freepages) >= len(cc.migratepages) + COMPACT_CLUSTER_MAX:
                    stopped = True
                    break
            if not stopped:
                cc.total_free_scanned += block_end - cur
            cc.nr_isolated_free += got
            mm.events[_EV["compact_isolated"]] += got
            if not got and not cc.ignore_skip_hint:
                _set_skip(mm, start)
        cc.free_pfn = block_start - pageblock_nr_pages
        block_start -= pageblock_nr_pages
        zone.compact_cached_free_pfn = max(block_start, zone.zone_start_pfn)


def _release_freepages(mm, cc: CompactControl) -> int:
    """Give unused isolated targets back to the buddy; the highest pfn returned."""
    from .page_alloc import __free_one_page, FPI_NONE
    high = 0
    mem = mm.mem
    for pfn in cc.freepages:
        mt = mem.pageblock[pfn >> pageblock_order] & 7
        __free_one_page(mm, cc.zone, pfn, 0, mt, FPI_NONE)
        high = max(high, pfn)
    cc.freepages.clear()
    return high


def _compact_finished(mm, cc: CompactControl) -> int:
    """__compact_finished + compact_finished (NO_SUITABLE_PAGE means continue)."""
    zone = cc.zone
    if _scanners_met(cc):
        _reset_cached_positions(zone)
        if cc.direct_compaction:
            zone.compact_blockskip_flush = True
        return COMPACT_COMPLETE if cc.whole_zone else COMPACT_PARTIAL_SKIPPED
    if cc.proactive_compaction:
        node = zone.node
        if not node.kswapd_sleeping:
            return COMPACT_PARTIAL_SKIPPED
        score = fragmentation_score_zone(zone)
        if score > fragmentation_score_wmark(mm, node, True):
            return COMPACT_CONTINUE
        return COMPACT_SUCCESS
    if cc.order == -1:
        return COMPACT_CONTINUE
    if cc.migrate_pfn & (pageblock_nr_pages - 1):
        return COMPACT_CONTINUE
    nxt = mm.mem.next
    for order in range(cc.order, MAX_ORDER):
        head = zone.list_base + order * MIGRATE_TYPES + cc.migratetype
        if nxt[head] != head:
            return COMPACT_SUCCESS
        if mm.cma_enabled and cc.migratetype == MIGRATE_MOVABLE:
            h = zone.list_base + order * MIGRATE_TYPES + MIGRATE_CMA
            if nxt[h] != h:
                return COMPACT_SUCCESS
        fmt, _ = find_suitable_fallback(mm, zone, order, cc.migratetype, True)
        if fmt != -1:
            return COMPACT_SUCCESS
    return COMPACT_CONTINUE   # COMPACT_NO_SUITABLE_PAGE


def compact_zone(mm, cc: CompactControl, capc: CaptureControl | None = None) -> int:
    """Run the migrate scanner up and the free scanner down until done.

    Models mm/compaction.c:compact_zone.
    """
    zone = cc.zone
    start_pfn = zone.zone_start_pfn
    end_pfn = zone.zone_end_pfn
    sync = cc.mode != MIGRATE_ASYNC
    cc.migratetype = gfp_migratetype(cc.gfp_mask, mm.page_group_by_mobility_disabled)
    ret = compaction_suitable(mm, zone, cc.order, cc.alloc_flags, cc.highest_zoneidx)
    if ret in (COMPACT_SUCCESS, COMPACT_SKIPPED):
        return ret
    if compaction_restarting(zone, cc.order):
        __reset_isolation_suitable(mm, zone)
    if cc.whole_zone:
        cc.migrate_pfn = start_pfn
        cc.free_pfn = _pageblock_start(end_pfn - 1)
    else:
        cc.migrate_pfn = zone.compact_cached_migrate_pfn[int(sync)]
        cc.free_pfn = zone.compact_cached_free_pfn
        if cc.free_pfn < start_pfn or cc.free_pfn >= end_pfn:
            cc.free_pfn = _pageblock_start(end_pfn - 1)
            zone.compact_cached_free_pfn = cc.free_pfn
        if cc.migrate_pfn < start_pfn or cc.migrate_pfn >= end_pfn:
            cc.migrate_pfn = start_pfn
            zone.compact_cached_migrate_pfn[0] = zone.compact_cached_migrate_pfn[1] = start_pfn
        if cc.migrate_pfn <= zone.compact_init_migrate_pfn:
            cc.whole_zone = True
    migrate = getattr(mm, "migrate", None)
    last_migrated_pfn = 0
    while True:
        ret = _compact_finished(mm, cc)
        if ret != COMPACT_CONTINUE:
            break
        iteration_start = cc.migrate_pfn
        if isolate_migratepages(mm, cc):
            last_migrated_pfn = iteration_start
            pages = list(cc.migratepages)      # cc.migratepages sizes the free scanner
            nr_failed = 0
            if migrate is not None:
                _, nr_failed = migrate.migrate_pages(
                    pages, lambda src, order: _compaction_alloc(mm, cc, order),
                    lambda dst, order: _compaction_free(mm, cc, dst), cc.mode, "compaction")
            cc.migratepages.clear()
            if nr_failed and cc.direct_compaction and cc.mode == MIGRATE_ASYNC:
                blk = 1 << max(cc.order, 0)
                cc.migrate_pfn = ((cc.migrate_pfn - 1) // blk + 1) * blk
                last_migrated_pfn = 0
        if cc.order > 0 and last_migrated_pfn:
            current_block_start = cc.migrate_pfn & ~((1 << cc.order) - 1)
            if last_migrated_pfn < current_block_start:
                # lru_add_drain_cpu_zone: this CPU's pcp of the zone
                from .page_alloc import drain_pages_zone
                drain_pages_zone(mm, mm.cpu, zone)
                last_migrated_pfn = 0
        if capc is not None and capc.page >= 0:
            ret = COMPACT_SUCCESS
            break
    if cc.freepages:
        free_pfn = _release_freepages(mm, cc)
        free_pfn = _pageblock_start(free_pfn)
        if free_pfn > zone.compact_cached_free_pfn:
            zone.compact_cached_free_pfn = free_pfn
    mm.events[_EV["compact_migrate_scanned"]] += cc.total_migrate_scanned
    mm.events[_EV["compact_free_scanned"]] += cc.total_free_scanned
    return ret


def _compaction_alloc(mm, cc: CompactControl, order: int) -> int:
    """compaction_alloc(): an isolated order-0 free page, isolating more if needed."""
    if order:
        return -1
    if not cc.freepages:
        isolate_freepages(mm, cc)
        if not cc.freepages:
            return -1
    pfn = cc.freepages.pop()
    mm.mem.flags[pfn] = PG_head
    mm.mem.order[pfn] = 0
    return pfn


def _compaction_free(mm, cc: CompactControl, pfn: int) -> None:
    """compaction_free(): an unused target goes back to the isolated list."""
    mm.mem.flags[pfn] = 0
    mm.mem.order[pfn] = -1
    cc.freepages.append(pfn)


# ---------------------------------------------------------------------------------------
# direct compaction


def compact_zone_order(mm, zone: Zone, order: int, gfp: int, prio: int, alloc_flags: int,
                       hz: int) -> tuple[int, int]:
    """compact_zone_order(): one zone with a capture control installed; (result, pfn)."""
    cc = CompactControl(zone, order, gfp_mask=gfp,
                        mode=MIGRATE_ASYNC if prio == COMPACT_PRIO_ASYNC else MIGRATE_SYNC_LIGHT,
                        alloc_flags=alloc_flags, highest_zoneidx=hz, direct_compaction=True,
                        whole_zone=prio == MIN_COMPACT_PRIORITY,
                        ignore_skip_hint=prio == MIN_COMPACT_PRIORITY,
                        ignore_block_suitable=prio == MIN_COMPACT_PRIORITY)
    capc = CaptureControl(cc)
    zone.capture = capc
    try:
        ret = compact_zone(mm, cc, capc)
    finally:
        zone.capture = None
    if capc.page >= 0:
        ret = COMPACT_SUCCESS
    return ret, capc.page


def try_to_compact_pages(mm, gfp: int, order: int, alloc_flags: int, ac,
                         prio: int) -> tuple[int, int]:
    """try_to_compact_pages(): every zone of the zonelist until one succeeds; (rc, captured pfn)."""
    from .internal import gfp_compaction_allowed
    rc = COMPACT_SKIPPED
    if not gfp_compaction_allowed(gfp):
        return rc, -1
    for zone in ac.zones():
        if prio > MIN_COMPACT_PRIORITY and compaction_deferred(zone, order):
            rc = max(COMPACT_DEFERRED, rc)
            continue
        status, page = compact_zone_order(mm, zone, order, gfp, prio, alloc_flags,
                                          ac.highest_zoneidx)
        rc = max(status, rc)
        if status == COMPACT_SUCCESS:
            compaction_defer_reset(zone, order, False)
            return rc, page
        if prio != COMPACT_PRIO_ASYNC and status in (COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED):
            defer_compaction(zone, order)
    return rc, -1


class Compaction:
    """The compaction side of the slowpath and kcompactd, installed as mm.compaction."""

    def __init__(self, mm) -> None:
        self.mm = mm

    def alloc_pages_direct_compact(self, gfp: int, order: int, alloc_flags: int, ac,
                                   prio: int) -> tuple[int, int]:
        """__alloc_pages_direct_compact() (mm/page_alloc.c); (pfn or -1, compact_result)."""
        mm = self.mm
        if not order:
            return -1, COMPACT_SKIPPED
        task = getattr(mm, "current", None)
        saved = getattr(task, "pf_memalloc", False) if task is not None else False
        if task is not None:
            task.pf_memalloc = True      # memalloc_noreclaim_save
        try:
            result, page = try_to_compact_pages(mm, gfp, order, alloc_flags, ac, prio)
        finally:
            if task is not None:
                task.pf_memalloc = saved
        if result == COMPACT_SKIPPED:
            return -1, result
        mm.events[_EV["compact_stall"]] += 1
        if page >= 0:
            # a captured block bypasses rmqueue: no pgalloc/numa counts
            prep_new_page(mm, page, order, gfp, alloc_flags)
        else:
            page = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
        if page >= 0:
            from .page_alloc import _page_zone
            zone = _page_zone(mm, page)
            zone.compact_blockskip_flush = False
            compaction_defer_reset(zone, order, True)
            mm.events[_EV["compact_success"]] += 1
            return page, result
        mm.events[_EV["compact_fail"]] += 1
        return -1, result

    def should_compact_retry(self, ac, order: int, alloc_flags: int, result: int, prio: int,
                             retries: int) -> tuple[bool, int, int]:
        """should_compact_retry() (mm/page_alloc.c); (retry?, priority, retries)."""
        if order <= 0:
            return False, prio, retries
        if result == COMPACT_SUCCESS:
            retries += 1
        if result in (COMPACT_COMPLETE, COMPACT_DEFERRED, 7, COMPACT_PARTIAL_SKIPPED):
            return self._check_priority(order, prio, retries)
        if result == COMPACT_SKIPPED:
            return compaction_zonelist_suitable(self.mm, ac, order, alloc_flags), prio, retries
        max_retries = MAX_COMPACT_RETRIES
        if order > PAGE_ALLOC_COSTLY_ORDER:
            max_retries //= 4
        if retries <= max_retries:
            return True, prio, retries
        return self._check_priority(order, prio, retries)

    @staticmethod
    def _check_priority(order: int, prio: int, retries: int) -> tuple[bool, int, int]:
        min_priority = (MIN_COMPACT_COSTLY_PRIORITY if order > PAGE_ALLOC_COSTLY_ORDER
                        else MIN_COMPACT_PRIORITY)
        if prio > min_priority:
            return True, prio - 1, 0
        return False, prio, retries

    # -- kcompactd ------------------------------------------------------------------------
    def wakeup_kcompactd(self, pgdat, order: int, hz: int) -> bool:
        """wakeup_kcompactd(): record the request; run the work if some zone is suitable."""
        mm = self.mm
        if not order:
            return False
        if pgdat.kcompactd_max_order < order:
            pgdat.kcompactd_max_order = order
        if pgdat.kcompactd_highest_zoneidx < 0 or pgdat.kcompactd_highest_zoneidx > hz:
            pgdat.kcompactd_highest_zoneidx = hz
        if not self._kcompactd_node_suitable(pgdat):
            return False
        self.kcompactd_do_work(pgdat)
        return True

    def _kcompactd_node_suitable(self, pgdat) -> bool:
        hz = pgdat.kcompactd_highest_zoneidx
        for zone in pgdat.node_zones[:hz + 1]:
            if zone.present_pages and compaction_suitable(
                    self.mm, zone, pgdat.kcompactd_max_order, 0, hz) == COMPACT_CONTINUE:
                return True
        return False

    def kcompactd_do_work(self, pgdat) -> None:
        """kcompactd_do_work(): compact every suitable zone up to the requested one."""
        mm = self.mm
        order = pgdat.kcompactd_max_order
        hz = pgdat.kcompactd_highest_zoneidx
        mm.events[_EV["compact_daemon_wake"]] += 1
        for zone in pgdat.node_zones[:hz + 1]:
            if not zone.present_pages:
                continue
            if compaction_deferred(zone, order):
                continue
            if compaction_suitable(mm, zone, order, 0, zone.idx) != COMPACT_CONTINUE:
                continue
            cc = CompactControl(zone, order, mode=MIGRATE_SYNC_LIGHT, highest_zoneidx=hz)
            status = compact_zone(mm, cc, None)
            if status == COMPACT_SUCCESS:
                compaction_defer_reset(zone, order, False)
            elif status in (COMPACT_PARTIAL_SKIPPED, COMPACT_COMPLETE):
                drain_all_pages(mm, zone)
                defer_compaction(zone, order)
            mm.events[_EV["compact_daemon_migrate_scanned"]] += cc.total_migrate_scanned
            mm.events[_EV["compact_daemon_free_scanned"]] += cc.total_free_scanned
            # compact_zone already added these to compact_*_scanned: the kernel counts
            # kcompactd's scanning in both.
        if pgdat.kcompactd_max_order <= order:
            pgdat.kcompactd_max_order = 0
        if pgdat.kcompactd_highest_zoneidx >= hz:
            pgdat.kcompactd_highest_zoneidx = pgdat.nr_zones - 1

    def proactive_tick(self, pgdat) -> bool:
        """One HPAGE_FRAG_CHECK_INTERVAL_MSEC wakeup: compact if the node score is high."""
        mm = self.mm
        if not mm.compaction_proactiveness or not pgdat.kswapd_sleeping:
            return False
        if fragmentation_score_node(pgdat) <= fragmentation_score_wmark(mm, pgdat, False):
            return False
        for zone in pgdat.node_zones:
            if not zone.present_pages:
                continue
            cc = CompactControl(zone, -1, mode=MIGRATE_SYNC_LIGHT, ignore_skip_hint=True,
                                whole_zone=True, proactive_compaction=True)
            compact_zone(mm, cc, None)
            mm.events[_EV["compact_daemon_migrate_scanned"]] += cc.total_migrate_scanned
            mm.events[_EV["compact_daemon_free_scanned"]] += cc.total_free_scanned
        return True


# ---------------------------------------------------------------------------------------
# fragmentation scores and compact_memory


def fragmentation_score_zone(zone: Zone) -> int:
    """fragmentation_score_zone(): extfrag_for_order at the huge page order."""
    return extfrag_for_order(zone.nr_free, pageblock_order)


def fragmentation_score_zone_weighted(zone: Zone) -> int:
    score = zone.present_pages * fragmentation_score_zone(zone)
    return score // (zone.node.node_present_pages + 1)


def fragmentation_score_node(pgdat) -> int:
    return sum(fragmentation_score_zone_weighted(z) for z in pgdat.node_zones if z.present_pages)


def fragmentation_score_wmark(mm, pgdat, low: bool) -> int:
    wmark_low = max(100 - mm.compaction_proactiveness, 5)
    return wmark_low if low else min(wmark_low + 10, 100)


def compact_memory(mm) -> None:
    """Writing /proc/sys/vm/compact_memory: every zone of every node, whole, MIGRATE_SYNC."""
    for node in mm.nodes:
        for zone in node.node_zones:
            if not zone.present_pages:
                continue
            cc = CompactControl(zone, -1, mode=MIGRATE_SYNC, ignore_skip_hint=True,
                                whole_zone=True)
            compact_zone(mm, cc, None)
