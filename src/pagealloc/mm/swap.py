"""The LRU lists: adding, activating, isolating and putting back pages.

Models mm/swap.c (the name is historic: it holds the LRU code) with the
lruvec helpers of include/linux/mm_inline.h and the isolation helpers of
mm/vmscan.c (folio_isolate_lru, folio_putback_lru): the classic 6.1 LRU
with active and inactive lists for anon and file pages per node (not
MGLRU, which Debian's 6.1 builds but leaves off).

Each node has four lists threaded through ``PageUsers.lru_next/lru_prev``
(head = most recently added, tail = the next to be scanned, as with
list_add / lru_to_folio) and a fifth list of reclaimable slab blocks that
:func:`pagealloc.mm.vmscan.shrink_slab` walks oldest first.

Deliberate differences: pages go on the LRU at once (no per-CPU folio
batches, so lru_add_drain has nothing to do); there is no unevictable list
(no mlock); PG_lru is set on every pfn of an LRU folio (PageLRU reads the
head's flag for a tail page, and move_freepages counts per pfn).
"""
from __future__ import annotations

from .memmap import PG_lru, list_link, list_unlink
from .page_users import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
                         LRU_NAMES, LRU_SLAB, PGU_ACTIVE, PGU_ISOLATED, PGU_REFERENCED,
                         PGU_WORKINGSET, Kind, page_zone)
from .vmstat import ev_index

__all__ = ["lruvec_add_folio", "lruvec_add_folio_tail", "lruvec_del_folio", "folio_add_lru",
           "folio_mark_accessed", "folio_activate", "isolate_lru_page", "putback_lru_page",
           "lru_note_cost", "slab_list_add", "slab_list_del", "update_lru_size"]

_EV_PGACTIVATE = ev_index("pgactivate")
_NODE_ITEMS = tuple(f"nr_{n}" for n in LRU_NAMES)
_ZONE_ITEMS = tuple(f"nr_zone_{n}" for n in LRU_NAMES)


def update_lru_size(mm, lv, lru: int, zone, nr: int) -> None:
    """Change a list's size (and the node/zone stat items of LRU lists) by nr pages.

    Models include/linux/mm_inline.h:update_lru_size.
    """
    lv.size[lru][zone.idx] += nr
    if lru < LRU_SLAB:
        nvs = zone.node.vm_stat
        key = _NODE_ITEMS[lru]
        nvs[key] = nvs.get(key, 0) + nr
        zvs = zone.vm_stat
        key = _ZONE_ITEMS[lru]
        zvs[key] = zvs.get(key, 0) + nr


def _set_lru_bits(mm, pfn: int, nr: int, on: bool) -> None:
    if nr == 1:
        f = mm.mem.flags
        f[pfn] = (f[pfn] | PG_lru) if on else (f[pfn] & ~PG_lru & 0xFF)
    elif on:
        mm.mem.a_flags[pfn:pfn + nr] |= PG_lru
    else:
        mm.mem.a_flags[pfn:pfn + nr] &= ~PG_lru & 0xFF


def _link(pu, pfn: int, head: int, at_tail: bool) -> None:
    list_link(pu.lru_next, pu.lru_prev, pfn, head, at_tail)


def _unlink(pu, pfn: int) -> None:
    list_unlink(pu.lru_next, pu.lru_prev, pfn)


def lruvec_add_folio(mm, pfn: int, at_tail: bool = False) -> None:
    """Put an allocated user page on its node's list (head), setting PG_lru.

    Models include/linux/mm_inline.h:lruvec_add_folio (and _tail).
    """
    pu = mm.page_users
    zone = page_zone(mm, pfn)
    lv = zone.node.lru
    lru = pu.folio_lru_list(pfn)
    nr = 1 << mm.mem.order[pfn]
    _link(pu, pfn, lv.base + lru, at_tail)
    update_lru_size(mm, lv, lru, zone, nr)
    _set_lru_bits(mm, pfn, nr, True)


def lruvec_add_folio_tail(mm, pfn: int) -> None:
    """lruvec_add_folio_tail()."""
    lruvec_add_folio(mm, pfn, at_tail=True)


def lruvec_del_folio(mm, pfn: int) -> None:
    """Take a page off its LRU list, clearing PG_lru (lruvec_del_folio + folio_clear_lru)."""
    pu = mm.page_users
    zone = page_zone(mm, pfn)
    lv = zone.node.lru
    lru = pu.folio_lru_list(pfn)
    nr = 1 << mm.mem.order[pfn]
    _unlink(pu, pfn)
    update_lru_size(mm, lv, lru, zone, -nr)
    _set_lru_bits(mm, pfn, nr, False)


def folio_add_lru(mm, pfn: int) -> None:
    """Add a new page to the LRU: inactive unless already marked active.

    Models mm/swap.c:folio_add_lru -> lru_add_fn (6.1 classic LRU: new anon and file
    pages start inactive), without the per-CPU batch.
    """
    lruvec_add_folio(mm, pfn)


def folio_activate(mm, pfn: int) -> bool:
    """Move an inactive LRU page to its active list (mm/swap.c:folio_activate)."""
    pu = mm.page_users
    pf = pu.pflags
    if pf[pfn] & PGU_ACTIVE or not mm.mem.flags[pfn] & PG_lru:
        return False
    lruvec_del_folio(mm, pfn)
    pf[pfn] |= PGU_ACTIVE
    lruvec_add_folio(mm, pfn)
    mm.events[_EV_PGACTIVATE] += 1 << mm.mem.order[pfn]
    return True


def folio_mark_accessed(mm, pfn: int) -> None:
    """Mark a page accessed: inactive,unreferenced -> referenced -> active.

    Models mm/swap.c:folio_mark_accessed (an isolated page only gets PG_active).
    """
    pu = mm.page_users
    pf = pu.pflags
    f = pf[pfn]
    if not f & PGU_ACTIVE and f & PGU_REFERENCED:
        if mm.mem.flags[pfn] & PG_lru:
            folio_activate(mm, pfn)
        else:
            pf[pfn] = f | PGU_ACTIVE
        pf[pfn] &= ~(PGU_REFERENCED | PGU_WORKINGSET) & 0xFF
    elif not f & PGU_REFERENCED:
        pf[pfn] = f | PGU_REFERENCED


def isolate_lru_page(mm, pfn: int) -> bool:
    """Take a page off the LRU for migration; False if it is not on one.

    Models mm/vmscan.c:folio_isolate_lru plus the NR_ISOLATED_ANON/FILE increment its
    callers (isolate_migratepages_block, isolate_movable pages) make.
    """
    if not mm.mem.flags[pfn] & PG_lru:
        return False
    pu = mm.page_users
    lruvec_del_folio(mm, pfn)
    pu.pflags[pfn] |= PGU_ISOLATED
    _mod_isolated(mm, pfn, 1 << mm.mem.order[pfn])
    return True


def putback_lru_page(mm, pfn: int) -> None:
    """Return an isolated page to the head of its LRU list (mm/vmscan.c:folio_putback_lru)."""
    pu = mm.page_users
    if not pu.pflags[pfn] & PGU_ISOLATED:
        raise ValueError(f"putback_lru_page: pfn {pfn:#x} is not isolated")
    pu.pflags[pfn] &= ~PGU_ISOLATED & 0xFF
    _mod_isolated(mm, pfn, -(1 << mm.mem.order[pfn]))
    folio_add_lru(mm, pfn)


def _mod_isolated(mm, pfn: int, nr: int) -> None:
    pu = mm.page_users
    key = "nr_isolated_file" if pu.kind[pfn] == Kind.FILE else "nr_isolated_anon"
    nvs = page_zone(mm, pfn).node.vm_stat
    nvs[key] = nvs.get(key, 0) + nr


def lru_note_cost(lv, file: bool, nr_pages: int) -> None:
    """Charge reclaim IO cost to the anon or file side, decaying both when large.

    Models mm/swap.c:lru_note_cost (no memcg hierarchy).
    """
    if file:
        lv.file_cost += nr_pages
    else:
        lv.anon_cost += nr_pages
    lrusize = sum(lv.total(lru) for lru in (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON,
                                           LRU_INACTIVE_FILE, LRU_ACTIVE_FILE))
    if lv.file_cost + lv.anon_cost > lrusize // 4:
        lv.file_cost //= 2
        lv.anon_cost //= 2


def slab_list_add(mm, pfn: int) -> None:
    """Add a reclaimable slab block to its node's shrinker list (list_lru_add)."""
    pu = mm.page_users
    zone = page_zone(mm, pfn)
    lv = zone.node.lru
    _link(pu, pfn, lv.base + LRU_SLAB, False)
    lv.size[LRU_SLAB][zone.idx] += 1 << mm.mem.order[pfn]


def slab_list_del(mm, pfn: int) -> None:
    """Remove a reclaimable slab block from its shrinker list (list_lru_del)."""
    pu = mm.page_users
    zone = page_zone(mm, pfn)
    lv = zone.node.lru
    _unlink(pu, pfn)
    lv.size[LRU_SLAB][zone.idx] -= 1 << mm.mem.order[pfn]


# The lists a page of each kind lives on when it is not isolated.
LRU_OF_KIND = {Kind.ANON: (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON),
               Kind.SHMEM: (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON),
               Kind.THP: (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON),
               Kind.FILE: (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)}
