"""The allocation slowpath: reserves, kswapd wakeups, reclaim, compaction, OOM, retries.

Models mm/page_alloc.c:__alloc_pages_slowpath [6.1.y-late] and its
helpers (gfp_to_alloc_flags is in internal.py; should_reclaim_retry,
should_compact_retry, __alloc_pages_may_oom, __alloc_pages_cpuset_fallback).
Reclaim, compaction and the OOM killer are reached through the machine's
``mm.vmscan``, ``mm.compaction`` and ``mm.oom`` objects when they are
modelled; without them the slowpath behaves as a kernel whose reclaim and
compaction find nothing to do (no progress), which is exactly the fl2
captures' situation for masks without reclaim bits.
"""
from __future__ import annotations

from .gfp import (__GFP_ATOMIC, __GFP_DIRECT_RECLAIM, __GFP_FS, __GFP_HARDWALL, __GFP_NOFAIL, __GFP_NOMEMALLOC,
                  __GFP_NORETRY, __GFP_NOWARN, __GFP_RETRY_MAYFAIL, __GFP_THISNODE)
from .internal import (ALLOC_CMA, ALLOC_CPUSET, ALLOC_KSWAPD, ALLOC_MIN_RESERVE,
                       ALLOC_NO_WATERMARKS, ALLOC_OOM, ALLOC_WMARK_HIGH, MAX_RECLAIM_RETRIES,
                       gfp_compaction_allowed, gfp_pfmemalloc_flags, gfp_to_alloc_flags)
from .mmzone import MIGRATE_MOVABLE, PAGE_ALLOC_COSTLY_ORDER, WMARK_MIN
from .page_alloc import (AllocContext, __zone_watermark_ok, drain_all_pages,
                         first_zones_zonelist, get_page_from_freelist,
                         unreserve_highatomic_pageblock, wakeup_kswapd)

__all__ = ["__alloc_pages_slowpath", "should_reclaim_retry", "COMPACT_SKIPPED",
           "COMPACT_DEFERRED", "COMPACT_COMPLETE", "COMPACT_SUCCESS", "COMPACT_PRIO_ASYNC",
           "COMPACT_PRIO_SYNC_LIGHT", "COMPACT_PRIO_SYNC_FULL"]

# enum compact_result (include/linux/compaction.h)
COMPACT_NOT_SUITABLE_ZONE = 0
COMPACT_SKIPPED = 1
COMPACT_DEFERRED = 2
COMPACT_NO_SUITABLE_PAGE = 3
COMPACT_CONTINUE = 4
COMPACT_COMPLETE = 5
COMPACT_PARTIAL_SKIPPED = 6
COMPACT_CONTENDED = 7
COMPACT_SUCCESS = 8
# enum compact_priority
COMPACT_PRIO_SYNC_FULL = 0
COMPACT_PRIO_SYNC_LIGHT = 1
COMPACT_PRIO_ASYNC = 2
MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL
MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC
MAX_COMPACT_RETRIES = 16


class _Ctx:
    """Task context of the allocating caller (current->flags as far as modelled)."""
    __slots__ = ("pf_memalloc", "oom_victim", "rt_task")

    def __init__(self, mm) -> None:
        task = getattr(mm, "current", None)
        self.pf_memalloc = bool(getattr(task, "pf_memalloc", False))
        self.oom_victim = bool(getattr(task, "oom_victim", False))
        self.rt_task = bool(getattr(task, "rt", False))


def wake_all_kswapds(mm, order: int, gfp: int, ac: AllocContext) -> None:
    """wake_all_kswapds(): one wakeup per node of the zonelist (mm/page_alloc.c)."""
    seen = set()
    for zone in ac.zones():
        if zone.nid in seen or not zone.managed_pages:
            continue
        seen.add(zone.nid)
        wakeup_kswapd(mm, zone, gfp, order, ac.highest_zoneidx)


def should_reclaim_retry(mm, gfp: int, order: int, ac: AllocContext, alloc_flags: int,
                         did_some_progress: bool, state: dict) -> bool:
    """Is it worth another reclaim round? Models mm/page_alloc.c:should_reclaim_retry [6.1.y-late]."""
    if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
        state["no_progress_loops"] = 0
    else:
        state["no_progress_loops"] += 1
    ret = False
    if state["no_progress_loops"] <= MAX_RECLAIM_RETRIES:
        vmscan = getattr(mm, "vmscan", None)
        for zone in ac.zones():
            available = zone.nr_free_pages_snapshot()
            reclaimable = vmscan.zone_reclaimable_pages(zone) if vmscan is not None else 0
            if reclaimable == 0:
                # [6.1.141+]: with nothing on the LRUs, count free pages instead.
                reclaimable = zone.nr_free_pages()
            available += reclaimable
            if __zone_watermark_ok(mm, zone, order, zone.min_wmark_pages(), ac.highest_zoneidx,
                                   alloc_flags, available):
                ret = True
                break
    if not ret:
        return unreserve_highatomic_pageblock(mm, ac, True)
    return ret


# The kernel loops on __GFP_NOFAIL for as long as it takes (someone else frees memory);
# the model has no one else, so it gives up after this many rounds without a page.
NOFAIL_MAX_ROUNDS = 64
MAX_OOM_WAIT_ROUNDS = 16


def __alloc_pages_slowpath(mm, gfp: int, order: int, ac: AllocContext) -> int:
    """The slowpath in the kernel's order; returns the pfn or -1 (after warn_alloc).

    kswapd, woken on the way, runs when the allocation is over (see vmscan.py: the
    model's kswapd runs at such safe points, as if it got the CPU right after).
    """
    pfn = _alloc_pages_slowpath(mm, gfp, order, ac)
    vmscan = getattr(mm, "vmscan", None)
    if vmscan is not None and vmscan.pending():
        vmscan.run_pending()
    return pfn


def _alloc_pages_slowpath(mm, gfp: int, order: int, ac: AllocContext) -> int:
    task = _Ctx(mm)
    can_direct_reclaim = bool(gfp & __GFP_DIRECT_RECLAIM)
    can_compact = gfp_compaction_allowed(gfp)
    costly = order > PAGE_ALLOC_COSTLY_ORDER
    if gfp & (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM) == (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM):
        gfp &= ~__GFP_ATOMIC
    compaction = getattr(mm, "compaction", None)

    oom = getattr(mm, "oom", None)
    state = {"no_progress_loops": 0,
             "oom_kills_seen": len(getattr(oom, "kills", ()) or ())}
    compact_result = COMPACT_SKIPPED
    compact_priority = DEF_COMPACT_PRIORITY
    alloc_flags = gfp_to_alloc_flags(gfp, order, rt_task=task.rt_task,
                                     in_task=not mm.in_interrupt, cma=mm.cma_enabled)
    ac.preferred_idx = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx, ac.nodemask)
    if ac.preferred_idx < 0:
        return _nopage(mm, gfp, order, ac, alloc_flags)
    if alloc_flags & ALLOC_KSWAPD:
        wake_all_kswapds(mm, order, gfp, ac)
    pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
    if pfn >= 0:
        return pfn

    pfmemalloc = gfp_pfmemalloc_flags(gfp, pf_memalloc=task.pf_memalloc,
                                      oom_victim=task.oom_victim,
                                      in_interrupt=mm.in_interrupt) != 0
    if (can_direct_reclaim and can_compact and compaction is not None
            and (costly or (order > 0 and ac.migratetype != MIGRATE_MOVABLE))
            and not pfmemalloc):
        pfn, compact_result = compaction.alloc_pages_direct_compact(
            gfp, order, alloc_flags, ac, INIT_COMPACT_PRIORITY)
        if pfn >= 0:
            return pfn
        if costly and gfp & __GFP_NORETRY:
            if compact_result in (COMPACT_SKIPPED, COMPACT_DEFERRED):
                return _nopage(mm, gfp, order, ac, alloc_flags)
            compact_priority = INIT_COMPACT_PRIORITY

    compact = {"result": compact_result, "priority": compact_priority, "retries": 0,
               "again": False, "alloc_flags": alloc_flags}
    nofail_rounds = 0
    while True:  # retry:
        task = _Ctx(mm)     # the OOM killer may have made current a victim
        pfn = _retry_round(mm, gfp, order, ac, task, state, can_direct_reclaim, can_compact,
                           costly, alloc_flags, compact)
        if pfn >= 0:
            return pfn
        alloc_flags = compact["alloc_flags"]
        if compact["again"]:
            continue
        # nopage: __GFP_NOFAIL tries the MIN_RESERVE reserves and goes back to retry
        if gfp & __GFP_NOFAIL and can_direct_reclaim and nofail_rounds < NOFAIL_MAX_ROUNDS:
            nofail_rounds += 1
            pfn = _cpuset_fallback(mm, gfp, order, ALLOC_MIN_RESERVE, ac)
            if pfn >= 0:
                return pfn
            continue
        break

    # nopage (reached by a break):
    if gfp & __GFP_NOFAIL and can_direct_reclaim:
        pfn = _cpuset_fallback(mm, gfp, order, ALLOC_MIN_RESERVE, ac)
        if pfn < 0:
            # the model cannot wait for someone else to free memory: last resort
            pfn = _cpuset_fallback(mm, gfp, order, ALLOC_NO_WATERMARKS, ac)
        if pfn >= 0:
            return pfn
    return _nopage(mm, gfp, order, ac, alloc_flags)


def _retry_round(mm, gfp: int, order: int, ac: AllocContext, task: _Ctx, state: dict,
                 can_direct_reclaim: bool, can_compact: bool, costly: bool, alloc_flags: int,
                 compact: dict) -> int:
    """One pass from the retry: label to the next retry or nopage.

    Returns the pfn, or -1 with compact["again"] telling retry (True) from nopage.
    """
    vmscan = getattr(mm, "vmscan", None)
    compaction = getattr(mm, "compaction", None)
    oom = getattr(mm, "oom", None)
    compact["again"] = False
    if alloc_flags & ALLOC_KSWAPD:
        wake_all_kswapds(mm, order, gfp, ac)
    reserve_flags = gfp_pfmemalloc_flags(gfp, pf_memalloc=task.pf_memalloc,
                                         oom_victim=task.oom_victim,
                                         in_interrupt=mm.in_interrupt)
    if reserve_flags:
        cma = ALLOC_CMA if (mm.cma_enabled and ac.migratetype == MIGRATE_MOVABLE) else 0
        alloc_flags = reserve_flags | cma | (alloc_flags & ALLOC_KSWAPD)
    compact["alloc_flags"] = alloc_flags
    if not alloc_flags & ALLOC_CPUSET or reserve_flags:
        ac.nodemask = None
        ac.preferred_idx = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx, None)
    pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
    if pfn >= 0:
        return pfn
    if not can_direct_reclaim or task.pf_memalloc:
        return -1

    # __alloc_pages_direct_reclaim
    progress = 0
    if vmscan is not None:
        progress = vmscan.try_to_free_pages(ac, order, gfp)
        if progress:
            pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
            if pfn < 0:
                unreserve_highatomic_pageblock(mm, ac, False)
                drain_all_pages(mm, None)
                pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
            if pfn >= 0:
                return pfn
    if compaction is not None and can_compact and order:
        pfn, compact["result"] = compaction.alloc_pages_direct_compact(
            gfp, order, alloc_flags, ac, compact["priority"])
        if pfn >= 0:
            return pfn
    if gfp & __GFP_NORETRY:
        return -1
    if costly and (not gfp & __GFP_RETRY_MAYFAIL or not can_compact):
        return -1
    if should_reclaim_retry(mm, gfp, order, ac, alloc_flags, progress > 0, state):
        compact["again"] = True
        return -1
    if progress > 0 and can_compact and compaction is not None:
        again, compact["priority"], compact["retries"] = compaction.should_compact_retry(
            ac, order, alloc_flags, compact["result"], compact["priority"], compact["retries"])
        if again:
            compact["again"] = True
            return -1
    # __alloc_pages_may_oom
    did_some_progress = 0
    if oom is not None:
        pfn, did_some_progress = oom.alloc_pages_may_oom(gfp, order, ac)
        if pfn >= 0:
            return pfn
    else:
        pfn = get_page_from_freelist(mm, (gfp | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM,
                                     order, ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac)
        if pfn >= 0:
            return pfn
    # avoid allocations with no watermarks from looping endlessly
    if _Ctx(mm).oom_victim and (alloc_flags & ALLOC_OOM or gfp & __GFP_NOMEMALLOC):
        return -1
    if did_some_progress:
        # The kernel retries for as long as the OOM killer reports progress; progress
        # without a kill (a !__GFP_FS request, a dying current) only means "wait" and the
        # model has nobody to wait for: it stops after MAX_OOM_WAIT_ROUNDS such rounds.
        kills = getattr(oom, "kills", None)
        nkills = len(kills) if kills is not None else 0
        if nkills == state.get("oom_kills_seen", 0):
            state["oom_wait_rounds"] = state.get("oom_wait_rounds", 0) + 1
            if state["oom_wait_rounds"] > MAX_OOM_WAIT_ROUNDS:
                return -1
        state["oom_kills_seen"] = nkills
        state["no_progress_loops"] = 0
        compact["again"] = True
    return -1


def _cpuset_fallback(mm, gfp: int, order: int, alloc_flags: int, ac: AllocContext) -> int:
    """__alloc_pages_cpuset_fallback(): with ALLOC_CPUSET, then without."""
    pfn = get_page_from_freelist(mm, gfp, order, alloc_flags | ALLOC_CPUSET, ac)
    if pfn < 0:
        pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
    return pfn


def _nopage(mm, gfp: int, order: int, ac: AllocContext, alloc_flags: int) -> int:
    """nopage/fail: warn_alloc unless __GFP_NOWARN."""
    mm.alloc_failures += 1
    if not gfp & __GFP_NOWARN:
        from .show_mem import warn_alloc
        task = getattr(mm, "current", None)
        warn_alloc(mm, gfp, order, ac, comm=getattr(task, "comm", "pagealloc"))
    return -1
