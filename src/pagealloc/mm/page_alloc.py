"""The buddy allocator: free lists, fallback, pcp lists and the allocation fast path.

Models mm/page_alloc.c of Linux 6.1 as the late stable series has it
([6.1.y-late]): __free_one_page, expand, __rmqueue_smallest, __rmqueue,
__rmqueue_fallback with find_suitable_fallback / steal_suitable_fallback,
rmqueue_bulk, rmqueue_pcplist, rmqueue_buddy, rmqueue, the watermark
checks, get_page_from_freelist, __alloc_pages and the free side
(free_unref_page, free_pcppages_bulk, free_one_page, __free_pages_ok).

Every function takes the machine's :class:`~pagealloc.mm.core.MM` first.
A page is its pfn; "no page" is -1. The running CPU is ``mm.cpu``.

Deliberate differences: no memcg, no KASAN/KMSAN, no debug_pagealloc guard
pages, no deferred struct page init; bad pages are reported and the page is
leaked exactly as the kernel does, but only the states the model tracks can
be "bad" (see debug.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import MM

from .internal import (ALLOC_CMA, ALLOC_HIGHATOMIC, ALLOC_KSWAPD, ALLOC_MIN_RESERVE,
                       ALLOC_NO_WATERMARKS, ALLOC_NOFRAGMENT, ALLOC_NON_BLOCK, ALLOC_OOM,
                       ALLOC_RESERVES, ALLOC_WMARK_LOW, ALLOC_WMARK_MASK, format_alloc_flags)
from .gfp import (__GFP_ATOMIC, __GFP_KSWAPD_RECLAIM, __GFP_THISNODE, __GFP_WRITE,
                  gfp_migratetype, gfp_zone)
from .memmap import PB_MT_MASK, PG_buddy, PG_head, PG_lru, PG_pcp, PG_reported, list_link
from .mmzone import (MAX_ORDER, MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE,
                     MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
                     MIGRATE_UNMOVABLE, WMARK_HIGH, WMARK_MIN, ZONE_BOOSTED_WATERMARK, Zone,
                     fallbacks, pageblock_nr_pages, pageblock_order, pcp_allowed_order)
from .vmstat import EV_PGALLOC, EV_PGFREE

__all__ = [
    "FPI_NONE", "FPI_SKIP_REPORT_NOTIFY", "FPI_TO_TAIL", "FPI_SKIP_KASAN_POISON",
    "AllocContext", "__free_one_page", "expand", "__rmqueue_smallest", "__rmqueue",
    "__rmqueue_fallback", "find_suitable_fallback", "steal_suitable_fallback",
    "move_freepages_block", "boost_watermark", "rmqueue_bulk", "rmqueue", "rmqueue_pcplist",
    "rmqueue_buddy", "zone_watermark_ok", "zone_watermark_fast", "__zone_watermark_ok",
    "get_page_from_freelist", "__alloc_pages", "free_unref_page", "free_pcppages_bulk",
    "free_one_page", "__free_pages_ok", "__free_pages", "free_unref_page_list",
    "drain_pages_zone", "drain_pages", "drain_all_pages", "reserve_highatomic_pageblock",
    "unreserve_highatomic_pageblock", "split_page", "__free_pages_core", "mod_zone_freepage_state",
    "prepare_alloc_pages", "alloc_flags_nofragment", "set_pageblock_migratetype",
    "alloc_pages_fast", "free_pages_fast", "__alloc_pages_bulk", "__rmqueue_pcplist", "__isolate_free_page", "__putback_isolated_page",
    "split_free_page", "del_page_from_free_list", "move_to_free_list", "free_one_page",
    "wakeup_kswapd",
]

FPI_NONE = 0
FPI_SKIP_REPORT_NOTIFY = 1 << 0
FPI_TO_TAIL = 1 << 1
FPI_SKIP_KASAN_POISON = 1 << 2

_SHUFFLE_ORDER = MAX_ORDER - 1
_NOT_BUDDY = 0xFF & ~(PG_buddy | PG_reported)
_NMT = MIGRATE_TYPES


# --------------------------------------------------------------------------------------
# counters


def mod_zone_freepage_state(mm: MM, zone: Zone, nr: int, mt: int) -> None:
    """Add ``nr`` to NR_FREE_PAGES (and NR_FREE_CMA_PAGES for CMA) with the per-CPU fold.

    Models __mod_zone_freepage_state -> __mod_zone_page_state: the delta goes
    to the running CPU's vm_stat_diff and is folded into the zone counter
    when it exceeds the CPU's stat_threshold.
    """
    diff = zone.vm_stat_diff
    cpu = mm.cpu
    x = diff[cpu] + nr
    t = zone.stat_threshold
    if x > t or x < -t:
        zone.vm_free += x
        diff[cpu] = 0
    else:
        diff[cpu] = x
    if mt == MIGRATE_CMA:
        zone.vm_free_cma += nr


def set_pageblock_migratetype(mm: MM, pfn: int, mt: int) -> None:
    """set_pageblock_migratetype(): mobility grouping off forces UNMOVABLE."""
    if mm.page_group_by_mobility_disabled and mt < MIGRATE_PCPTYPES:
        mt = MIGRATE_UNMOVABLE
    pb = mm.mem.pageblock
    i = pfn >> pageblock_order
    pb[i] = (pb[i] & ~PB_MT_MASK & 0xFF) | mt


def _explain(mm: MM, text: str) -> None:
    if mm.explain is not None:
        mm.explain.append(text)


def _shuffle_pick_tail(mm: MM) -> bool:
    """shuffle_pick_tail(): one bit of a cached random u64 per call (mm/shuffle.c)."""
    if not mm.shuffle_rand_bits:
        mm.shuffle_rand = mm.rng.getrandbits(64)
        mm.shuffle_rand_bits = 64
    ret = mm.shuffle_rand & 1
    mm.shuffle_rand >>= 1
    mm.shuffle_rand_bits -= 1
    return bool(ret)


# --------------------------------------------------------------------------------------
# the buddy core


def __free_one_page(mm: MM, zone: Zone, pfn: int, order: int, mt: int, fpi: int) -> None:
    """Put a block on the free lists, merging it with free buddies.

    Models mm/page_alloc.c:__free_one_page (no guard pages); compaction
    capture is honoured when a direct compactor has installed zone.capture.
    """
    mem = mm.mem
    nxt = mem.next
    prv = mem.prev
    ordr = mem.order
    flg = mem.flags
    if mt != MIGRATE_ISOLATE:
        mod_zone_freepage_state(mm, zone, 1 << order, mt)
    zstart = zone.zone_start_pfn
    zend = zone.zone_end_pfn
    nr_free = zone.nr_free
    capc: Any = zone.capture
    buddy_pfn = 0
    # Indices into the per-page arrays are kept boxed (Any): the compiled build would
    # otherwise box them again for every memoryview access (no effect in Python).
    ib: Any
    n: Any
    p: Any
    ip: Any = pfn
    flg[ip] = 0
    ordr[ip] = -1
    while order < MAX_ORDER - 1:
        if capc is not None and capc.capture(mm, zone, pfn, order, mt):
            mod_zone_freepage_state(mm, zone, -(1 << order), mt)
            return
        buddy_pfn = pfn ^ (1 << order)
        if buddy_pfn < zstart or buddy_pfn >= zend:
            break
        ib = buddy_pfn
        if not flg[ib] & PG_buddy or ordr[ib] != order:
            break
        if order >= pageblock_order:
            buddy_mt = mem.pageblock[buddy_pfn >> pageblock_order] & PB_MT_MASK
            if mt != buddy_mt and (mt >= MIGRATE_PCPTYPES or buddy_mt >= MIGRATE_PCPTYPES):
                break
        # del_page_from_free_list(buddy)
        n = nxt[ib]
        p = prv[ib]
        nxt[p] = n
        prv[n] = p
        flg[ib] = 0
        ordr[ib] = -1
        nr_free[order] -= 1
        pfn &= buddy_pfn
        order += 1

    ip = pfn
    flg[ip] = PG_buddy
    ordr[ip] = order
    mem.mt[ip] = mt
    if fpi & FPI_TO_TAIL:
        to_tail = True
    elif order >= _SHUFFLE_ORDER and mm.shuffle:
        to_tail = _shuffle_pick_tail(mm)
    elif order < MAX_ORDER - 2:
        # buddy_merge_likely(): is the buddy of our order+1 parent free?
        higher = buddy_pfn & pfn
        hb = higher ^ (1 << (order + 1))
        to_tail = (zstart <= hb < zend and flg[hb] & PG_buddy != 0
                   and ordr[hb] == order + 1)
    else:
        to_tail = False
    head: Any = zone.list_base + order * _NMT + mt
    if to_tail:
        last: Any = prv[head]
        nxt[ip] = head
        prv[ip] = last
        nxt[last] = ip
        prv[head] = ip
    else:
        first: Any = nxt[head]
        nxt[ip] = first
        prv[ip] = head
        prv[first] = ip
        nxt[head] = ip
    nr_free[order] += 1
    rep = mm.reporting
    if rep is not None and not fpi & FPI_SKIP_REPORT_NOTIFY and order >= rep.order:
        rep.notify_free(mm, order)


def del_page_from_free_list(mm: MM, zone: Zone, pfn: int, order: int) -> None:
    """del_page_from_free_list(): unlink a free block head, clear PageBuddy/PG_reported."""
    mem = mm.mem
    nxt = mem.next
    prv = mem.prev
    n = nxt[pfn]
    p = prv[pfn]
    nxt[p] = n
    prv[n] = p
    mem.flags[pfn] = 0
    mem.order[pfn] = -1
    zone.nr_free[order] -= 1


def move_to_free_list(mm: MM, zone: Zone, pfn: int, order: int, mt: int) -> None:
    """move_to_free_list(): move a listed free block to the tail of another type's list."""
    mem = mm.mem
    nxt = mem.next
    prv = mem.prev
    n = nxt[pfn]
    p = prv[pfn]
    nxt[p] = n
    prv[n] = p
    head = zone.list_base + order * _NMT + mt
    last = prv[head]
    nxt[pfn] = head
    prv[pfn] = last
    nxt[last] = pfn
    prv[head] = pfn
    mem.mt[pfn] = mt


def expand(mm: MM, zone: Zone, pfn: int, low: int, high: int, mt: int) -> None:
    """Split a block of order ``high`` down to ``low``, freeing the upper halves.

    Models mm/page_alloc.c:expand (no guard pages): each upper half goes to
    the head of the ``mt`` list of its order.
    """
    mem = mm.mem
    nxt = mem.next
    prv = mem.prev
    ordr = mem.order
    flg = mem.flags
    mtv = mem.mt
    nr_free = zone.nr_free
    base = zone.list_base + mt
    size = 1 << high
    # p, head and first are kept boxed (Any): the compiled build would otherwise box
    # them again for every memoryview access (no effect in Python)
    p: Any
    head: Any
    first: Any
    while high > low:
        high -= 1
        size >>= 1
        p = pfn + size
        head = base + high * _NMT
        first = nxt[head]
        nxt[p] = first
        prv[p] = head
        prv[first] = p
        nxt[head] = p
        nr_free[high] += 1
        flg[p] = PG_buddy
        ordr[p] = high
        mtv[p] = mt


def __rmqueue_smallest(mm: MM, zone: Zone, order: int, mt: int) -> int:
    """Take the smallest block of at least ``order`` from the ``mt`` lists, split it.

    Models mm/page_alloc.c:__rmqueue_smallest; returns the pfn or -1.
    """
    mem = mm.mem
    nxt = mem.next
    prv = mem.prev
    head = zone.list_base + order * _NMT + mt
    current_order = order
    pfn: Any            # kept boxed for the per-page arrays (see __free_one_page)
    n: Any
    while current_order < MAX_ORDER:
        pfn = nxt[head]
        if pfn != head:
            n = nxt[pfn]
            nxt[head] = n
            prv[n] = head
            mem.flags[pfn] = 0
            mem.order[pfn] = -1
            zone.nr_free[current_order] -= 1
            if current_order != order:
                expand(mm, zone, pfn, order, current_order, mt)
            mem.mt[pfn] = mt
            tr = mm.trace
            if tr is not None:
                tr.mm_page_alloc_zone_locked(mm, pfn, order, mt,
                                             pcp_allowed_order(order) and mt < MIGRATE_PCPTYPES)
            return pfn
        current_order += 1
        head += _NMT
    return -1


def _free_area_empty(mm: MM, zone: Zone, order: int, mt: int) -> bool:
    head = zone.list_base + order * _NMT + mt
    return mm.mem.next[head] == head


def can_steal_fallback(mm: MM, order: int, start_mt: int) -> bool:
    """can_steal_fallback(): may this request claim the whole pageblock?"""
    if order >= pageblock_order:
        return True
    return (order >= pageblock_order // 2 or start_mt == MIGRATE_RECLAIMABLE
            or start_mt == MIGRATE_UNMOVABLE or mm.page_group_by_mobility_disabled)


def find_suitable_fallback(mm: MM, zone: Zone, order: int, mt: int,
                           only_stealable: bool) -> tuple[int, bool]:
    """(fallback migratetype or -1, can_steal) for an order of a zone.

    Models mm/page_alloc.c:find_suitable_fallback (can_steal is returned
    False when the area is empty, where the kernel leaves it untouched).
    """
    if not zone.nr_free[order]:
        return -1, False
    can_steal = False
    for fmt in fallbacks[mt]:
        if _free_area_empty(mm, zone, order, fmt):
            continue
        if can_steal_fallback(mm, order, mt):
            can_steal = True
        if not only_stealable:
            return fmt, can_steal
        if can_steal:
            return fmt, can_steal
    return -1, can_steal


def boost_watermark(mm: MM, zone: Zone) -> bool:
    """Raise the zone's watermark_boost by a pageblock, capped by watermark_boost_factor.

    Models mm/page_alloc.c:boost_watermark.
    """
    if not mm.watermark_boost_factor:
        return False
    if pageblock_nr_pages * 4 > zone.managed_pages:
        return False
    max_boost = zone._watermark[WMARK_HIGH] * mm.watermark_boost_factor // 10000
    if not max_boost:
        return False
    max_boost = max(pageblock_nr_pages, max_boost)
    zone.watermark_boost = min(zone.watermark_boost + pageblock_nr_pages, max_boost)
    return True


def move_freepages_block(mm: MM, zone: Zone, pfn: int, mt: int,
                         count_movable: bool = False) -> tuple[int, int]:
    """Move every free block of pfn's pageblock to the tail of ``mt`` lists.

    Models mm/page_alloc.c:move_freepages_block; returns (pages moved,
    movable pages counted) where the count is of non-free pages with
    PageLRU or __PageMovable, as the kernel counts them (pcp pages are
    neither).
    """
    start = pfn & ~(pageblock_nr_pages - 1)
    end = start + pageblock_nr_pages - 1
    if not zone.spans(start):
        start = pfn
    if not zone.spans(end):
        return 0, 0
    mem = mm.mem
    flg = mem.flags
    ordr = mem.order
    moved = 0
    movable = 0
    p = start
    while p <= end:
        f = flg[p]
        if not f & PG_buddy:
            if count_movable and f & PG_lru:
                movable += 1
            p += 1
            continue
        o = ordr[p]
        move_to_free_list(mm, zone, p, o, mt)
        p += 1 << o
        moved += 1 << o
    return moved, movable


def _change_pageblock_range(mm: MM, pfn: int, start_order: int, mt: int) -> None:
    for i in range(1 << (start_order - pageblock_order)):
        set_pageblock_migratetype(mm, pfn + i * pageblock_nr_pages, mt)


def steal_suitable_fallback(mm: MM, zone: Zone, pfn: int, alloc_flags: int, start_type: int,
                            whole_block: bool) -> None:
    """Move a fallback block (and maybe its whole pageblock) to ``start_type``.

    Models mm/page_alloc.c:steal_suitable_fallback: claims the pageblock
    when free + alike pages reach half of it; boosts the watermark for
    sub-pageblock steals.
    """
    mem = mm.mem
    current_order = mem.order[pfn]
    old_block_type = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    if old_block_type == MIGRATE_HIGHATOMIC:
        move_to_free_list(mm, zone, pfn, current_order, start_type)
        return
    if current_order >= pageblock_order:
        _change_pageblock_range(mm, pfn, current_order, start_type)
        move_to_free_list(mm, zone, pfn, current_order, start_type)
        return
    if boost_watermark(mm, zone) and alloc_flags & ALLOC_KSWAPD:
        zone.flags |= ZONE_BOOSTED_WATERMARK
    if not whole_block:
        move_to_free_list(mm, zone, pfn, current_order, start_type)
        return
    free_pages, movable_pages = move_freepages_block(mm, zone, pfn, start_type, True)
    if start_type == MIGRATE_MOVABLE:
        alike_pages = movable_pages
    elif old_block_type == MIGRATE_MOVABLE:
        alike_pages = pageblock_nr_pages - (free_pages + movable_pages)
    else:
        alike_pages = 0
    if not free_pages:
        move_to_free_list(mm, zone, pfn, current_order, start_type)
        return
    claimed = (free_pages + alike_pages >= (1 << (pageblock_order - 1))
               or mm.page_group_by_mobility_disabled)
    if claimed:
        set_pageblock_migratetype(mm, pfn, start_type)
    if mm.explain is not None:
        _explain(mm, f"steal: block {pfn & ~(pageblock_nr_pages - 1):#x} free={free_pages} "
                     f"movable={movable_pages} alike={alike_pages} "
                     f"{'claimed' if claimed else 'not claimed'} for mt {start_type}")


def __rmqueue_fallback(mm: MM, zone: Zone, order: int, start_mt: int, alloc_flags: int) -> bool:
    """Steal a block from another migratetype's lists onto ``start_mt``'s.

    Models mm/page_alloc.c:__rmqueue_fallback: largest block first, the
    smallest for a movable request that cannot steal the whole pageblock,
    whole free pageblocks only under ALLOC_NOFRAGMENT.
    """
    min_order = order
    if order < pageblock_order and alloc_flags & ALLOC_NOFRAGMENT:
        min_order = pageblock_order
    current_order = MAX_ORDER - 1
    fallback_mt = -1
    can_steal = False
    found = False
    while current_order >= min_order:
        fallback_mt, can_steal = find_suitable_fallback(mm, zone, current_order, start_mt, False)
        if fallback_mt != -1:
            found = True
            break
        current_order -= 1
    if not found:
        return False
    if not can_steal and start_mt == MIGRATE_MOVABLE and current_order > order:
        current_order = order
        while current_order < MAX_ORDER:
            fallback_mt, can_steal = find_suitable_fallback(mm, zone, current_order, start_mt,
                                                            False)
            if fallback_mt != -1:
                break
            current_order += 1
    head = zone.list_base + current_order * _NMT + fallback_mt
    pfn = mm.mem.next[head]
    if mm.explain is not None:
        _explain(mm, f"fallback: {zone.name} order {current_order} list mt {fallback_mt} "
                     f"head {pfn:#x} for order {order} mt {start_mt} can_steal={can_steal}")
    steal_suitable_fallback(mm, zone, pfn, alloc_flags, start_mt, can_steal)
    tr = mm.trace
    if tr is not None:
        tr.mm_page_alloc_extfrag(mm, pfn, order, current_order, start_mt, fallback_mt)
    return True


def __rmqueue(mm: MM, zone: Zone, order: int, mt: int, alloc_flags: int) -> int:
    """Take a block of ``order`` for ``mt``, falling back to other types.

    Models mm/page_alloc.c:__rmqueue (with CMA balancing when CMA exists).
    """
    if mm.cma_enabled and alloc_flags & ALLOC_CMA:
        if zone.vm_free_cma > zone.nr_free_pages() // 2:
            pfn = __rmqueue_smallest(mm, zone, order, MIGRATE_CMA)
            if pfn >= 0:
                return pfn
    while True:
        pfn = __rmqueue_smallest(mm, zone, order, mt)
        if pfn >= 0:
            return pfn
        if mm.cma_enabled and alloc_flags & ALLOC_CMA:
            pfn = __rmqueue_smallest(mm, zone, order, MIGRATE_CMA)
            if pfn >= 0:
                return pfn
        if not __rmqueue_fallback(mm, zone, order, mt, alloc_flags):
            return -1


def rmqueue_bulk(mm: MM, zone: Zone, order: int, count: int, lst, mt: int, alloc_flags: int) -> int:
    """Refill a pcp list: up to ``count`` blocks appended at its tail.

    Models mm/page_alloc.c:rmqueue_bulk (check_pcp_refill never fails in the
    model: pages on the free lists are clean by construction).
    """
    mem = mm.mem
    flg = mem.flags
    ordr = mem.order
    i = 0
    while i < count:
        pfn = __rmqueue(mm, zone, order, mt, alloc_flags)
        if pfn < 0:
            break
        lst.appendleft(pfn)
        flg[pfn] = PG_pcp
        ordr[pfn] = order
        if mem.mt[pfn] == MIGRATE_CMA:
            zone.vm_free_cma -= 1 << order
        i += 1
    if i:
        mod_zone_freepage_state(mm, zone, -(i << order), -1)
    if mm.explain is not None:
        _explain(mm, f"pcp refill: {zone.name} order {order} mt {mt} asked {count} got {i}")
    return i


def _zone_statistics(mm: MM, preferred: Zone, z: Zone, nr: int) -> None:
    """zone_statistics(): numa_hit/miss/foreign and local/other."""
    ev = z.numa_events
    if z.nid == preferred.nid:
        ev[0] += nr
    else:
        ev[1] += nr
        preferred.numa_events[2] += nr
    if z.nid == mm.cpu_to_node[mm.cpu]:
        ev[4] += nr
    else:
        ev[5] += nr


def rmqueue_buddy(mm: MM, preferred: Zone, zone: Zone, order: int, alloc_flags: int,
                  mt: int) -> int:
    """Take a block straight from the buddy lists under the zone lock.

    Models mm/page_alloc.c:rmqueue_buddy [6.1.y-late] (HIGHATOMIC first for
    ALLOC_HIGHATOMIC, last for ALLOC_OOM / ALLOC_NON_BLOCK).
    """
    pfn = -1
    if alloc_flags & ALLOC_HIGHATOMIC:
        pfn = __rmqueue_smallest(mm, zone, order, MIGRATE_HIGHATOMIC)
    if pfn < 0:
        pfn = __rmqueue(mm, zone, order, mt, alloc_flags)
        if pfn < 0 and alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK):
            pfn = __rmqueue_smallest(mm, zone, order, MIGRATE_HIGHATOMIC)
        if pfn < 0:
            return -1
    mod_zone_freepage_state(mm, zone, -(1 << order), mm.mem.mt[pfn])
    mm.events[EV_PGALLOC + zone.idx] += 1 << order
    _zone_statistics(mm, preferred, zone, 1)
    return pfn


def rmqueue(mm: MM, preferred: Zone, zone: Zone, order: int, gfp: int, alloc_flags: int,
            mt: int) -> int:
    """Allocate from one zone: the pcp for cheap orders, else the buddy.

    Models mm/page_alloc.c:rmqueue; a pending ZONE_BOOSTED_WATERMARK wakes kswapd.
    """
    pfn = -1
    if pcp_allowed_order(order) and (not mm.cma_enabled or alloc_flags & ALLOC_CMA
                                     or mt != MIGRATE_MOVABLE):
        pfn = rmqueue_pcplist(mm, preferred, zone, order, mt, alloc_flags)
    if pfn < 0:
        pfn = rmqueue_buddy(mm, preferred, zone, order, alloc_flags, mt)
    if zone.flags & ZONE_BOOSTED_WATERMARK:
        zone.flags &= ~ZONE_BOOSTED_WATERMARK
        wakeup_kswapd(mm, zone, 0, 0, zone.idx)
    return pfn


def wakeup_kswapd(mm: MM, zone: Zone, gfp: int, order: int, highest_zoneidx: int) -> None:
    """Hand a kswapd wakeup to vmscan (mm/vmscan.c:wakeup_kswapd) if one is modelled."""
    mm.kswapd_wakeups += 1
    cb = mm.wakeup_kswapd_cb
    if cb is not None:
        cb(zone, gfp, order, highest_zoneidx)


# --------------------------------------------------------------------------------------
# watermarks


def __zone_watermark_unusable_free(mm: MM, z: Zone, order: int, alloc_flags: int) -> int:
    unusable = (1 << order) - 1
    if not alloc_flags & ALLOC_RESERVES:
        unusable += z.nr_reserved_highatomic
    if mm.cma_enabled and not alloc_flags & ALLOC_CMA:
        unusable += z.vm_free_cma if z.vm_free_cma > 0 else 0
    return unusable


def __zone_watermark_ok(mm: MM, z: Zone, order: int, mark: int, highest_zoneidx: int,
                        alloc_flags: int, free_pages: int) -> bool:
    """Is the zone above ``mark`` for this request, with a block of the order free?

    Models mm/page_alloc.c:__zone_watermark_ok [6.1.y-late] reserve arithmetic.
    """
    m = mark
    free_pages -= __zone_watermark_unusable_free(mm, z, order, alloc_flags)
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            m -= m // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                m -= m // 4
        if alloc_flags & ALLOC_OOM:
            m -= m // 2
    if free_pages <= m + z.lowmem_reserve[highest_zoneidx]:
        return False
    if not order:
        return True
    nxt = mm.mem.next
    nr_free = z.nr_free
    base = z.list_base
    for o in range(order, MAX_ORDER):
        if not nr_free[o]:
            continue
        head = base + o * _NMT
        for mt in range(MIGRATE_PCPTYPES):
            if nxt[head + mt] != head + mt:
                return True
        if mm.cma_enabled and alloc_flags & ALLOC_CMA and nxt[head + MIGRATE_CMA] != head + MIGRATE_CMA:
            return True
        if (alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)
                and nxt[head + MIGRATE_HIGHATOMIC] != head + MIGRATE_HIGHATOMIC):
            return True
    return False


def zone_watermark_ok(mm: MM, z: Zone, order: int, mark: int, highest_zoneidx: int,
                      alloc_flags: int) -> bool:
    """zone_watermark_ok(): __zone_watermark_ok on the folded NR_FREE_PAGES."""
    return __zone_watermark_ok(mm, z, order, mark, highest_zoneidx, alloc_flags,
                               z.nr_free_pages())


def zone_watermark_fast(mm: MM, z: Zone, order: int, mark: int, highest_zoneidx: int,
                        alloc_flags: int, gfp: int) -> bool:
    """The watermark check of get_page_from_freelist.

    Models mm/page_alloc.c:zone_watermark_fast: an order-0 shortcut, the
    full check, and the boost-ignoring re-check for __GFP_ATOMIC order-0.
    """
    free_pages = z.vm_free
    if free_pages < 0:
        free_pages = 0
    if not order:
        reserved = __zone_watermark_unusable_free(mm, z, 0, alloc_flags)
        usable = free_pages - min(free_pages, reserved)
        if usable > mark + z.lowmem_reserve[highest_zoneidx]:
            return True
    if __zone_watermark_ok(mm, z, order, mark, highest_zoneidx, alloc_flags, free_pages):
        return True
    if (not order and gfp & __GFP_ATOMIC and z.watermark_boost
            and (alloc_flags & ALLOC_WMARK_MASK) == WMARK_MIN):
        return __zone_watermark_ok(mm, z, order, z._watermark[WMARK_MIN], highest_zoneidx,
                                   alloc_flags, free_pages)
    return False


# --------------------------------------------------------------------------------------
# highatomic


def reserve_highatomic_pageblock(mm: MM, pfn: int, zone: Zone, order: int) -> None:
    """Turn the pageblock of a high-order atomic allocation into a HIGHATOMIC reserve.

    Models mm/page_alloc.c:reserve_highatomic_pageblock (1% of the zone plus a block).
    """
    max_managed = zone.managed_pages // 100 + pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    if mt < MIGRATE_PCPTYPES:
        zone.nr_reserved_highatomic += pageblock_nr_pages
        set_pageblock_migratetype(mm, pfn, MIGRATE_HIGHATOMIC)
        move_freepages_block(mm, zone, pfn, MIGRATE_HIGHATOMIC)
        _explain(mm, f"highatomic: reserved block {pfn & ~(pageblock_nr_pages - 1):#x} "
                     f"in {zone.name} (now {zone.nr_reserved_highatomic})")


def unreserve_highatomic_pageblock(mm: MM, ac: "AllocContext", force: bool) -> bool:
    """Give a HIGHATOMIC pageblock back to the request's migratetype.

    Models mm/page_alloc.c:unreserve_highatomic_pageblock.
    """
    nxt = mm.mem.next
    for zone in ac.zones():
        if not force and zone.nr_reserved_highatomic <= pageblock_nr_pages:
            continue
        for order in range(MAX_ORDER):
            head = zone.list_base + order * _NMT + MIGRATE_HIGHATOMIC
            pfn = nxt[head]
            if pfn == head:
                continue
            if mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK == MIGRATE_HIGHATOMIC:
                zone.nr_reserved_highatomic -= min(pageblock_nr_pages,
                                                   zone.nr_reserved_highatomic)
            set_pageblock_migratetype(mm, pfn, ac.migratetype)
            moved, _ = move_freepages_block(mm, zone, pfn, ac.migratetype)
            if moved:
                return True
    return False


# --------------------------------------------------------------------------------------
# the allocation context and get_page_from_freelist


class AllocContext:
    """struct alloc_context: the zonelist walk an allocation makes."""

    __slots__ = ("zonelist", "nodemask", "preferred_idx", "highest_zoneidx", "migratetype",
                 "spread_dirty_pages")

    def __init__(self, zonelist: list[Zone], nodemask, highest_zoneidx: int,
                 migratetype: int, preferred_idx: int | None = None,
                 spread_dirty_pages: bool = False) -> None:
        self.zonelist = zonelist
        self.nodemask = nodemask
        self.highest_zoneidx = highest_zoneidx
        self.migratetype = migratetype
        self.spread_dirty_pages = spread_dirty_pages
        self.preferred_idx = (first_zones_zonelist(zonelist, highest_zoneidx, nodemask)
                              if preferred_idx is None else preferred_idx)

    @property
    def preferred_zone(self) -> Zone | None:
        if self.preferred_idx < 0:
            return None
        return self.zonelist[self.preferred_idx]

    def zones(self):
        """for_each_zone_zonelist_nodemask from the start of the zonelist."""
        hz = self.highest_zoneidx
        nm = self.nodemask
        for z in self.zonelist:
            if z.idx <= hz and (nm is None or z.nid in nm):
                yield z


def first_zones_zonelist(zonelist: list[Zone], highest_zoneidx: int, nodemask) -> int:
    """Index of the first eligible zone of a zonelist, -1 if none."""
    for i, z in enumerate(zonelist):
        if z.idx <= highest_zoneidx and (nodemask is None or z.nid in nodemask):
            return i
    return -1


def alloc_flags_nofragment(mm: MM, zone: Zone | None, gfp: int) -> int:
    """ALLOC_KSWAPD from the gfp, ALLOC_NOFRAGMENT for a Normal zone with DMA32 beside.

    Models mm/page_alloc.c:alloc_flags_nofragment (CONFIG_ZONE_DMA32 builds only).
    """
    alloc_flags = gfp & __GFP_KSWAPD_RECLAIM
    if zone is None or mm.ZONE_DMA32 < 0:
        return alloc_flags
    if zone.idx != mm.ZONE_NORMAL:
        return alloc_flags
    if mm.nr_online_nodes() > 1 and not zone.node.node_zones[mm.ZONE_DMA32].present_pages:
        return alloc_flags
    return alloc_flags | ALLOC_NOFRAGMENT


def prep_new_page(mm: MM, pfn: int, order: int, gfp: int, alloc_flags: int) -> None:
    """Mark a block allocated (prep_new_page / post_alloc_hook, as far as modelled)."""
    mem = mm.mem
    mem.flags[pfn] = PG_head
    mem.order[pfn] = order
    if mm.page_poisoning:
        from .debug import kernel_unpoison_pages
        kernel_unpoison_pages(mm, pfn, 1 << order)
    po = mm.page_owner
    if po is not None:
        po.set_page_owner(mm, pfn, order, gfp)


def get_page_from_freelist(mm: MM, gfp: int, order: int, alloc_flags: int,
                           ac: AllocContext) -> int:
    """Walk the zonelist for a zone that passes its watermark and can supply a block.

    Models mm/page_alloc.c:get_page_from_freelist (no cpusets, no dirty
    throttling, node_reclaim only as its vm.zone_reclaim_mode=0 default).
    """
    zonelist = ac.zonelist
    hz = ac.highest_zoneidx
    nm = ac.nodemask
    explain = mm.explain
    while True:
        no_fallback = alloc_flags & ALLOC_NOFRAGMENT
        preferred = zonelist[ac.preferred_idx]
        restart = False
        for i in range(ac.preferred_idx, len(zonelist)):
            zone = zonelist[i]
            if zone.idx > hz or (nm is not None and zone.nid not in nm):
                continue
            if (no_fallback and zone is not preferred and zone.nid != preferred.nid
                    and mm.nr_online_nodes() > 1):
                alloc_flags &= ~ALLOC_NOFRAGMENT
                restart = True
                break
            mark = zone._watermark[alloc_flags & ALLOC_WMARK_MASK] + zone.watermark_boost
            if not zone_watermark_fast(mm, zone, order, mark, hz, alloc_flags, gfp):
                if explain is not None:
                    explain.append(
                        f"watermark: node {zone.nid} {zone.name} fails order {order} "
                        f"mark {mark} (wmark {alloc_flags & ALLOC_WMARK_MASK}, boost "
                        f"{zone.watermark_boost}) + protection {zone.lowmem_reserve[hz]}; "
                        f"free {zone.vm_free} highatomic {zone.nr_reserved_highatomic} "
                        f"flags {format_alloc_flags(alloc_flags)}")
                if not alloc_flags & ALLOC_NO_WATERMARKS:
                    continue
            pfn = rmqueue(mm, preferred, zone, order, gfp, alloc_flags, ac.migratetype)
            if pfn >= 0:
                if explain is not None:
                    explain.append(f"got {pfn:#x} from node {zone.nid} {zone.name} order {order} "
                                   f"mt {ac.migratetype} flags {format_alloc_flags(alloc_flags)}")
                prep_new_page(mm, pfn, order, gfp, alloc_flags)
                if alloc_flags & ALLOC_HIGHATOMIC:
                    reserve_highatomic_pageblock(mm, pfn, zone, order)
                return pfn
            if explain is not None:
                explain.append(f"rmqueue failed: node {zone.nid} {zone.name} order {order}")
        if restart:
            continue
        if no_fallback:
            alloc_flags &= ~ALLOC_NOFRAGMENT
            if explain is not None:
                explain.append("retry without ALLOC_NOFRAGMENT")
            continue
        return -1


def prepare_alloc_pages(mm: MM, gfp: int, order: int, preferred_nid: int,
                        nodemask) -> tuple[AllocContext, int]:
    """Build the alloc_context and the fast path's alloc_flags.

    Models mm/page_alloc.c:prepare_alloc_pages (cpusets disabled, no fault
    injection).
    """
    node = mm.nodes[preferred_nid]
    zonelist = node.zonelist_nofallback if gfp & __GFP_THISNODE else node.zonelist_fallback
    ac = AllocContext(zonelist, nodemask, gfp_zone(gfp, mm.profile),
                      gfp_migratetype(gfp, mm.page_group_by_mobility_disabled))
    alloc_flags = ALLOC_WMARK_LOW
    if mm.cma_enabled and ac.migratetype == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    ac.spread_dirty_pages = bool(gfp & __GFP_WRITE)
    return ac, alloc_flags


def __alloc_pages(mm: MM, gfp: int, order: int, preferred_nid: int, nodemask=None) -> int:
    """Allocate 2^order pages: the fast path, then the slowpath.

    Models mm/page_alloc.c:__alloc_pages. The slowpath is
    :func:`pagealloc.mm.slowpath.__alloc_pages_slowpath`.
    """
    if order >= MAX_ORDER:
        return -1
    gfp &= mm.gfp_allowed_mask
    if nodemask is None:
        # prepare_alloc_pages depends only on (gfp, node) here: reuse its result
        key = (gfp, preferred_nid)
        base = mm.prep_cache.get(key)
        if base is None:
            ac0, flags0 = prepare_alloc_pages(mm, gfp, order, preferred_nid, None)
            base = mm.prep_cache[key] = (ac0.zonelist, ac0.highest_zoneidx, ac0.migratetype,
                                         ac0.preferred_idx, ac0.spread_dirty_pages, flags0)
        zonelist, hz, mt, pref_idx, spread, alloc_flags = base
        ac = AllocContext(zonelist, None, hz, mt, pref_idx, spread)
    else:
        ac, alloc_flags = prepare_alloc_pages(mm, gfp, order, preferred_nid, nodemask)
    if ac.preferred_idx < 0:
        pfn = -1
    else:
        alloc_flags |= alloc_flags_nofragment(mm, ac.zonelist[ac.preferred_idx], gfp)
        pfn = get_page_from_freelist(mm, gfp, order, alloc_flags, ac)
        if pfn < 0:
            ac.spread_dirty_pages = False
            ac.nodemask = nodemask
            from .slowpath import __alloc_pages_slowpath
            pfn = __alloc_pages_slowpath(mm, gfp, order, ac)
    tr = mm.trace
    if tr is not None:
        tr.mm_page_alloc(mm, pfn, order, gfp, ac.migratetype)
    return pfn


# --------------------------------------------------------------------------------------
# freeing


def free_one_page(mm: MM, zone: Zone, pfn: int, order: int, mt: int, fpi: int) -> None:
    """Free straight to the buddy under the zone lock (no PGFREE).

    Models mm/page_alloc.c:free_one_page.
    """
    if zone.nr_isolate_pageblock or mt == MIGRATE_ISOLATE:
        mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    __free_one_page(mm, zone, pfn, order, mt, fpi)


def _free_pages_prepare(mm: MM, pfn: int, order: int) -> bool:
    """Check the block is an allocated head of ``order`` and clear its state.

    Models the checks of mm/page_alloc.c:free_pages_prepare that the model
    can express (see debug.py); returns False for a bad page, which is
    then reported and leaked as the kernel leaks it.
    """
    mem = mm.mem
    tr = mm.trace
    if tr is not None:
        tr.mm_page_free(mm, pfn, order)
    f = mem.flags[pfn]
    if f & PG_head and mem.order[pfn] == order:
        pu = mm.page_users
        if pu is not None and pu.kind[pfn]:
            # a raw free of a page that still has a user: release the user first
            from .page_users import clear_page_user
            clear_page_user(mm, pfn)
        mem.flags[pfn] = 0
        mem.order[pfn] = -1
        po = mm.page_owner
        if po is not None:
            po.reset_page_owner(mm, pfn, order)
        if mm.page_poisoning:
            from .debug import kernel_poison_pages
            kernel_poison_pages(mm, pfn, 1 << order)
        return True
    from .debug import report_bad_free
    report_bad_free(mm, pfn, order)
    return False


def __free_pages_ok(mm: MM, pfn: int, order: int, fpi: int) -> None:
    """Free a non-pcp order straight to the buddy, counting PGFREE.

    Models mm/page_alloc.c:__free_pages_ok.
    """
    if not _free_pages_prepare(mm, pfn, order):
        return
    mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    zone = _page_zone(mm, pfn)
    free_one_page(mm, zone, pfn, order, mt, fpi)
    mm.events[EV_PGFREE] += 1 << order


def free_the_page(mm: MM, pfn: int, order: int) -> None:
    """free_the_page(): pcp orders to the pcp, the rest to the buddy."""
    if pcp_allowed_order(order):
        free_unref_page(mm, pfn, order)
    else:
        __free_pages_ok(mm, pfn, order, FPI_NONE)


def __free_pages(mm: MM, pfn: int, order: int) -> None:
    """__free_pages() for a block the caller holds the only reference to."""
    free_the_page(mm, pfn, order)


def _page_zone(mm: MM, pfn: int) -> Zone:
    """page_zone(): the zone whose span holds pfn (cached by pageblock)."""
    z = mm.pb_zone[pfn >> pageblock_order]
    if z is not None:
        return z
    z = mm.zone_of_pfn(pfn)
    if z is None:
        raise ValueError(f"pfn {pfn:#x} is in no zone")
    return z


def split_page(mm: MM, pfn: int, order: int) -> None:
    """Turn an allocated order-n block into 2^n order-0 allocations (mm/page_alloc.c:split_page)."""
    mem = mm.mem
    if not (mem.flags[pfn] & PG_head and mem.order[pfn] == order):
        raise ValueError(f"split_page: pfn {pfn:#x} is not an allocated order-{order} block")
    mt = mem.mt[pfn]
    for p in range(pfn, pfn + (1 << order)):
        mem.flags[p] = PG_head | (mem.flags[p] & PG_lru)
        mem.order[p] = 0
        mem.mt[p] = mt
    po = mm.page_owner
    if po is not None:
        po.split(mm, pfn, order)


def __free_pages_core(mm: MM, zone: Zone, pfn: int, order: int) -> None:
    """Release boot or hotplugged memory to the buddy (managed += 2^order).

    Models mm/page_alloc.c:__free_pages_core -> __free_pages_ok with
    FPI_TO_TAIL | FPI_SKIP_KASAN_POISON.
    """
    mem = mm.mem
    n = 1 << order
    mem.a_flags[pfn:pfn + n] = 0
    mem.a_order[pfn:pfn + n] = -1
    zone.managed_pages += n
    mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    free_one_page(mm, zone, pfn, order, mt, FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
    mm.events[EV_PGFREE] += n


def install_free_block(mm: MM, zone: Zone, pfn: int, order: int, mt: int) -> None:
    """Put a free block at the tail of its list as a loaded capture says it is.

    Not a kernel function: the capture and snapshot loaders rebuild lists in
    their recorded order with it; counters are the caller's (no merging, no
    NR_FREE_PAGES change).
    """
    mem = mm.mem
    n = 1 << order
    mem.a_flags[pfn:pfn + n] = 0
    mem.a_order[pfn:pfn + n] = -1
    mem.flags[pfn] = PG_buddy
    mem.order[pfn] = order
    mem.mt[pfn] = mt
    list_link(mem.next, mem.prev, pfn, zone.list_base + order * _NMT + mt, True)
    zone.nr_free[order] += 1


def empty_zone_lists(mm: MM, zone: Zone) -> None:
    """Empty a zone's free lists (nr_free 0) and every CPU's pcp lists of it.

    Not a kernel function: the loaders of captured states (sources/fldump.py,
    sources/snapshot.py) call it before installing the lists they read.
    """
    nxt = mm.mem.next
    prv = mm.mem.prev
    for o in range(MAX_ORDER):
        zone.nr_free[o] = 0
        for mt in range(MIGRATE_TYPES):
            h = zone.list_base + o * MIGRATE_TYPES + mt
            nxt[h] = h
            prv[h] = h
    for pcp in zone.pcp:
        for lst in pcp.lists:
            lst.clear()
        pcp.count = 0
    zone.vm_stat_diff = [0] * mm.nr_cpu_ids


# --------------------------------------------------------------------------------------
# isolating free pages (compaction's free scanner, page reporting, isolation)


def __isolate_free_page(mm: MM, zone: Zone, pfn: int, order: int) -> int:
    """Take a free block off the buddy lists for a caller that will put it back or use it.

    Models mm/page_alloc.c:__isolate_free_page: outside an isolated pageblock
    the zone must keep min + 2^order free pages (boost ignored); a block of
    pageblock_order - 1 or more turns its mergeable pageblocks MOVABLE.
    Returns 2^order, or 0 when the watermark refuses.
    """
    mem = mm.mem
    if not (mem.flags[pfn] & PG_buddy and mem.order[pfn] == order):
        raise ValueError(f"__isolate_free_page: pfn {pfn:#x} is not a free block of order {order}")
    mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    if mt != MIGRATE_ISOLATE:
        watermark = zone._watermark[WMARK_MIN] + (1 << order)
        if not zone_watermark_ok(mm, zone, 0, watermark, 0, ALLOC_CMA):
            return 0
        mod_zone_freepage_state(mm, zone, -(1 << order), mt)
    del_page_from_free_list(mm, zone, pfn, order)
    if order >= pageblock_order - 1:
        end = pfn + (1 << order) - 1
        p = pfn
        while p < end:
            bmt = mem.pageblock[p >> pageblock_order] & PB_MT_MASK
            if bmt < MIGRATE_PCPTYPES:
                set_pageblock_migratetype(mm, p, MIGRATE_MOVABLE)
            p += pageblock_nr_pages
    return 1 << order


def __putback_isolated_page(mm: MM, zone: Zone, pfn: int, order: int, mt: int) -> None:
    """Return an isolated free block to the tail, without a reporting notification.

    Models mm/page_alloc.c:__putback_isolated_page.
    """
    __free_one_page(mm, zone, pfn, order, mt, FPI_SKIP_REPORT_NOTIFY | FPI_TO_TAIL)


def split_free_page(mm: MM, zone: Zone, pfn: int, order: int, split_pfn_offset: int) -> int:
    """Split a free block at an offset so each part can follow its own pageblock's type.

    Models mm/page_alloc.c:split_free_page; returns 0, or -2 (-ENOENT) when
    the block is no longer a free block of that order.
    """
    mem = mm.mem
    if not split_pfn_offset:
        return 0
    if not (mem.flags[pfn] & PG_buddy and mem.order[pfn] == order):
        return -2
    mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    if mt != MIGRATE_ISOLATE:
        mod_zone_freepage_state(mm, zone, -(1 << order), mt)
    del_page_from_free_list(mm, zone, pfn, order)
    p = pfn
    end = pfn + (1 << order)
    while p < end:
        fmt = mem.pageblock[p >> pageblock_order] & PB_MT_MASK
        o = min(((p & -p).bit_length() - 1) if p else order, split_pfn_offset.bit_length() - 1)
        __free_one_page(mm, zone, p, o, fmt, FPI_NONE)
        p += 1 << o
        split_pfn_offset -= 1 << o
        if not split_pfn_offset:
            split_pfn_offset = end - p
    return 0


# The pcp side of mm/page_alloc.c lives in pcp.py; re-exported here, imported last (see
# the note at the end of pcp.py).
from .pcp import (__alloc_pages_bulk, __rmqueue_pcplist, alloc_pages_fast,  # noqa: E402
                  drain_all_pages, drain_pages, drain_pages_zone, free_pages_fast,
                  free_pcppages_bulk, free_unref_page, free_unref_page_commit,
                  free_unref_page_list, rmqueue_pcplist)
