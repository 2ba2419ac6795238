"""Snapshots of the allocator's state and a stand-in migration, for the isolation tests.

Not a test module. ``state()`` gathers everything an isolation, offline or
contiguous allocation may touch (free lists, pcp lists, pageblock types, per-page
flags and the zone counters) so a test can say "every page is as it was".
``simple_migrate`` is what tests install as ``mm.migrate`` until migrate.py exists.
"""
from __future__ import annotations

import errno

import numpy as np

from pagealloc import Machine
from pagealloc.mm import page_alloc as pa
from pagealloc.mm.gfp import GFP_HIGHUSER_MOVABLE, __GFP_DIRECT_RECLAIM, __GFP_NOWARN
from pagealloc.mm.memmap import PG_head, PG_lru
from pagealloc.mm.mmzone import MAX_ORDER, MIGRATE_TYPES

__all__ = ["state", "free_lists", "simple_migrate", "FakeMigrator", "free_order10_movable",
           "MOVABLE_NOWAIT"]

MOVABLE_NOWAIT = (GFP_HIGHUSER_MOVABLE & ~__GFP_DIRECT_RECLAIM) | __GFP_NOWARN


def free_lists(m: Machine, ordered: bool = True) -> dict:
    """Every free list of every zone: (nid, zone, order, mt) -> pfns (head first, or sorted)."""
    mm = m.mm
    out = {}
    for z in mm.zones:
        if z.list_base < 0:
            continue
        for order in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                lst = list(mm.mem.iter_list(z.list_base + order * MIGRATE_TYPES + mt))
                if lst:
                    out[(z.nid, z.name, order, mt)] = lst if ordered else sorted(lst)
    return out


def state(m: Machine, ordered: bool = True) -> dict:
    """Free lists, pcp lists, pageblock types, page flags and the zone counters."""
    mm = m.mm
    zones = {}
    for z in mm.zones:
        zones[(z.nid, z.name)] = dict(
            nr_free=list(z.nr_free), free_pages=z.vm_free + sum(z.vm_stat_diff),
            managed=z.managed_pages, present=z.present_pages, spanned=z.spanned_pages,
            start=z.zone_start_pfn, isolate=z.nr_isolate_pageblock,
            wmark=list(z._watermark), reserve=list(z.lowmem_reserve),
            high=z.pageset_high, batch=z.pageset_batch,
            pcp=[(p.count, p.high, p.batch, [list(lst) for lst in p.lists]) for p in z.pcp])
    return dict(
        free_lists=free_lists(m, ordered), zones=zones,
        pageblock=mm.mem.a_pageblock.tobytes(), flags=mm.mem.a_flags.tobytes(),
        order=mm.mem.a_order.tobytes(), min_free_kbytes=mm.min_free_kbytes,
        totalreserve=mm.totalreserve_pages)


# (source, target) pairs simple_migrate moved, per machine; kept outside mm because
# the compiled build's MM cannot take attributes it does not declare. The entry holds
# the machine itself so that its id cannot be reused by a later one.
MIGRATED: dict[int, tuple[object, list[tuple[int, int]]]] = {}


def migrated(mm) -> list[tuple[int, int]]:
    """The blocks simple_migrate moved on this machine, in order."""
    return MIGRATED.get(id(mm), (mm, []))[1]


def simple_migrate(mm, start: int, end: int) -> int:
    """Move every PG_lru in-use block of [start, end) to a new block and free the old one."""
    mem = mm.mem
    flags = mem.a_flags[start:end]
    heads = np.flatnonzero((flags & (PG_head | PG_lru)) == (PG_head | PG_lru)) + start
    for pfn in heads.tolist():
        order = int(mem.order[pfn])
        new = pa.__alloc_pages(mm, MOVABLE_NOWAIT, order, 0)
        if new < 0:
            return -errno.ENOMEM
        assert not start <= new < end, "migration target inside the range"
        mem.flags[new] |= PG_lru
        MIGRATED.setdefault(id(mm), (mm, []))[1].append((pfn, new))
        pa.__free_pages(mm, pfn, order)
    return 0


_free_pages = pa.__free_pages      # (a class body would mangle the name)


class FakeMigrator:
    """The migrator interface compaction.py drives, reduced to moving PG_lru blocks."""

    def __init__(self, mm) -> None:
        self.mm = mm
        self.calls: list[tuple[list[int], int, str]] = []
        self.moved: dict[int, int] = {}

    def isolate_lru_page(self, pfn: int) -> bool:
        f = self.mm.mem.flags[pfn]
        return bool(f & PG_lru and f & PG_head)

    def migrate_pages(self, pfns, get_new_page, put_new_page, mode, reason):
        self.calls.append((list(pfns), int(mode), str(reason)))
        mem = self.mm.mem
        done = failed = 0
        for src in list(pfns):
            order = int(mem.order[src])
            dst = get_new_page(src, order)
            if dst < 0:
                failed += 1 << order
                continue
            mem.flags[dst] |= PG_lru
            _free_pages(self.mm, src, order)
            self.moved[src] = dst
            done += 1 << order
        return done, failed

    def putback_movable_pages(self, pfns) -> None:
        pass


def free_order10_movable(m: Machine, zone_name: str = "DMA32", nth: int = -1) -> int:
    """A free order-10 block on the MOVABLE list of a zone (the tail one by default)."""
    z = m.zone(zone_name)
    lst = list(m.mm.mem.iter_list(z.list_base + 10 * MIGRATE_TYPES + 1))
    assert lst, f"no free order-10 movable block in {zone_name}"
    return lst[nth]
