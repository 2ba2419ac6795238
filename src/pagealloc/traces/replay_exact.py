"""Exact replay: the kernel's moves, pfn by pfn, applied to the model's free lists and pcps.

Not a kernel file. :class:`ExactReplay` is a per-pfn state machine that
drives the model's own structures: a block taken from the buddy leaves its
free list through the unlink and :func:`~pagealloc.mm.page_alloc.expand` of
__rmqueue_smallest, a block drained from a pcp goes back through
:func:`~pagealloc.mm.page_alloc.__free_one_page` (merging, list placement,
NR_FREE_PAGES), pcp entries sit on the zone's per-CPU deques. What each
event means (include/trace/events/kmem.h, mm/page_alloc.c [6.1.y-late]):

    mm_page_alloc_zone_locked  __rmqueue_smallest took [pfn, 2^order) off the free
                               list of ``migratetype``: split it out of the block
                               that holds it. percpu_refill=1: it goes to the
                               event CPU's pcp (rmqueue_bulk; when the caller was
                               rmqueue_buddy, the mm_page_alloc that follows takes
                               it from there); 0: straight to the caller.
    mm_page_alloc              the caller got it: from a pcp, or the block the
                               zone_locked event took.
    mm_page_free               free_pages_prepare: a pcp order goes on the event
                               CPU's pcp (free_unref_page[_list]); orders 4..8, 10
                               and ISOLATE pageblocks go to the buddy.
    mm_page_free_batched       free_unref_page_list's commit of a page whose
                               mm_page_free came first: nothing more to do.
    mm_page_pcpu_drain         free_pcppages_bulk: pcp to buddy, merging.
    mm_page_alloc_extfrag      __rmqueue_fallback: pageblock ownership and the
                               free list of the stolen block.
    mm_compaction_isolate_freepages  the free scanner took the free blocks of
                               [start, end) in ascending order, nr_taken pages
                               (isolate_freepages_block), split to order 0
                               (split_map_pages): allocated without mm_page_alloc.

What the trace cannot say, and how it is read (each counted in ``stats``):

* a page of unknown state (a partial start) is revealed by its first event:
  a take or an allocation shows it was free, a free shows it was allocated;
* a page the model has on a pcp that the kernel takes from the buddy was
  freed straight to the buddy (pcp trylock failure: free_one_page, no drain
  event): it moves to the buddy first (``pcp_to_buddy``);
* an order-0 free of a page the model has on a pcp: __alloc_pages_bulk took it
  from the pcp without an mm_page_alloc (``bulk_alloc``);
* a free of a page the model has free in the buddy: the compaction free
  scanner took it without an event (fast_isolate_freepages is never traced; in
  a trace without compaction events nothing of compaction is). Classified at
  the end (``untraced_compaction``): "auto" takes it as compaction when the
  trace has no compaction events at all, or when one came after the page
  became free, and as an impossible move otherwise; "yes" always, "no" never;
* a free of part of an allocated block: an untraced split_page (or a THP split);
* a kernel block the model holds as several pieces (or a piece of a larger
  free block): the model's block structure differed (``structure``), the
  kernel's is adopted;
* pcp entries the model has beyond the head the kernel allocates from, or the
  tail it drains from, are not on that list in the kernel: their state
  becomes unknown again (``pcp_lost_head_pages``: mostly __alloc_pages_bulk,
  ``pcp_lost_tail_pages``) until an event reveals it.

Impossible moves (a page allocated twice, a free of a page the model has
free, a drain of an allocated page ...) are reported with their line, the
first ``max_detail`` in detail, and the model follows the kernel's claim so
that one mistake is reported once. In the sync window of a start snapshot
(between its "KT snapshot TAG begin" and "end" markers, when the dump was
read) they are counted as ``sync_skipped`` and skipped instead: the dump
already holds the effect of the events that ran before it was read.
"""
from __future__ import annotations

import bisect
from typing import Any, Callable, Final

from ..mm.memmap import PG_buddy, PG_head, PG_pcp, PG_unknown
from ..mm.mmzone import (MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, model_migratetype,
                         pageblock_nr_pages, pageblock_order)
from ..mm.page_alloc import __free_one_page as _free_one_page   # no name mangling in a class
from ..mm.page_alloc import (expand, move_freepages_block, move_to_free_list,
                             set_pageblock_migratetype)
from .replay_input import (ALLOC, BATCHED, COMPACTION, DRAIN, EXTFRAG, FREE, ISOLATE_FREE, LOST,
                           MARK, ZONE_LOCKED, ts_of)
from .replay_state import (ALLOC_K, FREE_K, NONE_K, PCP_K, RESERVED_K, UNKNOWN, Problems,
                           ReplayState, _pindex)

__all__ = ["ExactReplay", "Problems"]

# the third flags column of an ftrace line: h hardirq, s softirq, H hardirq in softirq, z/Z NMI
_IRQ_CTX: Final = frozenset(b"hsHzZ")


class ExactReplay(ReplayState):
    """Apply a trace's events to a machine, checking each move (see the module docstring).

    :param machine: the start: exact (a snapshot) or partial (PG_unknown pages).
    :param sync_tag: the start snapshot's tag; events until its "KT snapshot TAG end"
        marker are applied leniently (see the module docstring). None: no window.
    :param max_detail: impossible moves reported in detail.
    """

    def __init__(self, machine, *, sync_tag: str | None = None, max_detail: int = 20,
                 path: str = "trace", untraced_compaction: str = "auto") -> None:
        if untraced_compaction not in ("auto", "yes", "no"):
            raise ValueError(f"untraced_compaction={untraced_compaction!r}: auto, yes or no")
        super().__init__(machine, max_detail=max_detail)
        self.untraced_compaction = untraced_compaction
        self.path = path
        self.cma = self.mm.cma_enabled
        self.sync_tag = sync_tag
        self.lenient = sync_tag is not None
        self.sync_end_line = 0
        self.sync_seen = False                      # its "begin" marker was read
        self.sync_deadline = 100_000                # events without it: no window
        self._compact_async = False                 # mode of the running compaction
        self._stride: int | None = None             # isolate_freepages()'s stride
        self.marks: list[tuple[int, str]] = []
        self.snapshots: dict[str, dict] = {}        # tag -> model buddyinfo at its begin marker
        self.on_snapshot: Callable[[str, int], None] | None = None   # callback(tag, line)
        # real buddyinfo per snapshot tag ({tag: {"nid:zone": counts}}): the model is
        # compared with it at each event of the tag's window (begin marker to end marker,
        # at most watch_events events), since the dump was read somewhere in there
        self.real_buddyinfo: dict[str, dict] = {}
        self.watch_events = 20000
        self._watch: dict | None = None
        self.events = 0
        self.last_line = 0
        self.last_when: bytes | float | None = None
        self.cpu_clamped = 0
        # frees from interrupts waiting for their task's next event (see _irq_free)
        self._irq_waiting: list[tuple[int, int, int]] = []      # (line, cpu, pfn)
        self._prev_batch: list[tuple] = []
        self._mt: list[int] = []
        for k in range(8):
            try:
                self._mt.append(model_migratetype(k, self.cma))
            except ValueError:
                self._mt.append(k)

    # ------------------------------------------------------------------------------------
    # events

    def on_zone_locked_slow(self, line: int, cpu: int, pfn: int, order: int, mt: int,
                            refill: int) -> None:
        if self.take_free(line, pfn, order, "zone_locked"):
            self._after_take(line, cpu, pfn, order, mt, refill)
        elif not self.lenient:
            # the model follows the kernel: the block is the caller's now
            self._force_allocated(pfn, order)

    def _after_take(self, line: int, cpu: int, pfn: int, order: int, mt: int,
                    refill: int) -> None:
        mem = self.mem
        if refill and mt < MIGRATE_PCPTYPES:
            pcp = self._zone(pfn).pcp[cpu]
            pcp.lists[_pindex(mt, order)].appendleft(pfn)
            pcp.count += 1 << order
            mem.flags[pfn] = PG_pcp
            self.pcpu[pfn] = cpu
        else:
            mem.flags[pfn] = PG_head
            self.pend[pfn] = 1
        mem.order[pfn] = order
        mem.mt[pfn] = mt
        self.since[pfn] = line

    def on_alloc_slow(self, line: int, cpu: int, pfn: int, order: int) -> None:
        mem = self.mem
        segs = self.segments(pfn, order)
        kinds = {k for _h, _o, k in segs}
        if kinds == {ALLOC_K} and len(segs) == 1 and self.pend[segs[0][0]]:
            h = segs[0][0]
            # the zone_locked block, of another order or place than the request
            self.pend[h] = 0
            self.stats["structure"] += 1
            self._clear_range(h, segs[0][1])
        elif kinds <= {PCP_K, UNKNOWN}:
            self._take_pcp_segments(segs, kinds, order)
            self._clear_range(pfn, order)
        elif kinds <= {FREE_K, UNKNOWN, PCP_K}:
            # no zone_locked before it: a page captured by direct compaction
            # (compaction_capture in __free_one_page) or taken under an untraced path
            self.stats["alloc_from_buddy"] += 1
            self.explained.add("alloc_from_buddy", line, f"mm_page_alloc pfn {pfn:#x} order "
                               f"{order} without zone_locked: the model has "
                               f"{self._describe(segs)} (compaction capture)")
            if not self.take_free(line, pfn, order, "alloc"):
                return
        else:
            busy = [s for s in segs if s[2] in (ALLOC_K, RESERVED_K, NONE_K)]
            self._problem("allocated_twice", line, f"mm_page_alloc pfn {pfn:#x} order {order}: "
                          f"the model has {self._describe(busy)}")
            if self.lenient:
                return
            self._force_allocated(pfn, order)
            self.since[pfn] = line
            return
        mem.flags[pfn] = PG_head
        mem.order[pfn] = order
        self.since[pfn] = line

    def on_free_slow(self, line: int, cpu: int, pfn: int, order: int) -> None:
        if self.take_allocated(line, pfn, order, cpu):
            self.free_block(line, pfn, order, cpu)

    def on_batched_slow(self, line: int, cpu: int, pfn: int) -> None:
        h, o, k = self.block_of(pfn)
        if k == UNKNOWN:
            # its mm_page_free was before the trace started
            self.mem.flags[pfn] = 0
            self.stats["revealed_allocated_pages"] += 1
            self.free_block(line, pfn, 0, cpu)
        elif k == PCP_K:
            pass
        else:
            self._problem("batched_not_freed", line, f"mm_page_free_batched pfn {pfn:#x}: no "
                          f"mm_page_free before it; the model has {self._describe([(h, o, k)])}")

    def _take_pcp_segments(self, segs: list[tuple[int, int, int]], kinds: set[int],
                           order: int) -> None:
        """A block the trace takes off a pcp list: unlink its pcp entries; an unknown
        page among them was a pcp page of the partial start (now revealed)."""
        mem = self.mem
        for h, o, k in segs:
            if k == PCP_K:
                self._unlink_pcp(h, o)
            else:
                mem.flags[h] = 0
                self.stats["revealed_pcp_pages"] += 1
        if PCP_K in kinds and (len(segs) > 1 or segs[0][1] != order):
            self.stats["structure"] += 1

    def on_drain_slow(self, line: int, cpu: int, pfn: int, order: int, mt: int) -> None:
        segs = self.segments(pfn, order)
        kinds = {k for _h, _o, k in segs}
        if kinds <= {PCP_K, UNKNOWN}:
            self._take_pcp_segments(segs, kinds, order)
        elif kinds <= {ALLOC_K, UNKNOWN, PCP_K} and not self.lenient:
            self._problem("drain_of_allocated", line, f"mm_page_pcpu_drain pfn {pfn:#x} order "
                          f"{order}: the model has {self._describe(segs)}")
            for h, o, k in segs:
                if k == PCP_K:
                    self._unlink_pcp(h, o)
            self.take_allocated(line, pfn, order, cpu)
        else:
            self._problem("drain_of_free", line, f"mm_page_pcpu_drain pfn {pfn:#x} order "
                          f"{order}: the model has {self._describe(segs)}")
            return
        self._clear_range(pfn, order)
        self.mm.cpu = cpu
        _free_one_page(self.mm, self._zone(pfn), pfn, order, mt, 0)
        self.since[pfn] = line

    def on_extfrag(self, line: int, pfn: int, ex: dict) -> None:
        """__rmqueue_fallback stole the free block at pfn: ownership and list move."""
        mm = self.mm
        mem = self.mem
        fo = ex["fallback_order"]
        amt = self._mt[ex["alloc_migratetype"]]
        self.stats["fallbacks"] += 1
        zone = self._zone(pfn)
        if ex["change_ownership"]:
            self.stats["fallbacks_claimed"] += 1
            if fo >= pageblock_order:
                for i in range(1 << (fo - pageblock_order)):
                    set_pageblock_migratetype(mm, pfn + i * pageblock_nr_pages, amt)
            else:
                set_pageblock_migratetype(mm, pfn, amt)
        if not (mem.flags[pfn] & PG_buddy and mem.order[pfn] == fo):
            self.stats["extfrag_block_differs"] += 1
            return
        if ex["change_ownership"] and fo < pageblock_order:
            move_freepages_block(mm, zone, pfn, amt)
        else:
            move_to_free_list(mm, zone, pfn, fo, amt)

    def _scan_free(self, start: int, end: int, stride: int, skip_compound: bool):
        """isolate_freepages_block's walk of [start, end): (free heads, nr_scanned, pages)."""
        heads = []
        scanned = 0
        taken = 0
        p = start
        while p < end:
            scanned += 1
            h, o, k = self.block_of(p)
            if h == p and k == FREE_K:
                n = 1 << o
                heads.append((h, o))
                scanned += n - 1
                taken += n
                p += n - 1
            elif h == p and k == ALLOC_K and o and skip_compound:
                p += (1 << o) - 1                  # PageCompound: skip to its last page
            p += stride
        return heads, scanned, taken

    def on_compaction(self, line: int, name: str, fields) -> None:
        if not self.compaction_line:
            self.compaction_line = line
        self.last_compaction_line = line
        self.stats["compaction_events"] += 1
        if name == "mm_compaction_begin" and fields:
            self._compact_async = str(fields.get("mode", "")).startswith("async")
        # any other compaction event ends one isolate_freepages() call
        self._stride = None

    def on_isolate_freepages(self, line: int, start: int, end: int, nr_scanned: int,
                             nr_taken: int) -> None:
        """isolate_freepages_block took the free blocks its walk met, nr_taken pages.

        isolate_freepages() walks a pageblock with a stride (COMPACT_CLUSTER_MAX for
        async compaction, else 1, doubled after each pageblock that gave nothing, back to
        1 after one that gave pages) and skips compound pages: the walk is redone on the
        model with the stride this call should have, or another one, until it meets
        nr_scanned and nr_taken; failing that, the free blocks from start up are taken.
        """
        if not self.compaction_line:
            self.compaction_line = line
        self.last_compaction_line = line
        stride = self._stride
        if stride is None:
            stride = 32 if self._compact_async else 1
        self._stride = 1 if nr_taken else min(32, stride * 2)
        if nr_taken <= 0:
            return
        mem = self.mem
        mm = self.mm
        end = min(end, self.npfn)
        found = None
        for s in dict.fromkeys((stride, 1, 2, 4, 8, 16, 32)):
            for skip in (True, False):
                heads, scanned, taken = self._scan_free(start, end, s, skip)
                if taken == nr_taken and scanned == nr_scanned:
                    found = heads
                    break
            if found is not None:
                break
        if found is None:
            self.stats["compaction_isolate_mismatch"] += 1
            found = []
            taken = 0
            for h, o in self._scan_free(start, end, 1, True)[0]:
                if taken >= nr_taken:
                    break
                found.append((h, o))
                taken += 1 << o
            self.explained.add("compaction_isolate_mismatch", line,
                               f"isolate_freepages [{start:#x}, {end:#x}): nr_scanned="
                               f"{nr_scanned} nr_taken={nr_taken}, no walk of the model's "
                               f"free blocks gives both; took {taken} pages from the start")
        taken = 0
        for h, o in found:
            zone = self._zone(h)
            self._unlink_free(zone, h, o)
            if o >= pageblock_order - 1:             # __isolate_free_page
                q = h
                while q < h + (1 << o) - 1:
                    if mem.pageblock[q >> pageblock_order] & 7 < MIGRATE_PCPTYPES:
                        set_pageblock_migratetype(mm, q, MIGRATE_MOVABLE)
                    q += pageblock_nr_pages
            n = 1 << o
            mem.a_flags[h:h + n] = PG_head          # split_map_pages: order-0 pages
            mem.a_order[h:h + n] = 0
            self.since[h] = line
            taken += n
        self.stats["compaction_isolated_pages"] += taken

    def on_mark(self, line: int, msg: str, when) -> None:
        self.marks.append((line, msg))
        w = msg.split()
        if len(w) >= 4 and w[0] == "KT" and w[1] == "snapshot":
            tag, what = w[2], w[3]
            if tag == self.sync_tag:
                self.sync_seen = True
                if what == "end" and self.lenient:
                    self.lenient = False
                    self.sync_end_line = line
                return
            if what == "begin":
                self.snapshots[tag] = {"line": line, "ts": ts_of(when),
                                       "buddyinfo": {f"{z.nid}:{z.name}": list(z.nr_free)
                                                     for z in self.mm.zones if z.present_pages}}
                if self.on_snapshot is not None:
                    self.on_snapshot(tag, line)
                if self._watch is None:
                    self._watch_start(tag, line, when)
            elif what == "end" and self._watch is not None and self._watch["tag"] == tag:
                self._watch_end(line)

    # ------------------------------------------------------------------------------------
    # the loop

    def feed(self, batch: list[tuple]) -> None:
        """Apply one block of event tuples (replay_input.EventBlocks)."""
        if self._irq_waiting:
            self._settle_irq(batch)
        i = 0
        n = len(batch)
        while i < n:
            if self._watch is None:
                stop = self._feed(batch if i == 0 else batch[i:])
                if stop is None:
                    break
                # a snapshot window opened at line ``stop``: the rest one event at a time
                i = next(k for k in range(i, n) if batch[k][0] == stop) + 1
            else:
                self._feed(batch[i:i + 1])
                self._watch_step(batch[i][0])
                i += 1
        if batch:
            self._prev_batch = batch
            self.events += len(batch)
            self.last_line = batch[-1][0]
            self.last_when = batch[-1][7]
            if self.lenient and not self.sync_seen and self.events > self.sync_deadline:
                # no "KT snapshot TAG begin" near the start: this trace has no sync markers
                self.lenient = False
                self.stats["sync_window_without_marker"] = self.last_line

    def _feed(self, batch: list[tuple]) -> int | None:
        """The loop: apply events until the end, or until a snapshot window opens (then
        return that marker's line)."""
        mm = self.mm
        mem = self.mem
        flg = mem.flags
        ordr = mem.order
        mtv = mem.mt
        nxt = mem.next
        prv = mem.prev
        pcpu = self.pcpu
        pend = self.pend
        since = self.since
        pb_zone = mm.pb_zone
        npfn = self.npfn
        ncpu = self.ncpu
        tomt = self._mt
        stats = self.stats
        irqs = _IRQ_CTX
        revealed_free = self.revealed_free
        pbo = pageblock_order
        pageblock = mem.pageblock
        # typed for the compiled build (mypyc): native ints, no generic arithmetic; but
        # line, and ipfn for the per-page arrays, stay boxed (an int-typed index would be
        # boxed again at every memoryview access; no effect in pure Python)
        code: int
        cpu: int
        pfn: int
        order: int
        f: int
        O: int
        mt: int
        lmt: int
        pbmt: int
        n_: Any             # list links: read and written back boxed
        p_: Any
        for ev in batch:
            line, code, cpu, pfn, order, a, b, when = ev
            if cpu >= ncpu:
                cpu %= ncpu
                self.cpu_clamped += 1
            if (pfn >= npfn or pfn < 0) and code <= DRAIN:
                if code == ALLOC and pfn == -1:
                    stats["alloc_failed"] += 1
                    continue
                self._problem("pfn_outside", line, f"pfn {pfn:#x} is outside the machine "
                              f"(0..{npfn - 1:#x})")
                continue
            ipfn: Any = pfn
            if code == ZONE_LOCKED:
                mt = tomt[a]
                f = flg[ipfn]
                O = ordr[ipfn]
                if f & PG_buddy and O >= order:
                    zone = pb_zone[pfn >> pbo] or self._zone(pfn)
                    # del_page_from_free_list (+ rmqueue's NR_FREE_PAGES) and expand
                    n_ = nxt[ipfn]
                    p_ = prv[ipfn]
                    nxt[p_] = n_
                    prv[n_] = p_
                    zone.nr_free[O] -= 1
                    if mtv[ipfn] != mt:
                        stats["list_differs"] += 1
                    if O > order:
                        expand(mm, zone, pfn, order, O, mt)
                    zone.vm_free -= 1 << order
                elif f == PG_unknown and not order:
                    # a partial start's page: this reveals it was free (take_free's case)
                    zone = pb_zone[pfn >> pbo] or self._zone(pfn)
                    revealed_free[zone] += 1
                    stats["revealed_free_pages"] += 1
                else:
                    self.on_zone_locked_slow(line, cpu, pfn, order, mt, b)
                    continue
                # rmqueue_bulk's pcp refill, or straight to the caller
                if b and mt < 3:
                    pcp = zone.pcp[cpu]
                    pcp.lists[3 * order + mt if order <= 3 else 12 + (mt == 1)].appendleft(ipfn)
                    pcp.count += 1 << order
                    flg[ipfn] = PG_pcp
                    pcpu[ipfn] = cpu
                else:
                    flg[ipfn] = PG_head
                    pend[ipfn] = 1
                ordr[ipfn] = order
                mtv[ipfn] = mt
                since[ipfn] = line
            elif code == ALLOC:
                f = flg[ipfn]
                if f == PG_pcp and ordr[ipfn] == order:
                    zone = pb_zone[pfn >> pbo] or self._zone(pfn)
                    pcp = zone.pcp[pcpu[ipfn]]
                    lmt = mtv[ipfn]
                    lst = pcp.lists[3 * order + lmt if order <= 3 else 12 + (lmt == 1)]
                    if lst[-1] != pfn:
                        self._pcp_trim(lst, pcp, pfn, True)
                    lst.pop()
                    pcp.count -= 1 << order
                    flg[ipfn] = PG_head
                    since[ipfn] = line
                    if lmt != b and b < 3:
                        # a pcp hit comes off the list of the requested type
                        self._fix_pageblock(pfn, b)
                elif f & PG_head and pend[ipfn] and ordr[ipfn] == order:
                    pend[ipfn] = 0
                    since[ipfn] = line
                else:
                    self.on_alloc_slow(line, cpu, pfn, order)
            elif code == FREE:
                f = flg[ipfn]
                if f & PG_head and not f & PG_pcp and ordr[ipfn] == order and not pend[ipfn]:
                    if order:
                        mem.a_flags[pfn + 1:pfn + (1 << order)] = 0
                    zone = pb_zone[pfn >> pbo] or self._zone(pfn)
                    pbmt = pageblock[pfn >> pbo] & 7
                    if (order <= 3 or order == 9) and pbmt != MIGRATE_ISOLATE:
                        lmt = pbmt if pbmt < 3 else 1
                        pcp = zone.pcp[cpu]
                        pcp.lists[3 * order + lmt if order <= 3 else 12 + (lmt == 1)].append(ipfn)
                        pcp.count += 1 << order
                        flg[ipfn] = PG_pcp
                        mtv[ipfn] = lmt
                        pcpu[ipfn] = cpu
                    else:
                        mm.cpu = cpu
                        _free_one_page(mm, zone, pfn, order, pbmt, 0)
                    since[ipfn] = line
                else:
                    self.on_free_slow(line, cpu, pfn, order)
                if when[33] in irqs:
                    # freed from an interrupt: its task may hold the pcp lock
                    self._irq_free(batch, line, cpu, pfn)
            elif code == BATCHED:
                if flg[ipfn] != PG_pcp:
                    self.on_batched_slow(line, cpu, pfn)
            elif code == DRAIN:
                if flg[ipfn] == PG_pcp and ordr[ipfn] == order:
                    zone = pb_zone[pfn >> pbo] or self._zone(pfn)
                    pcp = zone.pcp[pcpu[ipfn]]
                    lmt = mtv[ipfn]
                    lst = pcp.lists[3 * order + lmt if order <= 3 else 12 + (lmt == 1)]
                    if lst[0] != pfn:
                        self._pcp_trim(lst, pcp, pfn, False)
                    lst.popleft()
                    pcp.count -= 1 << order
                    mt = tomt[a]
                    if lmt != mt and mt < 3:
                        # the cached type is the pageblock's when the page was freed
                        self._fix_pageblock(pfn, mt)
                    mm.cpu = cpu
                    _free_one_page(mm, zone, pfn, order, mt, 0)
                    since[ipfn] = line
                else:
                    self.on_drain_slow(line, cpu, pfn, order, tomt[a])
            elif code == EXTFRAG:
                if 0 <= pfn < npfn:
                    self.on_extfrag(line, pfn, a)
            elif code == ISOLATE_FREE:
                self.on_isolate_freepages(line, pfn, a, order, b)
            elif code == COMPACTION:
                self.on_compaction(line, a, b)
            elif code == MARK:
                self.on_mark(line, a, when)
                if self._watch is not None and self._watch["line"] == line:
                    return line
            elif code == LOST:
                stats["lost_events"] += b
                if not self.lost_line:
                    self.lost_line = line
        return None

    # ------------------------------------------------------------------------------------
    # frees from interrupts while the CPU's pcp was locked

    @staticmethod
    def _task_event(events, cpu: int, reverse: bool) -> int | None:
        """The code of the first event of ``cpu`` outside interrupts (by the flags column)."""
        for e in (reversed(events) if reverse else events):
            if e[2] == cpu and e[7][33] not in _IRQ_CTX:
                return e[1]
        return None

    def _irq_free(self, batch: list[tuple], line: int, cpu: int, pfn: int) -> None:
        """Where did a free from an interrupt go: the pcp, or the buddy?

        [6.1.y-late] the pcp lock is taken with IRQs on: an interrupt that frees a page
        while its CPU's task holds the pcp lock fails pcp_spin_trylock and frees to the
        buddy (free_one_page), with no mm_page_pcpu_drain. The task held the lock when it
        was inside free_unref_page_list's commit loop or free_pcppages_bulk both before
        and after the interrupt: its events (outside interrupts, by the trace's flags
        column) on each side are mm_page_free_batched or mm_page_pcpu_drain. The event
        after may be in the next block: then the decision waits for it (_settle_irq).
        """
        i = bisect.bisect_left(batch, line, key=lambda e: e[0])
        before = self._task_event(batch[:i], cpu, True)
        if before is None:
            before = self._task_event(self._prev_batch, cpu, True)
        if before != BATCHED and before != DRAIN:
            return
        after = self._task_event(batch[i + 1:], cpu, False)
        if after is None:
            self._irq_waiting.append((line, cpu, pfn))
        elif after == BATCHED or after == DRAIN:
            self._irq_to_buddy(cpu, pfn)

    def _settle_irq(self, batch: list[tuple]) -> None:
        """Decide the frees that waited for the next block (see _irq_free)."""
        waiting = self._irq_waiting
        self._irq_waiting = []
        for line, cpu, pfn in waiting:
            after = self._task_event(batch, cpu, False)
            if after is None:
                self._irq_waiting.append((line, cpu, pfn))
            elif after == BATCHED or after == DRAIN:
                self._irq_to_buddy(cpu, pfn)

    def _irq_to_buddy(self, cpu: int, pfn: int) -> None:
        mem = self.mem
        if mem.flags[pfn] != PG_pcp or self.pcpu[pfn] != cpu:
            return
        o = mem.order[pfn]
        self._unlink_pcp(pfn, o)
        self.mm.cpu = cpu
        _free_one_page(self.mm, self._zone(pfn), pfn, o,
                       mem.pageblock[pfn >> pageblock_order] & 7, 0)
        self.stats["irq_free_to_buddy"] += 1

    # ------------------------------------------------------------------------------------
    # snapshot windows: where in its window does a snapshot's buddyinfo match the model?

    def _buddy_diff(self, real: dict) -> tuple[int, dict]:
        cur = {}
        d = 0
        for z in self.mm.zones:
            if not z.present_pages:
                continue
            k = f"{z.nid}:{z.name}"
            cur[k] = list(z.nr_free)
            r = real.get(k)
            if r is not None:
                d += sum(abs(a - b) for a, b in zip(z.nr_free, r))
        return d, cur

    def _watch_start(self, tag: str, line: int, when) -> None:
        real = self.real_buddyinfo.get(tag)
        if real is None:
            return
        d, cur = self._buddy_diff(real)
        self._watch = {"tag": tag, "line": line, "events": 0, "best": d, "best_line": line,
                       "best_buddyinfo": cur, "at_marker": d}

    def _watch_step(self, line: int) -> None:
        w = self._watch
        if w is None:                       # the event was the window's end marker
            return
        w["events"] += 1
        d, cur = self._buddy_diff(self.real_buddyinfo[w["tag"]])
        if d < w["best"]:
            w["best"] = d
            w["best_line"] = line
            w["best_buddyinfo"] = cur
        if w["events"] >= self.watch_events:
            self._watch_end(line)

    def _watch_end(self, line: int) -> None:
        w = self._watch
        self._watch = None
        if w is None:
            return
        snap = self.snapshots.get(w["tag"])
        if snap is not None:
            snap["window"] = {"first_line": w["line"], "last_line": line,
                              "diff_at_marker": w["at_marker"], "best_diff": w["best"],
                              "best_line": w["best_line"], "best_buddyinfo": w["best_buddyinfo"]}

    # ------------------------------------------------------------------------------------
    # the end

    def finish(self) -> dict:
        """Classify what waited for the end of the trace; the counts as a dict."""
        if self._watch is not None:
            self._watch_end(self.last_line)
        # frees of pages the model had free: compaction's free scanner took them without an
        # event, or an impossible move. auto: when the trace has compaction events, only
        # if one came after the page became free; when it has none, compaction may have
        # run unseen: always.
        before, after = self._free_of_free_n
        traced = bool(self.compaction_line)
        mode = self.untraced_compaction

        def explained(aft: bool) -> bool:
            return mode == "yes" or (mode == "auto" and (aft or not traced))
        kept_e = kept_i = 0
        for line, aft, msg in self._free_of_free:
            if explained(aft):
                self.explained.add("untraced_compaction", line, msg)
                kept_e += 1
            else:
                self.impossible.add("free_of_free", line, msg + (
                    " (no compaction event since it became free)" if traced else ""))
                kept_i += 1
        # the counts beyond the details kept
        total_e = (before if explained(False) else 0) + (after if explained(True) else 0)
        extra_expl = total_e - kept_e
        extra_imp = before + after - total_e - kept_i
        self.explained.counts["untraced_compaction"] += max(0, extra_expl)
        self.impossible.counts["free_of_free"] += max(0, extra_imp)
        if not self.explained.counts["untraced_compaction"]:
            del self.explained.counts["untraced_compaction"]
        if not self.impossible.counts["free_of_free"]:
            del self.impossible.counts["free_of_free"]
        self._free_of_free = []
        self._free_of_free_n = [0, 0]
        unknown = int(((self.mem.a_flags & PG_unknown) != 0).sum())
        return {
            "events": self.events,
            "impossible": self.impossible.total,
            "impossible_by_kind": dict(self.impossible.counts),
            "impossible_first": list(self.impossible.details),
            "explained_by_kind": dict(self.explained.counts),
            "explained_first": list(self.explained.details),
            "stats": dict(self.stats),
            "unknown_pages_left": unknown,
            "revealed_free_pages": {self._zkey(z): n for z, n in self.revealed_free.items()},
            "revealed_allocated_pages": {self._zkey(z): n for z, n in self.revealed_alloc.items()},
            "compaction_traced": traced,
            "sync_end_line": self.sync_end_line,
            "cpus_clamped": self.cpu_clamped,
        }
