"""Debug checks: bad pages, page poisoning, use-after-free through the API, dump_page.

Models, as far as the model's per-page state can express them:

* mm/page_alloc.c:bad_page and the free-time part of page_expected_state /
  free_page_is_bad: a free that does not match an allocated head of the same
  order is reported the kernel's way ("BUG: Bad page state in process %s
  pfn:%05lx", dump_page, "page dumped because: ..."), counted, and the page
  left as it was (the kernel leaks it; the model changes nothing, not even
  the PageBuddy that the kernel's page_mapcount_reset drops). Rate limited
  like the kernel: 60 reports, then silence until 60 s after the first of the
  burst, then "BUG: Bad page state: %lu messages suppressed".
* mm/page_poison.c (``page_poison=1``): every page freed is filled with
  PAGE_POISON (0xaa) and checked when allocated; a page written while free
  gives "pagealloc: memory corruption" (or "pagealloc: single bit error"),
  the hex dump of the damaged bytes and dump_page, rate limited 10 per 5 s.
  Page contents exist only for pages written while poisoned.
* A use-after-free check the kernel only has with KASAN or debug_pagealloc:
  :func:`page_access` (``Machine.touch`` / ``Machine.write``) reports an
  access to a page that is free (buddy or pcp) in a KASAN-like style, and a
  write to a free poisoned page also damages the poison.
* mm/debug.c:dump_page and lib/vsprintf.c's %pGp page flags, for Debian
  6.1's page->flags layout (node bits 54.., zone 51.., lastcpupid 30..).

Deliberate differences: debug_pagealloc guard pages are not modelled (they
would need a guard state per page threaded through expand and
__free_one_page's buddy test, and change which blocks merge: not cheap);
KASAN is not modelled; dump_stack and print_modules print nothing.

page_alloc.py calls kernel_poison_pages after reset_page_owner in
free_pages_prepare and kernel_unpoison_pages before set_page_owner in
post_alloc_hook, when ``mm.page_poisoning`` is set.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .core import BadPageReport
from .memmap import PG_absent, PG_buddy, PG_head, PG_lru, PG_pcp, PG_reserved, PG_unknown
from .mmzone import MAX_ORDER, PAGE_SIZE, pageblock_order
from .timers import HZ, TICK_NSEC

__all__ = ["bad_page", "report_bad_free", "describe_page", "dump_page", "format_page_flags",
           "page_flags_value", "pageflag_names", "RateLimit", "DebugReport", "DebugState",
           "debug_state", "debug_counts", "PAGE_POISON", "PagePoison", "enable_page_poisoning",
           "disable_page_poisoning", "kernel_poison_pages", "kernel_unpoison_pages",
           "check_poison_mem", "page_access", "find_block", "print_hex_dump", "hashed_ptr"]

PAGE_POISON = 0xAA                   # include/linux/poison.h

# page->flags layout of Debian 6.1 x86_64 (mminit::pageflags_layout_* in the oracle's dmesg)
NODES_PGSHIFT, NODES_WIDTH = 54, 10
ZONES_PGSHIFT, ZONES_WIDTH = 51, 3
LAST_CPUPID_PGSHIFT, LAST_CPUPID_WIDTH = 30, 21
NR_PAGEFLAGS = 25

# enum pageflags bit numbers (include/linux/page-flags.h, x86_64, MEMORY_FAILURE,
# PAGE_IDLE_FLAG off) and the print order of __def_pageflag_names.
KPG_locked, KPG_referenced, KPG_uptodate, KPG_dirty, KPG_lru, KPG_active = 0, 1, 2, 3, 4, 5
KPG_workingset, KPG_waiters, KPG_error, KPG_slab, KPG_owner_priv_1, KPG_arch_1 = 6, 7, 8, 9, 10, 11
KPG_reserved, KPG_private, KPG_private_2, KPG_writeback, KPG_head = 12, 13, 14, 15, 16
KPG_mappedtodisk, KPG_reclaim, KPG_swapbacked, KPG_unevictable, KPG_mlocked = 17, 18, 19, 20, 21
KPG_uncached, KPG_hwpoison, KPG_arch_2 = 22, 23, 24

pageflag_names: tuple[tuple[int, str], ...] = (
    (KPG_locked, "locked"), (KPG_waiters, "waiters"), (KPG_error, "error"),
    (KPG_referenced, "referenced"), (KPG_uptodate, "uptodate"), (KPG_dirty, "dirty"),
    (KPG_lru, "lru"), (KPG_active, "active"), (KPG_workingset, "workingset"),
    (KPG_slab, "slab"), (KPG_owner_priv_1, "owner_priv_1"), (KPG_arch_1, "arch_1"),
    (KPG_reserved, "reserved"), (KPG_private, "private"), (KPG_private_2, "private_2"),
    (KPG_writeback, "writeback"), (KPG_head, "head"), (KPG_mappedtodisk, "mappedtodisk"),
    (KPG_reclaim, "reclaim"), (KPG_swapbacked, "swapbacked"), (KPG_unevictable, "unevictable"),
    (KPG_mlocked, "mlocked"), (KPG_uncached, "uncached"), (KPG_hwpoison, "hwpoison"),
    (KPG_arch_2, "arch_2"),
)

_VMEMMAP_BASE = 0xFFFFEA0000000000
_PAGE_OFFSET = 0xFFFF888000000000
_STRUCT_PAGE_SIZE = 64


# --------------------------------------------------------------------------------------
# state and rate limits


class RateLimit:
    """struct ratelimit_state: ``burst`` messages per ``interval`` jiffies.

    Models lib/ratelimit.c:___ratelimit, with "%s: %d callbacks suppressed"
    printed when a new interval starts after misses.
    """

    __slots__ = ("interval", "burst", "begin", "printed", "missed")

    def __init__(self, interval: int, burst: int) -> None:
        self.interval = interval
        self.burst = burst
        self.begin: int | None = None
        self.printed = 0
        self.missed = 0

    def __call__(self, mm, func: str) -> bool:
        if not self.interval:
            return True
        now = getattr(mm, "clock_ns", 0) // TICK_NSEC
        if self.begin is None:
            self.begin = now
        if self.begin + self.interval < now:
            if self.missed:
                mm.printk(f"{func}: {self.missed} callbacks suppressed")
                self.missed = 0
            self.begin = now
            self.printed = 0
        if self.burst and self.burst > self.printed:
            self.printed += 1
            return True
        self.missed += 1
        return False


class DebugReport(NamedTuple):
    """One report of the debug checks other than bad_page (those are in mm.bad_pages)."""
    kind: str          # "poison" or "use-after-free"
    pfn: int
    reason: str
    text: str          # what was printed ("" when rate limited away)
    time_ns: int


class DebugState:
    """The debug checks' state of one machine (``mm.debug``, created on first use)."""

    def __init__(self) -> None:
        # bad_page()'s statics
        self.bad_resume = 0
        self.bad_nr_shown = 0
        self.bad_nr_unshown = 0
        self.bad_suppressed = 0
        self.poison_ratelimit = RateLimit(5 * HZ, 10)     # check_poison_mem
        self.uaf_ratelimit = RateLimit(5 * HZ, 10)
        self.poison: PagePoison | None = None
        self.reports: list[DebugReport] = []
        self.counts = {"poison_corruption": 0, "poison_single_bit": 0, "poison_suppressed": 0,
                       "use_after_free": 0, "use_after_free_suppressed": 0}


def debug_state(mm) -> DebugState:
    """The machine's :class:`DebugState` (``mm.debug``), created on first use."""
    st = getattr(mm, "debug", None)
    if st is None:
        st = DebugState()
        mm.debug = st
    return st


def debug_counts(mm) -> dict[str, int]:
    """Every debug check's count: bad pages (shown and suppressed), poison, use-after-free."""
    st = debug_state(mm)
    out = {"bad_page": mm.nr_bad_pages, "bad_page_suppressed": st.bad_suppressed}
    out.update(st.counts)
    return out


# --------------------------------------------------------------------------------------
# what a pfn is, and dump_page


def find_block(mm, pfn: int) -> tuple[int, int, int]:
    """(head pfn, order, PG_* state bit) of the buddy/pcp/allocated block holding pfn.

    (-1, -1, 0) when pfn is in no block (reserved, a hole, unknown).
    """
    mem = mm.mem
    flg = mem.flags
    ordr = mem.order
    f = flg[pfn]
    if f & (PG_reserved | PG_absent | PG_unknown):
        return -1, -1, 0
    for o in range(MAX_ORDER):
        h = pfn & ~((1 << o) - 1)
        fh = flg[h]
        if fh & (PG_buddy | PG_pcp | PG_head) and ordr[h] == o:
            return h, o, fh & (PG_buddy | PG_pcp | PG_head)
    return -1, -1, 0


def describe_page(mm, pfn: int) -> str:
    """A short description of what the model knows of a pfn."""
    mem = mm.mem
    if pfn < 0 or pfn >= mem.npfn:
        return "outside the memmap"
    f = mem.flags[pfn]
    if f & PG_absent:
        return "a hole (no struct page)"
    if f & PG_reserved:
        return "reserved (not managed by the buddy allocator)"
    if f & PG_buddy:
        return f"a free buddy block of order {mem.order[pfn]}"
    if f & PG_pcp:
        return f"on a per-cpu list (order {mem.order[pfn]})"
    if f & PG_head:
        return f"an allocated block of order {mem.order[pfn]}"
    return "inside another block (a tail page)"


def hashed_ptr(addr: int) -> str:
    """%p: a stable stand-in for the kernel's hashed pointer (16 hex digits)."""
    h = (addr * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 29
    return f"00000000{h & 0xFFFFFFFF:08x}"


def _page_zone_idx(mm, pfn: int) -> tuple[int, int]:
    z = mm.pb_zone[pfn >> pageblock_order] if mm.pb_zone else None
    if z is None:
        z = mm.zone_of_pfn(pfn)
    if z is None:
        return 0, 0
    return z.nid, z.idx


def page_flags_value(mm, pfn: int, compound: bool = False) -> int:
    """page->flags as the kernel would hold it for what the model knows of the page.

    Node and zone bits, lastcpupid reset (all ones), PG_reserved, PG_lru
    (the model's PG_lru stands for PageLRU), PG_head for a compound head.
    """
    nid, zidx = _page_zone_idx(mm, pfn)
    v = (nid << NODES_PGSHIFT) | (zidx << ZONES_PGSHIFT)
    v |= ((1 << LAST_CPUPID_WIDTH) - 1) << LAST_CPUPID_PGSHIFT
    f = mm.mem.flags[pfn]
    if f & PG_reserved:
        v |= 1 << KPG_reserved
    if f & PG_lru:
        v |= 1 << KPG_lru
    if compound:
        v |= 1 << KPG_head
    return v


def format_page_flags(value: int) -> str:
    """%pGp: ``0x<flags>(<names>|node=N|zone=Z|lastcpupid=0x...)`` (lib/vsprintf.c)."""
    main = value & ((1 << NR_PAGEFLAGS) - 1)
    parts: list[str] = []
    for bit, name in pageflag_names:
        if main & (1 << bit):
            parts.append(name)
            main &= ~(1 << bit)
    if main:
        parts.append(f"{main:#x}")
    parts.append(f"node={(value >> NODES_PGSHIFT) & ((1 << NODES_WIDTH) - 1)}")
    parts.append(f"zone={(value >> ZONES_PGSHIFT) & ((1 << ZONES_WIDTH) - 1)}")
    parts.append(f"lastcpupid={(value >> LAST_CPUPID_PGSHIFT) & ((1 << LAST_CPUPID_WIDTH) - 1):#x}")
    return f"{value:#x}(" + "|".join(parts) + ")"


def dump_page(mm, pfn: int, reason: str | None) -> list[str]:
    """The lines of mm/debug.c:dump_page for a pfn (and __dump_page_owner when on)."""
    mem = mm.mem
    f = mem.flags[pfn]
    refcount = 1 if f & (PG_head | PG_reserved) else 0
    mapcount = -128 if f & PG_buddy else 0      # PageBuddy lives in page_type/_mapcount
    lines = [f"page:{hashed_ptr(_VMEMMAP_BASE + pfn * _STRUCT_PAGE_SIZE)} refcount:{refcount} "
             f"mapcount:{mapcount} mapping:0000000000000000 index:0x0 pfn:{pfn:#x}",
             f"flags: {format_page_flags(page_flags_value(mm, pfn))}"]
    if reason:
        lines.append(f"page dumped because: {reason}")
    po = getattr(mm.page_owner, "page_owner", mm.page_owner)
    if po is not None and hasattr(po, "dump_page_owner"):
        lines.extend(po.dump_page_owner(mm, pfn))
    return lines


# --------------------------------------------------------------------------------------
# bad pages


def _comm(mm) -> str:
    cur = getattr(mm, "current", None)
    if cur is not None and getattr(cur, "comm", None):
        return cur.comm
    return "pagealloc"


def bad_page(mm, pfn: int, reason: str, comm: str | None = None) -> None:
    """Report a bad page: the kernel's message, rate limited, counted, state untouched.

    Models mm/page_alloc.c:bad_page: a burst of 60 reports, then quiet until
    60 s after the first of the burst; the report is always recorded in
    ``mm.bad_pages`` (with the text printed, or "" when suppressed).
    """
    st = debug_state(mm)
    mm.nr_bad_pages += 1
    now = getattr(mm, "clock_ns", 0) // TICK_NSEC
    if st.bad_nr_shown == 60:
        if now < st.bad_resume:
            st.bad_nr_unshown += 1
            st.bad_suppressed += 1
            mm.bad_pages.append(BadPageReport(pfn, reason, ""))
            return
        if st.bad_nr_unshown:
            mm.printk(f"BUG: Bad page state: {st.bad_nr_unshown} messages suppressed")
            st.bad_nr_unshown = 0
        st.bad_nr_shown = 0
    if st.bad_nr_shown == 0:
        st.bad_resume = now + 60 * HZ
    st.bad_nr_shown += 1
    lines = [f"BUG: Bad page state in process {comm or _comm(mm)}  pfn:{pfn:05x}"]
    lines.extend(dump_page(mm, pfn, reason))
    text = "\n".join(lines)
    mm.bad_pages.append(BadPageReport(pfn, reason, text))
    for line in lines:
        mm.printk(line)


def report_bad_free(mm, pfn: int, order: int) -> None:
    """Report a free of something that is not an allocated block of ``order``."""
    mem = mm.mem
    f = mem.flags[pfn]
    if f & PG_buddy:
        reason = f"double free: nonzero mapcount (page is free, order {mem.order[pfn]})"
    elif f & PG_pcp:
        reason = "double free: nonzero _refcount (page is on a per-cpu list)"
    elif f & (PG_reserved | PG_absent):
        reason = "PAGE_FLAGS_CHECK_AT_FREE flag(s) set (PG_reserved)"
    elif f & PG_head:
        reason = f"free with wrong order {order} (allocated as order {mem.order[pfn]})"
    else:
        h, o, state = find_block(mm, pfn)
        if state == PG_buddy:
            reason = (f"nonzero _refcount (double free: inside the free block {h:#x} "
                      f"of order {o})")
        else:
            reason = "nonzero _refcount (not the head of an allocated block)"
    bad_page(mm, pfn, reason)


# --------------------------------------------------------------------------------------
# page poisoning (mm/page_poison.c)

_PP_NONE = 0          # not poisoned: allocated, or never freed since poisoning began
_PP_POISONED = 1      # filled with PAGE_POISON
_PP_WRITTEN = 2       # poisoned, then written while free: contents in PagePoison.pages


class PagePoison:
    """Page poisoning state: one byte per pfn, and the contents of pages written while free."""

    def __init__(self, npfn: int) -> None:
        self.state = np.zeros(npfn, dtype=np.uint8)
        self.mv = memoryview(self.state)
        self.pages: dict[int, bytearray] = {}


def kernel_poison_pages(mm, pfn: int, n: int) -> None:
    """Fill n pages with PAGE_POISON (free_pages_prepare's kernel_poison_pages)."""
    pp = debug_state(mm).poison
    if pp is None:
        return
    if n == 1:
        pp.mv[pfn] = _PP_POISONED
    else:
        pp.state[pfn:pfn + n] = _PP_POISONED
    if pp.pages:
        for p in [p for p in pp.pages if pfn <= p < pfn + n]:
            del pp.pages[p]


def kernel_unpoison_pages(mm, pfn: int, n: int) -> None:
    """Check n pages still hold PAGE_POISON, report damage (post_alloc_hook's kernel_unpoison_pages)."""
    pp = debug_state(mm).poison
    if pp is None:
        return
    st = pp.state
    if n == 1:
        if pp.mv[pfn] == _PP_WRITTEN:
            check_poison_mem(mm, pfn, pp.pages.pop(pfn))
        pp.mv[pfn] = _PP_NONE
        return
    if (st[pfn:pfn + n] == _PP_WRITTEN).any():
        for p in (np.flatnonzero(st[pfn:pfn + n] == _PP_WRITTEN) + pfn).tolist():
            check_poison_mem(mm, p, pp.pages.pop(p))
    st[pfn:pfn + n] = _PP_NONE


def _single_bit_flip(a: int, b: int) -> bool:
    err = a ^ b
    return err != 0 and not err & (err - 1)


def print_hex_dump(addr: int, data: bytes) -> list[str]:
    """print_hex_dump(KERN_ERR, "", DUMP_PREFIX_ADDRESS, 16, 1, data, len, true) lines."""
    out = []
    for i in range(0, len(data), 16):
        row = data[i:i + 16]
        hexpart = " ".join(f"{b:02x}" for b in row)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        out.append(f"{hashed_ptr(addr + i)}: {hexpart:<48} {asc}")
    return out


def check_poison_mem(mm, pfn: int, mem: bytes) -> None:
    """Report a poisoned page whose bytes are no longer all PAGE_POISON.

    Models mm/page_poison.c:check_poison_mem (ratelimited 10 per 5 s).
    """
    st = debug_state(mm)
    start = next((i for i, b in enumerate(mem) if b != PAGE_POISON), -1)
    if start < 0:
        return
    end = len(mem) - 1
    while end > start and mem[end] == PAGE_POISON:
        end -= 1
    single = start == end and _single_bit_flip(mem[start], PAGE_POISON)
    reason = "pagealloc: single bit error" if single else "pagealloc: memory corruption"
    st.counts["poison_single_bit" if single else "poison_corruption"] += 1
    now = getattr(mm, "clock_ns", 0)
    if not st.poison_ratelimit(mm, "check_poison_mem"):
        st.counts["poison_suppressed"] += 1
        st.reports.append(DebugReport("poison", pfn, reason, "", now))
        return
    lines = [reason]
    lines.extend(print_hex_dump(_PAGE_OFFSET + pfn * PAGE_SIZE + start, bytes(mem[start:end + 1])))
    lines.extend(dump_page(mm, pfn, "pagealloc: corrupted page details"))
    for line in lines:
        mm.printk(line)
    st.reports.append(DebugReport("poison", pfn, reason, "\n".join(lines), now))


def _free_coverage(mm) -> np.ndarray:
    """Boolean per pfn: inside a free buddy block or a pcp block."""
    mem = mm.mem
    cov = np.zeros(mem.npfn, dtype=bool)
    fl = mem.a_flags
    od = mem.a_order
    heads = np.flatnonzero(fl & (PG_buddy | PG_pcp))
    if heads.size:
        orders = od[heads].astype(np.int64)
        for o in np.unique(orders).tolist():
            hs = heads[orders == o]
            cov[(hs[:, None] + np.arange(1 << o)).ravel()] = True
    return cov


def enable_page_poisoning(mm) -> PagePoison:
    """Turn page poisoning on, as if booted with page_poison=1.

    Every page free now (buddy or pcp) counts as poisoned; pages freed from
    now on are poisoned, and every allocation checks its pages.
    """
    st = debug_state(mm)
    if st.poison is not None:
        return st.poison
    pp = PagePoison(mm.mem.npfn)
    pp.state[_free_coverage(mm)] = _PP_POISONED
    st.poison = pp
    mm.page_poisoning = True
    return pp


def disable_page_poisoning(mm) -> None:
    """Turn page poisoning off."""
    st = debug_state(mm)
    st.poison = None
    mm.page_poisoning = False


# --------------------------------------------------------------------------------------
# use after free through the API


def page_access(mm, pfn: int, write: bool, data: bytes = b"", offset: int = 0,
                what: str = "Machine.write") -> bool:
    """Check an access to a pfn through the API; False (and a report) if the page is free.

    A write to a free page that is poisoned damages the poison, which the
    next allocation of the page reports. Reserved pages may be accessed
    (they are the kernel's own). Returns True for an access to an allocated
    or reserved page.
    """
    mem = mm.mem
    f = mem.flags[pfn]
    if f & PG_absent:
        raise ValueError(f"pfn {pfn:#x} is a hole: no page to access")
    if f & PG_reserved:
        return True
    h, o, state = find_block(mm, pfn)
    if state == PG_head or state == 0:
        return True
    st = debug_state(mm)
    size = len(data) if write else 1
    pp = st.poison
    if write and pp is not None and pp.state[pfn] != _PP_NONE:
        page = pp.pages.get(pfn)
        if page is None:
            page = bytearray([PAGE_POISON]) * PAGE_SIZE
            pp.pages[pfn] = page
        page[offset:offset + len(data)] = data
        pp.state[pfn] = _PP_WRITTEN
    st.counts["use_after_free"] += 1
    where = "a free buddy block" if state == PG_buddy else "a per-cpu list block"
    reason = f"page is free ({where} {h:#x} of order {o})"
    now = getattr(mm, "clock_ns", 0)
    if not st.uaf_ratelimit(mm, "page_access"):
        st.counts["use_after_free_suppressed"] += 1
        st.reports.append(DebugReport("use-after-free", pfn, reason, "", now))
        return False
    cur = getattr(mm, "current", None)
    pid = getattr(cur, "pid", 1)
    lines = ["=" * 66,
             f"BUG: use-after-free in {what}",
             f"{'Write' if write else 'Read'} of size {size} at addr "
             f"{_PAGE_OFFSET + pfn * PAGE_SIZE + offset:016x} by task {_comm(mm)}/{pid}",
             "",
             "The buggy address belongs to the physical page:"]
    lines.extend(dump_page(mm, pfn, reason))
    lines.append("=" * 66)
    for line in lines:
        mm.printk(line)
    st.reports.append(DebugReport("use-after-free", pfn, reason, "\n".join(lines), now))
    return False
