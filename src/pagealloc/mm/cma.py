"""Contiguous allocations from the CMA areas.

Models mm/cma.c:cma_alloc / cma_release for the areas a ``cma=`` boot
parameter declared (mm_init.cma_init_reserved_areas activates them): the
area's bitmap of used pages, a search for a free aligned run, then
alloc_contig_range(MIGRATE_CMA) over it — movable pages that borrowed the
area are migrated out — retrying the next run on -EBUSY. Counts
cma_alloc_success / cma_alloc_fail as /proc/vmstat shows them with CMA.
"""
from __future__ import annotations

import errno

from .contig import alloc_contig_range, free_contig_range
from .mmzone import MIGRATE_CMA

__all__ = ["cma_alloc", "cma_release"]


def _bitmap(mm, area: tuple[int, int]) -> bytearray:
    bm = mm.cma_bitmaps.get(area)
    if bm is None:
        bm = mm.cma_bitmaps[area] = bytearray(area[1] - area[0])
    return bm


def cma_alloc(mm, count: int, align_order: int = 0, gfp: int = 0) -> int:
    """Allocate ``count`` contiguous pages from a CMA area; the first pfn or -errno."""
    from .gfp import GFP_KERNEL
    gfp = gfp or GFP_KERNEL
    if count <= 0:
        return -errno.EINVAL
    if not mm.cma_areas:
        mm.cma_events["cma_alloc_fail"] += 1
        return -errno.ENOMEM
    mask = (1 << align_order) - 1
    for area in mm.cma_areas:
        base, end = area
        bm = _bitmap(mm, area)
        pfn = (base + mask) & ~mask
        while pfn + count <= end:
            off = pfn - base
            busy = bm.find(1, off, off + count)
            if busy >= 0:
                pfn = (base + busy + 1 + mask) & ~mask
                continue
            ret = alloc_contig_range(mm, pfn, pfn + count, MIGRATE_CMA, gfp)
            if ret == 0:
                bm[off:off + count] = b"\x01" * count
                mm.cma_events["cma_alloc_success"] += 1
                return pfn
            if ret != -errno.EBUSY:
                break
            pfn += max(1 << align_order, 1)
    mm.cma_events["cma_alloc_fail"] += 1
    return -errno.ENOMEM


def cma_release(mm, pfn: int, count: int) -> bool:
    """Give pages from cma_alloc back; False if they are not a CMA allocation."""
    for area in mm.cma_areas:
        base, end = area
        if base <= pfn and pfn + count <= end:
            bm = _bitmap(mm, area)
            off = pfn - base
            if bm.find(0, off, off + count) >= 0:
                return False
            free_contig_range(mm, pfn, count)
            bm[off:off + count] = bytes(count)
            return True
    return False
