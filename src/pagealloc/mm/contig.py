"""Contiguous ranges: alloc_contig_range, alloc_contig_pages, free_contig_range.

Models the CONFIG_CONTIG_ALLOC part of mm/page_alloc.c (alloc_contig_range,
__alloc_contig_migrate_range, alloc_contig_pages, pfn_range_valid_contig,
free_contig_range) and, for its strict use, mm/compaction.c's
isolate_freepages_range / isolate_freepages_block(strict) / split_map_pages.

Migration is a hook: :func:`migrate_range`. Until it is wired in it
fails (-EBUSY) whenever the range holds an in-use page, unless the machine
has ``mm.migrate`` set: either a callable ``mm.migrate(mm, start_pfn,
end_pfn) -> int`` that moves every movable in-use block (PG_lru head) of
the range to free memory outside it, frees the originals through the
normal free path and returns 0 or a negative errno (-EBUSY, -ENOMEM,
-EAGAIN); or the migrator object compaction.py drives
(isolate_lru_page / migrate_pages / putback_movable_pages), which the hook
feeds the range's PG_lru pages and alloc_migration_target. So today a
range that is entirely free (pcp pages included: they are drained)
succeeds, and a range holding an in-use page fails with the kernel's -EBUSY
with every page, pageblock type and counter as it was.

Deliberate differences: no CMA areas (the migratetype argument may still be
MIGRATE_CMA), no hugetlb, no reclaim_clean_pages_from_list, no
lru_cache_disable.
"""
from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Iterable

import numpy as np

from .gfp import (GFP_KERNEL, GFP_USER, __GFP_COMP, __GFP_MOVABLE, __GFP_RETRY_MAYFAIL,
                  __GFP_THISNODE, gfp_zone)
from .memmap import PG_absent, PG_buddy, PG_head, PG_lru, PG_reserved
from .memory_hotplug import (PFN_SECTION_SHIFT, SECTION_IS_ONLINE, _page_zone, memory_hotplug,
                             pfn_to_online_page)
from .mm_init import N_MEMORY
from .mmzone import MAX_ORDER, MIGRATE_MOVABLE, Zone, pageblock_nr_pages, pageblock_order
from .page_isolation import start_isolate_page_range, test_pages_isolated, undo_isolate_page_range

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM

MIGRATE_SYNC = 2                  # enum migrate_mode (include/linux/migrate_mode.h)

__all__ = ["migrate_range", "__alloc_contig_migrate_range", "alloc_contig_range",
           "alloc_contig_pages", "free_contig_range", "isolate_freepages_range",
           "pfn_range_valid_contig"]


def migrate_range(mm: "MM", start_pfn: int, end_pfn: int,
                  reason: str = "contig_range") -> int:
    """Migrate the movable in-use pages of [start_pfn, end_pfn) elsewhere: the hook.

    Stands for isolate_migratepages_range + migrate_pages(MIGRATE_SYNC,
    MR_CONTIG_RANGE or MR_MEMORY_HOTPLUG) until migration is wired in: 0
    when the range holds no in-use page; -EBUSY when it does and the machine
    has no ``mm.migrate``. ``mm.migrate`` may be a callable ``(mm, start_pfn,
    end_pfn) -> int`` (see the module doc) or the migrator object
    compaction.py uses (``isolate_lru_page(pfn) -> bool`` and
    ``migrate_pages(pfns, get_new_page, put_new_page, mode, reason) ->
    (migrated, failed)``); then the PG_lru heads are isolated and migrated
    to pages from alloc_migration_target (GFP_USER | __GFP_MOVABLE |
    __GFP_RETRY_MAYFAIL; for memory hotplug on another node when there is
    one), and any failure is -EBUSY. Unmovable in-use pages are not this
    hook's concern: isolation refuses them, or test_pages_isolated finds them.
    """
    mem = mm.mem
    in_use = (mem.a_flags[start_pfn:end_pfn] & PG_head) != 0
    if not in_use.any():
        return 0
    migrate = getattr(mm, "migrate", None)
    if migrate is None:
        return -errno.EBUSY
    if not hasattr(migrate, "migrate_pages"):
        return migrate(mm, start_pfn, end_pfn)
    return _migrate_with(mm, migrate, start_pfn, end_pfn, reason)


def _migrate_with(mm: "MM", migrate, start_pfn: int, end_pfn: int, reason: str) -> int:
    """Isolate the range's LRU pages and migrate them with the machine's migrator."""
    from .page_alloc import __alloc_pages
    mem = mm.mem
    flags = mem.a_flags[start_pfn:end_pfn]
    heads = (np.flatnonzero((flags & (PG_head | PG_lru)) == (PG_head | PG_lru))
             + start_pfn).tolist()
    pages = [p for p in heads if migrate.isolate_lru_page(p)]
    zone = _page_zone(mm, start_pfn)
    nid = zone.nid if zone is not None else 0
    nodemask = None
    if reason == "memory_hotplug":
        # do_migrate_range: any other node with memory, else this one
        others = frozenset(n for n in mm.node_states.get(N_MEMORY, ()) if n != nid)
        nodemask = others or frozenset((nid,))
    gfp = GFP_USER | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL

    def alloc_migration_target(src: int, order: int) -> int:
        return __alloc_pages(mm, gfp | (__GFP_COMP if order else 0), order, nid, nodemask)

    failed = 0
    if pages:
        _, failed = migrate.migrate_pages(pages, alloc_migration_target, None, MIGRATE_SYNC,
                                          reason)
        if failed:
            putback = getattr(migrate, "putback_movable_pages", None)
            if putback is not None:
                putback(pages)
    return -errno.EBUSY if failed or len(pages) != len(heads) else 0


def __alloc_contig_migrate_range(mm: "MM", zone: Zone, start: int, end: int) -> int:
    """Move the movable pages of a range out (mm/page_alloc.c:__alloc_contig_migrate_range).

    Only blocks the migrate scanner would isolate (PG_lru heads) are
    handed to the hook; 0 when there are none.
    """
    mem = mm.mem
    movable = (mem.a_flags[start:end] & (PG_head | PG_lru)) == (PG_head | PG_lru)
    if not movable.any():
        return 0
    return migrate_range(mm, start, end)


def _free_page(mm: "MM", pfn: int) -> None:
    from .page_alloc import __free_pages
    __free_pages(mm, pfn, 0)


def _split_map_pages(mm: "MM", blocks: list[tuple[int, int]]) -> None:
    """split_map_pages(): each isolated free block becomes 2^order order-0 in-use pages."""
    from .page_alloc import split_page
    mem = mm.mem
    po = mm.page_owner
    for pfn, order in blocks:
        mem.flags[pfn] = PG_head
        mem.order[pfn] = order
        mem.mt[pfn] = MIGRATE_MOVABLE
        if po is not None:
            po.set_page_owner(mm, pfn, order, __GFP_MOVABLE)
        if order:
            split_page(mm, pfn, order)


def _isolate_freepages_block_strict(mm: "MM", zone: Zone, pfn: int, end_pfn: int,
                                    blocks: list[tuple[int, int]]) -> int:
    """isolate_freepages_block(strict=true): the pages isolated, 0 when a page was not free.

    The blocks taken before the scan stopped stay on ``blocks`` for the
    caller to release, as they stay on the kernel's freelist.
    """
    from .page_alloc import __isolate_free_page
    mem = mm.mem
    total = 0
    while pfn < end_pfn:
        if not mem.flags[pfn] & PG_buddy:
            break
        order = mem.order[pfn]
        isolated = __isolate_free_page(mm, zone, pfn, order)
        if not isolated:
            break
        blocks.append((pfn, order))
        total += isolated
        pfn += isolated
    if pfn < end_pfn:
        total = 0
    return total


def isolate_freepages_range(mm: "MM", zone: Zone, start_pfn: int, end_pfn: int) -> int:
    """Take every free page of [start_pfn, end_pfn) off the buddy as order-0 in-use pages.

    Models mm/compaction.c:isolate_freepages_range (strict): returns the pfn
    after the last isolated page (beyond end_pfn when the last free block
    crosses it), or 0 with everything released when a page is not free.
    """
    blocks: list[tuple[int, int]] = []
    pfn = start_pfn
    block_start = max(pfn & ~(pageblock_nr_pages - 1), zone.zone_start_pfn)
    block_end = (pfn | (pageblock_nr_pages - 1)) + 1
    while pfn < end_pfn:
        block_end = min(block_end, end_pfn)
        if pfn >= block_end:
            block_start = pfn & ~(pageblock_nr_pages - 1)
            block_end = min((pfn | (pageblock_nr_pages - 1)) + 1, end_pfn)
        if not (pfn_to_online_page(mm, block_start) and pfn_to_online_page(mm, block_end - 1)
                and _page_zone(mm, block_start) is zone and _page_zone(mm, block_end - 1) is zone):
            break
        isolated = _isolate_freepages_block_strict(mm, zone, pfn, block_end, blocks)
        if not isolated:
            break
        pfn += isolated
        block_start = block_end
        block_end += pageblock_nr_pages
    _split_map_pages(mm, blocks)
    if pfn < end_pfn:
        # release_freepages()
        for bpfn, order in blocks:
            for p in range(bpfn, bpfn + (1 << order)):
                _free_page(mm, p)
        return 0
    return pfn


def free_contig_range(mm: "MM", pfn: int, nr_pages: int) -> int:
    """Free nr_pages order-0 pages from pfn; returns how many were not in use.

    Models mm/page_alloc.c:free_contig_range (its WARN "%lu pages are still
    in use!" counts pages whose refcount is not 1; here pages that are not
    order-0 in-use heads, which the free then reports as bad pages).
    """
    from .page_alloc import __free_pages
    mem = mm.mem
    count = 0
    for p in range(pfn, pfn + nr_pages):
        if not (mem.flags[p] & PG_head and mem.order[p] == 0):
            count += 1
        __free_pages(mm, p, 0)
    if count:
        mm.printk(f"WARNING: {count} pages are still in use!")
    return count


def alloc_contig_range(mm: "MM", start: int, end: int, migratetype: int = MIGRATE_MOVABLE,
                       gfp: int = GFP_KERNEL) -> int:
    """Allocate every page of [start, end) (one zone) as order-0 pages: 0 or -errno.

    Models mm/page_alloc.c:alloc_contig_range: isolate the pageblocks,
    drain the pcps, migrate what can move (the hook), check the range is
    all free (from the start of the free block holding ``start``), pull the
    free blocks off the buddy, give back the excess before start and after
    end, and always undo the isolation. -EBUSY when an unmovable (or
    unmigratable) page is in the way; then every page is as it was.
    """
    from .page_alloc import drain_all_pages
    mem = mm.mem
    if not (0 <= start < end <= mem.npfn):
        return -errno.EINVAL
    zone = _page_zone(mm, start)
    if zone is None:
        return -errno.EINVAL
    with mm.lock:
        ret = start_isolate_page_range(mm, start, end, migratetype, 0, gfp)
        if ret:
            undo_isolate_page_range(mm, start, end, migratetype)
            return ret
        drain_all_pages(mm, zone)
        ret = __alloc_contig_migrate_range(mm, zone, start, end)
        if ret and ret != -errno.EBUSY:
            undo_isolate_page_range(mm, start, end, migratetype)
            return ret
        ret = 0
        order = 0
        outer_start = start
        while not mem.flags[outer_start] & PG_buddy:
            order += 1
            if order >= MAX_ORDER:
                outer_start = start
                break
            outer_start &= ~0 << order
        if outer_start != start:
            order = mem.order[outer_start]
            if outer_start + (1 << order) <= start:
                outer_start = start
        if test_pages_isolated(mm, outer_start, end, 0):
            ret = -errno.EBUSY
        else:
            outer_end = isolate_freepages_range(mm, zone, outer_start, end)
            if not outer_end:
                ret = -errno.EBUSY
            else:
                if start != outer_start:
                    free_contig_range(mm, outer_start, start - outer_start)
                if end != outer_end:
                    free_contig_range(mm, end, outer_end - end)
        undo_isolate_page_range(mm, start, end, migratetype)
        return ret


def pfn_range_valid_contig(mm: "MM", zone: Zone, start_pfn: int, nr_pages: int) -> bool:
    """Every pfn online, in the zone and not reserved (pfn_range_valid_contig; no hugetlb)."""
    end = start_pfn + nr_pages
    if end > mm.mem.npfn:
        return False
    hp = memory_hotplug(mm)
    s, e = start_pfn >> PFN_SECTION_SHIFT, (end - 1) >> PFN_SECTION_SHIFT
    if not (hp.section[s:e + 1] & SECTION_IS_ONLINE).all():
        return False
    if (mm.mem.a_flags[start_pfn:end] & (PG_reserved | PG_absent)).any():
        return False
    for b in range(start_pfn >> pageblock_order, ((end - 1) >> pageblock_order) + 1):
        z = mm.pb_zone[b]
        if z is None:
            lo = max(b << pageblock_order, start_pfn)
            hi = min((b + 1) << pageblock_order, end)
            if any(_page_zone(mm, p) is not zone for p in (lo, hi - 1)):
                return False
        elif z is not zone:
            return False
    return True


def alloc_contig_pages(mm: "MM", nr_pages: int, gfp: int = GFP_KERNEL, nid: int = 0,
                       nodemask: Iterable[int] | None = None) -> int:
    """Find and allocate nr_pages contiguous pages: the first pfn, or -1.

    Models mm/page_alloc.c:alloc_contig_pages: zones of the node's zonelist
    up to gfp_zone(gfp), candidates from ALIGN(zone_start_pfn, nr_pages) in
    steps of nr_pages (ALIGN is the kernel's mask arithmetic, meant for
    powers of two), each valid one tried with alloc_contig_range.
    """
    if nr_pages <= 0:
        return -1
    node = mm.nodes[nid]
    zonelist = node.zonelist_nofallback if gfp & __GFP_THISNODE else node.zonelist_fallback
    hz = gfp_zone(gfp, mm.profile)
    nm = frozenset(nodemask) if nodemask is not None else None
    for zone in list(zonelist):
        if zone.idx > hz or (nm is not None and zone.nid not in nm):
            continue
        pfn = (zone.zone_start_pfn + nr_pages - 1) & ~(nr_pages - 1)
        while zone.spans(pfn + nr_pages - 1):
            if pfn_range_valid_contig(mm, zone, pfn, nr_pages):
                if not alloc_contig_range(mm, pfn, pfn + nr_pages, MIGRATE_MOVABLE, gfp):
                    return pfn
            pfn += nr_pages
    return -1
