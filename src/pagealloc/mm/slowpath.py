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


def __alloc_pages_slowpath(mm, gfp: int, order: int, ac: AllocContext) -> int:
    """The slowpath in the kernel's order; returns the pfn or -1 (after warn_alloc)."""
    task = _Ctx(mm)
    can_direct_reclaim = bool(gfp & __GFP_DIRECT_RECLAIM)
    can_compact = gfp_compaction_allowed(gfp)
    costly = order > PAGE_ALLOC_COSTLY_ORDER
    if gfp & (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM) == (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM):
        gfp &= ~__GFP_ATOMIC
    vmscan = getattr(mm, "vmscan", None)
    compaction = getattr(mm, "compaction", None)
    oom = getattr(mm, "oom", None)
    nodemask = ac.nodemask

    state = {"no_progress_loops": 0}
    compaction_retries = 0
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

    while True:  # retry:
        if alloc_flags & ALLOC_KSWAPD:
            wake_all_kswapds(mm, order, gfp, ac)
        reserve_flags = gfp_pfmemalloc_flags(gfp, pf_memalloc=task.pf_memalloc,
                                             oom_victim=task.oom_victim,
                                             in_interrupt=mm.in_interrupt)
        if reserve_flags:
            cma = ALLOC_CMA if (mm.cma_enabled and ac.migratetype == MIGRATE_MOVABLE) else 0
            alloc_flags = reserve_flags | cma | (alloc_flags & ALLOC_KSWAPD)
        if not alloc_flags & ALLOC_CPUSET or reserve_flags:
            ac.nodemask = None
            ac.preferred_idx = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx, None)
        pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
        if pfn >= 0:
            return pfn
        if not can_direct_reclaim or task.pf_memalloc:
            return _nopage(mm, gfp, order, ac, alloc_flags)

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
            pfn, compact_result = compaction.alloc_pages_direct_compact(
                gfp, order, alloc_flags, ac, compact_priority)
            if pfn >= 0:
                return pfn
        if gfp & __GFP_NORETRY:
            break
        if costly and (not gfp & __GFP_RETRY_MAYFAIL or not can_compact):
            break
        if should_reclaim_retry(mm, gfp, order, ac, alloc_flags, progress > 0, state):
            continue
        if progress > 0 and can_compact and compaction is not None:
            again, compact_priority, compaction_retries = compaction.should_compact_retry(
                ac, order, alloc_flags, compact_result, compact_priority, compaction_retries)
            if again:
                continue
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
        if task.oom_victim and (alloc_flags & ALLOC_OOM or gfp & __GFP_NOMEMALLOC):
            break
        if did_some_progress:
            state["no_progress_loops"] = 0
            continue
        break

    # nopage:
    if gfp & __GFP_NOFAIL and can_direct_reclaim:
        # __alloc_pages_cpuset_fallback with ALLOC_MIN_RESERVE, then keep retrying
        # with no watermarks: the model cannot sleep, so it ends there.
        pfn = get_page_from_freelist(mm, gfp, order, ALLOC_MIN_RESERVE | ALLOC_CPUSET, ac)
        if pfn < 0:
            pfn = get_page_from_freelist(mm, gfp, order, ALLOC_MIN_RESERVE, ac)
        if pfn < 0:
            pfn = get_page_from_freelist(mm, gfp, order, ALLOC_NO_WATERMARKS, ac)
        if pfn >= 0:
            return pfn
    return _nopage(mm, gfp, order, ac, alloc_flags)


def _nopage(mm, gfp: int, order: int, ac: AllocContext, alloc_flags: int) -> int:
    """nopage/fail: warn_alloc unless __GFP_NOWARN."""
    mm.alloc_failures = getattr(mm, "alloc_failures", 0) + 1
    if not gfp & __GFP_NOWARN:
        from .show_mem import warn_alloc
        warn_alloc(mm, gfp, order, ac)
    return -1
