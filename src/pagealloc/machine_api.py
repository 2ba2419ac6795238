"""The facade's allocation calls: Machine.alloc_pages, free_pages and the CPU check.

Not a kernel file. They live in a class of their own, which Machine inherits,
so that the optional compiled build (compiled.py) covers the whole call from the
user's code down to the pcp lists: mypyc compiles this class as a native class
that interpreted classes may subclass (Machine adds its mixins and attributes).
The argument checks run in mm/pcp.py's api_* entry points; the errors are raised
here.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, TypeVar

from .errors import PageAllocError
from .mm.core import MM
from .mm.mmzone import MAX_ORDER
from .mm.page_alloc import __alloc_pages as _alloc_pages
from .mm.pcp import API_BAD_ARGS, api_alloc_pages, api_free_pages

_T = TypeVar("_T")

try:
    from mypy_extensions import mypyc_attr
except ImportError:                         # pure Python without mypy installed
    def mypyc_attr(*attrs: str, **kwattrs: Any) -> Callable[[_T], _T]:  # type: ignore[misc]
        return lambda cls: cls

__all__ = ["AllocAPI"]


@mypyc_attr(allow_interpreted_subclasses=True)
class AllocAPI:
    """alloc_pages / free_pages of :class:`~pagealloc.machine.Machine`."""

    mm: MM
    default_cpu: int

    def _cpu(self, cpu: int | None) -> int:
        mm = self.mm
        c = self.default_cpu if cpu is None else cpu
        if not 0 <= c < mm.nr_cpu_ids or not mm.cpu_online[c]:
            raise PageAllocError(f"cpu {c} is not online (online: {mm.online_cpus()})")
        return c

    def alloc_pages(self, gfp: int, order: int = 0, cpu: int | None = None,
                    nid: int | None = None, nodemask: Iterable[int] | None = None) -> int | None:
        """alloc_pages(): the pfn of a 2^order block, or None on failure."""
        c = self.default_cpu if cpu is None else cpu
        if nodemask is None and (nid is None or nid >= 0):
            pfn = api_alloc_pages(self.mm, gfp, order, c, -1 if nid is None else nid)
            if pfn != API_BAD_ARGS:
                return None if pfn < 0 else pfn
        # a nodemask, or an argument api_alloc_pages refused (the checks below say which)
        mm = self.mm
        self._cpu(c)
        if order < 0 or order >= MAX_ORDER:
            raise PageAllocError(f"order {order} out of range 0..{MAX_ORDER - 1}")
        if nid is not None and not 0 <= nid < len(mm.nodes):
            raise PageAllocError(f"node {nid} does not exist (nodes 0..{len(mm.nodes) - 1})")
        mm.cpu = c
        pref = mm.cpu_to_node[c] if nid is None else nid
        pfn = _alloc_pages(mm, int(gfp), order, pref,
                           None if nodemask is None else frozenset(nodemask))
        return None if pfn < 0 else pfn

    def free_pages(self, pfn: int, order: int = 0, cpu: int | None = None) -> bool:
        """__free_pages(): False (and a Bad page report) when the block is not allocated."""
        c = self.default_cpu if cpu is None else cpu
        r = api_free_pages(self.mm, pfn, order, c)
        if r != API_BAD_ARGS:
            return r == 1
        self._cpu(c)
        npfn = self.mm.mem.npfn
        raise PageAllocError(f"pfn {pfn:#x} is outside the machine (0..{npfn - 1:#x})")
