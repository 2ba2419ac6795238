"""Per-CPU page lists: struct per_cpu_pages and its sizing.

Models struct per_cpu_pages (include/linux/mmzone.h) and zone_batchsize /
zone_highsize / nr_pcp_free / nr_pcp_high of mm/page_alloc.c, [6.1.y-late]
layout: 12 low-order lists plus two THP lists, free_factor capped at
CONFIG_PCP_BATCH_SCALE_MAX. The allocation and free paths that use these
lists live in page_alloc.py, beside the buddy code they call.

Each list is a ``collections.deque`` of pfns whose *right* end is the list
head (list_add / list_first_entry) and whose left end is the tail
(list_add_tail / list_last_entry).
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .core import MM, AcCacheEntry

from .mmzone import NR_PCP_LISTS, PCP_BATCH_SCALE_MAX, ZONE_RECLAIM_ACTIVE, Zone

__all__ = ["PerCpuPages", "zone_batchsize", "zone_highsize", "nr_pcp_free", "nr_pcp_high",
           "BOOT_PAGESET_HIGH", "BOOT_PAGESET_BATCH", "__rmqueue_pcplist", "rmqueue_pcplist",
           "__alloc_pages_bulk", "free_unref_page", "free_unref_page_commit",
           "free_pcppages_bulk", "free_unref_page_list", "drain_pages_zone", "drain_pages",
           "drain_all_pages", "alloc_pages_fast", "free_pages_fast"]

BOOT_PAGESET_HIGH = 0
BOOT_PAGESET_BATCH = 1


class PerCpuPages:
    """struct per_cpu_pages for one (zone, CPU)."""

    __slots__ = ("cpu", "count", "high", "batch", "free_factor", "expire", "lists", "locked",
                 "stat_threshold")

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.count = 0
        self.high = BOOT_PAGESET_HIGH
        self.batch = BOOT_PAGESET_BATCH
        self.free_factor = 0
        self.expire = 0
        self.lists: list[deque[int]] = [deque() for _ in range(NR_PCP_LISTS)]
        # Held by someone on this CPU (an interrupted holder, or on PREEMPT_RT another
        # task): pcp_spin_trylock fails while this is true.
        self.locked = False
        self.stat_threshold = 0

    def __repr__(self) -> str:
        return (f"<pcp cpu {self.cpu} count={self.count} high={self.high} batch={self.batch} "
                f"free_factor={self.free_factor}>")


def _rounddown_pow_of_two(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n > 0 else 0


def zone_batchsize(managed_pages: int, page_size: int = 4096) -> int:
    """Pages moved per pcp refill/drain for a zone of ``managed_pages``.

    Models mm/page_alloc.c:zone_batchsize (MMU build).
    """
    batch = min(managed_pages >> 10, (1024 * 1024) // page_size)
    batch //= 4
    if batch < 1:
        batch = 1
    # Clamp to 2^n - 1 so that batches avoid cache aliasing (the kernel's reasoning).
    return _rounddown_pow_of_two(batch + batch // 2) - 1


def zone_highsize(zone: Zone, batch: int, cpu_online: int, *, high_fraction: int,
                  node_cpus: int, online_cpus: int) -> int:
    """pcp->high for a zone: its share of the low watermark (or of managed/fraction).

    Models mm/page_alloc.c:zone_highsize (MMU build, [6.1]: no auto-tuning).
    """
    if not high_fraction:
        total_pages = zone.low_wmark_pages()
    else:
        total_pages = zone.managed_pages // high_fraction
    nr_split_cpus = node_cpus + cpu_online
    if not nr_split_cpus:
        nr_split_cpus = online_cpus
    high = total_pages // nr_split_cpus
    return max(high, batch << 2)


def nr_pcp_free(pcp: PerCpuPages, high: int, batch: int, free_high: bool) -> int:
    """How many pages free_pcppages_bulk frees when a pcp overflows.

    Models mm/page_alloc.c:nr_pcp_free [6.1.y-late] (free_factor capped).
    """
    if free_high:
        return pcp.count
    if high < batch:
        return 1
    min_nr_free = batch
    max_nr_free = high - batch
    batch <<= pcp.free_factor
    if batch < max_nr_free and pcp.free_factor < PCP_BATCH_SCALE_MAX:
        pcp.free_factor += 1
    # clamp(batch, min, max): max wins when the bounds cross, as the kernel's clamp does.
    if batch < min_nr_free:
        batch = min_nr_free
    if batch > max_nr_free:
        batch = max_nr_free
    return batch


def nr_pcp_high(pcp: PerCpuPages, zone: Zone, free_high: bool) -> int:
    """The count at which a pcp free triggers a bulk free.

    Models mm/page_alloc.c:nr_pcp_high (ZONE_RECLAIM_ACTIVE caps it at 4 batches).
    """
    high = pcp.high
    if not high or free_high:
        return 0
    if not zone.flags & ZONE_RECLAIM_ACTIVE:
        return high
    return min(pcp.batch << 2, high)


# --------------------------------------------------------------------------------------
# allocation from the pcp lists


def __rmqueue_pcplist(mm: MM, zone: Zone, order: int, mt: int, alloc_flags: int,
                      pcp: PerCpuPages, lst) -> int:
    """Take the head of a pcp list, refilling it with rmqueue_bulk when empty.

    Models mm/page_alloc.c:__rmqueue_pcplist (refill of max(batch >> order, 2)).
    """
    if not lst:
        batch = pcp.batch
        if batch > 1:
            batch = max(batch >> order, 2)
        alloced = rmqueue_bulk(mm, zone, order, batch, lst, mt, alloc_flags)
        pcp.count += alloced << order
        if not lst:
            return -1
    pfn = lst.pop()
    pcp.count -= 1 << order
    return pfn


def rmqueue_pcplist(mm: MM, preferred: Zone, zone: Zone, order: int, mt: int,
                    alloc_flags: int) -> int:
    """Take a block from the running CPU's pcp list, refilling it from the buddy.

    Models mm/page_alloc.c:rmqueue_pcplist: fails (so the caller goes to the
    buddy) when the pcp trylock fails; every attempt halves free_factor.
    """
    pcp = zone.pcp[mm.cpu]
    if pcp.locked:
        mm.pcp_trylock_failures += 1
        mm.pcp_trylock_failures_alloc += 1
        return -1
    pcp.free_factor >>= 1
    pfn = __rmqueue_pcplist(mm, zone, order, mt, alloc_flags, pcp,
                            pcp.lists[order_to_pindex(mt, order)])
    if pfn < 0:
        return -1
    mm.events[EV_PGALLOC + zone.idx] += 1 << order
    _zone_statistics(mm, preferred, zone, 1)
    return pfn


def __alloc_pages_bulk(mm: MM, gfp: int, preferred_nid: int, nodemask, nr_pages: int,
                       page_array: list[int] | None = None) -> list[int]:
    """Allocate up to nr_pages order-0 pages in one pcp lock hold.

    Models mm/page_alloc.c:__alloc_pages_bulk [6.1.y-late]: walks from the
    preferred zone, needs low + nr_pages, fills from the pcp list (no
    free_factor halving, no mm_page_alloc events), falls back to a single
    __alloc_pages for one page. ``page_array`` slots holding -1 are filled
    in place; the pages allocated are returned.
    """
    got: list[int] = []
    arr = page_array
    nr_populated = 0
    while arr is not None and nr_populated < nr_pages and nr_populated < len(arr) and arr[nr_populated] >= 0:
        nr_populated += 1
    if nr_pages <= 0 or (arr is not None and nr_pages - nr_populated == 0):
        return got

    def failed() -> list[int]:
        pfn = __alloc_pages(mm, gfp, 0, preferred_nid, nodemask)
        if pfn >= 0:
            got.append(pfn)
            if arr is not None:
                arr[nr_populated] = pfn
        return got

    if nr_pages - nr_populated == 1 or mm.page_owner is not None:
        return failed()
    gfp &= mm.gfp_allowed_mask
    ac, alloc_flags = prepare_alloc_pages(mm, gfp, 0, preferred_nid, nodemask)
    if ac.preferred_idx < 0:
        return got
    preferred = ac.zonelist[ac.preferred_idx]
    zone = None
    for i in range(ac.preferred_idx, len(ac.zonelist)):
        z = ac.zonelist[i]
        if z.idx > ac.highest_zoneidx or (nodemask is not None and z.nid not in nodemask):
            continue
        if mm.nr_online_nodes() > 1 and z is not preferred and z.nid != preferred.nid:
            return failed()
        mark = z.wmark_pages(alloc_flags & ALLOC_WMARK_MASK) + nr_pages
        if zone_watermark_fast(mm, z, 0, mark, preferred.idx, alloc_flags, gfp):
            zone = z
            break
    if zone is None:
        return failed()
    pcp = zone.pcp[mm.cpu]
    if pcp.locked:
        mm.pcp_trylock_failures += 1
        mm.pcp_trylock_failures_alloc += 1
        return failed()
    lst = pcp.lists[order_to_pindex(ac.migratetype, 0)]
    nr_account = 0
    while nr_populated < nr_pages:
        if arr is not None and nr_populated < len(arr) and arr[nr_populated] >= 0:
            nr_populated += 1
            continue
        pfn = __rmqueue_pcplist(mm, zone, 0, ac.migratetype, alloc_flags, pcp, lst)
        if pfn < 0:
            if not nr_account:
                return failed()
            break
        nr_account += 1
        prep_new_page(mm, pfn, 0, gfp, 0)
        got.append(pfn)
        if arr is not None:
            arr[nr_populated] = pfn
        nr_populated += 1
    mm.events[EV_PGALLOC + zone.idx] += nr_account
    _zone_statistics(mm, preferred, zone, nr_account)
    return got


# --------------------------------------------------------------------------------------
# freeing to the pcp lists


def free_unref_page(mm: MM, pfn: int, order: int) -> None:
    """Free a pcp-order block to the running CPU's pcp list.

    Models mm/page_alloc.c:free_unref_page and free_unref_page_commit
    [6.1.y-late]: ISOLATE blocks go to the buddy, HIGHATOMIC/CMA to the
    movable list, a trylock failure frees to the buddy without PGFREE.
    """
    if not _free_pages_prepare(mm, pfn, order):
        return
    mem = mm.mem
    mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    mem.mt[pfn] = mt
    pcpmt = mt
    zone = _page_zone(mm, pfn)
    if mt >= MIGRATE_PCPTYPES:
        if mt == MIGRATE_ISOLATE:
            free_one_page(mm, zone, pfn, order, mt, FPI_NONE)
            return
        pcpmt = MIGRATE_MOVABLE
    pcp = zone.pcp[mm.cpu]
    if pcp.locked:
        mm.pcp_trylock_failures += 1
        mm.pcp_trylock_failures_free += 1
        free_one_page(mm, zone, pfn, order, mt, FPI_NONE)
        return
    free_unref_page_commit(mm, zone, pcp, pfn, pcpmt, order)


def free_unref_page_commit(mm: MM, zone: Zone, pcp: PerCpuPages, pfn: int, pcpmt: int,
                           order: int) -> None:
    """Push a block on a pcp list; flush a batch when the list is over high.

    Models mm/page_alloc.c:free_unref_page_commit.
    """
    mm.events[EV_PGFREE] += 1 << order
    pindex = order_to_pindex(pcpmt, order)
    pcp.lists[pindex].append(pfn)
    mem = mm.mem
    mem.flags[pfn] = PG_pcp
    mem.order[pfn] = order
    pcp.count += 1 << order
    free_high = bool(pcp.free_factor and order and order <= PAGE_ALLOC_COSTLY_ORDER)
    high = nr_pcp_high(pcp, zone, free_high)
    if pcp.count >= high:
        free_pcppages_bulk(mm, zone, nr_pcp_free(pcp, high, pcp.batch, free_high), pcp, pindex)


def free_pcppages_bulk(mm: MM, zone: Zone, count: int, pcp: PerCpuPages, pindex: int) -> None:
    """Return ``count`` pages from a pcp to the buddy, oldest first, list by list.

    Models mm/page_alloc.c:free_pcppages_bulk: round-robin over the lists
    starting with the one that overflowed, each list drained from its tail.
    """
    count = min(pcp.count, count)
    pindex -= 1
    min_pindex = 0
    max_pindex = NR_PCP_LISTS - 1
    isolated = zone.nr_isolate_pageblock > 0
    mem = mm.mem
    mtv = mem.mt
    lists = pcp.lists
    tr = mm.trace
    while count > 0:
        while True:
            pindex += 1
            if pindex > max_pindex:
                pindex = min_pindex
            lst = lists[pindex]
            if lst:
                break
            if pindex == max_pindex:
                max_pindex -= 1
            if pindex == min_pindex:
                min_pindex += 1
        order = pindex_to_order(pindex)
        nr_pages = 1 << order
        while True:
            pfn = lst.popleft()
            mt = mtv[pfn]
            count -= nr_pages
            pcp.count -= nr_pages
            if isolated:
                mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
            __free_one_page(mm, zone, pfn, order, mt, FPI_NONE)
            if tr is not None:
                tr.mm_page_pcpu_drain(mm, pfn, order, mt)
            if count <= 0 or not lst:
                break


def free_unref_page_list(mm: MM, pfns: list[int]) -> None:
    """Free a list of order-0 pages through the pcp, batch by batch.

    Models mm/page_alloc.c:free_unref_page_list [6.1.y-late]: the pcp lock
    is dropped every SWAP_CLUSTER_MAX pages and re-taken per zone; a page
    whose trylock fails goes to free_one_page.
    """
    mem = mm.mem
    todo: list[tuple[int, int]] = []
    for pfn in pfns:
        if not _free_pages_prepare(mm, pfn, 0):
            continue
        mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
        mem.mt[pfn] = mt
        if mt == MIGRATE_ISOLATE:
            free_one_page(mm, _page_zone(mm, pfn), pfn, 0, mt, FPI_NONE)
            continue
        todo.append((pfn, mt))
    tr = mm.trace
    for pfn, mt in todo:
        zone = _page_zone(mm, pfn)
        pcp = zone.pcp[mm.cpu]
        if pcp.locked:
            mm.pcp_trylock_failures += 1
            mm.pcp_trylock_failures_free += 1
            free_one_page(mm, zone, pfn, 0, mt, FPI_NONE)
            continue
        pcpmt = MIGRATE_MOVABLE if mt >= MIGRATE_PCPTYPES else mt
        if tr is not None:
            tr.mm_page_free_batched(mm, pfn)
        free_unref_page_commit(mm, zone, pcp, pfn, pcpmt, 0)


# --------------------------------------------------------------------------------------
# drains


def drain_pages_zone(mm: MM, cpu: int, zone: Zone) -> None:
    """Empty one CPU's pcp of a zone, batch << PCP_BATCH_SCALE_MAX per lock hold.

    Models mm/page_alloc.c:drain_pages_zone [6.1.y-late].
    """
    pcp = zone.pcp[cpu]
    count = pcp.count
    while count:
        to_drain = min(count, pcp.batch << PCP_BATCH_SCALE_MAX)
        free_pcppages_bulk(mm, zone, to_drain, pcp, 0)
        count = pcp.count


def drain_pages(mm: MM, cpu: int) -> None:
    """drain_pages(): every populated zone of one CPU."""
    for zone in mm.zones:
        if zone.present_pages and zone.pcp:
            drain_pages_zone(mm, cpu, zone)


def drain_all_pages(mm: MM, zone: Zone | None = None) -> None:
    """Drain every online CPU's pcps (of one zone or all), from the calling CPU.

    Models mm/page_alloc.c:__drain_all_pages (6.1 drains remote pcps under
    their lock, not from per-CPU work).
    """
    zones = [zone] if zone is not None else [z for z in mm.zones if z.present_pages]
    for cpu in mm.online_cpus():
        for z in zones:
            if z.pcp and z.pcp[cpu].count:
                drain_pages_zone(mm, cpu, z)


# --------------------------------------------------------------------------------------
# The fast path, inlined.
#
# alloc_pages_fast / free_pages_fast make exactly the decisions of
# __alloc_pages / __free_pages for the commonest case (first eligible zone
# passes its watermark, its pcp list holds a block, nothing traced or
# explained) with the calls flattened, and hand every other case to the
# general functions above at the point where the cases part. They are a
# performance device, not a second model: tests drive both on the same
# operations and compare the machines' states.


def _alloc_context_cached(mm: MM, key: int, gfp: int, preferred_nid: int) -> AcCacheEntry:
    """prepare_alloc_pages + alloc_flags_nofragment, memoised per (gfp, node, cpu).

    The entry also holds what the pcp hit needs: whether rmqueue may use the
    pcp for this migratetype, the pgalloc counter index and whether the
    running CPU is local to the zone. The cache is dropped whenever
    zonelists, node states or mobility grouping change (mm.update_pb_zone).
    """
    ac, alloc_flags = prepare_alloc_pages(mm, gfp, 0, preferred_nid, None)
    if ac.preferred_idx < 0:
        ent: AcCacheEntry = (None, 0, 0, 0, False, 0, False)
    else:
        zone = ac.zonelist[ac.preferred_idx]
        alloc_flags |= alloc_flags_nofragment(mm, zone, gfp)
        mt = ac.migratetype
        pcp_ok = (not mm.cma_enabled or bool(alloc_flags & ALLOC_CMA) or mt != MIGRATE_MOVABLE)
        ent = (zone, ac.highest_zoneidx, mt, alloc_flags, pcp_ok and mt < MIGRATE_PCPTYPES,
               EV_PGALLOC + zone.idx, zone.nid == mm.cpu_to_node[mm.cpu])
    mm.ac_cache[key] = ent
    return ent


def alloc_pages_fast(mm: MM, gfp: int, order: int, preferred_nid: int) -> int:
    """__alloc_pages() with the pcp-hit case inlined (see the block comment above)."""
    gfp &= mm.gfp_allowed_mask
    if order <= 3 and mm.trace is None and mm.explain is None and not mm.page_poisoning:
        key = gfp | (preferred_nid << 32) | (mm.cpu << 42)
        ent = mm.ac_cache.get(key)
        if ent is None:
            ent = _alloc_context_cached(mm, key, gfp, preferred_nid)
        zone, hz, mt, alloc_flags, pcp_ok, ev_idx, local = ent
        if pcp_ok and zone is not None:
            pcp = zone.pcp[mm.cpu]
            lst = pcp.lists[MIGRATE_PCPTYPES * order + mt]
            if lst and not pcp.locked:
                free = zone.vm_free
                if free < 0:
                    free = 0
                mark = zone._watermark[alloc_flags & ALLOC_WMARK_MASK] + zone.watermark_boost
                if not order:
                    reserved = zone.nr_reserved_highatomic
                    if mm.cma_enabled and not alloc_flags & ALLOC_CMA:
                        reserved += zone.vm_free_cma
                    ok = free - (free if free < reserved else reserved) > mark + zone.lowmem_reserve[hz]
                else:
                    ok = False
                if ok or zone_watermark_fast(mm, zone, order, mark, hz, alloc_flags, gfp):
                    # rmqueue_pcplist, pcp hit
                    pcp.free_factor >>= 1
                    ipfn: Any = lst.pop()     # kept boxed (see free_pages_fast)
                    pcp.count -= 1 << order
                    mm.events[ev_idx] += 1 << order
                    ev = zone.numa_events
                    ev[0] += 1
                    if local:
                        ev[4] += 1
                    else:
                        ev[5] += 1
                    if zone.flags & ZONE_BOOSTED_WATERMARK:
                        zone.flags &= ~ZONE_BOOSTED_WATERMARK
                        wakeup_kswapd(mm, zone, 0, 0, zone.idx)
                    mm.mem.flags[ipfn] = PG_head     # pcp entries already carry their order
                    if mm.page_owner is not None:
                        mm.page_owner.set_page_owner(mm, ipfn, order, gfp)
                    return ipfn
    return __alloc_pages(mm, gfp, order, preferred_nid, None)


def free_pages_fast(mm: MM, pfn: int, order: int) -> None:
    """__free_pages() with the pcp free inlined (see the block comment above)."""
    mem = mm.mem
    # One boxed pfn for the per-page arrays: in the compiled build an int-typed
    # index would be boxed again at every memoryview access (no effect in Python).
    ipfn: Any = pfn
    if (order <= 3 and mm.trace is None and mem.flags[ipfn] == PG_head
            and mem.order[ipfn] == order and mm.page_owner is None and not mm.page_poisoning
            and (mm.page_users is None or not mm.page_users.kind[ipfn])):
        mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
        if mt < MIGRATE_PCPTYPES:
            zone = mm.pb_zone[pfn >> pageblock_order]
            if zone is not None:
                pcp = zone.pcp[mm.cpu]
                if not pcp.locked:
                    mem.mt[ipfn] = mt
                    # free_unref_page_commit
                    mm.events[EV_PGFREE] += 1 << order
                    pindex = MIGRATE_PCPTYPES * order + mt
                    pcp.lists[pindex].append(ipfn)
                    mem.flags[ipfn] = PG_pcp
                    pcp.count += 1 << order
                    free_high = pcp.free_factor and order
                    high = pcp.high
                    if free_high or zone.flags & ZONE_RECLAIM_ACTIVE:
                        high = nr_pcp_high(pcp, zone, bool(free_high))
                    if pcp.count >= high:
                        free_pcppages_bulk(mm, zone, nr_pcp_free(pcp, high, pcp.batch,
                                                                 bool(free_high)), pcp, pindex)
                    return
    __free_pages(mm, pfn, order)


# The facade's entry points (machine_api.AllocAPI.alloc_pages / free_pages): argument
# checks and the running CPU set here, next to the fast paths, so that a compiled build
# (compiled.py) runs the whole call natively. Not kernel functions. API_BAD_ARGS says
# an argument is out of range; the facade finds which and words the error.
API_BAD_ARGS: Final = -2


def api_alloc_pages(mm: MM, gfp: int, order: int, cpu: int, nid: int) -> int:
    """alloc_pages() on ``cpu`` (nid -1: the CPU's node): a pfn, -1 on failure, or API_BAD_ARGS."""
    if cpu >= mm.nr_cpu_ids or cpu < 0 or not mm.cpu_online[cpu]:
        return API_BAD_ARGS
    if order < 0 or order >= MAX_ORDER:
        return API_BAD_ARGS
    if nid < 0:
        nid = mm.cpu_to_node[cpu]
    elif nid >= len(mm.nodes):
        return API_BAD_ARGS
    mm.cpu = cpu
    return alloc_pages_fast(mm, gfp, order, nid)


def api_free_pages(mm: MM, pfn: int, order: int, cpu: int) -> int:
    """__free_pages() on ``cpu``: 1, 0 when it was a bad free (reported), or API_BAD_ARGS."""
    if cpu >= mm.nr_cpu_ids or cpu < 0 or not mm.cpu_online[cpu]:
        return API_BAD_ARGS
    if pfn < 0 or pfn >= mm.mem.npfn:
        return API_BAD_ARGS
    mm.cpu = cpu
    before = mm.nr_bad_pages
    free_pages_fast(mm, pfn, order)
    return 1 if mm.nr_bad_pages == before else 0


# The buddy side these paths hand blocks to and take them from. Imported last, as
# page_alloc imports this module last: whichever is imported first, both are
# complete by the time either's functions run.
from .internal import ALLOC_CMA, ALLOC_WMARK_MASK  # noqa: E402
from .memmap import PB_MT_MASK, PG_head, PG_pcp  # noqa: E402
from .mmzone import (MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES,  # noqa: E402
                     PAGE_ALLOC_COSTLY_ORDER, ZONE_BOOSTED_WATERMARK, order_to_pindex,
                     pageblock_order, pindex_to_order)
from .page_alloc import (FPI_NONE, __alloc_pages, __free_one_page, __free_pages,  # noqa: E402
                         _free_pages_prepare, _page_zone, _zone_statistics,
                         alloc_flags_nofragment, free_one_page, prep_new_page,
                         prepare_alloc_pages, rmqueue_bulk, wakeup_kswapd, zone_watermark_fast)
from .vmstat import EV_PGALLOC, EV_PGFREE  # noqa: E402
