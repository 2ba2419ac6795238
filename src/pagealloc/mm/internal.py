"""Allocator-internal flags and the gfp -> alloc_flags derivations.

Models the ALLOC_* flags and reclaim constants of mm/internal.h ([6.1.y-late], as in
6.1.158), gfp_to_alloc_flags, gfp_to_alloc_flags_cma and __gfp_pfmemalloc_flags of
mm/page_alloc.c, current_gfp_context of include/linux/sched/mm.h and gfp_compaction_allowed
of include/linux/gfp.h. SWAP_CLUSTER_MAX and COMPACT_CLUSTER_MAX come from
include/linux/swap.h. The GFP masks of mm/internal.h (GFP_RECLAIM_MASK, GFP_BOOT_MASK,
GFP_CONSTRAINT_MASK) live in :mod:`pagealloc.mm.gfp`.

The task and interrupt state the kernel reads from ``current`` and the preempt count are
keyword arguments here.
"""
from __future__ import annotations

from typing import Final

import enum

from .gfp import (
    __GFP_DIRECT_RECLAIM,
    __GFP_FS,
    __GFP_HIGH,
    __GFP_IO,
    __GFP_KSWAPD_RECLAIM,
    __GFP_MEMALLOC,
    __GFP_MOVABLE,
    __GFP_NOMEMALLOC,
    gfp_migratetype,
)
from .mmzone import MIGRATE_MOVABLE

__all__ = [
    "AllocFlag",
    "ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH", "ALLOC_WMARK_MASK",
    "ALLOC_NO_WATERMARKS", "ALLOC_OOM", "ALLOC_NON_BLOCK", "ALLOC_MIN_RESERVE", "ALLOC_CPUSET",
    "ALLOC_CMA", "ALLOC_NOFRAGMENT", "ALLOC_HIGHATOMIC", "ALLOC_KSWAPD", "ALLOC_RESERVES",
    "SWAP_CLUSTER_MAX", "COMPACT_CLUSTER_MAX", "MAX_RECLAIM_RETRIES",
    "gfp_to_alloc_flags", "gfp_to_alloc_flags_cma", "gfp_pfmemalloc_flags",
    "current_gfp_context", "gfp_compaction_allowed", "format_alloc_flags",
]

# The low two bits index zone->_watermark[] (WMARK_MIN/LOW/HIGH); they are not flags.
ALLOC_WMARK_MIN: Final = 0
ALLOC_WMARK_LOW: Final = 1
ALLOC_WMARK_HIGH: Final = 2
ALLOC_NO_WATERMARKS: Final = 0x04
ALLOC_WMARK_MASK: Final = ALLOC_NO_WATERMARKS - 1
ALLOC_OOM: Final = 0x08                    # with CONFIG_MMU; = ALLOC_NO_WATERMARKS without
# [6.1.y-late]: 0x10/0x20 were ALLOC_HARDER/ALLOC_HIGH in [6.1.0] (split upstream in 6.3).
ALLOC_NON_BLOCK: Final = 0x10
ALLOC_MIN_RESERVE: Final = 0x20            # == __GFP_HIGH
ALLOC_CPUSET: Final = 0x40
ALLOC_CMA: Final = 0x80
ALLOC_NOFRAGMENT: Final = 0x100            # 0 without CONFIG_ZONE_DMA32
ALLOC_HIGHATOMIC: Final = 0x200            # [6.1.y-late]
ALLOC_KSWAPD: Final = 0x800                # == __GFP_KSWAPD_RECLAIM
ALLOC_RESERVES: Final = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

SWAP_CLUSTER_MAX: Final = 32
COMPACT_CLUSTER_MAX: Final = SWAP_CLUSTER_MAX
MAX_RECLAIM_RETRIES: Final = 16


class AllocFlag(enum.IntFlag):
    """The ALLOC_* bits as a flag type, for display and typed APIs.

    Models mm/internal.h; the hot paths use the plain ``int`` constants above.
    """
    WMARK_LOW = ALLOC_WMARK_LOW
    WMARK_HIGH = ALLOC_WMARK_HIGH
    NO_WATERMARKS = ALLOC_NO_WATERMARKS
    OOM = ALLOC_OOM
    NON_BLOCK = ALLOC_NON_BLOCK
    MIN_RESERVE = ALLOC_MIN_RESERVE
    CPUSET = ALLOC_CPUSET
    CMA = ALLOC_CMA
    NOFRAGMENT = ALLOC_NOFRAGMENT
    HIGHATOMIC = ALLOC_HIGHATOMIC
    KSWAPD = ALLOC_KSWAPD


# Both identities let the kernel copy gfp bits into alloc_flags without a branch.
assert __GFP_HIGH == ALLOC_MIN_RESERVE and __GFP_KSWAPD_RECLAIM == ALLOC_KSWAPD


def gfp_to_alloc_flags_cma(gfp: int, alloc_flags: int, cma: bool,
                           mobility_disabled: bool = False) -> int:
    """Add ALLOC_CMA to ``alloc_flags`` when a movable request may use CMA pageblocks.

    Models mm/page_alloc.c:gfp_to_alloc_flags_cma; ``cma`` stands for CONFIG_CMA (a machine
    with CMA areas). Must see the gfp after current_gfp_context().
    """
    if cma and gfp_migratetype(gfp, mobility_disabled) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


def gfp_to_alloc_flags(gfp: int, order: int, *, rt_task: bool = False, in_task: bool = True,
                       cma: bool = False, mobility_disabled: bool = False) -> int:
    """Return the slowpath alloc_flags for a request: MIN watermark plus reserve rights.

    Models mm/page_alloc.c:gfp_to_alloc_flags [6.1.y-late] (non-blocking callers get
    ALLOC_NON_BLOCK, __GFP_HIGH ones ALLOC_MIN_RESERVE; [6.1.0] used ALLOC_HARDER keyed on
    __GFP_ATOMIC instead).

    :param rt_task: ``rt_task(current)``; :param in_task: ``in_task()``.
    """
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)

    if not gfp & __GFP_DIRECT_RECLAIM:
        if not gfp & __GFP_NOMEMALLOC:
            alloc_flags |= ALLOC_NON_BLOCK
            # 6.1.119 granted HIGHATOMIC to any order > 0 non-blocking request; the
            # __GFP_HIGH (MIN_RESERVE) requirement is the later stable fix.
            if order > 0 and alloc_flags & ALLOC_MIN_RESERVE:
                alloc_flags |= ALLOC_HIGHATOMIC
        # A non-blocking __GFP_HIGH request ignores cpuset mems rather than fail.
        if alloc_flags & ALLOC_MIN_RESERVE:
            alloc_flags &= ~ALLOC_CPUSET
    elif rt_task and in_task:
        alloc_flags |= ALLOC_MIN_RESERVE

    return gfp_to_alloc_flags_cma(gfp, alloc_flags, cma, mobility_disabled)


def gfp_pfmemalloc_flags(gfp: int, *, pf_memalloc: bool = False, oom_victim: bool = False,
                         in_interrupt: bool = False, in_serving_softirq: bool = False) -> int:
    """Return the reserve access beyond watermarks a request gets: NO_WATERMARKS, OOM or 0.

    Models mm/page_alloc.c:__gfp_pfmemalloc_flags (CONFIG_MMU, so any OOM victim qualifies).
    Serving a softirq implies being in interrupt context.

    :param pf_memalloc: ``current->flags & PF_MEMALLOC``; :param oom_victim:
        ``tsk_is_oom_victim(current)``.
    """
    if gfp & __GFP_NOMEMALLOC:
        return 0
    if gfp & __GFP_MEMALLOC:
        return ALLOC_NO_WATERMARKS
    if in_serving_softirq and pf_memalloc:
        return ALLOC_NO_WATERMARKS
    if not (in_interrupt or in_serving_softirq):
        if pf_memalloc:
            return ALLOC_NO_WATERMARKS
        if oom_victim:
            return ALLOC_OOM
    return 0


def current_gfp_context(gfp: int, *, memalloc_noio: bool = False, memalloc_nofs: bool = False,
                        memalloc_pin: bool = False) -> int:
    """Apply the task's scoped allocation constraints to ``gfp``.

    Models include/linux/sched/mm.h:current_gfp_context; the keywords are the task's
    PF_MEMALLOC_NOIO / PF_MEMALLOC_NOFS / PF_MEMALLOC_PIN flags (NOIO wins over NOFS).
    """
    if memalloc_noio:
        gfp &= ~(__GFP_IO | __GFP_FS)
    elif memalloc_nofs:
        gfp &= ~__GFP_FS
    if memalloc_pin:
        gfp &= ~__GFP_MOVABLE
    return gfp


def gfp_compaction_allowed(gfp: int) -> bool:
    """Tell whether a request may compact: migration may need IO, so __GFP_IO is required.

    Models include/linux/gfp.h:gfp_compaction_allowed [6.1.y-late] with CONFIG_COMPACTION=y.
    """
    return bool(gfp & __GFP_IO)


_ALLOC_FLAG_NAMES: tuple[tuple[int, str], ...] = (
    (ALLOC_NO_WATERMARKS, "ALLOC_NO_WATERMARKS"),
    (ALLOC_OOM, "ALLOC_OOM"),
    (ALLOC_NON_BLOCK, "ALLOC_NON_BLOCK"),
    (ALLOC_MIN_RESERVE, "ALLOC_MIN_RESERVE"),
    (ALLOC_CPUSET, "ALLOC_CPUSET"),
    (ALLOC_CMA, "ALLOC_CMA"),
    (ALLOC_NOFRAGMENT, "ALLOC_NOFRAGMENT"),
    (ALLOC_HIGHATOMIC, "ALLOC_HIGHATOMIC"),
    (ALLOC_KSWAPD, "ALLOC_KSWAPD"),
)
_WMARK_NAMES = {ALLOC_WMARK_MIN: "ALLOC_WMARK_MIN", ALLOC_WMARK_LOW: "ALLOC_WMARK_LOW",
                ALLOC_WMARK_HIGH: "ALLOC_WMARK_HIGH"}


def format_alloc_flags(flags: int) -> str:
    """Render alloc_flags as ``ALLOC_WMARK_<x>|ALLOC_<bit>|...`` for human-readable output.

    Ours (the kernel never prints alloc_flags): the watermark index first, then the bits in
    ascending value, unknown bits (or watermark index 3) as trailing hex.
    """
    if flags < 0:
        raise ValueError(f"alloc_flags must be non-negative, got {flags}")
    wmark = flags & ALLOC_WMARK_MASK
    leftover = flags & ~ALLOC_WMARK_MASK
    parts: list[str] = []
    if wmark in _WMARK_NAMES:
        parts.append(_WMARK_NAMES[wmark])
    else:
        leftover |= wmark
    for bit, name in _ALLOC_FLAG_NAMES:
        if leftover & bit:
            parts.append(name)
            leftover &= ~bit
    if leftover:
        parts.append(f"{leftover:#x}")
    return "|".join(parts)
