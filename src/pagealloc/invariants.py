"""The invariant check any test or user can call (Machine.check).

Not a kernel file (the kernel has scattered VM_BUG_ONs instead). Checks:
every pfn of a populated zone is in exactly one state (free in a buddy
block, on a pcp list, allocated, reserved or a hole); free blocks are
aligned, disjoint, inside their zone and on the list their head says; nr_free
equals the list contents per order; pcp counts equal their lists;
NR_FREE_PAGES (counter plus per-CPU diffs) equals the non-isolated free pages.
"""
from __future__ import annotations

import numpy as np

from .errors import InvariantError
from .mm.memmap import PG_absent, PG_buddy, PG_head, PG_pcp, PG_reserved, PG_unknown
from .mm.mmzone import MAX_ORDER, MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_TYPES, pindex_to_order

__all__ = ["check"]


def check(mm) -> None:
    """Raise InvariantError with a clear message if the model's state is inconsistent."""
    mem = mm.mem
    covered = np.zeros(mem.npfn, dtype=np.uint8)
    for z in mm.zones:
        if not z.present_pages:
            continue
        free_pages = 0
        free_cma = 0
        for order in range(MAX_ORDER):
            n_order = 0
            for mt in range(MIGRATE_TYPES):
                head = z.list_base + order * MIGRATE_TYPES + mt
                seen = 0
                p = mem.next[head]
                prev = head
                while p != head:
                    if mem.prev[p] != prev:
                        raise InvariantError(f"{z}: list order {order} mt {mt}: broken back link at pfn {p:#x}")
                    if not z.spans(p) or not z.spans(p + (1 << order) - 1):
                        raise InvariantError(f"{z}: free block {p:#x} order {order} outside the zone")
                    if p & ((1 << order) - 1):
                        raise InvariantError(f"{z}: free block {p:#x} not aligned to order {order}")
                    if not mem.flags[p] & PG_buddy or mem.order[p] != order or mem.mt[p] != mt:
                        raise InvariantError(
                            f"{z}: pfn {p:#x} on free list order {order} mt {mt} but marked "
                            f"flags={mem.flags[p]:#x} order={mem.order[p]} mt={mem.mt[p]}")
                    blk = covered[p:p + (1 << order)]
                    if blk.any():
                        raise InvariantError(f"{z}: free block {p:#x} order {order} overlaps another block")
                    blk[:] = 1
                    if mt != MIGRATE_ISOLATE:
                        free_pages += 1 << order
                        if mt == MIGRATE_CMA:
                            free_cma += 1 << order
                    seen += 1
                    prev = p
                    p = mem.next[p]
                n_order += seen
            if n_order != z.nr_free[order]:
                raise InvariantError(f"{z}: nr_free[{order}] = {z.nr_free[order]} but the lists hold {n_order}")
        counter = z.vm_free + sum(z.vm_stat_diff)
        if counter != free_pages:
            raise InvariantError(f"{z}: NR_FREE_PAGES {z.vm_free} + diffs {sum(z.vm_stat_diff)} = "
                                 f"{counter}, but the free lists hold {free_pages} pages")
        for pcp in z.pcp:
            total = 0
            for pindex, lst in enumerate(pcp.lists):
                order = pindex_to_order(pindex)
                for p in lst:
                    if not mem.flags[p] & PG_pcp or mem.order[p] != order:
                        raise InvariantError(f"{z}: pfn {p:#x} on cpu {pcp.cpu} pcp list {pindex} "
                                             f"but marked flags={mem.flags[p]:#x} order={mem.order[p]}")
                    blk = covered[p:p + (1 << order)]
                    if blk.any():
                        raise InvariantError(f"{z}: pcp block {p:#x} overlaps another block")
                    blk[:] = 2
                    total += 1 << order
            if total != pcp.count:
                raise InvariantError(f"{z}: cpu {pcp.cpu} pcp count {pcp.count} but its lists hold {total}")
    flags = mem.a_flags
    heads = np.flatnonzero(flags & PG_head)
    orders = mem.a_order[heads]
    for p, o in zip(heads.tolist(), orders.tolist()):
        blk = covered[p:p + (1 << o)]
        if blk.any():
            raise InvariantError(f"allocated block {p:#x} order {o} overlaps a free or pcp block")
        blk[:] = 3
    other = (flags & (PG_reserved | PG_absent | PG_unknown)) != 0
    stray = np.flatnonzero((covered == 0) & ~other)
    for z in mm.zones:
        if z.present_pages:
            inside = stray[(stray >= z.zone_start_pfn) & (stray < z.zone_end_pfn)]
            if inside.size:
                raise InvariantError(f"{z}: pfn {int(inside[0]):#x} is in no state (not free, pcp, "
                                     f"allocated or reserved); {inside.size} such pages")
    both = np.flatnonzero((covered != 0) & other)
    if both.size:
        raise InvariantError(f"pfn {int(both[0]):#x} is reserved/absent and also in a block")
    pu = getattr(mm, "page_users", None)
    if pu is not None:
        try:
            pu.check(mm)
        except InvariantError:
            raise
        except (AssertionError, ValueError) as e:
            raise InvariantError(f"page users: {e}") from None
