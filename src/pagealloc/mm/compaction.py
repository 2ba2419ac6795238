"""Memory compaction: the two scanners, suitability, deferral, capture, kcompactd.

Models mm/compaction.c of 6.1: compaction_suitable / __compaction_suitable
(with the fragmentation index and vm.extfrag_threshold), defer_compaction /
compaction_deferred / compaction_defer_reset / compaction_restarting,
compact_zone with isolate_migratepages (one pageblock per call, after the
fast_find_migrateblock free-list search) and isolate_freepages (after the
fast_isolate_freepages free-list search), the pageblock skip hints and cached
scanner positions (__reset_isolation_suitable, reset_isolation_suitable for
kswapd), the capture of a freed block by the direct compactor
(compaction_capture in page_alloc), try_to_compact_pages,
__alloc_pages_direct_compact and should_compact_retry (mm/page_alloc.c),
kcompactd (wakeup_kcompactd, kcompactd_do_work), proactive compaction
(fragmentation scores, vm.compaction_proactiveness) and
/proc/sys/vm/compact_memory.

Deliberate differences: the migrate scanner skips compound pages (allocated
blocks of order > 0, the model having no separate compound flag) as the
kernel does outside alloc_contig and isolates only order-0 LRU pages, with no
transient isolation failures (dirty/writeback/pinned pages, too_many_isolated);
migration goes through mm/migrate.py; zones are taken as contiguous
(pageblock_pfn_to_page is not modelled); "contention"/need_resched and fatal
signals never happen (a simulated compactor is never preempted), so
ISOLATE_ABORT never happens.
"""
from __future__ import annotations

import numpy as np

from .gfp import GFP_KERNEL, gfp_migratetype
from .internal import ALLOC_CMA, ALLOC_WMARK_MASK, COMPACT_CLUSTER_MAX
from .memmap import (PB_MT_MASK, PB_migrate_skip, PG_absent, PG_buddy, PG_head, PG_lru, PG_pcp,
                     PG_reserved, list_link, list_unlink)
from .mmzone import (MAX_ORDER, MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_TYPES,
                     PAGE_ALLOC_COSTLY_ORDER, Zone, pageblock_nr_pages, pageblock_order)
from .page_alloc import (__isolate_free_page, __zone_watermark_ok, drain_all_pages,
                         find_suitable_fallback, get_page_from_freelist, prep_new_page,
                         zone_watermark_ok)
from .slowpath import (COMPACT_COMPLETE, COMPACT_CONTINUE, COMPACT_DEFERRED,
                       COMPACT_CONTENDED, COMPACT_NO_SUITABLE_PAGE, COMPACT_NOT_SUITABLE_ZONE,
                       COMPACT_PARTIAL_SKIPPED, COMPACT_PRIO_ASYNC, COMPACT_SKIPPED,
                       COMPACT_SUCCESS, MAX_COMPACT_RETRIES, MIN_COMPACT_COSTLY_PRIORITY,
                       MIN_COMPACT_PRIORITY)
from .vmstat import ev_index, extfrag_for_order, fragmentation_index

__all__ = ["Compaction", "CompactControl", "compaction_suitable", "compact_zone",
           "defer_compaction", "compaction_deferred", "compaction_defer_reset",
           "try_to_compact_pages", "compact_memory", "fragmentation_score_node",
           "isolate_migratepages", "isolate_freepages", "fast_isolate_freepages",
           "fast_find_migrateblock", "COMPACT_MAX_DEFER_SHIFT", "MIGRATE_ASYNC",
           "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC", "ISOLATE_ABORT", "ISOLATE_NONE",
           "ISOLATE_SUCCESS"]

COMPACT_MAX_DEFER_SHIFT = 6
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC = 0, 1, 2
HPAGE_FRAG_CHECK_INTERVAL_MSEC = 500

_EV = {n: ev_index(n) for n in (
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "compact_stall",
    "compact_fail", "compact_success", "compact_daemon_wake", "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned")}


class CompactControl:
    """struct compact_control.

    nr_freepages / nr_migratepages are the lengths of the freepages (order-0 targets)
    and migratepages lists. search_order defaults to 0 as a field the kernel's
    initialisers leave out; the direct compactor and kcompactd pass their order.
    """

    __slots__ = ("zone", "order", "search_order", "gfp_mask", "migratetype", "mode",
                 "alloc_flags", "highest_zoneidx", "direct_compaction", "whole_zone",
                 "ignore_skip_hint", "ignore_block_suitable", "proactive_compaction",
                 "rescan", "migrate_pfn", "free_pfn", "fast_start_pfn", "fast_search_fail",
                 "freepages", "migratepages", "total_migrate_scanned", "total_free_scanned",
                 "nr_isolated_free", "nr_isolated_migrate")

    def __init__(self, zone: Zone, order: int, *, gfp_mask: int = GFP_KERNEL,
                 mode: int = MIGRATE_SYNC_LIGHT, alloc_flags: int = 0, highest_zoneidx: int = 0,
                 direct_compaction: bool = False, whole_zone: bool = False,
                 ignore_skip_hint: bool = False, ignore_block_suitable: bool = False,
                 proactive_compaction: bool = False, search_order: int = 0) -> None:
        self.zone = zone
        self.order = order
        self.search_order = search_order
        self.rescan = False
        self.fast_start_pfn = 0
        self.fast_search_fail = 0
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


ULONG_MAX = (1 << 64) - 1          # the kernel's unsigned long arithmetic wraps
ISOLATE_ABORT, ISOLATE_NONE, ISOLATE_SUCCESS = 0, 1, 2     # isolate_migrate_t


def _pageblock_start(pfn: int) -> int:
    """pageblock_start_pfn()."""
    return pfn & ~(pageblock_nr_pages - 1)


def _pageblock_end(pfn: int) -> int:
    """pageblock_end_pfn(): the next pageblock boundary above pfn (aligned pfn + 512)."""
    return (pfn + pageblock_nr_pages) & ~(pageblock_nr_pages - 1)


def _get_skip(mm, pfn: int) -> bool:
    return bool(mm.mem.pageblock[pfn >> pageblock_order] & PB_migrate_skip)


def _set_skip(mm, pfn: int) -> None:
    i = pfn >> pageblock_order
    mm.mem.pageblock[i] = mm.mem.pageblock[i] | PB_migrate_skip


def _clear_skip(mm, pfn: int) -> None:
    i = pfn >> pageblock_order
    mm.mem.pageblock[i] = mm.mem.pageblock[i] & ~PB_migrate_skip & 0xFF


def _isolation_suitable(mm, cc: "CompactControl", pfn: int) -> bool:
    """isolation_suitable()."""
    return cc.ignore_skip_hint or not _get_skip(mm, pfn)


def _online(mm, pfn: int) -> bool:
    """pfn_to_online_page() != NULL: a pfn with a struct page."""
    return 0 <= pfn < mm.mem.npfn and not mm.mem.flags[pfn] & PG_absent


def _pageblock_skip_persistent(mm, pfn: int) -> bool:
    """pageblock_skip_persistent(): the page is part of a compound page >= pageblock_order.

    The model has no separate compound flag: an allocated block of order > 0 (PG_head
    with its order) is taken as compound, as the migrate scanner already does. Only an
    order-9 block at the pageblock start or an order-10 one at its MAX_ORDER-1 start
    can cover the page.
    """
    mem = mm.mem
    h = pfn & ~(pageblock_nr_pages - 1)
    if mem.flags[h] & PG_head and mem.order[h] >= pageblock_order:
        return True
    h = pfn & ~((1 << (MAX_ORDER - 1)) - 1)
    return bool(mem.flags[h] & PG_head and mem.order[h] >= MAX_ORDER - 1)


def __reset_isolation_pfn(mm, zone: Zone, pfn: int, check_source: bool,
                          check_target: bool) -> bool:
    """__reset_isolation_pfn(): clear the block's skip bit if a sample shows LRU/free pages.

    Samples every 1 << PAGE_ALLOC_COSTLY_ORDER pages from the block start (PageLRU is
    PG_lru, PageBuddy PG_buddy of the model).
    """
    mem = mm.mem
    if not _online(mm, pfn) or not zone.spans(pfn):
        return False
    if _pageblock_skip_persistent(mm, pfn):
        return False
    if check_source and check_target and not _get_skip(mm, pfn):
        return True
    if not check_source and check_target and (
            mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK) != MIGRATE_MOVABLE:
        return False
    block_pfn = max(_pageblock_start(pfn), zone.zone_start_pfn)
    if _online(mm, block_pfn):
        pfn = block_pfn
    end = min(_pageblock_end(pfn) - 1, zone.zone_end_pfn - 1)
    if not _online(mm, end):
        return False
    want = (PG_lru if check_source else 0) | (PG_buddy if check_target else 0)
    sample = mem.a_flags[pfn:end + 1:1 << PAGE_ALLOC_COSTLY_ORDER]
    if (sample & want).any():
        _clear_skip(mm, pfn)
        return True
    return False


def __reset_isolation_suitable(mm, zone: Zone) -> None:
    """__reset_isolation_suitable(): after a full direct compaction pass, clear skip hints.

    Only when zone.compact_blockskip_flush is set (and it is cleared). Walks the zone
    from both ends a pageblock at a time: the first block from the bottom with an LRU
    page and the first MOVABLE block from the top with a free page become
    compact_init_migrate_pfn / compact_init_free_pfn and the cached scanner
    positions; the skip bit of a block is cleared only if a sample finds such pages.
    The walk is done with whole-zone arrays (_reset_isolation_vector); a zone with
    holes takes the pfn-by-pfn walk (_reset_isolation_walk), which gives the same.
    """
    if not zone.compact_blockskip_flush:
        return
    zone.compact_blockskip_flush = False
    zs, ze = zone.zone_start_pfn, zone.zone_end_pfn
    if ze - zs < 4 * pageblock_nr_pages or (mm.mem.a_flags[zs:ze] & PG_absent).any():
        _reset_isolation_walk(mm, zone, zs, ze - 1, ze - 1, zs, False, False)
    else:
        _reset_isolation_vector(mm, zone)


def _reset_isolation_walk(mm, zone: Zone, migrate_pfn: int, free_pfn: int,
                          reset_migrate: int, reset_free: int, source_set: bool,
                          free_set: bool) -> None:
    """The loop of __reset_isolation_suitable from a given state, pfn by pfn."""
    while migrate_pfn < free_pfn:
        if (__reset_isolation_pfn(mm, zone, migrate_pfn, True, source_set)
                and migrate_pfn < reset_migrate):
            source_set = True
            reset_migrate = migrate_pfn
            zone.compact_init_migrate_pfn = reset_migrate
            zone.compact_cached_migrate_pfn[0] = reset_migrate
            zone.compact_cached_migrate_pfn[1] = reset_migrate
        if (__reset_isolation_pfn(mm, zone, free_pfn, free_set, True)
                and free_pfn > reset_free):
            free_set = True
            reset_free = free_pfn
            zone.compact_init_free_pfn = reset_free
            zone.compact_cached_free_pfn = reset_free
        migrate_pfn += pageblock_nr_pages
        free_pfn -= pageblock_nr_pages
    if reset_migrate >= reset_free:
        zone.compact_cached_migrate_pfn[0] = migrate_pfn
        zone.compact_cached_migrate_pfn[1] = migrate_pfn
        zone.compact_cached_free_pfn = free_pfn


def _reset_isolation_vector(mm, zone: Zone) -> None:
    """_reset_isolation_walk for a zone without holes, with per-pageblock arrays.

    Every iteration but the last looks at two different pageblocks (the scanners'
    sides only meet in the last), so the sides are independent: before its first
    hit a side only tests (the migrate side for a sampled LRU page, the free side
    for a MOVABLE block with a sampled free page), after it a side clears the skip
    bit of every skipped block whose sample has an LRU or free page. The last
    iteration and the end are left to the walk.
    """
    mem = mm.mem
    zs, ze = zone.zone_start_pfn, zone.zone_end_pfn
    nb = pageblock_nr_pages
    step = 1 << PAGE_ALLOC_COSTLY_ORDER
    b0 = zs >> pageblock_order
    b1 = (ze - 1) >> pageblock_order
    nblk = b1 - b0 + 1
    fl = mem.a_flags
    od = mem.a_order
    # samples: every 8th page from the block start (the zone start in a partial block)
    lru_s = np.zeros(nblk, dtype=bool)
    buddy_s = np.zeros(nblk, dtype=bool)
    full0 = b0 + (1 if zs & (nb - 1) else 0)
    full1 = b1 - (1 if ze & (nb - 1) else 0)          # last full block
    if full1 >= full0:
        smp = fl[full0 * nb:(full1 + 1) * nb:step].reshape(full1 - full0 + 1, nb // step)
        lru_s[full0 - b0:full1 - b0 + 1] = (smp & PG_lru).any(axis=1)
        buddy_s[full0 - b0:full1 - b0 + 1] = (smp & PG_buddy).any(axis=1)
    for b in {b0, b1}:
        if b < full0 or b > full1:
            start = max(b * nb, zs)
            end = min(b * nb + nb - 1, ze - 1)
            smp1 = fl[start:end + 1:step]
            lru_s[b - b0] = bool((smp1 & PG_lru).any())
            buddy_s[b - b0] = bool((smp1 & PG_buddy).any())
    starts = np.arange(b0, b1 + 1, dtype=np.int64) * nb
    persist = ((fl[starts] & PG_head) != 0) & (od[starts] >= pageblock_order)
    big = starts & ~((1 << (MAX_ORDER - 1)) - 1)
    persist |= ((fl[big] & PG_head) != 0) & (od[big] >= MAX_ORDER - 1)
    pb = mem.a_pageblock[b0:b1 + 1]
    skip = (pb & PB_migrate_skip) != 0
    movable = (pb & PB_MT_MASK) == MIGRATE_MOVABLE
    any_s = lru_s | buddy_s
    # iterations k: migrate side at zs + k * nb, free side at ze - 1 - k * nb
    niter = (ze - 2 - zs) // (2 * nb) + 1
    k = np.arange(niter - 1, dtype=np.int64)
    bm = ((zs + k * nb) >> pageblock_order) - b0
    bf = ((ze - 1 - k * nb) >> pageblock_order) - b0
    clear: list[np.ndarray] = []
    reset_migrate, reset_free = ze - 1, zs
    source_set = free_set = False
    hits = np.flatnonzero(~persist[bm] & lru_s[bm])
    if hits.size:
        k0 = int(hits[0])
        source_set = True
        reset_migrate = zs + k0 * nb
        zone.compact_init_migrate_pfn = reset_migrate
        zone.compact_cached_migrate_pfn[0] = reset_migrate
        zone.compact_cached_migrate_pfn[1] = reset_migrate
        later = bm[k0 + 1:]
        clear.append(bm[k0:k0 + 1])
        clear.append(later[~persist[later] & skip[later] & any_s[later]])
    hits = np.flatnonzero(~persist[bf] & movable[bf] & buddy_s[bf])
    if hits.size:
        j0 = int(hits[0])
        free_set = True
        reset_free = ze - 1 - j0 * nb
        zone.compact_init_free_pfn = reset_free
        zone.compact_cached_free_pfn = reset_free
        later = bf[j0 + 1:]
        clear.append(bf[j0:j0 + 1])
        clear.append(later[~persist[later] & skip[later] & any_s[later]])
    if clear:
        idx = np.concatenate(clear) + b0
        mem.a_pageblock[idx] &= ~PB_migrate_skip & 0xFF
    last = niter - 1
    _reset_isolation_walk(mm, zone, zs + last * nb, ze - 1 - last * nb,
                          reset_migrate, reset_free, source_set, free_set)


def reset_isolation_suitable(mm, pgdat) -> None:
    """reset_isolation_suitable(): flush the zones whose compact_blockskip_flush is set."""
    for zone in pgdat.node_zones:
        if zone.present_pages and zone.compact_blockskip_flush:
            __reset_isolation_suitable(mm, zone)


def _reset_cached_positions(zone: Zone) -> None:
    """reset_cached_positions()."""
    zone.compact_cached_migrate_pfn[0] = zone.zone_start_pfn
    zone.compact_cached_migrate_pfn[1] = zone.zone_start_pfn
    zone.compact_cached_free_pfn = _pageblock_start(zone.zone_end_pfn - 1)


def update_cached_migrate(cc: "CompactControl", pfn: int) -> None:
    """update_cached_migrate(): the cached migrate pfns only move forward.

    As in the kernel, the pfn is taken through pageblock_end_pfn(), so a block end
    (aligned) caches the end of the block after it.
    """
    zone = cc.zone
    pfn = _pageblock_end(pfn)
    if pfn > zone.compact_cached_migrate_pfn[0]:
        zone.compact_cached_migrate_pfn[0] = pfn
    if cc.mode != MIGRATE_ASYNC and pfn > zone.compact_cached_migrate_pfn[1]:
        zone.compact_cached_migrate_pfn[1] = pfn


def update_pageblock_skip(mm, cc: "CompactControl", pfn: int) -> None:
    """update_pageblock_skip(): mark a fully scanned free-scanner block, move the cache down."""
    _set_skip(mm, pfn)
    if pfn < cc.zone.compact_cached_free_pfn:
        cc.zone.compact_cached_free_pfn = pfn


def _scanners_met(cc: "CompactControl") -> bool:
    """compact_scanners_met()."""
    return (cc.free_pfn >> pageblock_order) <= (cc.migrate_pfn >> pageblock_order)


def _suitable_migration_source(mm, cc: "CompactControl", pfn: int) -> bool:
    """suitable_migration_source()."""
    if _pageblock_skip_persistent(mm, pfn):
        return False
    if cc.mode != MIGRATE_ASYNC or not cc.direct_compaction:
        return True
    block_mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    if cc.migratetype == MIGRATE_MOVABLE:
        return block_mt in (MIGRATE_MOVABLE, MIGRATE_CMA)
    return block_mt == cc.migratetype


def _suitable_migration_target(mm, cc: "CompactControl", pfn: int) -> bool:
    """suitable_migration_target()."""
    mem = mm.mem
    if mem.flags[pfn] & PG_buddy and mem.order[pfn] >= pageblock_order:
        return False
    if cc.ignore_block_suitable:
        return True
    return (mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK) in (MIGRATE_MOVABLE, MIGRATE_CMA)


# --- the free-list fast paths ---------------------------------------------------------


def freelist_scan_limit(cc: "CompactControl") -> int:
    """freelist_scan_limit(): free-list entries a fast search may look at."""
    return (COMPACT_CLUSTER_MAX >> min(63, cc.fast_search_fail)) + 1


def move_freelist_head(mm, head: int, pfn: int) -> None:
    """move_freelist_head(): rotate the list so that ``pfn`` is its first entry.

    The entries before it go to the tail, so the next reverse (tail-first) search sees
    the ones not scanned this time first. On the model's circular lists this is moving
    the sentinel in front of ``pfn``; ``pfn == head`` (a search that ran off the list)
    leaves it alone, as cutting the whole list and splicing it back does.
    """
    mem = mm.mem
    nxt = mem.next
    if pfn == head or nxt[head] == pfn:
        return
    list_unlink(nxt, mem.prev, head)
    list_link(nxt, mem.prev, head, pfn, True)      # the sentinel goes just before pfn


def move_freelist_tail(mm, head: int, pfn: int) -> None:
    """move_freelist_tail(): rotate the list so that ``pfn`` is its last entry.

    ``pfn`` and the entries before it go to the tail, so the next forward search sees
    the ones not scanned this time first (the sentinel moves just after ``pfn``).
    """
    mem = mm.mem
    prv = mem.prev
    if pfn == head or prv[head] == pfn:
        return
    list_unlink(mem.next, prv, head)
    list_link(mem.next, prv, head, pfn, False)     # the sentinel goes just after pfn


def isolate_freepages_block(mm, cc: "CompactControl", start_pfn: int, end_pfn: int,
                            stride: int) -> tuple[int, int]:
    """isolate_freepages_block() (not strict); returns (pages isolated, pfn reached).

    Visits start_pfn, start_pfn + stride, ...: a free block head is taken with
    __isolate_free_page and split to order-0 targets (stopping when the watermark
    refuses, or as soon as there are as many targets as pages to migrate), a compound
    page is stepped over, anything else costs one scan. The model visits only the pfns
    where something happens and counts the others.
    """
    mem = mm.mem
    zone = cc.zone
    blockpfn = start_pfn
    nr_scanned = 0
    total = 0
    if blockpfn < end_pfn:
        fl = mem.a_flags[start_pfn:end_pfn]
        od = mem.a_order[start_pfn:end_pfn]
        events = np.flatnonzero(((fl & PG_buddy) != 0) | (((fl & PG_head) != 0) & (od > 0)))
        stopped = False
        for off in events.tolist():
            p = start_pfn + off
            if p < blockpfn or (p - blockpfn) % stride:
                continue
            nr_scanned += (p - blockpfn) // stride + 1
            if mem.flags[p] & PG_buddy:
                n = __isolate_free_page(mm, zone, p, mem.order[p])
                if not n:
                    blockpfn = p
                    stopped = True
                    break
                mem.a_flags[p:p + n] = 0
                mem.a_order[p:p + n] = -1
                cc.freepages.extend(range(p, p + n))
                nr_scanned += n - 1
                total += n
                if len(cc.migratepages) <= len(cc.freepages):
                    blockpfn = p + n
                    stopped = True
                    break
                blockpfn = p + n - 1 + stride
            else:
                blockpfn = p + (1 << mem.order[p]) - 1 + stride
        if not stopped and blockpfn < end_pfn:
            steps = (end_pfn - 1 - blockpfn) // stride + 1
            nr_scanned += steps
            blockpfn += steps * stride
    if blockpfn > end_pfn:
        blockpfn = end_pfn
    cc.total_free_scanned += nr_scanned
    if total:
        cc.nr_isolated_free += total
        mm.events[_EV["compact_isolated"]] += total
    return total, blockpfn


def fast_isolate_around(mm, cc: "CompactControl", pfn: int) -> None:
    """fast_isolate_around(): after a fast find, take the rest of that page's pageblock.

    Not for async direct compaction, nor when there are targets enough already; the
    block is marked skip if it did not give enough.
    """
    if len(cc.freepages) >= len(cc.migratepages):
        return
    if cc.direct_compaction and cc.mode == MIGRATE_ASYNC:
        return
    zone = cc.zone
    start_pfn = max(_pageblock_start(pfn), zone.zone_start_pfn)
    end_pfn = min(_pageblock_end(pfn), zone.zone_end_pfn)
    isolate_freepages_block(mm, cc, start_pfn, end_pfn, 1)
    if len(cc.freepages) < len(cc.migratepages):
        _set_skip(mm, start_pfn)


def next_search_order(cc: "CompactControl", order: int) -> int:
    """next_search_order(): round-robin below cc.order; -1 once the search wrapped."""
    order -= 1
    if order < 0:
        order = cc.order - 1
    if order == cc.search_order:
        cc.search_order -= 1
        if cc.search_order < 0:
            cc.search_order = cc.order - 1
        return -1
    return order


def fast_isolate_freepages(mm, cc: "CompactControl") -> int:
    """fast_isolate_freepages(): take a migration target straight off a MOVABLE free list.

    Searches the MOVABLE lists of orders below cc.order (from cc.search_order,
    round-robin) tail first for a page in the top quarter of the space between the
    scanners, settling for the highest one in the top half; the list is rotated so the
    next search starts with other pages. Starting a pass (free_pfn at or above
    zone.compact_init_free_pfn) searches deeper and, if nothing is found, moves the
    free scanner to the highest block seen (or, for direct compaction, to the bottom
    of the top half). Returns the pfn the free scanner should consider.
    """
    if cc.order <= 0:
        return cc.free_pfn
    mem = mm.mem
    zone = cc.zone
    prv = mem.prev
    limit = max(1, freelist_scan_limit(cc) >> 1)
    nr_scanned = 0
    highest = 0
    page = -1
    scan_start = False
    if cc.free_pfn >= zone.compact_init_free_pfn:
        limit = pageblock_nr_pages >> 1
        scan_start = True
    distance = (cc.free_pfn - cc.migrate_pfn) & ULONG_MAX
    low_pfn = _pageblock_start((cc.free_pfn - (distance >> 2)) & ULONG_MAX)
    min_pfn = _pageblock_start((cc.free_pfn - (distance >> 1)) & ULONG_MAX)
    if min_pfn > low_pfn:
        low_pfn = min_pfn
    cc.search_order = min(cc.order - 1, cc.search_order)
    order = cc.search_order
    while page < 0 and order >= 0:
        if zone.nr_free[order]:
            head = zone.list_base + order * MIGRATE_TYPES + MIGRATE_MOVABLE
            order_scanned = 0
            high_pfn = 0
            freepage = prv[head]
            while freepage != head:
                order_scanned += 1
                nr_scanned += 1
                pfn = freepage
                if pfn >= highest:
                    highest = max(_pageblock_start(pfn), zone.zone_start_pfn)
                if pfn >= low_pfn:
                    cc.fast_search_fail = 0
                    cc.search_order = order
                    page = freepage
                    break
                if pfn >= min_pfn and pfn > high_pfn:
                    high_pfn = pfn
                    limit >>= 1
                if order_scanned >= limit:
                    break
                freepage = prv[freepage]
            if page < 0 and high_pfn:
                page = high_pfn
                freepage = page
            move_freelist_head(mm, head, freepage)
            if page >= 0:
                n = __isolate_free_page(mm, zone, page, order)
                if n:
                    mem.a_flags[page:page + n] = 0
                    mem.a_order[page:page + n] = -1
                    nr_scanned += n - 1
                    cc.freepages.extend(range(page, page + n))
                    cc.nr_isolated_free += n
                    mm.events[_EV["compact_isolated"]] += n
                else:
                    order = cc.search_order + 1     # the watermark refused: stop
                    page = -1
            if order_scanned >= limit:
                limit = max(1, limit >> 1)
        order = next_search_order(cc, order)
    if page < 0:
        cc.fast_search_fail += 1
        if scan_start:
            if highest >= min_pfn:
                page = highest
                cc.free_pfn = highest
            elif cc.direct_compaction and _online(mm, min_pfn):
                end = min(_pageblock_end(min_pfn), zone.zone_end_pfn)
                if zone.spans(min_pfn) and zone.spans(end - 1):   # pageblock_pfn_to_page
                    page = min_pfn
                cc.free_pfn = min_pfn
    if highest and highest >= zone.compact_cached_free_pfn:
        highest = (highest - pageblock_nr_pages) & ULONG_MAX
        zone.compact_cached_free_pfn = highest
    cc.total_free_scanned += nr_scanned
    if page < 0:
        return cc.free_pfn
    fast_isolate_around(mm, cc, page)
    return page


def isolate_freepages(mm, cc: "CompactControl") -> None:
    """Isolate free pages from the top of the zone down, as migration targets.

    Models isolate_freepages: fast_isolate_freepages first (when it isolated
    something the linear scan is skipped), then the linear scan down from
    cc.free_pfn over suitable, not-skipped target blocks with
    isolate_freepages_block (stride COMPACT_CLUSTER_MAX for async compaction,
    narrowing to 1 after a block that gave pages), marking fully scanned blocks
    skip and leaving cc.free_pfn where the next call should resume.
    """
    zone = cc.zone
    fast_isolate_freepages(mm, cc)
    if cc.freepages:
        return
    isolate_start_pfn = cc.free_pfn
    block_start = _pageblock_start(isolate_start_pfn)
    block_end = min(block_start + pageblock_nr_pages, zone.zone_end_pfn)
    low_pfn = _pageblock_end(cc.migrate_pfn)
    stride = COMPACT_CLUSTER_MAX if cc.mode == MIGRATE_ASYNC else 1
    while block_start >= low_pfn:
        # pageblock_pfn_to_page: the model's zones are contiguous; a partial first
        # block is scanned from the zone start
        start = max(block_start, zone.zone_start_pfn)
        if (_suitable_migration_target(mm, cc, start)
                and _isolation_suitable(mm, cc, start)):
            nr_isolated, isolate_start_pfn = isolate_freepages_block(
                mm, cc, max(isolate_start_pfn, zone.zone_start_pfn), block_end, stride)
            if isolate_start_pfn == block_end:
                update_pageblock_skip(mm, cc, block_start)
            if len(cc.freepages) >= len(cc.migratepages):
                if isolate_start_pfn >= block_end:
                    isolate_start_pfn = block_start - pageblock_nr_pages
                break
            elif isolate_start_pfn < block_end:
                break
            if nr_isolated:
                stride = 1
            else:
                stride = min(COMPACT_CLUSTER_MAX, stride << 1)
        block_end = block_start
        block_start -= pageblock_nr_pages
        isolate_start_pfn = block_start
    cc.free_pfn = isolate_start_pfn


# --- the migrate scanner --------------------------------------------------------------


def update_fast_start_pfn(cc: "CompactControl", pfn: int) -> None:
    """update_fast_start_pfn(): remember the lowest free page a fast search found."""
    if cc.fast_start_pfn == ULONG_MAX:
        return
    if not cc.fast_start_pfn:
        cc.fast_start_pfn = pfn
    cc.fast_start_pfn = min(cc.fast_start_pfn, pfn)


def reinit_migrate_pfn(cc: "CompactControl") -> int:
    """reinit_migrate_pfn(): after a failed fast search, restart the linear scan (once)
    at the lowest free page an earlier search found."""
    if not cc.fast_start_pfn or cc.fast_start_pfn == ULONG_MAX:
        return cc.migrate_pfn
    cc.migrate_pfn = cc.fast_start_pfn
    cc.fast_start_pfn = ULONG_MAX
    return cc.migrate_pfn


def fast_find_migrateblock(mm, cc: "CompactControl") -> int:
    """fast_find_migrateblock(): pick a migration source block that already has free pages.

    Only at a pageblock (or zone) start, for orders above PAGE_ALLOC_COSTLY_ORDER, not
    with ignore_skip_hint, and for direct compaction only for MOVABLE requests. Walks
    the MOVABLE free lists of orders cc.order - 1 down to PAGE_ALLOC_COSTLY_ORDER head
    first (at most freelist_scan_limit entries) for a page below the first half (when
    the migrate scanner is at the zone start) or first eighth of the space between the
    scanners whose block is not marked skip; that block is marked skip and the list
    rotated past the page. Returns the pfn the migrate scanner should start from.

    As in 6.1 (fixed in 6.5), isolate_migratepages_block then finds the block's skip
    bit set and skips it without scanning: the fast search only moves the scanner.
    There is no lower bound: the block found may lie below cc.migrate_pfn.
    """
    limit = freelist_scan_limit(cc)
    nr_scanned = 0
    pfn = cc.migrate_pfn
    found_block = False
    zone = cc.zone
    if cc.ignore_skip_hint:
        return pfn
    if pfn != zone.zone_start_pfn and pfn != _pageblock_start(pfn):
        return pfn
    if cc.order <= PAGE_ALLOC_COSTLY_ORDER:
        return pfn
    if cc.direct_compaction and cc.migratetype != MIGRATE_MOVABLE:
        return pfn
    distance = ((cc.free_pfn - cc.migrate_pfn) & ULONG_MAX) >> 1
    if cc.migrate_pfn != zone.zone_start_pfn:
        distance >>= 2
    high_pfn = _pageblock_start((cc.migrate_pfn + distance) & ULONG_MAX)
    nxt = mm.mem.next
    order = cc.order - 1
    while order >= PAGE_ALLOC_COSTLY_ORDER and not found_block and nr_scanned < limit:
        if zone.nr_free[order]:
            head = zone.list_base + order * MIGRATE_TYPES + MIGRATE_MOVABLE
            freepage = nxt[head]
            while freepage != head:
                scanned = nr_scanned
                nr_scanned += 1
                if scanned >= limit:
                    move_freelist_tail(mm, head, freepage)
                    break
                free_pfn = freepage
                if free_pfn < high_pfn:
                    if _get_skip(mm, free_pfn):
                        freepage = nxt[freepage]
                        continue
                    move_freelist_tail(mm, head, freepage)
                    update_fast_start_pfn(cc, free_pfn)
                    pfn = max(_pageblock_start(free_pfn), zone.zone_start_pfn)
                    cc.fast_search_fail = 0
                    found_block = True
                    _set_skip(mm, free_pfn)
                    break
                freepage = nxt[freepage]
        order -= 1
    cc.total_migrate_scanned += nr_scanned
    if not found_block:
        cc.fast_search_fail += 1
        pfn = reinit_migrate_pfn(cc)
    return pfn


def isolate_migratepages_block(mm, cc: "CompactControl", low_pfn: int, end_pfn: int) -> None:
    """Isolate movable pages from [low_pfn, end_pfn) of one pageblock.

    Models isolate_migratepages_block for compaction (not alloc_contig): a block whose
    skip bit is set is left at once when the scan starts at its first pfn; free blocks
    and compound pages are stepped over; PageLRU order-0 pages are isolated, at most
    COMPACT_CLUSTER_MAX unless cc.rescan. skip_on_failure (async direct compaction): a
    page that cannot be isolated dooms its cc.order aligned block, so that block's
    isolated pages go back and the scan moves to the next such block; isolation stops
    at the end of the first block that gave pages. The first page isolated marks the
    block skip if it is the block's first pfn (test_and_set_skip); otherwise a block
    scanned to its end from its start with nothing isolated (or rescanned) is marked
    skip, and the cached migrate pfns are updated. cc.migrate_pfn is left where the
    scan stopped.
    """
    mem = mm.mem
    cc.migrate_pfn = low_pfn
    migrate = getattr(mm, "migrate", None)
    nr_scanned = 0
    nr_isolated = 0
    start_pfn = low_pfn
    valid_page = False
    skip_updated = False
    if not low_pfn & (pageblock_nr_pages - 1):
        if not _isolation_suitable(mm, cc, low_pfn):
            # the block was marked skip (by another scan or by fast_find_migrateblock)
            cc.total_migrate_scanned += 1
            update_cached_migrate(cc, end_pfn)
            cc.migrate_pfn = end_pfn
            return
        valid_page = True
    # Visit only the pfns where something happens (free blocks and compound pages
    # to step over, LRU pages to isolate); every other pfn costs one scan, as in
    # isolate_migratepages_block's loop.
    # The stops: free block heads, allocated compound heads, order-0 LRU pages; with
    # skip_on_failure also every other page in use (each dooms its order block), which
    # makes them every head, pcp or reserved page.
    fl = mem.a_flags[low_pfn:end_pfn]
    skip_on_failure = cc.direct_compaction and cc.mode == MIGRATE_ASYNC
    if skip_on_failure:
        stops_mask = (fl & (PG_buddy | PG_head | PG_pcp | PG_reserved)) != 0
    else:
        od = mem.a_order[low_pfn:end_pfn]
        stops_mask = ((fl & PG_buddy) != 0) | (((fl & PG_head) != 0)
                                               & ((od > 0) | ((fl & PG_lru) != 0)))
    stops = np.flatnonzero(stops_mask)
    cur = low_pfn
    hit_limit = False
    blk = 1 << max(cc.order, 0)
    next_skip = (low_pfn // blk + 1) * blk
    block_isolated: list[int] = []
    for off in stops.tolist():
        p = start_pfn + off
        if p < cur:
            continue
        if skip_on_failure and p >= next_skip:
            if block_isolated:
                # migrate what one order-aligned block gave; resume at the next
                nr_scanned += next_skip - cur
                cur = next_skip
                hit_limit = True
                break
            next_skip = (p // blk + 1) * blk
        nr_scanned += p - cur + 1
        f = mem.flags[p]
        if f & PG_buddy:
            cur = p + (1 << mem.order[p])
            continue
        is_lru = f & PG_head and f & PG_lru and mem.order[p] == 0
        if is_lru and migrate is not None and not skip_updated:
            # first page taken under the lru lock: test_and_set_skip
            skip_updated = True
            if not cc.ignore_skip_hint and not p & (pageblock_nr_pages - 1):
                if _get_skip(mm, p):
                    cur = p
                    hit_limit = True
                    break
                _set_skip(mm, p)
        if not is_lru or migrate is None or not migrate.isolate_lru_page(p):
            cur = p + (1 << mem.order[p]) if f & PG_head and mem.order[p] > 0 else p + 1
            if skip_on_failure:
                # isolate_fail: give back this block's pages, go to the next block
                if block_isolated and migrate is not None:
                    back = set(block_isolated)
                    cc.migratepages[:] = [q for q in cc.migratepages if q not in back]
                    nr_isolated -= len(back)
                    migrate.putback_movable_pages(block_isolated)
                    block_isolated = []
                if cur < next_skip:
                    cur = next_skip
                next_skip = (cur // blk + 1) * blk
            continue
        cur = p + 1
        cc.migratepages.append(p)
        block_isolated.append(p)
        nr_isolated += 1
        if len(cc.migratepages) >= COMPACT_CLUSTER_MAX and not cc.rescan:
            hit_limit = True
            break
    if not hit_limit and cur < end_pfn:
        nr_scanned += end_pfn - cur
        cur = end_pfn
    low_pfn = min(max(cur, low_pfn), end_pfn)
    if low_pfn == end_pfn and (not nr_isolated or cc.rescan):
        if valid_page and not skip_updated:
            _set_skip(mm, start_pfn)
        update_cached_migrate(cc, low_pfn)
    cc.total_migrate_scanned += nr_scanned
    if nr_isolated:
        cc.nr_isolated_migrate += nr_isolated
        mm.events[_EV["compact_isolated"]] += nr_isolated
    cc.migrate_pfn = low_pfn


def isolate_migratepages(mm, cc: "CompactControl") -> int:
    """Isolate the pages to migrate from the first suitable pageblock.

    Models isolate_migratepages: fast_find_migrateblock picks the start; blocks
    marked skip (checked at their first pfn, not for the block the fast search
    found) and unsuitable sources (which update the cached migrate pfn) are passed
    over; the first suitable block goes through isolate_migratepages_block and the
    call returns, ISOLATE_SUCCESS if pages were isolated, else ISOLATE_NONE (also when
    the scanner reached the free scanner). ISOLATE_ABORT never happens in the model.
    """
    zone = cc.zone
    low_pfn = fast_find_migrateblock(mm, cc)
    block_start = max(_pageblock_start(low_pfn), zone.zone_start_pfn)
    fast_find_block = low_pfn != cc.migrate_pfn and not cc.fast_search_fail
    block_end = _pageblock_end(low_pfn)
    while block_end <= cc.free_pfn:
        if (not low_pfn & (pageblock_nr_pages - 1) and not fast_find_block
                and not _isolation_suitable(mm, cc, block_start)):
            pass
        elif not _suitable_migration_source(mm, cc, block_start):
            update_cached_migrate(cc, block_end)
        else:
            isolate_migratepages_block(mm, cc, low_pfn, block_end)
            break
        fast_find_block = False
        cc.migrate_pfn = low_pfn = block_end
        block_start = block_end
        block_end += pageblock_nr_pages
    return ISOLATE_SUCCESS if cc.migratepages else ISOLATE_NONE


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

    Models mm/compaction.c:compact_zone: each round isolates from one pageblock
    (isolate_migratepages) and migrates what it got, with compact_finished checked
    between rounds. On ISOLATE_NONE async compaction keeps the sync cached migrate
    pfn level with the async one until a block gives pages (update_cached); a
    round that starts in the pageblock of the previous migration is a rescan.
    migrate_pages failing with -ENOMEM (no target page) before the scanners met ends
    compaction with COMPACT_CONTENDED, as in the kernel.
    """
    zone = cc.zone
    start_pfn = zone.zone_start_pfn
    end_pfn = zone.zone_end_pfn
    sync = cc.mode != MIGRATE_ASYNC
    cc.total_migrate_scanned = 0
    cc.total_free_scanned = 0
    cc.freepages.clear()
    cc.migratepages.clear()
    cc.migratetype = gfp_migratetype(cc.gfp_mask, mm.page_group_by_mobility_disabled)
    ret = compaction_suitable(mm, zone, cc.order, cc.alloc_flags, cc.highest_zoneidx)
    if ret in (COMPACT_SUCCESS, COMPACT_SKIPPED):
        return ret
    if compaction_restarting(zone, cc.order):
        __reset_isolation_suitable(mm, zone)
    cc.fast_start_pfn = 0
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
    last_migrated_pfn = 0
    update_cached = not sync and (zone.compact_cached_migrate_pfn[0]
                                  == zone.compact_cached_migrate_pfn[1])
    migrate = getattr(mm, "migrate", None)
    enomem = False

    def alloc(src: int, order: int) -> int:
        nonlocal enomem
        pfn = _compaction_alloc(mm, cc, order)
        if pfn < 0:
            enomem = True
        return pfn

    while True:
        ret = _compact_finished(mm, cc)
        if ret != COMPACT_CONTINUE:
            break
        iteration_start = cc.migrate_pfn
        cc.rescan = _pageblock_start(last_migrated_pfn) == _pageblock_start(iteration_start)
        if isolate_migratepages(mm, cc) == ISOLATE_NONE:
            if update_cached:
                zone.compact_cached_migrate_pfn[1] = zone.compact_cached_migrate_pfn[0]
        else:
            update_cached = False
            last_migrated_pfn = iteration_start
            pages = list(cc.migratepages)      # cc.migratepages sizes the free scanner
            nr_failed = 0
            enomem = False
            if migrate is not None:
                _, nr_failed = migrate.migrate_pages(
                    pages, alloc, lambda dst, order: _compaction_free(mm, cc, dst),
                    cc.mode, "compaction")
            cc.migratepages.clear()
            if nr_failed:
                # (migrate_pages put the failed pages back)
                if enomem and not _scanners_met(cc):
                    ret = COMPACT_CONTENDED
                    break
                if cc.direct_compaction and cc.mode == MIGRATE_ASYNC:
                    blk = 1 << max(cc.order, 0)
                    cc.migrate_pfn = ((cc.migrate_pfn - 1) // blk + 1) * blk
                    last_migrated_pfn = 0
        # check_drain
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
    """compaction_alloc(): the first isolated order-0 free page, isolating more if needed."""
    if order:
        return -1
    if not cc.freepages:
        isolate_freepages(mm, cc)
        if not cc.freepages:
            return -1
    pfn = cc.freepages.pop(0)
    mm.mem.flags[pfn] = PG_head
    mm.mem.order[pfn] = 0
    return pfn


def _compaction_free(mm, cc: CompactControl, pfn: int) -> None:
    """compaction_free(): an unused target goes back to the head of the isolated list."""
    mm.mem.flags[pfn] = 0
    mm.mem.order[pfn] = -1
    cc.freepages.insert(0, pfn)


# ---------------------------------------------------------------------------------------
# direct compaction


def compact_zone_order(mm, zone: Zone, order: int, gfp: int, prio: int, alloc_flags: int,
                       hz: int) -> tuple[int, int]:
    """compact_zone_order(): one zone with a capture control installed; (result, pfn)."""
    cc = CompactControl(zone, order, gfp_mask=gfp, search_order=order,
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

    def reset_isolation_suitable(self, pgdat) -> None:
        """reset_isolation_suitable(): kswapd going to sleep flushes the skip hints of
        zones where a direct compaction pass completed (compact_blockskip_flush)."""
        reset_isolation_suitable(self.mm, pgdat)

    def kcompactd_do_work(self, pgdat) -> None:
        """kcompactd_do_work(): compact every suitable zone up to the requested one.

        One compact_control serves every zone, as in the kernel: fast_search_fail,
        search_order and a whole_zone set by one zone carry over to the next.
        """
        mm = self.mm
        order = pgdat.kcompactd_max_order
        hz = pgdat.kcompactd_highest_zoneidx
        mm.events[_EV["compact_daemon_wake"]] += 1
        cc: CompactControl | None = None
        for zone in pgdat.node_zones[:hz + 1]:
            if not zone.present_pages:
                continue
            if compaction_deferred(zone, order):
                continue
            if compaction_suitable(mm, zone, order, 0, zone.idx) != COMPACT_CONTINUE:
                continue
            if cc is None:
                cc = CompactControl(zone, order, mode=MIGRATE_SYNC_LIGHT, highest_zoneidx=hz,
                                    search_order=order)
            cc.zone = zone
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
