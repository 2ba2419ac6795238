"""Page allocator randomisation: the boot-time free list shuffle and random tail placement.

Models mm/shuffle.c (CONFIG_SHUFFLE_PAGE_ALLOCATOR) of Linux 6.1. With
``page_alloc.shuffle=1`` (``MachineSpec.shuffle``, ``mm.shuffle``):

* at the end of boot (page_alloc_init_late -> shuffle_free_memory) and after
  memory is onlined into a zone (online_pages -> shuffle_zone), every free
  order-10 block at an order-10 aligned pfn swaps its place on the free lists
  with a random other free order-10 block of the zone whose pageblock has the
  same migratetype (__shuffle_zone, a Fisher-Yates walk with up to 10
  attempts to find a partner);
* every free that ends in an order-10 block goes to the head or the tail of
  its list on a random bit (shuffle_pick_tail, called from __free_one_page).

Randomness comes from the machine's seeded generator ``mm.rng``
(``MachineSpec.seed``), standing in for get_random_long()/get_random_u64():
the same seed gives the same order, another seed another order.

Deliberate differences: the zone lock is not dropped every 100 blocks (no
concurrency to let in); pfn_to_online_page() is the memmap's "not a hole"
test.
"""
from __future__ import annotations

from .memmap import PB_MT_MASK, PG_absent, PG_buddy
from .mmzone import MAX_ORDER, Zone, pageblock_order
from .page_alloc import _shuffle_pick_tail

__all__ = ["SHUFFLE_ORDER", "SHUFFLE_RETRY", "shuffle_pick_tail", "shuffle_valid_page",
           "__shuffle_zone", "shuffle_zone", "__shuffle_free_memory", "shuffle_free_memory",
           "shuffle_all_zones", "is_shuffle_order"]

SHUFFLE_ORDER = MAX_ORDER - 1
SHUFFLE_RETRY = 10


def shuffle_pick_tail(mm) -> bool:
    """One random bit per call from a cached 64-bit draw: True puts a freed block at the tail.

    Models mm/shuffle.c:shuffle_pick_tail; the copy __free_one_page calls
    lives in page_alloc.py (``_shuffle_pick_tail``) to keep the hot path
    free of an import, and this is the same function.
    """
    return _shuffle_pick_tail(mm)


def is_shuffle_order(mm, order: int) -> bool:
    """is_shuffle_order(): shuffling is on and the order is SHUFFLE_ORDER or more."""
    return bool(mm.shuffle) and order >= SHUFFLE_ORDER


def _page_zone_is(mm, pfn: int, zone: Zone) -> bool:
    z = mm.pb_zone[pfn >> pageblock_order] if mm.pb_zone else None
    if z is None:
        z = mm.zone_of_pfn(pfn)
    return z is zone


def shuffle_valid_page(mm, zone: Zone, pfn: int, order: int) -> int:
    """The pfn if it is a free block of ``order`` in ``zone``, else -1.

    Models mm/shuffle.c:shuffle_valid_page.
    """
    mem = mm.mem
    if pfn < 0 or pfn >= mem.npfn:
        return -1
    f = mem.flags[pfn]
    if f & PG_absent:
        return -1
    if not _page_zone_is(mm, pfn, zone):
        return -1
    if not f & PG_buddy:
        return -1
    if mem.order[pfn] != order:
        return -1
    return pfn


def _list_swap(mem, e1: int, e2: int) -> None:
    """list_swap(): exchange the places of two entries (possibly on different lists)."""
    nxt = mem.next
    prv = mem.prev
    pos = prv[e2]
    mem.list_del(e2)
    # list_replace(e1, e2)
    n = nxt[e1]
    p = prv[e1]
    nxt[e2] = n
    prv[n] = e2
    prv[e2] = p
    nxt[p] = e2
    if pos == e1:
        pos = e2
    mem.list_add(e1, pos)
    # the memmap records the list a free block is on: it moves with the entry
    mt = mem.mt
    mt[e1], mt[e2] = mt[e2], mt[e1]


def __shuffle_zone(mm, zone: Zone) -> int:
    """Swap every free order-10 block with a random same-migratetype partner of the zone.

    Models mm/shuffle.c:__shuffle_zone; returns the number of swaps made.
    """
    order = SHUFFLE_ORDER
    order_pages = 1 << order
    mem = mm.mem
    pb = mem.pageblock
    rng = mm.rng
    zstart = zone.zone_start_pfn
    spanned = zone.spanned_pages
    end_pfn = zone.zone_end_pfn
    swaps = 0
    with mm.lock:
        i = (zstart + order_pages - 1) & ~(order_pages - 1)
        while i < end_pfn:
            page_i = shuffle_valid_page(mm, zone, i, order)
            if page_i < 0:
                i += order_pages
                continue
            page_j = -1
            for _ in range(SHUFFLE_RETRY):
                # get_random_long() % spanned_pages, aligned down to the order
                j = zstart + ((rng.getrandbits(64) % spanned) & ~(order_pages - 1))
                page_j = shuffle_valid_page(mm, zone, j, order)
                if page_j >= 0 and page_j != page_i:
                    break
                page_j = -1
            if page_j < 0:
                i += order_pages
                continue
            if (pb[page_i >> pageblock_order] & PB_MT_MASK) != (pb[page_j >> pageblock_order]
                                                                  & PB_MT_MASK):
                i += order_pages
                continue
            _list_swap(mem, page_i, page_j)
            swaps += 1
            i += order_pages
    return swaps


def shuffle_zone(mm, zone: Zone) -> int:
    """shuffle_zone(): __shuffle_zone when page_alloc.shuffle is on (memory hotplug calls it)."""
    if not mm.shuffle:
        return 0
    return __shuffle_zone(mm, zone)


def __shuffle_free_memory(mm, pgdat) -> int:
    """Shuffle every zone of a node (mm/shuffle.c:__shuffle_free_memory)."""
    return sum(__shuffle_zone(mm, z) for z in pgdat.node_zones)


def shuffle_free_memory(mm, pgdat) -> int:
    """shuffle_free_memory(): __shuffle_free_memory when shuffling is on."""
    if not mm.shuffle:
        return 0
    return __shuffle_free_memory(mm, pgdat)


def shuffle_all_zones(mm) -> int:
    """The boot-time shuffle of page_alloc_init_late: every node with memory.

    Called by mm_init.boot when ``spec.shuffle`` is set; returns the swaps made.
    """
    return sum(shuffle_free_memory(mm, node) for node in mm.nodes if node.has_memory())
