"""Bad page reports: the checks of free_pages_prepare that the model can express.

Models mm/page_alloc.c:bad_page and the free-time part of
page_expected_state/free_page_is_bad. The model knows whether a pfn is a
free buddy block, on a pcp list, an allocated block head (and its order),
reserved or a hole; a free that does not match an allocated head of the same
order is reported the kernel's way ("BUG: Bad page state in process %s
pfn:%05lx") with the closest kernel reason, counted, and the page left as it
was (the kernel leaks it; the model changes nothing).
"""
from __future__ import annotations

from .core import BadPageReport
from .memmap import PG_absent, PG_buddy, PG_head, PG_pcp, PG_reserved

__all__ = ["bad_page", "report_bad_free", "describe_page"]


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


def bad_page(mm, pfn: int, reason: str, comm: str = "pagealloc") -> None:
    """Report a bad page: the kernel's message, counted, state untouched."""
    mm.nr_bad_pages += 1
    lines = [f"BUG: Bad page state in process {comm}  pfn:{pfn:05x}",
             f"page:{pfn:#x} is {describe_page(mm, pfn)}",
             f"page dumped because: {reason}"]
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
        reason = "nonzero _refcount (not the head of an allocated block)"
    bad_page(mm, pfn, reason)
