"""The kernel's /proc and debugfs views, rendered from the model's state.

Owns no state. Models mm/vmstat.c (frag_show, pagetypeinfo_show,
zoneinfo_show, vmstat_show, the extfrag debugfs files), fs/proc/meminfo.c
and lib/show_mem.c's Mem-Info block.
"""
from __future__ import annotations

from .errors import PageAllocError

__all__ = ["render", "buddyinfo"]


def buddyinfo(machine) -> str:
    """/proc/buddyinfo (mm/vmstat.c:frag_show_print)."""
    out = []
    for node in machine.mm.nodes:
        for z in node.node_zones:
            if not z.present_pages:
                continue
            out.append(f"Node {node.node_id}, zone {z.name:>8} "
                       + "".join(f"{n:6d} " for n in z.nr_free) + "\n")
    return "".join(out)


_VIEWS = {"buddyinfo": buddyinfo}


def render(machine, view: str) -> str:
    fn = _VIEWS.get(view)
    if fn is None:
        raise PageAllocError(f"unknown or not yet available view {view!r}")
    return fn(machine)
