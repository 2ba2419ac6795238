"""The memmap: per-page state in compact arrays, and the free lists threaded through it.

Models the parts of struct page that the page allocator reads (PageBuddy,
buddy_order, page->buddy_list / pcp_list, page->index as the cached
migratetype, PG_reported, PageLRU/__PageMovable for move_freepages) and the
pageblock bitmap of include/linux/pageblock-flags.h.

Layout (11 bytes per pfn, fixed whatever the fragmentation):

* ``next``/``prev`` (int32): the doubly linked free lists. Each list
  (zone, order, migratetype) has a sentinel node at index ``npfn + list id``,
  so a list is circular like the kernel's ``struct list_head``.
* ``order`` (int8): order of a free block head, a pcp entry or an allocated
  block head; -1 elsewhere.
* ``flags`` (uint8): PG_* bits below.
* ``mt`` (uint8): the free list a buddy head is on, or the cached
  migratetype (page->index) of a pcp entry / allocated block.
* ``pageblock`` (uint8 per pageblock): migratetype in bits 0..2, PB_migrate_skip
  in bit 3.

Hot paths read these through memoryviews bound to locals; numpy is used for
vectorised boot and scans only.
"""
from __future__ import annotations

from typing import Final

import numpy as np

from .mmzone import MAX_ORDER, MIGRATE_TYPES, pageblock_order

__all__ = ["MemMap", "list_link", "list_unlink", "PG_buddy", "PG_pcp", "PG_head", "PG_reserved", "PG_reported",
           "PG_lru", "PG_absent", "PG_unknown", "PB_migrate_skip", "LISTS_PER_ZONE"]

PG_buddy: Final = 0x01      # head of a free buddy block (PageBuddy)
PG_pcp: Final = 0x02        # head of an entry on a per-cpu list
PG_head: Final = 0x04       # head of an allocated block
PG_reserved: Final = 0x08   # memblock-reserved: present but not managed
PG_reported: Final = 0x10   # PG_reported (free page reporting)
PG_lru: Final = 0x20        # PageLRU || __PageMovable: counted by move_freepages
PG_absent: Final = 0x40     # a hole: no struct page behind this pfn
PG_unknown: Final = 0x80    # replay from a partial start: state not yet revealed

PB_migrate_skip: Final = 0x08
PB_MT_MASK: Final = 0x07

LISTS_PER_ZONE: Final = MAX_ORDER * MIGRATE_TYPES


def list_link(nxt, prv, node: int, head: int, at_tail: bool) -> None:
    """list_add / list_add_tail on lists threaded through ``nxt``/``prv`` arrays.

    Shared by the memmap's free lists and the LRU lists of page_users; the
    buddy hot paths in page_alloc.py inline the same steps for speed.
    """
    if at_tail:
        last = prv[head]
        nxt[node] = head
        prv[node] = last
        nxt[last] = node
        prv[head] = node
    else:
        first = nxt[head]
        nxt[node] = first
        prv[node] = head
        prv[first] = node
        nxt[head] = node


def list_unlink(nxt, prv, node: int) -> None:
    """list_del on lists threaded through ``nxt``/``prv`` arrays."""
    n = nxt[node]
    p = prv[node]
    nxt[p] = n
    prv[n] = p


class MemMap:
    """Per-pfn arrays for pfns [0, npfn) plus free-list sentinels for nzones zones."""

    __slots__ = ("npfn", "nzones", "a_next", "a_prev", "a_order", "a_flags", "a_mt",
                 "a_pageblock", "next", "prev", "order", "flags", "mt", "pageblock")

    def __init__(self, npfn: int, nzones: int) -> None:
        if npfn >= (1 << 31) - nzones * LISTS_PER_ZONE:
            raise ValueError(f"{npfn} pfns exceed the int32 list links of the memmap")
        self.npfn = npfn
        self.nzones = nzones
        total = npfn + nzones * LISTS_PER_ZONE
        # np.zeros is lazily backed by calloc: untouched holes cost no RSS.
        self.a_next = np.zeros(total, dtype=np.int32)
        self.a_prev = np.zeros(total, dtype=np.int32)
        sent = np.arange(npfn, total, dtype=np.int32)
        self.a_next[npfn:] = sent
        self.a_prev[npfn:] = sent
        self.a_order = np.full(npfn, -1, dtype=np.int8)
        self.a_flags = np.full(npfn, PG_reserved, dtype=np.uint8)
        self.a_mt = np.zeros(npfn, dtype=np.uint8)
        nblocks = (npfn + (1 << pageblock_order) - 1) >> pageblock_order
        self.a_pageblock = np.zeros(nblocks, dtype=np.uint8)
        self.next = memoryview(self.a_next)  # type: ignore[arg-type]
        self.prev = memoryview(self.a_prev)  # type: ignore[arg-type]
        self.order = memoryview(self.a_order)  # type: ignore[arg-type]
        self.flags = memoryview(self.a_flags)  # type: ignore[arg-type]
        self.mt = memoryview(self.a_mt)  # type: ignore[arg-type]
        self.pageblock = memoryview(self.a_pageblock)  # type: ignore[arg-type]

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.a_next, self.a_prev, self.a_order, self.a_flags,
                                      self.a_mt, self.a_pageblock))

    # --- list primitives (include/linux/list.h semantics) -------------------------------
    def list_add(self, pfn: int, head: int) -> None:
        """list_add(): insert after the sentinel (at the head)."""
        list_link(self.next, self.prev, pfn, head, False)

    def list_add_tail(self, pfn: int, head: int) -> None:
        """list_add_tail(): insert before the sentinel (at the tail)."""
        list_link(self.next, self.prev, pfn, head, True)

    def list_del(self, pfn: int) -> None:
        """list_del()."""
        list_unlink(self.next, self.prev, pfn)

    def list_empty(self, head: int) -> bool:
        return self.next[head] == head

    def iter_list(self, head: int, limit: int = -1):
        """Yield the pfns of a list from head to tail (at most ``limit`` if >= 0)."""
        nxt = self.next
        p = nxt[head]
        n = 0
        while p != head:
            if n == limit:
                return
            yield p
            n += 1
            p = nxt[p]

    def list_len(self, head: int, limit: int = -1) -> int:
        n = 0
        for _ in self.iter_list(head, limit):
            n += 1
        return n

    # --- pageblock bits ------------------------------------------------------------------
    def get_pageblock_migratetype(self, pfn: int) -> int:
        return self.pageblock[pfn >> pageblock_order] & PB_MT_MASK

    def set_pageblock_migratetype_raw(self, pfn: int, mt: int) -> None:
        i = pfn >> pageblock_order
        self.pageblock[i] = (self.pageblock[i] & ~PB_MT_MASK & 0xFF) | mt
