"""Per-CPU page lists: struct per_cpu_pages and its sizing.

Models struct per_cpu_pages (include/linux/mmzone.h) and zone_batchsize /
zone_highsize / nr_pcp_free / nr_pcp_high of mm/page_alloc.c, [6.1.y-late]
layout: 12 low-order lists plus two THP lists, free_factor capped at
CONFIG_PCP_BATCH_SCALE_MAX. The allocation and free paths that use these
lists live in page_alloc.py, beside the buddy code they call.

Each list is a ``collections.deque`` of pfns whose *right* end is the list
head (list_add / list_first_entry) and whose left end is the tail
(list_add_tail / list_last_entry).
"""
from __future__ import annotations

from collections import deque

from .mmzone import NR_PCP_LISTS, PCP_BATCH_SCALE_MAX, ZONE_RECLAIM_ACTIVE, Zone

__all__ = ["PerCpuPages", "zone_batchsize", "zone_highsize", "nr_pcp_free", "nr_pcp_high",
           "BOOT_PAGESET_HIGH", "BOOT_PAGESET_BATCH"]

BOOT_PAGESET_HIGH = 0
BOOT_PAGESET_BATCH = 1


class PerCpuPages:
    """struct per_cpu_pages for one (zone, CPU)."""

    __slots__ = ("cpu", "count", "high", "batch", "free_factor", "expire", "lists", "locked",
                 "stat_threshold")

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.count = 0
        self.high = BOOT_PAGESET_HIGH
        self.batch = BOOT_PAGESET_BATCH
        self.free_factor = 0
        self.expire = 0
        self.lists: list[deque[int]] = [deque() for _ in range(NR_PCP_LISTS)]
        # Held by someone on this CPU (an interrupted holder, or on PREEMPT_RT another
        # task): pcp_spin_trylock fails while this is true.
        self.locked = False
        self.stat_threshold = 0

    def __repr__(self) -> str:
        return (f"<pcp cpu {self.cpu} count={self.count} high={self.high} batch={self.batch} "
                f"free_factor={self.free_factor}>")


def _rounddown_pow_of_two(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n > 0 else 0


def zone_batchsize(managed_pages: int, page_size: int = 4096) -> int:
    """Pages moved per pcp refill/drain for a zone of ``managed_pages``.

    Models mm/page_alloc.c:zone_batchsize (MMU build).
    """
    batch = min(managed_pages >> 10, (1024 * 1024) // page_size)
    batch //= 4
    if batch < 1:
        batch = 1
    # Clamp to 2^n - 1 so that batches avoid cache aliasing (the kernel's reasoning).
    return _rounddown_pow_of_two(batch + batch // 2) - 1


def zone_highsize(zone: Zone, batch: int, cpu_online: int, *, high_fraction: int,
                  node_cpus: int, online_cpus: int) -> int:
    """pcp->high for a zone: its share of the low watermark (or of managed/fraction).

    Models mm/page_alloc.c:zone_highsize (MMU build, [6.1]: no auto-tuning).
    """
    if not high_fraction:
        total_pages = zone.low_wmark_pages()
    else:
        total_pages = zone.managed_pages // high_fraction
    nr_split_cpus = node_cpus + cpu_online
    if not nr_split_cpus:
        nr_split_cpus = online_cpus
    high = total_pages // nr_split_cpus
    return max(high, batch << 2)


def nr_pcp_free(pcp: PerCpuPages, high: int, batch: int, free_high: bool) -> int:
    """How many pages free_pcppages_bulk frees when a pcp overflows.

    Models mm/page_alloc.c:nr_pcp_free [6.1.y-late] (free_factor capped).
    """
    if free_high:
        return pcp.count
    if high < batch:
        return 1
    min_nr_free = batch
    max_nr_free = high - batch
    batch <<= pcp.free_factor
    if batch < max_nr_free and pcp.free_factor < PCP_BATCH_SCALE_MAX:
        pcp.free_factor += 1
    # clamp(batch, min, max): max wins when the bounds cross, as the kernel's clamp does.
    if batch < min_nr_free:
        batch = min_nr_free
    if batch > max_nr_free:
        batch = max_nr_free
    return batch


def nr_pcp_high(pcp: PerCpuPages, zone: Zone, free_high: bool) -> int:
    """The count at which a pcp free triggers a bulk free.

    Models mm/page_alloc.c:nr_pcp_high (ZONE_RECLAIM_ACTIVE caps it at 4 batches).
    """
    high = pcp.high
    if not high or free_high:
        return 0
    if not zone.flags & ZONE_RECLAIM_ACTIVE:
        return high
    return min(pcp.batch << 2, high)
