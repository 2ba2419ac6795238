"""Page reclaim: the LRU scan, direct reclaim and the slab shrinker.

Models mm/vmscan.c of Linux 6.1 ([6.1.y-late]) with the classic LRU (no
MGLRU, no memcg): try_to_free_pages / do_try_to_free_pages / shrink_zones
(allocstall, SWAP_CLUSTER_MAX, priorities 12..0, throttle_direct_reclaim),
shrink_node / shrink_lruvec / get_scan_count / prepare_scan_count,
shrink_active_list / shrink_inactive_list / isolate_lru_folios /
shrink_folio_list / folio_check_references, shrink_slab, should_continue_reclaim,
compaction_ready and zone_reclaimable_pages, with the vmstat events they count.
kswapd (wakeup, balance_pgdat, its sleep) is in :mod:`pagealloc.mm.kswapd`;
its :class:`Vmscan` object, installed as ``mm.vmscan``, is re-exported here.

Simplifications, stated: the per-page reclaim decisions are those of
folio_check_references on the model's two reference signals (a young pte,
PG_referenced); dirty file pages are activated and the flusher, woken when
a whole batch was dirty, writes every dirty page back at once; anonymous
and shmem pages are reclaimable only with free swap (swap-out is
synchronous: the slot is taken and the page freed at once; swap-in is not
modelled); a THP that does not fit in swap is activated, not split;
workingset shadow entries and refaults are not modelled (so the scan
balance and deactivation follow the list sizes and lru_note_cost only);
reclaimable slab is one object per page, freed oldest first unless
referenced; no writeback throttling, no memcg protection, no node_reclaim.
Reclaim decisions count the pages the model has on its lists, not the
stat items a cloned machine inherited.
"""
from __future__ import annotations

import math

from .gfp import __GFP_FS, __GFP_IO, format_gfp, gfp_zone
from .internal import SWAP_CLUSTER_MAX
from .memmap import PG_lru
from .mmzone import PAGE_ALLOC_COSTLY_ORDER
from .page_alloc import __free_pages, __zone_watermark_ok, free_unref_page_list
from .page_users import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
                         LRU_SLAB, PGU_ACTIVE, PGU_DIRTY, PGU_ISOLATED, PGU_MAPPED,
                         PGU_REFERENCED, PGU_WORKINGSET, PGU_YOUNG, Kind, clear_page_user,
                         page_zone)
from .swap import _mod_isolated, lru_note_cost, lruvec_add_folio, lruvec_del_folio
from .vmstat import EV_ALLOCSTALL, EV_PGSKIP, ev_index

__all__ = ["Vmscan", "ScanControl", "DEF_PRIORITY", "MAX_RECLAIM_RETRIES",
           "wakeup_kswapd", "pgdat_balanced", "pgdat_watermark_boosted", "prepare_kswapd_sleep",
           "balance_pgdat", "kswapd_shrink_node", "try_to_free_pages", "do_try_to_free_pages",
           "shrink_node", "shrink_lruvec", "get_scan_count", "shrink_inactive_list",
           "shrink_active_list", "isolate_lru_folios", "shrink_folio_list", "shrink_slab",
           "zone_reclaimable_pages", "zone_watermark_ok_safe", "inactive_is_low",
           "allow_direct_reclaim", "wakeup_flusher_threads", "drop_pagecache", "drop_slab",
           "set_pgdat_percpu_threshold", "compact_gap"]

DEF_PRIORITY = 12
MAX_RECLAIM_RETRIES = 16
DEFAULT_SEEKS = 2
SHRINK_BATCH = 128
HZ = 250                                  # Debian's CONFIG_HZ
DEACTIVATE_ANON = 1
DEACTIVATE_FILE = 2
SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE = range(4)
FOLIOREF_RECLAIM, FOLIOREF_RECLAIM_CLEAN, FOLIOREF_KEEP, FOLIOREF_ACTIVATE = range(4)


_E = ev_index
EV_PGSCAN_KSWAPD, EV_PGSCAN_DIRECT = _E("pgscan_kswapd"), _E("pgscan_direct")
EV_PGSTEAL_KSWAPD, EV_PGSTEAL_DIRECT = _E("pgsteal_kswapd"), _E("pgsteal_direct")
EV_PGSCAN_ANON, EV_PGSCAN_FILE = _E("pgscan_anon"), _E("pgscan_file")
EV_PGSTEAL_ANON, EV_PGSTEAL_FILE = _E("pgsteal_anon"), _E("pgsteal_file")
EV_PGSCAN_DIRECT_THROTTLE = _E("pgscan_direct_throttle")
EV_PGACTIVATE, EV_PGDEACTIVATE, EV_PGREFILL = _E("pgactivate"), _E("pgdeactivate"), _E("pgrefill")
EV_SLABS_SCANNED, EV_PAGEOUTRUN = _E("slabs_scanned"), _E("pageoutrun")
EV_LOW_HIT, EV_HIGH_HIT = _E("kswapd_low_wmark_hit_quickly"), _E("kswapd_high_wmark_hit_quickly")
EV_PSWPOUT, EV_THP_SWPOUT = _E("pswpout"), _E("thp_swpout")
EV_DROP_PAGECACHE, EV_DROP_SLAB = _E("drop_pagecache"), _E("drop_slab")


def compact_gap(order: int) -> int:
    """compact_gap(): free pages compaction wants beyond the watermark (2 << order)."""
    return 2 << order


def _trace(mm, event: str, fields: str) -> None:
    tr = mm.trace
    if tr is None:
        return
    fn = getattr(tr, event, None)
    if fn is not None:
        fn(mm, fields)
    elif hasattr(tr, "_line"):
        tr._line(mm, event, fields)


class ScanControl:
    """struct scan_control (the fields the model uses)."""

    __slots__ = ("nr_to_reclaim", "gfp_mask", "reclaim_idx", "order", "nodemask", "priority",
                 "may_writepage", "may_unmap", "may_swap", "may_deactivate", "force_deactivate",
                 "skipped_deactivate", "cache_trim_mode", "file_is_tiny", "compaction_ready",
                 "nr_scanned", "nr_reclaimed", "anon_cost", "file_cost", "is_kswapd",
                 "nr_dirty", "nr_unqueued_dirty", "nr_taken", "nr_file_taken")

    def __init__(self, *, gfp_mask: int, order: int, reclaim_idx: int, nr_to_reclaim: int = 0,
                 nodemask=None, priority: int = DEF_PRIORITY, may_writepage: bool = True,
                 may_swap: bool = True, is_kswapd: bool = False) -> None:
        self.nr_to_reclaim = nr_to_reclaim
        self.gfp_mask = gfp_mask
        self.reclaim_idx = reclaim_idx
        self.order = order
        self.nodemask = nodemask
        self.priority = priority
        self.may_writepage = may_writepage
        self.may_unmap = True
        self.may_swap = may_swap
        self.may_deactivate = 0
        self.force_deactivate = False
        self.skipped_deactivate = False
        self.cache_trim_mode = False
        self.file_is_tiny = False
        self.compaction_ready = False
        self.nr_scanned = 0
        self.nr_reclaimed = 0
        self.anon_cost = 0
        self.file_cost = 0
        self.is_kswapd = is_kswapd
        self.nr_dirty = self.nr_unqueued_dirty = self.nr_taken = self.nr_file_taken = 0



# --------------------------------------------------------------------------------------
# watermark helpers


def zone_watermark_ok_safe(mm, z, order: int, mark: int, highest_zoneidx: int) -> bool:
    """A watermark check that reads the per-CPU diffs below the drift mark.

    Models mm/page_alloc.c:zone_watermark_ok_safe.
    """
    free = z.nr_free_pages()
    if z.percpu_drift_mark and free < z.percpu_drift_mark:
        free = z.nr_free_pages_snapshot()
    return __zone_watermark_ok(mm, z, order, mark, highest_zoneidx, 0, free)



def _compaction_suitable(mm, zone, order: int, highest_zoneidx: int):
    """compaction_suitable() from the compaction model, or None when there is none."""
    comp = getattr(mm, "compaction", None)
    fn = getattr(comp, "compaction_suitable", None)
    if fn is None:
        return None
    return fn(zone, order, 0, highest_zoneidx)


def _wakeup_kcompactd(mm, pgdat, order: int, highest_zoneidx: int) -> None:
    comp = getattr(mm, "compaction", None)
    fn = getattr(comp, "wakeup_kcompactd", None)
    if fn is not None:
        fn(pgdat, order, highest_zoneidx)


# --------------------------------------------------------------------------------------
# what can be reclaimed


def can_reclaim_anon_pages(mm) -> bool:
    """Free swap exists (mm/vmscan.c:can_reclaim_anon_pages; no demotion, no memcg)."""
    return mm.page_users.nr_swap_pages() > 0


def can_age_anon_pages(mm) -> bool:
    """Swap is configured at all (mm/vmscan.c:can_age_anon_pages)."""
    return mm.page_users.swap_total > 0


def zone_reclaimable_pages(mm, zone) -> int:
    """File LRU pages, plus anon with swap, or the free pages when that is 0.

    Models mm/vmscan.c:zone_reclaimable_pages [6.1.141+], on the pages the model has
    on its lists.
    """
    lv = zone.node.lru
    i = zone.idx
    nr = 0
    if lv is not None:
        nr = lv.size[LRU_INACTIVE_FILE][i] + lv.size[LRU_ACTIVE_FILE][i]
        if can_reclaim_anon_pages(mm):
            nr += lv.size[LRU_INACTIVE_ANON][i] + lv.size[LRU_ACTIVE_ANON][i]
    if nr == 0:
        nr = zone.nr_free_pages_snapshot()
    return nr


def inactive_is_low(lv, inactive_lru: int) -> bool:
    """Is the inactive list smaller than the active one by more than the target ratio?

    Models mm/vmscan.c:inactive_is_low.
    """
    inactive = lv.total(inactive_lru)
    active = lv.total(inactive_lru + 1)
    gb = (inactive + active) >> 18
    ratio = math.isqrt(10 * gb) if gb else 1
    return inactive * ratio < active


# --------------------------------------------------------------------------------------
# the LRU scan


def isolate_lru_folios(mm, nr_to_scan: int, lv, sc: ScanControl, lru: int) -> tuple[list[int], int]:
    """Take up to nr_to_scan pages from a list's tail; pages above reclaim_idx are skipped.

    Models mm/vmscan.c:isolate_lru_folios; returns (isolated head pfns, pages scanned).
    Isolated pages count in nr_isolated_anon/file until put back or freed.
    """
    pu = mm.page_users
    prv = pu.lru_prev
    order = mm.mem.order
    head = lv.base + lru
    taken: list[int] = []
    skipped: list[int] = []
    nr_skipped = {}
    scan = 0
    total_scan = 0
    p = prv[head]
    while scan < nr_to_scan and p != head:
        prevp = prv[p]
        nr = 1 << order[p]
        total_scan += nr
        zone = page_zone(mm, p)
        if zone.idx > sc.reclaim_idx:
            nr_skipped[zone.idx] = nr_skipped.get(zone.idx, 0) + nr
            skipped.append(p)
            p = prevp
            continue
        scan += nr
        lruvec_del_folio(mm, p)
        pu.pflags[p] |= PGU_ISOLATED
        _mod_isolated(mm, p, nr)
        taken.append(p)
        p = prevp
    if skipped:
        # list_splice(&folios_skipped, src): back at the head, newest first
        for q in skipped:
            lruvec_del_folio(mm, q)
            lruvec_add_folio(mm, q)
        for zid, n in nr_skipped.items():
            mm.events[EV_PGSKIP + zid] += n
    return taken, total_scan


def move_folios_to_lru(mm, pfns: list[int]) -> int:
    """Put isolated pages back at the head of their (active or inactive) list.

    Models mm/vmscan.c:move_folios_to_lru; returns the pages moved.
    """
    pu = mm.page_users
    order = mm.mem.order
    moved = 0
    for p in pfns:
        nr = 1 << order[p]
        pu.pflags[p] &= ~PGU_ISOLATED & 0xFF
        _mod_isolated(mm, p, -nr)
        lruvec_add_folio(mm, p)
        moved += nr
    return moved


def folio_check_references(pu, pfn: int, sc: ScanControl) -> int:
    """Reclaim, keep or activate a page, from its young ptes and PG_referenced.

    Models mm/vmscan.c:folio_check_references (no VM_LOCKED, no VM_EXEC rotation).
    """
    pf = pu.pflags
    f = pf[pfn]
    young = f & PGU_YOUNG
    referenced_folio = f & PGU_REFERENCED
    f &= ~(PGU_YOUNG | PGU_REFERENCED) & 0xFF
    if young:
        pf[pfn] = f | PGU_REFERENCED
        if referenced_folio:
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    pf[pfn] = f
    if referenced_folio and pu.kind[pfn] == Kind.FILE:
        return FOLIOREF_RECLAIM_CLEAN
    return FOLIOREF_RECLAIM


def _free_reclaimed(mm, pfns: list[int]) -> None:
    """Free reclaimed pages: order 0 in one free_unref_page_list batch, THPs one by one."""
    order = mm.mem.order
    batch = [p for p in pfns if order[p] == 0]
    for p in pfns:
        if order[p]:
            __free_pages(mm, p, order[p])
    if batch:
        free_unref_page_list(mm, batch)


def shrink_folio_list(mm, pfns: list[int], sc: ScanControl) -> tuple[int, int, list[int]]:
    """Decide each isolated page's fate; free the reclaimed ones.

    Models mm/vmscan.c:shrink_folio_list; returns (pages reclaimed, pages paged out,
    pages kept for putback).
    """
    pu = mm.page_users
    order = mm.mem.order
    nvs = None
    keep: list[int] = []
    free: list[int] = []
    nr_reclaimed = 0
    nr_pageout = 0
    for p in pfns:
        kind = pu.kind[p]
        nr = 1 << order[p]
        sc.nr_scanned += nr
        ref = folio_check_references(pu, p, sc)
        if ref == FOLIOREF_ACTIVATE:
            pu.pflags[p] |= PGU_ACTIVE
            mm.events[EV_PGACTIVATE] += nr
            keep.append(p)
            continue
        if ref == FOLIOREF_KEEP:
            keep.append(p)
            continue
        if kind == Kind.FILE:
            if pu.pflags[p] & PGU_DIRTY:
                # Reclaim does not write file pages back: mark for immediate reclaim,
                # activate, and leave it to the flusher (shrink_folio_list's dirty path).
                sc.nr_dirty += nr
                sc.nr_unqueued_dirty += nr
                nvs = page_zone(mm, p).node.vm_stat
                nvs["nr_vmscan_immediate_reclaim"] = nvs.get("nr_vmscan_immediate_reclaim",
                                                             0) + nr
                pu.pflags[p] |= PGU_ACTIVE
                mm.events[EV_PGACTIVATE] += nr
                keep.append(p)
                continue
        else:
            # swap-backed: anon, shmem, THP
            if not sc.gfp_mask & __GFP_IO or not sc.may_writepage:
                keep.append(p)
                continue
            if pu.nr_swap_pages() < nr:
                # add_to_swap failed (a THP is not split in the model): activate_locked
                pu.pflags[p] |= PGU_ACTIVE
                mm.events[EV_PGACTIVATE] += nr
                keep.append(p)
                continue
            pu.swap_used += nr
            o = pu.owners.get(pu.owner[p])
            if o is not None:
                o.swapents += nr
            mm.events[EV_PSWPOUT] += nr
            if nr > 1:
                mm.events[EV_THP_SWPOUT] += 1
            nr_pageout += nr
        clear_page_user(mm, p)
        free.append(p)
        nr_reclaimed += nr
    if nr_pageout:
        pu.sync_swap_meminfo(mm)
    _free_reclaimed(mm, free)
    return nr_reclaimed, nr_pageout, keep


def shrink_inactive_list(mm, nr_to_scan: int, lv, sc: ScanControl, lru: int) -> int:
    """Scan the tail of an inactive list and reclaim what can go (mm/vmscan.c)."""
    file = lru >= LRU_INACTIVE_FILE
    taken, nr_scanned = isolate_lru_folios(mm, nr_to_scan, lv, sc, lru)
    ev = mm.events
    ev[EV_PGSCAN_KSWAPD if sc.is_kswapd else EV_PGSCAN_DIRECT] += nr_scanned
    ev[EV_PGSCAN_FILE if file else EV_PGSCAN_ANON] += nr_scanned
    if not taken:
        return 0
    order = mm.mem.order
    nr_taken = sum(1 << order[p] for p in taken)
    unqueued_before = sc.nr_unqueued_dirty
    nr_reclaimed, nr_pageout, keep = shrink_folio_list(mm, taken, sc)
    move_folios_to_lru(mm, keep)
    ev[EV_PGSTEAL_KSWAPD if sc.is_kswapd else EV_PGSTEAL_DIRECT] += nr_reclaimed
    ev[EV_PGSTEAL_FILE if file else EV_PGSTEAL_ANON] += nr_reclaimed
    lru_note_cost(lv, file, nr_pageout)
    if sc.nr_unqueued_dirty - unqueued_before == nr_taken:
        wakeup_flusher_threads(mm)
    sc.nr_taken += nr_taken
    if file:
        sc.nr_file_taken += nr_taken
    return nr_reclaimed


def shrink_active_list(mm, nr_to_scan: int, lv, sc: ScanControl, lru: int) -> None:
    """Move pages from the tail of an active list to the inactive list.

    Models mm/vmscan.c:shrink_active_list: every page is deactivated (the VM_EXEC
    rotation of referenced file pages is not modelled); young ptes are cleared.
    """
    pu = mm.page_users
    taken, nr_scanned = isolate_lru_folios(mm, nr_to_scan, lv, sc, lru)
    mm.events[EV_PGREFILL] += nr_scanned
    pf = pu.pflags
    order = mm.mem.order
    nr_deactivate = 0
    for p in taken:
        pf[p] = (pf[p] & ~(PGU_ACTIVE | PGU_YOUNG) & 0xFF) | PGU_WORKINGSET
        nr_deactivate += 1 << order[p]
    move_folios_to_lru(mm, taken)
    mm.events[EV_PGDEACTIVATE] += nr_deactivate


def shrink_list(mm, lru: int, nr_to_scan: int, lv, sc: ScanControl) -> int:
    """mm/vmscan.c:shrink_list: active lists only when deactivation is wanted."""
    if lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE):
        if sc.may_deactivate & (DEACTIVATE_FILE if lru == LRU_ACTIVE_FILE else DEACTIVATE_ANON):
            shrink_active_list(mm, nr_to_scan, lv, sc, lru)
        else:
            sc.skipped_deactivate = True
        return 0
    return shrink_inactive_list(mm, nr_to_scan, lv, sc, lru)


def prepare_scan_count(mm, pgdat, sc: ScanControl) -> None:
    """Which active lists to deactivate, cache trim mode, tiny file LRU.

    Models mm/vmscan.c:prepare_scan_count (no refaults: only inactive_is_low decides).
    """
    lv = pgdat.lru
    sc.anon_cost = lv.anon_cost
    sc.file_cost = lv.file_cost
    if not sc.force_deactivate:
        sc.may_deactivate = 0
        if inactive_is_low(lv, LRU_INACTIVE_ANON):
            sc.may_deactivate |= DEACTIVATE_ANON
        if inactive_is_low(lv, LRU_INACTIVE_FILE):
            sc.may_deactivate |= DEACTIVATE_FILE
    else:
        sc.may_deactivate = DEACTIVATE_ANON | DEACTIVATE_FILE
    file = lv.total(LRU_INACTIVE_FILE)
    sc.cache_trim_mode = bool(file >> sc.priority) and not sc.may_deactivate & DEACTIVATE_FILE
    free = sum(z.nr_free_pages() for z in pgdat.node_zones)
    file = lv.total(LRU_ACTIVE_FILE) + lv.total(LRU_INACTIVE_FILE)
    total_high = sum(z.high_wmark_pages() for z in pgdat.node_zones if z.managed_pages)
    anon = lv.total(LRU_INACTIVE_ANON)
    sc.file_is_tiny = (file + free <= total_high and not sc.may_deactivate & DEACTIVATE_ANON
                       and bool(anon >> sc.priority))


def get_scan_count(mm, lv, sc: ScanControl) -> list[int]:
    """How many pages of each list to scan at this priority (mm/vmscan.c:get_scan_count)."""
    swappiness = mm.page_users.swappiness
    fraction = [0, 0]
    denominator = 1
    if not sc.may_swap or not can_reclaim_anon_pages(mm):
        balance = SCAN_FILE
    elif not sc.priority and swappiness:
        balance = SCAN_EQUAL
    elif sc.file_is_tiny:
        balance = SCAN_ANON
    elif sc.cache_trim_mode:
        balance = SCAN_FILE
    else:
        balance = SCAN_FRACT
        total_cost = sc.anon_cost + sc.file_cost
        anon_cost = total_cost + sc.anon_cost
        file_cost = total_cost + sc.file_cost
        total_cost = anon_cost + file_cost
        ap = swappiness * (total_cost + 1) // (anon_cost + 1)
        fp = (200 - swappiness) * (total_cost + 1) // (file_cost + 1)
        fraction = [ap, fp]
        denominator = ap + fp
    nr = [0, 0, 0, 0]
    for lru in range(4):
        file = 1 if lru >= LRU_INACTIVE_FILE else 0
        scan = lv.lru_size(lru, sc.reclaim_idx) >> sc.priority
        if balance == SCAN_FRACT:
            scan = scan * fraction[file] // denominator
        elif balance == SCAN_FILE and not file:
            scan = 0
        elif balance == SCAN_ANON and file:
            scan = 0
        nr[lru] = scan
    return nr


def shrink_lruvec(mm, lv, sc: ScanControl) -> None:
    """Scan the four lists in SWAP_CLUSTER_MAX batches until the targets are met.

    Models mm/vmscan.c:shrink_lruvec (direct reclaim at DEF_PRIORITY scans its whole
    target; kswapd stops at nr_to_reclaim and trims the other type proportionally).
    """
    nr = get_scan_count(mm, lv, sc)
    targets = nr[:]
    nr_reclaimed = 0
    nr_to_reclaim = sc.nr_to_reclaim
    proportional = not sc.is_kswapd and sc.priority == DEF_PRIORITY
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in range(4):
            if nr[lru]:
                n = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= n
                nr_reclaimed += shrink_list(mm, lru, n, lv, sc)
        if nr_reclaimed < nr_to_reclaim or proportional:
            continue
        nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE]
        nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON]
        if not nr_file or not nr_anon:
            break
        if nr_file > nr_anon:
            scan_target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1
            lru = LRU_INACTIVE_ANON
            percentage = nr_anon * 100 // scan_target
        else:
            scan_target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1
            lru = LRU_INACTIVE_FILE
            percentage = nr_file * 100 // scan_target
        nr[lru] = 0
        nr[lru + 1] = 0
        lru = LRU_INACTIVE_FILE if lru == LRU_INACTIVE_ANON else LRU_INACTIVE_ANON
        for lr in (lru, lru + 1):
            scanned = targets[lr] - nr[lr]
            nr[lr] = targets[lr] * (100 - percentage) // 100
            nr[lr] -= min(nr[lr], scanned)
    sc.nr_reclaimed += nr_reclaimed
    if can_age_anon_pages(mm) and inactive_is_low(lv, LRU_INACTIVE_ANON):
        shrink_active_list(mm, SWAP_CLUSTER_MAX, lv, sc, LRU_ACTIVE_ANON)


def shrink_slab(mm, gfp: int, pgdat, priority: int) -> int:
    """Scan reclaimable slab in proportion to the priority; return the pages freed.

    Models mm/vmscan.c:shrink_slab / do_shrink_slab for one shrinker of DEFAULT_SEEKS
    (the superblock's dentry/inode caches, which need __GFP_FS). One object per page;
    a referenced block gets a second trip instead of being freed.
    """
    if not gfp & __GFP_FS:
        return 0
    lv = pgdat.lru
    freeable = lv.total(LRU_SLAB)
    if not freeable:
        return 0
    nr = lv.nr_deferred
    lv.nr_deferred = 0
    delta = (freeable >> priority) * 4 // DEFAULT_SEEKS
    total_scan = min((nr >> priority) + delta, 2 * freeable)
    scanned = 0
    freed = 0
    while total_scan >= SHRINK_BATCH or total_scan >= freeable:
        nr_to_scan = min(SHRINK_BATCH, total_scan)
        if nr_to_scan <= 0:
            break
        freed += _slab_scan_objects(mm, lv, nr_to_scan)
        mm.events[EV_SLABS_SCANNED] += nr_to_scan
        total_scan -= nr_to_scan
        scanned += nr_to_scan
    lv.nr_deferred = nr - scanned if nr >= scanned else 0
    return freed


def _slab_scan_objects(mm, lv, nr_to_scan: int) -> int:
    pu = mm.page_users
    order = mm.mem.order
    head = lv.base + LRU_SLAB
    free: list[int] = []
    freed = 0
    scanned = 0
    p = pu.lru_prev[head]
    while scanned < nr_to_scan and p != head:
        prevp = pu.lru_prev[p]
        nr = 1 << order[p]
        scanned += nr
        if pu.pflags[p] & PGU_REFERENCED:
            from .swap import slab_list_add, slab_list_del
            pu.pflags[p] &= ~PGU_REFERENCED & 0xFF
            slab_list_del(mm, p)
            slab_list_add(mm, p)
        else:
            clear_page_user(mm, p)
            free.append(p)
            freed += nr
        p = prevp
    _free_reclaimed(mm, free)
    return freed


def should_continue_reclaim(mm, pgdat, nr_reclaimed: int, sc: ScanControl) -> bool:
    """Reclaim more for a high-order request until compaction could run (mm/vmscan.c)."""
    if not (sc.gfp_mask & __GFP_IO and sc.order
            and (sc.order > PAGE_ALLOC_COSTLY_ORDER or sc.priority < DEF_PRIORITY - 2)):
        return False
    if not nr_reclaimed:
        return False
    from .slowpath import COMPACT_CONTINUE, COMPACT_SUCCESS
    for z in pgdat.node_zones[:sc.reclaim_idx + 1]:
        if not z.managed_pages:
            continue
        r = _compaction_suitable(mm, z, sc.order, sc.reclaim_idx)
        if r is None:
            return False           # no compaction model: do not loop for it
        if r in (COMPACT_SUCCESS, COMPACT_CONTINUE):
            return False
    lv = pgdat.lru
    inactive = lv.total(LRU_INACTIVE_FILE)
    if can_reclaim_anon_pages(mm):
        inactive += lv.total(LRU_INACTIVE_ANON)
    return inactive > compact_gap(sc.order)


def shrink_node(mm, pgdat, sc: ScanControl) -> None:
    """Reclaim from one node's lists and slab (mm/vmscan.c:shrink_node)."""
    while True:
        nr_reclaimed = sc.nr_reclaimed
        prepare_scan_count(mm, pgdat, sc)
        shrink_lruvec(mm, pgdat.lru, sc)
        sc.nr_reclaimed += shrink_slab(mm, sc.gfp_mask, pgdat, sc.priority)
        reclaimed = sc.nr_reclaimed - nr_reclaimed
        if not should_continue_reclaim(mm, pgdat, reclaimed, sc):
            break
    if reclaimed:
        pgdat.kswapd_failures = 0


def wakeup_flusher_threads(mm) -> int:
    """Write back every dirty file page now; return how many were cleaned.

    Models the effect of fs/fs-writeback.c:wakeup_flusher_threads with writeback that
    completes at once (the model has no block device).
    """
    import numpy as np
    pu = mm.page_users
    dirty = np.flatnonzero(pu.a_pflags & PGU_DIRTY)
    order = mm.mem.order
    for p in dirty.tolist():
        pu.pflags[p] &= ~PGU_DIRTY & 0xFF
        pu.account_dirty(mm, p, order[p], -1)
    return int(dirty.size)


# --------------------------------------------------------------------------------------
# direct reclaim


def compaction_ready(mm, zone, sc: ScanControl) -> bool:
    """Should a costly-order direct reclaimer leave this zone to compaction? (mm/vmscan.c)."""
    if not sc.gfp_mask & __GFP_IO:
        return False
    from .slowpath import COMPACT_SKIPPED, COMPACT_SUCCESS
    r = _compaction_suitable(mm, zone, sc.order, sc.reclaim_idx)
    if r is None or r == COMPACT_SKIPPED:
        return False
    if r == COMPACT_SUCCESS:
        return True
    mark = zone.high_wmark_pages() + compact_gap(sc.order)
    return zone_watermark_ok_safe(mm, zone, 0, mark, sc.reclaim_idx)


def shrink_zones(mm, zonelist, sc: ScanControl) -> None:
    """Shrink each node of the zonelist once (mm/vmscan.c:shrink_zones)."""
    last = None
    for zone in zonelist:
        if zone.idx > sc.reclaim_idx or (sc.nodemask is not None and zone.nid not in sc.nodemask):
            continue
        if sc.order > PAGE_ALLOC_COSTLY_ORDER and compaction_ready(mm, zone, sc):
            sc.compaction_ready = True
            continue
        if zone.node is last:
            continue
        last = zone.node
        shrink_node(mm, zone.node, sc)


def do_try_to_free_pages(mm, zonelist, sc: ScanControl) -> int:
    """The direct reclaim priority loop (mm/vmscan.c:do_try_to_free_pages)."""
    initial_priority = sc.priority
    while True:
        mm.events[EV_ALLOCSTALL + sc.reclaim_idx] += 1
        while True:
            sc.nr_scanned = 0
            shrink_zones(mm, zonelist, sc)
            if sc.nr_reclaimed >= sc.nr_to_reclaim or sc.compaction_ready:
                break
            if sc.priority < DEF_PRIORITY - 2:
                sc.may_writepage = True
            sc.priority -= 1
            if sc.priority < 0:
                break
        if sc.nr_reclaimed:
            return sc.nr_reclaimed
        if sc.compaction_ready:
            return 1
        if sc.skipped_deactivate:
            sc.priority = initial_priority
            sc.force_deactivate = True
            sc.skipped_deactivate = False
            continue
        return 0


def allow_direct_reclaim(mm, pgdat) -> bool:
    """Are the node's pfmemalloc reserves above half the min watermarks? (mm/vmscan.c).

    Wakes kswapd (for zones up to NORMAL) when they are not.
    """
    if pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES:
        return True
    reserve = 0
    free = 0
    for z in pgdat.node_zones[:mm.ZONE_NORMAL + 1]:
        if not z.managed_pages or not zone_reclaimable_pages(mm, z):
            continue
        reserve += z.min_wmark_pages()
        free += z.nr_free_pages()
    if not reserve:
        return True
    ok = free > reserve // 2
    vs = mm.vmscan
    ks = vs.kswapd[pgdat.node_id] if vs is not None else None
    if not ok and ks is not None and ks.on_waitqueue():
        if pgdat.kswapd_highest_zoneidx > mm.ZONE_NORMAL:
            pgdat.kswapd_highest_zoneidx = mm.ZONE_NORMAL
        ks.woken = True
    return ok


def throttle_direct_reclaim(mm, gfp: int, zonelist, nodemask) -> bool:
    """Wait for kswapd when the pfmemalloc reserves are low (mm/vmscan.c).

    The model's wait is kswapd running now; it never reports a fatal signal.
    """
    task = getattr(mm, "current", None)
    if task is not None and not getattr(task, "is_task", True):
        return False
    hz = gfp_zone(gfp, mm.profile)
    pgdat = None
    for zone in zonelist:
        if zone.idx > hz or (nodemask is not None and zone.nid not in nodemask):
            continue
        if zone.idx > mm.ZONE_NORMAL:
            continue
        pgdat = zone.node
        if allow_direct_reclaim(mm, pgdat):
            return False
        break
    if pgdat is None:
        return False
    mm.events[EV_PGSCAN_DIRECT_THROTTLE] += 1
    mm.vmscan.run_kswapd(pgdat.node_id)
    return False


def try_to_free_pages(mm, zonelist, order: int, gfp: int, nodemask=None) -> int:
    """Direct reclaim for an allocation: SWAP_CLUSTER_MAX pages, priorities 12..0.

    Models mm/vmscan.c:try_to_free_pages with the PF_MEMALLOC scope of
    mm/page_alloc.c:__perform_reclaim around it.
    """
    sc = ScanControl(gfp_mask=gfp, order=order, reclaim_idx=gfp_zone(gfp, mm.profile),
                     nr_to_reclaim=SWAP_CLUSTER_MAX, nodemask=nodemask)
    if throttle_direct_reclaim(mm, gfp, zonelist, nodemask):
        return 1
    _trace(mm, "mm_vmscan_direct_reclaim_begin", f"order={order} gfp_flags={format_gfp(gfp)}")
    task = getattr(mm, "current", None)
    saved = getattr(task, "pf_memalloc", False)
    if task is not None:
        task.pf_memalloc = True
    try:
        nr = do_try_to_free_pages(mm, zonelist, sc)
    finally:
        if task is not None:
            task.pf_memalloc = saved
    _trace(mm, "mm_vmscan_direct_reclaim_end", f"nr_reclaimed={nr}")
    return nr




# --------------------------------------------------------------------------------------
# /proc/sys/vm/drop_caches


def drop_pagecache(mm) -> int:
    """Drop clean, unmapped page cache pages (fs/drop_caches.c:drop_pagecache_sb)."""
    import numpy as np
    pu = mm.page_users
    mem = mm.mem
    sel = ((pu.a_kind == Kind.FILE) & ((pu.a_pflags & (PGU_DIRTY | PGU_MAPPED | PGU_ISOLATED)) == 0)
           & ((mem.a_flags & PG_lru) != 0))
    pfns = np.flatnonzero(sel).tolist()
    for p in pfns:
        clear_page_user(mm, p)
    _free_reclaimed(mm, pfns)
    mm.events[EV_DROP_PAGECACHE] += 1
    return len(pfns)


def drop_slab(mm) -> int:
    """Shrink reclaimable slab until little is freed (mm/vmscan.c:drop_slab_node)."""
    total = 0
    for pgdat in mm.nodes:
        if pgdat.lru is None:
            continue
        shift = 0
        while True:
            freed = shrink_slab(mm, __GFP_FS | __GFP_IO, pgdat, 0)
            total += freed
            if (freed >> shift) <= 1:
                break
            shift += 1
    mm.events[EV_DROP_SLAB] += 1
    return total


# kswapd lives beside (kswapd.py imports this module, so this comes last)
from .kswapd import (Vmscan, balance_pgdat, kswapd_shrink_node, pgdat_balanced,  # noqa: E402
                     pgdat_watermark_boosted, prepare_kswapd_sleep, set_pgdat_percpu_threshold,
                     wakeup_kswapd)
