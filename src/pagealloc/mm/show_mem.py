"""Allocation failure warnings and the Mem-Info block.

Models mm/page_alloc.c:warn_alloc and __show_free_areas with lib/show_mem.c
(6.1 keeps show_free_areas in page_alloc.c). The Mem-Info rendering itself
lives in procfs (it owns no state); this module decides when to print.
"""
from __future__ import annotations

from .gfp import __GFP_NOWARN, format_gfp

__all__ = ["warn_alloc"]


def warn_alloc(mm, gfp: int, order: int, ac, comm: str = "pagealloc") -> None:
    """Print "page allocation failure" and Mem-Info unless __GFP_NOWARN."""
    if gfp & __GFP_NOWARN:
        return
    nm = "(null)" if ac.nodemask is None else ",".join(str(n) for n in sorted(ac.nodemask))
    mems = ",".join(str(n.node_id) for n in mm.nodes if n.online)
    mm.printk(f"{comm}: page allocation failure: order:{order}, mode:{gfp:#x}"
              f"({format_gfp(gfp)}), nodemask={nm},cpuset=/,mems_allowed={mems}")
    render = getattr(mm, "render_mem_info", None)
    if render is not None:
        for line in render(ac.highest_zoneidx).splitlines():
            mm.printk(line)
