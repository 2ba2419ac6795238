"""The page states an exact replay keeps, and the moves between them.

Not a kernel file. :class:`ReplayState` holds, beside the model's memmap (free
lists, pcp deques, PG_* flags), what a replay needs to know per block head: the
CPU of a pcp entry, whether a block the zone_locked event took still awaits its
mm_page_alloc, and the line of the last event that moved it. Its methods are the
moves the events are made of when the simple case does not hold
(:mod:`.replay_exact` has the simple cases inline): take a range out of the
buddy whatever blocks hold it (take_page_off_buddy-like), make a range one
allocated block about to be freed (an untraced split_page), free a block the way
free_the_page does, trim a pcp list to what the kernel shows of it. Each
impossible move is counted in :class:`Problems` with its line.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ..mm.memmap import PG_absent, PG_buddy, PG_head, PG_lru, PG_pcp, PG_reserved, PG_unknown
from ..mm.mmzone import (MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES,
                         MIGRATE_TYPES, pageblock_order)
from ..mm.page_alloc import __free_one_page as _free_one_page   # no name mangling in a class
from ..mm.page_alloc import set_pageblock_migratetype

if TYPE_CHECKING:
    from ..mm.core import MM
    from ..mm.memmap import MemMap
    from ..mm.mmzone import Zone

__all__ = ["ReplayState", "Problems", "UNKNOWN", "FREE_K", "PCP_K", "ALLOC_K", "RESERVED_K",
           "NONE_K"]

# what holds a page
UNKNOWN: Final = 0
FREE_K: Final = 1
PCP_K: Final = 2
ALLOC_K: Final = 3
RESERVED_K: Final = 4
NONE_K: Final = 5
_KIND_NAMES = ("unknown", "free", "pcp", "allocated", "reserved", "in no block")
_BLOCK: Final = PG_buddy | PG_pcp | PG_head
_NMT: Final = MIGRATE_TYPES


class Problems:
    """Impossible moves and odd ones: counts by kind, the first few in detail."""

    def __init__(self, max_detail: int = 20) -> None:
        self.max_detail = max_detail
        self.counts: Counter = Counter()
        self.details: list[dict] = []

    def add(self, kind: str, line: int, message: str) -> None:
        self.counts[kind] += 1
        if len(self.details) < self.max_detail:
            self.details.append({"line": line, "kind": kind, "message": message})

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _pindex(lmt: int, order: int) -> int:
    """order_to_pindex() [6.1.y-late]."""
    if order <= 3:
        return MIGRATE_PCPTYPES * order + lmt
    return 13 if lmt == MIGRATE_MOVABLE else 12


class ReplayState:
    """Per-pfn replay state over a machine's memmap (see the module docstring)."""

    def __init__(self, machine, *, max_detail: int = 20) -> None:
        self.machine = machine
        mm: MM = machine.mm
        self.mm: MM = mm
        self.mem: MemMap = mm.mem
        npfn: int = mm.mem.npfn
        self.npfn: int = npfn
        self.ncpu: int = mm.nr_cpu_ids
        # per pfn (block heads): the CPU of a pcp entry; 1 when a zone_locked block awaits
        # its mm_page_alloc; the line of the last event that moved it
        self.a_pcpu = np.zeros(npfn, dtype=np.uint8)
        self.a_pend = np.zeros(npfn, dtype=np.uint8)
        self.a_since = np.zeros(npfn, dtype=np.int32)
        self.pcpu = memoryview(self.a_pcpu)  # type: ignore[arg-type]
        self.pend = memoryview(self.a_pend)  # type: ignore[arg-type]
        self.since = memoryview(self.a_since)  # type: ignore[arg-type]
        self.stats: Counter = Counter()
        self.impossible = Problems(max_detail)
        self.explained = Problems(max_detail)       # odd but possible: what explains them
        self.lenient = False                        # in a start snapshot's sync window
        self.lost_line = 0                          # first LOST EVENTS note
        self.compaction_line = 0                    # first compaction event
        self.last_compaction_line = 0
        # frees of pages the model had free: (line, a compaction event since?, message)
        self._free_of_free: list[tuple[int, bool, str]] = []
        self._free_of_free_n = [0, 0]
        self.revealed_free: Counter[Any] = Counter()              # zone -> pages revealed free
        self.revealed_alloc: Counter[Any] = Counter()

    def _zone(self, pfn: int) -> Zone:
        z = self.mm.pb_zone[pfn >> pageblock_order]
        if z is None or not z.spans(pfn):
            z = self.mm.zone_of_pfn(pfn)
        return z        # type: ignore[return-value]   # a pfn outside every zone: None

    def _zkey(self, zone) -> str:
        return f"{zone.nid}:{zone.name}"

    def _problem(self, kind: str, line: int, msg: str) -> None:
        if self.lenient:
            self.stats["sync_skipped"] += 1
            return
        if self.lost_line and line > self.lost_line:
            self.explained.add("after_lost_events", line, f"{kind}: {msg}")
            return
        self.impossible.add(kind, line, msg)

    def block_of(self, p: int) -> tuple[int, int, int]:
        """(head, order, kind) of the block that holds pfn p (kind UNKNOWN/... above)."""
        flg = self.mem.flags
        f = flg[p]
        if f & PG_unknown:
            return p, 0, UNKNOWN
        if f & _BLOCK:
            return p, self.mem.order[p], (FREE_K if f & PG_buddy else PCP_K if f & PG_pcp
                                          else ALLOC_K)
        if f & (PG_reserved | PG_absent):
            return p, 0, RESERVED_K
        ordr = self.mem.order
        for o in range(1, MAX_ORDER):
            h = p & ~((1 << o) - 1)
            if h == p:
                continue
            fh = flg[h]
            if fh & _BLOCK:
                if ordr[h] >= o:
                    return h, ordr[h], (FREE_K if fh & PG_buddy else PCP_K if fh & PG_pcp
                                        else ALLOC_K)
                break               # a block below that ends before p: no lower one holds p
            if fh & (PG_unknown | PG_reserved | PG_absent):
                break               # a page in no block below: p is no tail of a lower block
        return p, 0, NONE_K

    def segments(self, pfn: int, order: int) -> list[tuple[int, int, int]]:
        """The blocks (head, order, kind) that overlap [pfn, pfn + 2^order); an unknown
        page is a block of order 0, a page in no block one of kind NONE_K."""
        out = []
        p = pfn
        end = pfn + (1 << order)
        while p < end:
            h, o, k = self.block_of(p)
            out.append((h, o, k))
            p = h + (1 << o) if k in (FREE_K, PCP_K, ALLOC_K) else p + 1
        return out

    def _describe(self, segs) -> str:
        parts = []
        for h, o, k in segs[:4]:
            s = f"{_KIND_NAMES[k]} {h:#x}"
            if k in (FREE_K, PCP_K, ALLOC_K):
                s += f" order {o}"
                if self.since[h]:
                    s += f" (since line {self.since[h]})"
            parts.append(s)
        if len(segs) > 4:
            parts.append(f"... {len(segs)} blocks")
        return ", ".join(parts)

    def _unlink_free(self, zone, h: int, o: int) -> None:
        """del_page_from_free_list + the NR_FREE_PAGES a take subtracts."""
        mem = self.mem
        n = mem.next[h]
        p = mem.prev[h]
        mem.next[p] = n
        mem.prev[n] = p
        mem.flags[h] = 0
        mem.order[h] = -1
        zone.nr_free[o] -= 1
        if mem.mt[h] != MIGRATE_ISOLATE:
            zone.vm_free -= 1 << o

    def _put_free(self, zone, p: int, o: int, mt: int) -> None:
        """A free block back on the head of its list, without merging (a split remainder)."""
        mem = self.mem
        head = zone.list_base + o * _NMT + mt
        first = mem.next[head]
        mem.next[p] = first
        mem.prev[p] = head
        mem.prev[first] = p
        mem.next[head] = p
        mem.flags[p] = PG_buddy
        mem.order[p] = o
        mem.mt[p] = mt
        zone.nr_free[o] += 1
        if mt != MIGRATE_ISOLATE:
            zone.vm_free += 1 << o

    def _unlink_pcp(self, h: int, o: int) -> None:
        """Take a pcp entry off its CPU's list."""
        zone = self._zone(h)
        pcp = zone.pcp[self.pcpu[h]]
        lst = pcp.lists[_pindex(self.mem.mt[h], o)]
        if lst and lst[-1] == h:
            lst.pop()
        elif lst and lst[0] == h:
            lst.popleft()
        else:
            lst.remove(h)
        pcp.count -= 1 << o
        self.mem.flags[h] = 0
        self.mem.order[h] = -1

    @staticmethod
    def _aligned_blocks(a: int, b: int):
        """Maximal naturally aligned blocks tiling [a, b)."""
        p = a
        while p < b:
            o = (p & -p).bit_length() - 1 if p else MAX_ORDER - 1
            o = min(o, MAX_ORDER - 1)
            while p + (1 << o) > b:
                o -= 1
            yield p, o
            p += 1 << o

    def _clear_range(self, pfn: int, order: int) -> None:
        n = 1 << order
        self.mem.a_flags[pfn:pfn + n] = 0
        self.mem.a_order[pfn:pfn + n] = -1

    def take_free(self, line: int, pfn: int, order: int, what: str) -> bool:
        """Take [pfn, 2^order) out of the buddy, whatever blocks hold it there.

        Blocks that reach outside the range leave their remainders on their lists
        (as take_page_off_buddy does); unknown pages are revealed free; pcp entries
        move to the buddy first. False (nothing changed) when a page is allocated.
        """
        segs = self.segments(pfn, order)
        bad = [s for s in segs if s[2] in (ALLOC_K, RESERVED_K, NONE_K)]
        if bad:
            self._problem(f"{what}_of_allocated", line,
                          f"{what} pfn {pfn:#x} order {order}: the model has "
                          f"{self._describe(bad)}")
            return False
        zone = self._zone(pfn)
        end = pfn + (1 << order)
        if len(segs) > 1 or segs[0][0] != pfn:
            self.stats["structure"] += 1
        for h, o, k in segs:
            if k == UNKNOWN:
                self.mem.flags[h] = 0
                self.revealed_free[zone] += 1
                self.stats["revealed_free_pages"] += 1
            elif k == PCP_K:
                self._unlink_pcp(h, o)
                self.stats["pcp_to_buddy"] += 1
                self.explained.add("pcp_to_buddy", line, f"{what} pfn {pfn:#x}: the model had "
                                   f"{h:#x} on cpu {self.pcpu[h]}'s pcp (freed to the buddy "
                                   "directly by the kernel)")
            else:                                   # FREE_K
                mt = self.mem.mt[h]
                self._unlink_free(zone, h, o)
                if h < pfn:
                    for p, k2 in self._aligned_blocks(h, pfn):
                        self._put_free(zone, p, k2, mt)
                if h + (1 << o) > end:
                    for p, k2 in self._aligned_blocks(end, h + (1 << o)):
                        self._put_free(zone, p, k2, mt)
        self._clear_range(pfn, order)
        return True

    def take_allocated(self, line: int, pfn: int, order: int, cpu: int) -> bool:
        """Make [pfn, 2^order) one allocated block about to be freed (the free's checks)."""
        mem = self.mem
        segs = self.segments(pfn, order)
        kinds = {k for _h, _o, k in segs}
        zone = self._zone(pfn)
        end = pfn + (1 << order)
        if kinds <= {ALLOC_K, UNKNOWN}:
            for h, o, k in segs:
                if k == UNKNOWN:
                    self.revealed_alloc[zone] += 1
                    self.stats["revealed_allocated_pages"] += 1
                    continue
                if self.pend[h]:
                    self.pend[h] = 0
                    self.stats["free_before_alloc_event"] += 1
                if h < pfn or h + (1 << o) > end:
                    # an untraced split_page: the rest stays allocated, in aligned pieces
                    self.stats["implicit_split"] += 1
                    lru = mem.flags[h] & PG_lru
                    self._clear_range(h, o)
                    for a, b in ((h, pfn), (end, h + (1 << o))):
                        for p, k2 in self._aligned_blocks(a, b):
                            mem.flags[p] = PG_head | lru
                            mem.order[p] = k2
            if len(segs) > 1 and ALLOC_K in kinds:
                self.stats["structure"] += 1
            self._clear_range(pfn, order)
            return True
        if kinds == {PCP_K} and order == 0:
            # __alloc_pages_bulk takes pcp pages without an mm_page_alloc
            self._unlink_pcp(pfn, 0)
            self.stats["bulk_alloc"] += 1
            return True
        if FREE_K in kinds and kinds <= {FREE_K, ALLOC_K, UNKNOWN}:
            # free since when? a compaction run since then may have taken it (see finish)
            became_free = max(self.since[h] for h, _o, k in segs if k == FREE_K)
            after = self.last_compaction_line > became_free
            self._free_of_free_n[after] += 1
            if len(self._free_of_free) < 200:
                self._free_of_free.append((line, after, f"mm_page_free pfn {pfn:#x} order "
                                           f"{order}: the model has {self._describe(segs)}"))
            for h, o, k in segs:
                if k == FREE_K:
                    mt = mem.mt[h]
                    self._unlink_free(zone, h, o)
                    for a, b in ((h, max(h, pfn)), (min(end, h + (1 << o)), h + (1 << o))):
                        for p, k2 in self._aligned_blocks(a, b):
                            self._put_free(zone, p, k2, mt)
                elif k == ALLOC_K and (h < pfn or h + (1 << o) > end):
                    lru = mem.flags[h] & PG_lru
                    self._clear_range(h, o)
                    for a, b in ((h, pfn), (end, h + (1 << o))):
                        for p, k2 in self._aligned_blocks(a, b):
                            mem.flags[p] = PG_head | lru
                            mem.order[p] = k2
            self._clear_range(pfn, order)
            return True
        self._problem("free_of_free", line, f"mm_page_free pfn {pfn:#x} order {order}: the "
                      f"model has {self._describe(segs)}")
        return False

    def free_block(self, line: int, pfn: int, order: int, cpu: int) -> None:
        """Free an allocated block the way free_the_page does (pcp or buddy)."""
        mm = self.mm
        mem = self.mem
        zone = self._zone(pfn)
        mm.cpu = cpu
        pbmt = mem.pageblock[pfn >> pageblock_order] & 7
        if (order <= 3 or order == pageblock_order) and pbmt != MIGRATE_ISOLATE:
            lmt = pbmt if pbmt < MIGRATE_PCPTYPES else MIGRATE_MOVABLE
            pcp = zone.pcp[cpu]
            pcp.lists[_pindex(lmt, order)].append(pfn)
            pcp.count += 1 << order
            mem.flags[pfn] = PG_pcp
            mem.order[pfn] = order
            mem.mt[pfn] = lmt
            self.pcpu[pfn] = cpu
        else:
            _free_one_page(mm, zone, pfn, order, pbmt, 0)
        self.since[pfn] = line

    def _force_allocated(self, pfn: int, order: int) -> None:
        """After an impossible move: the range becomes one allocated block."""
        segs = self.segments(pfn, order)
        zone = self._zone(pfn)
        end = pfn + (1 << order)
        for h, o, k in segs:
            if k == FREE_K:
                mt = self.mem.mt[h]
                self._unlink_free(zone, h, o)
                for a, b in ((h, max(h, pfn)), (min(end, h + (1 << o)), h + (1 << o))):
                    for p, k2 in self._aligned_blocks(a, b):
                        self._put_free(zone, p, k2, mt)
            elif k == PCP_K:
                self._unlink_pcp(h, o)
        self._clear_range(pfn, order)
        self.mem.flags[pfn] = PG_head
        self.mem.order[pfn] = order

    def _pcp_trim(self, lst, pcp, pfn: int, head: bool) -> None:
        """Bring pfn to the end of its pcp list the kernel takes from, dropping what is past it.

        The kernel allocates a pcp list's head (__rmqueue_pcplist) and drains its tail
        (free_pcppages_bulk): entries the model has beyond the page the kernel named are
        not on that list in the kernel (a bulk allocation took them, an interrupt's free
        went to the buddy, a pageblock type put them on another list). Where they are the
        trace does not say: their state becomes unknown, for later events to reveal.
        """
        mem = self.mem
        if pfn not in lst:
            raise AssertionError(f"pcp entry {pfn:#x} is not on the list its state names")
        while (lst[-1] if head else lst[0]) != pfn:
            p = lst.pop() if head else lst.popleft()
            o = mem.order[p]
            pcp.count -= 1 << o
            mem.a_flags[p:p + (1 << o)] = PG_unknown
            mem.a_order[p:p + (1 << o)] = -1
            # beyond the head: mostly __alloc_pages_bulk; beyond the tail: freed elsewhere
            self.stats["pcp_lost_head_pages" if head else "pcp_lost_tail_pages"] += 1 << o

    def _fix_pageblock(self, pfn: int, mt: int) -> None:
        """The kernel showed a pcp page of type mt where the model's list says otherwise.

        A freed page goes on the pcp list of its pageblock's type (free_unref_page), and
        mm_page_pcpu_drain prints that type; a pcp hit comes off the list of the requested
        type. When they disagree with the model, the model's pageblock type is wrong (a
        snapshot's types are inferred, a partial start has none): take the kernel's.
        """
        pb = self.mem.pageblock[pfn >> pageblock_order] & 7
        if pb != mt and pb < MIGRATE_PCPTYPES:
            set_pageblock_migratetype(self.mm, pfn, mt)
            self.stats["pageblock_type_learned"] += 1
