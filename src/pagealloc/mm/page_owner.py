"""page_owner: who allocated every page, when and how; the debugfs dump and page_owner_sort.

Models mm/page_owner.c (``page_owner=on``) of Linux 6.1 and the grouping of
tools/vm/page_owner_sort.c. Every page of an allocated block records the
block's order, gfp mask, the allocating task (pid, tgid, comm), the time
(the simulated clock) and a stack; a free clears PAGE_EXT_OWNER_ALLOCATED
and records the free time and stack, which later allocations print as
``free_ts``. /sys/kernel/debug/page_owner (:func:`read_page_owner`) prints
each allocated block head in the kernel's format::

    Page allocated via order %u, mask %#x(%pGg), pid %d, tgid %d (%s), ts %llu ns, free_ts %llu ns
    PFN %lu type %s Block %lu type %s Flags %pGp
     <stack, one " frame" per line>
    <blank line>

The model has no call stacks: a *caller tag* stands in for the stack. It is
whatever the caller sets with :meth:`PageOwner.context` (a string, frames
separated by ";" or newlines, or a sequence of frames), printed one frame a
line as stack_depot_snprint prints ``" %pS"`` (symbols without +off/size).
The task is ``mm.current`` when something models tasks, else the context's,
else pid 1 "pagealloc" (the trace writer's default). Enabling page_owner at
any time is treated as booting with page_owner=on at that moment: pages
already in use (allocated, or on a pcp list: the kernel's
init_pages_in_zone cannot tell those apart) are recorded as early
allocations, order 0, mask 0, with the early stack.

Storage: one entry per pfn in numpy arrays (35 bytes a page, calloc-backed
so untouched pages cost no memory), like the kernel's page_ext.

Deliberate differences: no memcg lines; the stack depot never fails.
"""
from __future__ import annotations

import contextlib
import re
from collections import Counter
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from .gfp import __GFP_COMP, format_gfp, gfp_migratetype
from .memmap import PB_MT_MASK, PG_absent, PG_buddy, PG_reserved, PG_unknown
from .mmzone import (MAX_ORDER, MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_TYPES, Zone,
                     migratetype_names, pageblock_order)

__all__ = ["PAGE_EXT_OWNER", "PAGE_EXT_OWNER_ALLOCATED", "migrate_reason_names", "PageOwner",
           "OwnerRecord", "enable_page_owner", "page_owner_of", "print_page_owner",
           "read_page_owner", "render_page_owner", "dump_page_owner",
           "pagetypeinfo_showmixedcount", "pagetypeinfo_showmixedcount_print",
           "PageOwnerBlock", "parse_page_owner", "page_owner_sort", "page_owner_summary"]

PAGE_EXT_OWNER = 1
PAGE_EXT_OWNER_ALLOCATED = 2

migrate_reason_names = ("compaction", "memory_failure", "memory_hotplug", "syscall_or_cpuset",
                        "mempolicy_mbind", "numa_misplaced", "contig_range", "longterm_pin",
                        "demotion")

# register_early_stack's dummy stack (create_dummy_stack saves 4 entries)
EARLY_STACK = ("register_early_stack", "init_page_owner", "invoke_init_callbacks",
               "page_ext_init")
DEFAULT_ALLOC_STACK = ("alloc_pages",)
DEFAULT_FREE_STACK = ("__free_pages",)
DEFAULT_TASK = (1, 1, "pagealloc")
EARLY_TASK = (1, 1, "swapper/0")


def _frames(tag) -> tuple[str, ...]:
    if tag is None:
        return ()
    if isinstance(tag, str):
        return tuple(f.strip() for f in re.split(r"[;\n]", tag) if f.strip())
    return tuple(str(f) for f in tag)


class OwnerRecord(NamedTuple):
    """What page_owner holds for one page."""
    pfn: int
    allocated: bool
    order: int
    gfp_mask: int
    pid: int
    tgid: int
    comm: str
    ts_nsec: int
    free_ts_nsec: int
    stack: tuple[str, ...]
    free_stack: tuple[str, ...]
    last_migrate_reason: int


class PageOwner:
    """struct page_owner for every pfn, the stack depot and the running context.

    The hooks page_alloc.py calls: :meth:`set_page_owner` (prep_new_page),
    :meth:`reset_page_owner` (free_pages_prepare), :meth:`split`
    (split_page). Migration calls :meth:`set_migrate_reason` and
    :meth:`copy_owner`; procfs calls :meth:`lookup` and :meth:`show`.
    """

    def __init__(self, npfn: int) -> None:
        self.ext = np.zeros(npfn, dtype=np.uint8)          # PAGE_EXT_OWNER[_ALLOCATED]
        self.order = np.zeros(npfn, dtype=np.uint8)
        self.migrate_reason = np.full(npfn, -1, dtype=np.int8)
        self.gfp = np.zeros(npfn, dtype=np.uint32)
        self.handle = np.zeros(npfn, dtype=np.uint32)
        self.free_handle = np.zeros(npfn, dtype=np.uint32)
        self.task = np.zeros(npfn, dtype=np.uint32)
        self.ts = np.zeros(npfn, dtype=np.uint64)
        self.free_ts = np.zeros(npfn, dtype=np.uint64)
        # stack depot: handle 0 is "no stack"
        self._stacks: list[tuple[str, ...]] = [()]
        self._stack_ids: dict[tuple[str, ...], int] = {}
        self._tasks: list[tuple[int, int, str]] = [DEFAULT_TASK]
        self._task_ids: dict[tuple[int, int, str], int] = {DEFAULT_TASK: 0}
        self.caller: tuple[str, ...] | None = None
        self.free_caller: tuple[str, ...] | None = None
        self.current: tuple[int, int, str] | None = None
        self.early_handle = self.stack_depot_save(EARLY_STACK)
        # cached for the hot hooks: handles and task of the current context (-1: recompute)
        self._handle = -1
        self._free_handle = -1
        self._task = 0
        self._views()

    def _views(self) -> None:
        self._mv = tuple(memoryview(a) for a in (self.handle, self.order, self.gfp,
                                                 self.migrate_reason, self.task, self.ts,
                                                 self.ext, self.free_handle, self.free_ts))

    # --- depot and context ---------------------------------------------------------
    def stack_depot_save(self, frames: Sequence[str]) -> int:
        """A handle for a stack (a caller tag), the same handle for the same frames."""
        key = tuple(frames)
        h = self._stack_ids.get(key)
        if h is None:
            h = len(self._stacks)
            self._stacks.append(key)
            self._stack_ids[key] = h
        return h

    def stack(self, handle: int) -> tuple[str, ...]:
        return self._stacks[handle]

    def _task_id(self, task: tuple[int, int, str]) -> int:
        t = self._task_ids.get(task)
        if t is None:
            t = len(self._tasks)
            self._tasks.append(task)
            self._task_ids[task] = t
        return t

    def _current_task(self, mm) -> tuple[int, int, str]:
        cur = getattr(mm, "current", None)
        if cur is not None:
            return (int(cur.pid), int(getattr(cur, "tgid", cur.pid)), str(cur.comm))
        return self.current or DEFAULT_TASK

    @contextlib.contextmanager
    def context(self, caller=None, pid: int | None = None, tgid: int | None = None,
                comm: str | None = None, free_caller=None) -> Iterator["PageOwner"]:
        """Record allocations (and frees) inside the block with this caller tag and task."""
        saved = (self.caller, self.free_caller, self.current)
        if caller is not None:
            self.caller = _frames(caller)
        if free_caller is not None:
            self.free_caller = _frames(free_caller)
        elif caller is not None:
            self.free_caller = _frames(caller)
        if pid is not None or comm is not None or tgid is not None:
            base = self.current or DEFAULT_TASK
            new_pid = base[0] if pid is None else pid
            if tgid is None:
                tgid = base[1] if pid is None else pid
            self.current = (new_pid, tgid, base[2] if comm is None else comm)
        self._handle = self._free_handle = -1
        self._task = self._task_id(self.current or DEFAULT_TASK)
        try:
            yield self
        finally:
            self.caller, self.free_caller, self.current = saved
            self._handle = self._free_handle = -1
            self._task = self._task_id(self.current or DEFAULT_TASK)

    def _ensure(self, npfn: int) -> None:
        if self.ext.size >= npfn:
            return
        for name in ("ext", "order", "migrate_reason", "gfp", "handle", "free_handle", "task",
                     "ts", "free_ts"):
            old = getattr(self, name)
            new = np.zeros(npfn, dtype=old.dtype)
            if name == "migrate_reason":
                new[:] = -1
            new[:old.size] = old
            setattr(self, name, new)
        self._views()

    # --- the hooks ------------------------------------------------------------------
    def set_page_owner(self, mm, pfn: int, order: int, gfp: int) -> None:
        """Record an allocation on every page of the block (mm/page_owner.c:__set_page_owner)."""
        handle = self._handle
        if handle < 0:
            handle = self._handle = self.stack_depot_save(self.caller or DEFAULT_ALLOC_STACK)
        cur = getattr(mm, "current", None)
        task = self._task_id(self._current_task(mm)) if cur is not None else self._task
        ts = getattr(mm, "clock_ns", 0)
        if not order and pfn < self.ext.size:
            # one page: memoryview stores, much cheaper than numpy slices
            mv = self._mv
            mv[0][pfn] = handle
            mv[1][pfn] = 0
            mv[2][pfn] = gfp
            mv[3][pfn] = -1
            mv[4][pfn] = task
            mv[5][pfn] = ts
            mv[6][pfn] = PAGE_EXT_OWNER | PAGE_EXT_OWNER_ALLOCATED
            return
        self._set_handle(pfn, 1 << order, handle, order, gfp, task, ts)

    def _set_handle(self, pfn: int, n: int, handle: int, order: int, gfp: int, task: int,
                    ts: int) -> None:
        if pfn + n > self.ext.size:
            self._ensure(pfn + n)
        e = pfn + n
        self.handle[pfn:e] = handle
        self.order[pfn:e] = order
        self.gfp[pfn:e] = gfp
        self.migrate_reason[pfn:e] = -1
        self.task[pfn:e] = task
        self.ts[pfn:e] = ts
        self.ext[pfn:e] = PAGE_EXT_OWNER | PAGE_EXT_OWNER_ALLOCATED

    def reset_page_owner(self, mm, pfn: int, order: int) -> None:
        """Record a free: allocated bit off, free stack and time (__reset_page_owner)."""
        handle = self._free_handle
        if handle < 0:
            handle = self._free_handle = self.stack_depot_save(self.free_caller
                                                               or DEFAULT_FREE_STACK)
        ts = getattr(mm, "clock_ns", 0)
        if not order and pfn < self.ext.size:
            mv = self._mv
            mv[6][pfn] &= ~PAGE_EXT_OWNER_ALLOCATED & 0xFF
            mv[7][pfn] = handle
            mv[8][pfn] = ts
            return
        n = 1 << order
        if pfn + n > self.ext.size:
            self._ensure(pfn + n)
        e = pfn + n
        self.ext[pfn:e] &= ~PAGE_EXT_OWNER_ALLOCATED & 0xFF
        self.free_handle[pfn:e] = handle
        self.free_ts[pfn:e] = ts

    def split(self, mm, pfn: int, order: int) -> None:
        """split_page(): every page becomes an order-0 allocation (__split_page_owner)."""
        self.order[pfn:pfn + (1 << order)] = 0

    def set_migrate_reason(self, mm, pfn: int, reason: int) -> None:
        """__set_page_owner_migrate_reason(): on the head page."""
        self.migrate_reason[pfn] = reason

    def copy_owner(self, mm, new_pfn: int, old_pfn: int) -> None:
        """Give a migration target its source's owner (__folio_copy_owner), on the head page.

        [6.1] free_ts of the new page is set to the old page's ts, as the kernel does.
        """
        o = old_pfn
        n = new_pfn
        self.order[n] = self.order[o]
        self.gfp[n] = self.gfp[o]
        self.migrate_reason[n] = self.migrate_reason[o]
        self.handle[n] = self.handle[o]
        self.task[n] = self.task[o]
        self.ts[n] = self.ts[o]
        self.free_ts[n] = self.ts[o]
        self.ext[n] = PAGE_EXT_OWNER | PAGE_EXT_OWNER_ALLOCATED

    # --- readers --------------------------------------------------------------------
    def lookup(self, pfn: int) -> tuple[int, int] | None:
        """(order, gfp_mask) of a page page_owner tracks as allocated, else None."""
        if pfn >= self.ext.size or not self.ext[pfn] & PAGE_EXT_OWNER_ALLOCATED:
            return None
        return int(self.order[pfn]), int(self.gfp[pfn])

    def record(self, pfn: int) -> OwnerRecord | None:
        """Everything recorded for a pfn, or None if page_owner never saw it."""
        if pfn >= self.ext.size or not self.ext[pfn] & PAGE_EXT_OWNER:
            return None
        pid, tgid, comm = self._tasks[int(self.task[pfn])]
        return OwnerRecord(pfn, bool(self.ext[pfn] & PAGE_EXT_OWNER_ALLOCATED),
                           int(self.order[pfn]), int(self.gfp[pfn]), pid, tgid, comm,
                           int(self.ts[pfn]), int(self.free_ts[pfn]),
                           self._stacks[int(self.handle[pfn])],
                           self._stacks[int(self.free_handle[pfn])],
                           int(self.migrate_reason[pfn]))

    def allocated_heads(self) -> np.ndarray:
        """The pfns read_page_owner prints: allocated, aligned to their recorded order."""
        pfns = np.flatnonzero(self.ext & PAGE_EXT_OWNER_ALLOCATED)
        if not pfns.size:
            return pfns
        orders = self.order[pfns].astype(np.int64)
        aligned = (pfns & ((np.int64(1) << orders) - 1)) == 0
        pfns = pfns[aligned]
        return pfns[self.handle[pfns] != 0]

    def show(self, mm) -> str:
        """The /sys/kernel/debug/page_owner text (what procfs renders for the view)."""
        return read_page_owner(mm)

    def dump_page_owner(self, mm, pfn: int) -> list[str]:
        return dump_page_owner(mm, pfn)


def page_owner_of(mm) -> PageOwner | None:
    """The machine's PageOwner, or None when page_owner is off."""
    po = mm.page_owner
    return po if isinstance(po, PageOwner) else None


def _pages_in_use(mm, zone: Zone) -> np.ndarray:
    """pfns init_pages_in_zone marks as early allocated: in the zone, not free buddy, not reserved."""
    mem = mm.mem
    s, e = zone.zone_start_pfn, min(zone.zone_end_pfn, mem.npfn)
    fl = mem.a_flags[s:e]
    use = (fl & (PG_reserved | PG_absent | PG_unknown)) == 0
    heads = np.flatnonzero(fl & PG_buddy)
    if heads.size:
        orders = mem.a_order[heads + s].astype(np.int64)
        for o in np.unique(orders).tolist():
            hs = heads[orders == o]
            idx = (hs[:, None] + np.arange(1 << o)).ravel()
            use[idx[idx < use.size]] = False
    pfns = np.flatnonzero(use) + s
    pbz = mm.pb_zone
    if pbz and pfns.size:
        # page_zone(page) != zone: drop pageblocks another zone owns (node interleaving)
        blocks = pfns >> pageblock_order
        foreign = [b for b in np.unique(blocks).tolist()
                   if pbz[b] is not None and pbz[b] is not zone]
        if foreign:
            pfns = pfns[~np.isin(blocks, foreign)]
    return pfns


def enable_page_owner(mm) -> PageOwner:
    """Turn page_owner on as if booted with page_owner=on now; pages in use become early.

    Models mm/page_owner.c:init_page_owner -> init_early_allocated_pages.
    Installs the PageOwner as ``mm.page_owner`` (inside the poisoning shim if
    that holds the slot).
    """
    cur = page_owner_of(mm)
    if cur is not None:
        return cur
    po = PageOwner(mm.mem.npfn)
    ts = getattr(mm, "clock_ns", 0)
    early_task = po._task_id(EARLY_TASK)
    for node in mm.nodes:
        if not node.online:
            continue
        for zone in node.node_zones:
            if not zone.present_pages:
                continue
            pfns = _pages_in_use(mm, zone)
            pfns = pfns[(po.ext[pfns] & PAGE_EXT_OWNER) == 0]
            po.handle[pfns] = po.early_handle
            po.order[pfns] = 0
            po.gfp[pfns] = 0
            po.migrate_reason[pfns] = -1
            po.task[pfns] = early_task
            po.ts[pfns] = ts
            po.ext[pfns] = PAGE_EXT_OWNER | PAGE_EXT_OWNER_ALLOCATED
            mm.printk(f"Node {node.node_id}, zone {zone.name:>8}: page owner found early "
                      f"allocated {pfns.size} pages")
    slot = mm.page_owner
    if slot is not None and hasattr(slot, "page_owner"):
        slot.page_owner = po
    else:
        mm.page_owner = po
    return po


# --------------------------------------------------------------------------------------
# the debugfs file


def _pGg(gfp: int) -> str:
    return format_gfp(gfp) if gfp else ""


def print_page_owner(mm, pfn: int) -> str:
    """One record of /sys/kernel/debug/page_owner (mm/page_owner.c:print_page_owner)."""
    from .debug import format_page_flags, page_flags_value
    po = page_owner_of(mm)
    r = po.record(pfn)
    pid, tgid, comm = r.pid, r.tgid, r.comm
    pageblock_mt = mm.mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
    page_mt = gfp_migratetype(r.gfp_mask)
    compound = bool(r.gfp_mask & __GFP_COMP) and r.order > 0
    out = [f"Page allocated via order {r.order}, mask {r.gfp_mask:#x}({_pGg(r.gfp_mask)}), "
           f"pid {pid}, tgid {tgid} ({comm}), ts {r.ts_nsec} ns, free_ts {r.free_ts_nsec} ns\n",
           f"PFN {pfn} type {migratetype_names[page_mt]} Block {pfn >> pageblock_order} type "
           f"{migratetype_names[pageblock_mt]} Flags "
           f"{format_page_flags(page_flags_value(mm, pfn, compound))}\n"]
    out.extend(f" {frame}\n" for frame in r.stack)
    if r.last_migrate_reason != -1:
        out.append("Page has been migrated, last migrate reason: "
                   f"{migrate_reason_names[r.last_migrate_reason]}\n")
    out.append("\n")
    return "".join(out)


def _in_free_buddy(mm, pfns: np.ndarray) -> np.ndarray:
    """For each pfn: is it inside a free buddy block (read_page_owner skips those)?"""
    mem = mm.mem
    out = np.zeros(pfns.size, dtype=bool)
    for o in range(MAX_ORDER):
        heads = pfns & ~((1 << o) - 1)
        hit = ((mem.a_flags[heads] & PG_buddy) != 0) & (mem.a_order[heads] == o)
        out |= hit
    return out


def read_page_owner(mm) -> str:
    """The whole /sys/kernel/debug/page_owner file: every allocated block, by pfn.

    Models mm/page_owner.c:read_page_owner (free buddy blocks skipped, tail
    pages of high-order allocations not printed). Raises ValueError (-EINVAL)
    when page_owner is off.
    """
    po = page_owner_of(mm)
    if po is None:
        raise ValueError("page_owner is off: read_page_owner returns -EINVAL")
    mem = mm.mem
    heads = po.allocated_heads()
    heads = heads[heads < mem.npfn]
    if heads.size:
        heads = heads[~_in_free_buddy(mm, heads)]
    return "".join(print_page_owner(mm, p) for p in heads.tolist())


def render_page_owner(machine) -> str:
    """The "page_owner" view for procfs.render: read_page_owner of the machine."""
    return read_page_owner(machine.mm)


def dump_page_owner(mm, pfn: int) -> list[str]:
    """The page_owner lines dump_page prints (mm/page_owner.c:__dump_page_owner)."""
    po = page_owner_of(mm)
    if po is None:
        return []
    r = po.record(pfn)
    if r is None:
        return ["page_owner info is not present (never set?)"]
    lines = ["page_owner tracks the page as allocated" if r.allocated
             else "page_owner tracks the page as freed",
             f"page last allocated via order {r.order}, migratetype "
             f"{migratetype_names[gfp_migratetype(r.gfp_mask)]}, gfp_mask {r.gfp_mask:#x}"
             f"({_pGg(r.gfp_mask)}), pid {r.pid}, tgid {r.tgid} ({r.comm}), ts {r.ts_nsec}, "
             f"free_ts {r.free_ts_nsec}"]
    if r.stack:
        lines.extend(f" {f}" for f in r.stack)
    else:
        lines.append("page_owner allocation stack trace missing")
    if r.free_stack:
        lines.append("page last free stack trace:")
        lines.extend(f" {f}" for f in r.free_stack)
    else:
        lines.append("page_owner free stack trace missing")
    if r.last_migrate_reason != -1:
        lines.append(f"page has been migrated, last migrate reason: "
                     f"{migrate_reason_names[r.last_migrate_reason]}")
    return lines


# --------------------------------------------------------------------------------------
# mixed pageblocks (the last section of /proc/pagetypeinfo)


def pagetypeinfo_showmixedcount(mm, zone: Zone) -> list[int]:
    """Per pageblock migratetype: blocks holding a page allocated for another type.

    Models the counting of mm/page_owner.c:pagetypeinfo_showmixedcount_print
    (CMA blocks count as MOVABLE); indexed by the model's migratetype.
    """
    po = page_owner_of(mm)
    count = [0] * MIGRATE_TYPES
    if po is None:
        return count
    mem = mm.mem
    flags = mem.flags
    orders = mem.order
    pb = mem.pageblock
    end_pfn = min(zone.zone_end_pfn, mem.npfn)
    pfn = zone.zone_start_pfn
    ext = po.ext
    gfp = po.gfp
    porder = po.order
    while pfn < end_pfn:
        if flags[pfn] & PG_absent:
            pfn = (pfn + 1 + (1 << (MAX_ORDER - 1)) - 1) & ~((1 << (MAX_ORDER - 1)) - 1)
            continue
        block_end = min(((pfn >> pageblock_order) + 1) << pageblock_order, end_pfn)
        pageblock_mt = pb[pfn >> pageblock_order] & PB_MT_MASK
        while pfn < block_end:
            f = flags[pfn]
            if f & PG_buddy:
                pfn += 1 << orders[pfn]
                continue
            if f & (PG_reserved | PG_absent) or pfn >= ext.size:
                pfn += 1
                continue
            if not ext[pfn] & PAGE_EXT_OWNER_ALLOCATED:
                pfn += 1
                continue
            page_mt = gfp_migratetype(int(gfp[pfn]))
            if pageblock_mt != page_mt:
                count[MIGRATE_MOVABLE if pageblock_mt == MIGRATE_CMA else pageblock_mt] += 1
                pfn = block_end
                break
            pfn += 1 << int(porder[pfn])
    return count


def pagetypeinfo_showmixedcount_print(mm, zone: Zone) -> str:
    """The "Node %d, zone %8s " line of mixed block counts, in the kernel's migratetypes."""
    from .mmzone import kernel_migratetype
    counts = pagetypeinfo_showmixedcount(mm, zone)
    mts = [mt for mt in range(MIGRATE_TYPES) if mm.cma_enabled or mt != MIGRATE_CMA]
    mts.sort(key=lambda mt: kernel_migratetype(mt, mm.cma_enabled))
    return f"Node {zone.nid}, zone {zone.name:>8} " + "".join(f"{counts[mt]:12d} "
                                                               for mt in mts) + "\n"


# --------------------------------------------------------------------------------------
# tools/vm/page_owner_sort


class PageOwnerBlock(NamedTuple):
    """One record of the dump as page_owner_sort reads it (the PFN line kept aside)."""
    txt: str             # first line and stack, as the tool groups by
    pfn_line: str
    order: int
    pid: int
    tgid: int
    comm: str
    ts_nsec: int
    free_ts_nsec: int
    stacktrace: str
    page_mt: str
    block_mt: str

    @property
    def page_num(self) -> int:
        return 1 << self.order

    @property
    def allocator(self) -> str:
        """page_owner_sort's get_allocator: "CMA ", "SLAB ", "VMALLOC " or "OTHERS "."""
        out = ""
        if "CMA" in self.pfn_line:
            out += "CMA "
        if "slab" in self.pfn_line:
            out += "SLAB "
        frames = self.stacktrace.split("\n")
        for i, f in enumerate(frames):
            if "__vmalloc_node_range" in f and i and "alloc_pages" in frames[i - 1]:
                out += "VMALLOC "
                break
        return out or "OTHERS "


_ORDER = re.compile(r"order\s*([0-9]*),")
_PID = re.compile(r"pid\s*([0-9]*),")
_TGID = re.compile(r"tgid\s*([0-9]*) ")
_COMM = re.compile(r"tgid\s*[0-9]*\s*\((.*)\),\s*ts")
_TS = re.compile(r"ts\s*([0-9]*)\s*ns,")
_FREE_TS = re.compile(r"free_ts\s*([0-9]*)\s*ns")
_PFNLINE = re.compile(r"PFN (\d+) type (\S+) Block (\d+) type (\S+) Flags (\S+)")


def parse_page_owner(text: str) -> list[PageOwnerBlock]:
    """Read a page_owner dump the way page_owner_sort's read_block/add_list do.

    Raises ValueError on a record whose first line does not parse.
    """
    out: list[PageOwnerBlock] = []
    for rec in text.split("\n\n"):
        if not rec.strip():
            continue
        lines = rec.strip("\n").split("\n")
        pfn_line = next((ln for ln in lines if ln.startswith("PFN")), "")
        body = [ln for ln in lines if not ln.startswith("PFN")]
        txt = "\n".join(body) + "\n"
        first = body[0]
        try:
            order = int(_ORDER.search(first).group(1))
            pid = int(_PID.search(first).group(1))
            tgid = int(_TGID.search(first).group(1))
            comm = _COMM.search(first).group(1)
            ts = int(_TS.search(first).group(1))
            free_ts = int(_FREE_TS.search(first).group(1))
        except (AttributeError, ValueError):
            raise ValueError(f"page_owner record does not parse: {first!r}") from None
        m = _PFNLINE.match(pfn_line)
        stack = txt.split("\n", 1)[1] if "\n" in txt else ""
        out.append(PageOwnerBlock(txt, pfn_line, order, pid, tgid, comm, ts, free_ts, stack,
                                  m.group(2) if m else "", m.group(4) if m else ""))
    return out


_CULL_KEYS = {"pid": "pid", "p": "pid", "tgid": "tgid", "tg": "tgid", "name": "comm",
              "n": "comm", "stacktrace": "stacktrace", "st": "stacktrace", "free": "free",
              "f": "free"}


def page_owner_sort(text: str, cull: Iterable[str] = (), sort: str = "times") -> str:
    """Group a page_owner dump like ``page_owner_sort [--cull KEYS]``, most frequent first.

    ``cull`` takes the tool's keys (pid, tgid, name, stacktrace, free); none
    groups identical records (the tool's default). ``sort`` is "times"
    (default, -t) or "pages" (-m). Output lines are the tool's
    ("%d times, %d pages[, PID %d][, TGID %d][, task_comm_name: %s]...").
    """
    keys = [_CULL_KEYS[k] for k in cull]
    blocks = parse_page_owner(text)
    groups: dict[tuple, list] = {}
    order: list[tuple] = []
    for b in blocks:
        if keys:
            key = tuple((b.free_ts_nsec != 0) if k == "free" else getattr(b, k) for k in keys)
        else:
            key = (b.txt,)
        g = groups.get(key)
        if g is None:
            groups[key] = [1, b.page_num, b]
            order.append(key)
        else:
            g[0] += 1
            g[1] += b.page_num
    rows = [groups[k] for k in sorted(order)]
    idx = 1 if sort == "pages" else 0
    rows.sort(key=lambda g: -g[idx])
    out: list[str] = []
    for num, pages, b in rows:
        if not keys:
            out.append(f"{num} times, {pages} pages, allocated by {b.allocator}:\n{b.txt}\n")
            continue
        line = f"{num} times, {pages} pages"
        if "pid" in keys:
            line += f", PID {b.pid}"
        if "tgid" in keys:
            line += f", TGID {b.tgid}"
        if "comm" in keys:
            line += f", task_comm_name: {b.comm}"
        if "free" in keys:
            line += f" ({'UNRELEASED' if b.free_ts_nsec else 'RELEASED'})"
        if "stacktrace" in keys:
            line += f":\n{b.stacktrace}"
        out.append(line + "\n")
    return "".join(out)


def page_owner_summary(mm, by: str = "stacktrace") -> str:
    """A summary of the allocated blocks: by caller, task or migratetype, or mixed pageblocks.

    ``by``: "stacktrace" (or "caller"), "pid", "comm", "txt" — the dump
    through :func:`page_owner_sort`; "migratetype" — blocks and pages per
    allocation migratetype and per (allocation type, pageblock type);
    "mixed" — the pagetypeinfo "Number of mixed blocks" table per zone.
    """
    if by in ("stacktrace", "caller"):
        return page_owner_sort(read_page_owner(mm), cull=("stacktrace",))
    if by in ("pid", "comm", "name", "tgid"):
        return page_owner_sort(read_page_owner(mm), cull=(by,))
    if by == "txt":
        return page_owner_sort(read_page_owner(mm))
    if by == "migratetype":
        blocks = parse_page_owner(read_page_owner(mm))
        per: Counter = Counter()
        pages: Counter = Counter()
        cross: Counter = Counter()
        for b in blocks:
            per[b.page_mt] += 1
            pages[b.page_mt] += b.page_num
            cross[(b.page_mt, b.block_mt)] += 1
        out = [f"{mt}: {per[mt]} blocks, {pages[mt]} pages\n"
               for mt in migratetype_names if per[mt]]
        out.append("allocated as -> in pageblock of type: blocks\n")
        out.extend(f"  {a} -> {bt}: {n}\n" for (a, bt), n in sorted(cross.items()))
        return "".join(out)
    if by == "mixed":
        from .mmzone import kernel_migratetype
        mts = [mt for mt in range(MIGRATE_TYPES) if mm.cma_enabled or mt != MIGRATE_CMA]
        mts.sort(key=lambda mt: kernel_migratetype(mt, mm.cma_enabled))
        out = [f"{'Number of mixed blocks ':<23}"
               + "".join(f"{migratetype_names[mt]:>12} " for mt in mts) + "\n"]
        for z in mm.zones:
            if z.present_pages:
                out.append(pagetypeinfo_showmixedcount_print(mm, z))
        return "".join(out)
    raise ValueError(f"page_owner summary by {by!r}: expected stacktrace, pid, comm, tgid, "
                     "txt, migratetype or mixed")
