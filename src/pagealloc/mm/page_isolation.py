"""Page isolation: marking pageblocks MIGRATE_ISOLATE so their pages cannot be allocated.

Models mm/page_isolation.c of Linux 6.1 ([6.1.y-late]): has_unmovable_pages,
set_migratetype_isolate, unset_migratetype_isolate, isolate_single_pageblock
(the boundary pageblocks whose free or in-use block may cross the range
edge), start_isolate_page_range, undo_isolate_page_range and
test_pages_isolated. Callers: alloc_contig_range (contig.py) and memory
offline (memory_hotplug.py).

What is "movable" here is what a later migrate_pages can move: an in-use
block whose head carries PG_lru (PageLRU or __PageMovable). The model does
not know compound pages, so an in-use block of order > 0 is judged by its
head, as the kernel judges a compound page (THP) by compound_head(); the
kernel would skip the zero-refcount tails of a non-compound block instead.
Holes inside an online section (PG_absent) count as PageReserved, as their
reserved struct pages do in the kernel. No hugetlb, hwpoison or
PageOffline.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from .memmap import (PB_MT_MASK, PG_absent, PG_buddy, PG_head, PG_lru, PG_pcp, PG_reserved,
                     PG_unknown)
from .memory_hotplug import (_dump_page, _page_zone, first_valid_page, memory_hotplug,
                             pfn_to_online_page)
from .mmzone import (MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_CMA, MIGRATE_ISOLATE,
                     pageblock_nr_pages, pageblock_order)

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM

__all__ = ["MEMORY_OFFLINE", "REPORT_FAILURE", "has_unmovable_pages",
           "set_migratetype_isolate", "unset_migratetype_isolate", "isolate_single_pageblock",
           "start_isolate_page_range", "undo_isolate_page_range", "test_pages_isolated",
           "is_migrate_isolate_page", "block_head", "last_unmovable_pfn"]

# isolation flags (include/linux/page-isolation.h)
MEMORY_OFFLINE = 0x1
REPORT_FAILURE = 0x2

_NOT_MOVABLE = PG_reserved | PG_absent | PG_unknown


def _pageblock_start(pfn: int) -> int:
    return pfn & ~(pageblock_nr_pages - 1)


def _pageblock_align(pfn: int) -> int:
    return (pfn + pageblock_nr_pages - 1) & ~(pageblock_nr_pages - 1)


def is_migrate_isolate_page(mm: "MM", pfn: int) -> bool:
    """is_migrate_isolate_page(): the pageblock of pfn is MIGRATE_ISOLATE."""
    return mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK == MIGRATE_ISOLATE


def block_head(mm: "MM", pfn: int) -> int:
    """The head of the free, pcp or in-use block that covers pfn, or -1.

    Like is_free_buddy_page(): try the aligned candidates of every order.
    """
    mem = mm.mem
    flags = mem.flags
    ordr = mem.order
    for order in range(MAX_ORDER):
        head = pfn & ~((1 << order) - 1)
        f = flags[head]
        if f & (PG_buddy | PG_pcp | PG_head) and ordr[head] >= order:
            return head
    return -1


def last_unmovable_pfn(mm: "MM") -> int:
    """The pfn the last failed has_unmovable_pages() returned (-1 if none)."""
    return memory_hotplug(mm).last_unmovable_pfn


def has_unmovable_pages(mm: "MM", start_pfn: int, end_pfn: int, migratetype: int,
                        flags: int) -> int:
    """The first unmovable pfn of [start_pfn, end_pfn) inside one pageblock, or -1.

    Models mm/page_isolation.c:has_unmovable_pages: a CMA block is fine only
    when isolating for CMA; reserved pages (and holes) are unmovable; in
    ZONE_MOVABLE everything else is assumed movable; free and pcp blocks
    are skipped; an in-use block is movable when its head has PG_lru.
    """
    mem = mm.mem
    fl = mem.flags
    ordr = mem.order
    zone = _page_zone(mm, start_pfn)
    if mem.pageblock[start_pfn >> pageblock_order] & PB_MT_MASK == MIGRATE_CMA:
        return -1 if migratetype == MIGRATE_CMA else start_pfn
    movable_zone = zone is not None and zone.idx == mm.ZONE_MOVABLE
    pfn = start_pfn
    while pfn < end_pfn:
        f = fl[pfn]
        if f & _NOT_MOVABLE:
            return pfn
        if movable_zone:
            pfn += 1
            continue
        if f & (PG_buddy | PG_pcp):
            # refcount 0: free and pcp blocks are skipped
            pfn += 1 << ordr[pfn]
            continue
        if f & PG_head:
            if not f & PG_lru:
                return pfn
            pfn += 1 << ordr[pfn]
            continue
        head = block_head(mm, pfn)
        if head < 0:
            pfn += 1
            continue
        # a tail of an in-use block is judged by its head (compound_head)
        if fl[head] & PG_head and not fl[head] & PG_lru:
            return pfn
        pfn = head + (1 << ordr[head])
    return -1


def set_migratetype_isolate(mm: "MM", pfn: int, migratetype: int, isol_flags: int,
                            start_pfn: int, end_pfn: int) -> int:
    """Isolate pfn's pageblock unless it holds an unmovable page: 0 or -EBUSY.

    Models mm/page_isolation.c:set_migratetype_isolate: -EBUSY if already
    isolated; the free pages move to the ISOLATE lists and leave
    NR_FREE_PAGES; nr_isolate_pageblock counts the block.
    """
    from .page_alloc import mod_zone_freepage_state, move_freepages_block, set_pageblock_migratetype
    zone = _page_zone(mm, pfn)
    with mm.lock:
        if is_migrate_isolate_page(mm, pfn):
            return -errno.EBUSY
        check_start = max(pfn, start_pfn)
        check_end = min(_pageblock_start(pfn) + pageblock_nr_pages, end_pfn)
        unmovable = has_unmovable_pages(mm, check_start, check_end, migratetype, isol_flags)
        if unmovable < 0:
            mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
            set_pageblock_migratetype(mm, pfn, MIGRATE_ISOLATE)
            zone.nr_isolate_pageblock += 1
            nr_pages, _ = move_freepages_block(mm, zone, pfn, MIGRATE_ISOLATE)
            mod_zone_freepage_state(mm, zone, -nr_pages, mt)
            return 0
    memory_hotplug(mm).last_unmovable_pfn = unmovable
    if isol_flags & REPORT_FAILURE:
        _dump_page(mm, unmovable, "unmovable page")
    return -errno.EBUSY


def unset_migratetype_isolate(mm: "MM", pfn: int, migratetype: int) -> None:
    """Give an isolated pageblock back to ``migratetype``, merging big free blocks.

    Models mm/page_isolation.c:unset_migratetype_isolate: a free block of
    order pageblock_order..MAX_ORDER-2 heading the block whose buddy is not
    isolated is pulled out and put back (so it merges); otherwise the free
    pages move to the tail of the ``migratetype`` lists and are counted free.
    """
    from .page_alloc import (__isolate_free_page, __putback_isolated_page,
                             mod_zone_freepage_state, move_freepages_block,
                             set_pageblock_migratetype)
    mem = mm.mem
    zone = _page_zone(mm, pfn)
    with mm.lock:
        if not is_migrate_isolate_page(mm, pfn):
            return
        isolated_page = False
        order = 0
        if mem.flags[pfn] & PG_buddy:
            order = mem.order[pfn]
            if pageblock_order <= order < MAX_ORDER - 1:
                buddy = pfn ^ (1 << order)
                if (zone.spans(buddy) and mem.flags[buddy] & PG_buddy
                        and mem.order[buddy] == order and _page_zone(mm, buddy) is zone
                        and not is_migrate_isolate_page(mm, buddy)):
                    isolated_page = bool(__isolate_free_page(mm, zone, pfn, order))
        if not isolated_page:
            nr_pages, _ = move_freepages_block(mm, zone, pfn, migratetype)
            mod_zone_freepage_state(mm, zone, nr_pages, migratetype)
        set_pageblock_migratetype(mm, pfn, migratetype)
        if isolated_page:
            __putback_isolated_page(mm, zone, pfn, order, migratetype)
        zone.nr_isolate_pageblock -= 1


def isolate_single_pageblock(mm: "MM", boundary_pfn: int, flags: int, gfp: int,
                             isolate_before: bool, skip_isolation: bool,
                             migratetype: int) -> int:
    """Isolate the pageblock before or after a boundary so no block crosses it: 0 or -EBUSY.

    Models mm/page_isolation.c:isolate_single_pageblock: scanning from the
    MAX_ORDER-aligned start, a free block crossing the boundary is split
    (split_free_page); an in-use block crossing it is migrated (through the
    migration hook) when movable, else the isolation fails.
    """
    from .page_alloc import split_free_page
    mem = mm.mem
    fl = mem.flags
    ordr = mem.order
    if isolate_before:
        isolate_pageblock = boundary_pfn - pageblock_nr_pages
    else:
        isolate_pageblock = boundary_pfn
    zone = _page_zone(mm, isolate_pageblock)
    start_pfn = max(isolate_pageblock & ~(MAX_ORDER_NR_PAGES - 1), zone.zone_start_pfn)
    if skip_isolation:
        assert is_migrate_isolate_page(mm, isolate_pageblock)
    else:
        ret = set_migratetype_isolate(mm, isolate_pageblock, migratetype, flags,
                                      isolate_pageblock, isolate_pageblock + pageblock_nr_pages)
        if ret:
            return ret
    if isolate_before:
        if not pfn_to_online_page(mm, boundary_pfn):
            return 0
    elif not pfn_to_online_page(mm, boundary_pfn - 1):
        return 0

    pfn = start_pfn
    while pfn < boundary_pfn:
        pfn = first_valid_page(mm, pfn, boundary_pfn - pfn)
        assert pfn >= 0
        f = fl[pfn]
        if f & PG_buddy:
            order = ordr[pfn]
            if pfn + (1 << order) > boundary_pfn:
                if split_free_page(mm, zone, pfn, order, boundary_pfn - pfn):
                    continue          # changed under us: look again
            pfn += 1 << order
            continue
        if f & PG_pcp:
            pfn += 1 << ordr[pfn]
            continue
        if f & PG_head and ordr[pfn] > 0:
            head_pfn = pfn
            nr_pages = 1 << ordr[pfn]
            if head_pfn + nr_pages <= boundary_pfn:
                pfn = head_pfn + nr_pages
                continue
            if f & PG_lru:
                page_mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
                isolate_page = not is_migrate_isolate_page(mm, pfn)
                if isolate_page:
                    ret = set_migratetype_isolate(mm, pfn, page_mt, flags, head_pfn,
                                                  head_pfn + nr_pages)
                    if ret:
                        break
                from .contig import __alloc_contig_migrate_range
                ret = __alloc_contig_migrate_range(mm, zone, head_pfn, head_pfn + nr_pages)
                if isolate_page:
                    unset_migratetype_isolate(mm, pfn, page_mt)
                if ret:
                    break
                # find the free block the migrated page left behind
                outer = pfn
                order = 0
                while not fl[outer] & PG_buddy:
                    order += 1
                    if order >= MAX_ORDER:
                        break
                    outer &= ~((1 << order) - 1)
                if order >= MAX_ORDER:
                    break
                pfn = outer
                continue
            break
        pfn += 1
    else:
        return 0
    # failed: restore the original migratetype
    if not skip_isolation:
        unset_migratetype_isolate(mm, isolate_pageblock, migratetype)
    return -errno.EBUSY


def start_isolate_page_range(mm: "MM", start_pfn: int, end_pfn: int, migratetype: int,
                             flags: int, gfp: int) -> int:
    """Isolate every pageblock of [start_pfn, end_pfn): 0, or -EBUSY with nothing isolated.

    Models mm/page_isolation.c:start_isolate_page_range: the first and last
    pageblocks through isolate_single_pageblock, then the inner ones; a
    failure undoes everything done so far (blocks go back to ``migratetype``).
    """
    isolate_start = _pageblock_start(start_pfn)
    isolate_end = _pageblock_align(end_pfn)
    ret = isolate_single_pageblock(mm, isolate_start, flags, gfp, False, False, migratetype)
    if ret:
        return ret
    skip_isolation = isolate_start == isolate_end - pageblock_nr_pages
    ret = isolate_single_pageblock(mm, isolate_end, flags, gfp, True, skip_isolation,
                                   migratetype)
    if ret:
        unset_migratetype_isolate(mm, isolate_start, migratetype)
        return ret
    for pfn in range(isolate_start + pageblock_nr_pages, isolate_end - pageblock_nr_pages,
                     pageblock_nr_pages):
        page = first_valid_page(mm, pfn, pageblock_nr_pages)
        if page >= 0 and set_migratetype_isolate(mm, page, migratetype, flags,
                                                 start_pfn, end_pfn):
            undo_isolate_page_range(mm, isolate_start, pfn, migratetype)
            unset_migratetype_isolate(mm, isolate_end - pageblock_nr_pages, migratetype)
            return -errno.EBUSY
    return 0


def undo_isolate_page_range(mm: "MM", start_pfn: int, end_pfn: int, migratetype: int) -> None:
    """Un-isolate every isolated pageblock of a range (undo_isolate_page_range)."""
    for pfn in range(_pageblock_start(start_pfn), _pageblock_align(end_pfn), pageblock_nr_pages):
        page = first_valid_page(mm, pfn, pageblock_nr_pages)
        if page < 0 or not is_migrate_isolate_page(mm, page):
            continue
        unset_migratetype_isolate(mm, page, migratetype)


def _test_page_isolated_in_pageblock(mm: "MM", pfn: int, end_pfn: int, flags: int) -> int:
    fl = mm.mem.flags
    ordr = mm.mem.order
    while pfn < end_pfn:
        if fl[pfn] & PG_buddy:
            pfn += 1 << ordr[pfn]
        else:
            break
    return pfn


def test_pages_isolated(mm: "MM", start_pfn: int, end_pfn: int, isol_flags: int) -> int:
    """0 when every pageblock is isolated and every page free in the buddy, else -EBUSY.

    Models mm/page_isolation.c:test_pages_isolated (pages on pcp lists are
    not free here: callers drain first). The first pfn that is not free is
    kept in ``MemoryHotplug.test_pages_isolated`` as (start, end, fin_pfn),
    what the kernel's test_pages_isolated tracepoint reports.
    """
    pfn = start_pfn
    while pfn < end_pfn:
        page = first_valid_page(mm, pfn, pageblock_nr_pages)
        if page >= 0 and not is_migrate_isolate_page(mm, page):
            break
        pfn += pageblock_nr_pages
    page = first_valid_page(mm, start_pfn, end_pfn - start_pfn)
    if pfn < end_pfn or page < 0:
        memory_hotplug(mm).test_pages_isolated = (start_pfn, end_pfn, pfn)
        return -errno.EBUSY
    with mm.lock:
        pfn = _test_page_isolated_in_pageblock(mm, start_pfn, end_pfn, isol_flags)
    memory_hotplug(mm).test_pages_isolated = (start_pfn, end_pfn, pfn)
    return -errno.EBUSY if pfn < end_pfn else 0

