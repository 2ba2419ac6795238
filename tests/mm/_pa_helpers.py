"""Builders for hand-made allocator states, shared by the page allocator tests.

Not a test module. Each helper changes the model only through its own primitives
(free-list operations of page_alloc.py, split_page, mod_zone_freepage_state) so that
Machine.check() keeps holding: a test takes every free block of a zone off the lists
(as if somebody had allocated it), then puts back exactly the blocks it wants, on the
lists it wants, and lets the allocator run from there.
"""
from __future__ import annotations

from pagealloc import Machine
from pagealloc.mm import page_alloc as pa
from pagealloc.mm.memmap import PG_buddy, PG_head
from pagealloc.mm.mmzone import MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_TYPES, Zone
from pagealloc.mm.tracepoints import Tracer

__all__ = ["zone_of", "free_list", "take_all_free", "carve", "put_free", "fold_vmstat",
           "zero_watermarks", "nr_free_snapshot", "pcp_list", "trace_events", "field"]


def zone_of(m: Machine, name: str, nid: int = 0) -> Zone:
    return m.zone(name, nid)


def free_list(m: Machine, zone: Zone, order: int, mt: int) -> list[int]:
    """free_area[order].free_list[mt] of a zone, head first."""
    return list(m.mm.mem.iter_list(zone.list_base + order * MIGRATE_TYPES + mt))


def pcp_list(zone: Zone, cpu: int, pindex: int) -> list[int]:
    """A pcp list head first (the model's deque keeps the head at its right end)."""
    return list(reversed(zone.pcp[cpu].lists[pindex]))


def take_all_free(m: Machine, zone: Zone) -> list[tuple[int, int]]:
    """Allocate every free block of a zone in place: off its list, counted, marked allocated.

    Drains the pcps first so that no page of the zone stays free anywhere. Returns the
    (pfn, order) blocks taken, each now an allocated block as rmqueue leaves it.
    """
    m.drain_all_pages()
    mm = m.mm
    mem = mm.mem
    taken = []
    for order in range(MAX_ORDER):
        for mt in range(MIGRATE_TYPES):
            for pfn in free_list(m, zone, order, mt):
                pa.del_page_from_free_list(mm, zone, pfn, order)
                if mt != MIGRATE_ISOLATE:
                    pa.mod_zone_freepage_state(mm, zone, -(1 << order), mt)
                mem.flags[pfn] = PG_head
                mem.order[pfn] = order
                taken.append((pfn, order))
    fold_vmstat(m)
    return taken


def carve(m: Machine, pfn: int, order: int) -> None:
    """split_page() an allocated block so that any of its pages can be given back alone."""
    pa.split_page(m.mm, pfn, order)


def put_free(m: Machine, pfn: int, order: int, mt: int, *, tail: bool = False,
             expect_merge: bool = False) -> None:
    """Free 2^order carved (order-0 allocated) pages as one block onto free_list[mt].

    Goes through __free_one_page (FPI_TO_TAIL when ``tail``), so buddies merge as the
    kernel would; unless ``expect_merge``, asserts that the block stayed as it was.
    """
    mm = m.mm
    mem = mm.mem
    n = 1 << order
    assert pfn % n == 0, f"{pfn:#x} is not aligned to order {order}"
    for p in range(pfn, pfn + n):
        assert mem.flags[p] & PG_head and mem.order[p] == 0, \
            f"pfn {p:#x} is not a carved allocated page ({m.page_state(p)})"
        mem.flags[p] = 0
        mem.order[p] = -1
    zone = pa._page_zone(mm, pfn)
    pa.__free_one_page(mm, zone, pfn, order, mt, pa.FPI_TO_TAIL if tail else pa.FPI_NONE)
    if not expect_merge:
        assert mem.flags[pfn] & PG_buddy and mem.order[pfn] == order, \
            f"{pfn:#x} order {order} merged with a free buddy"
    fold_vmstat(m)


def fold_vmstat(m: Machine) -> None:
    """refresh_cpu_vm_stats(): fold every CPU's NR_FREE_PAGES diff into the zone counter."""
    for z in m.mm.zones:
        if z.vm_stat_diff:
            z.vm_free += sum(z.vm_stat_diff)
            z.vm_stat_diff = [0] * len(z.vm_stat_diff)


def zero_watermarks(zone: Zone) -> None:
    """Watermarks of 0 (as if min_free_kbytes were tiny), so a nearly empty zone serves."""
    zone._watermark = [0, 0, 0, 0]
    zone.watermark_boost = 0


def nr_free_snapshot(zone: Zone) -> int:
    """zone_page_state_snapshot(zone, NR_FREE_PAGES): the counter plus every CPU's diff."""
    return zone.vm_free + sum(zone.vm_stat_diff)


def trace_events(m: Machine) -> list[str]:
    """Turn tracing on; returns the list the tracepoint lines are appended to."""
    lines: list[str] = []
    m.mm.trace = Tracer(lines)
    return lines


def field(line: str, name: str) -> str:
    """A ``name=value`` field of a trace line."""
    for tok in line.split():
        if tok.startswith(name + "="):
            return tok[len(name) + 1:]
    raise KeyError(f"no {name}= in {line!r}")
