"""Page migration: move a movable page or THP to a new pfn, its identity following it.

Models mm/migrate.c:migrate_pages (migrate_pages_batch, unmap_and_move,
move_to_new_folio, folio_migrate_flags, migrate_folio_done) for the pages
the model has: anonymous, file, shmem and THP pages on the LRU. The new
page takes the old one's kind, owner, flags (active, referenced, young,
dirty, workingset) and LRU membership; the owner's view (its pfns, its
counters) follows; the old block is freed through the normal free path
(pcp for pcp orders, as put_page of the last reference does).

A page may be passed isolated (isolate_lru_page, as the kernel's callers
do: the new page is then put back at the head of its list, as
putback_lru_page does) or still on the LRU (the model's convenience: the
new page then takes the old one's exact place in the list).

Deliberate differences: no transient failures (page locks, writeback,
extra references), so nothing is retried; a page that is not movable
(slab, page table, stack, other kernel) fails with -EBUSY; a THP whose new
page cannot be had fails (-ENOMEM) and is not split; hugetlb is not
modelled.
"""
from __future__ import annotations

import enum
from typing import Callable

from .memmap import PG_buddy, PG_head, PG_lru, PG_pcp
from .page_alloc import __free_pages
from .page_users import PGU_ISOLATED, Kind, page_zone
from .swap import (_mod_isolated, _set_lru_bits, _unlink, isolate_lru_page, lruvec_add_folio,
                   putback_lru_page, update_lru_size)
from .vmstat import ev_index

__all__ = ["MigrateMode", "MigrateReason", "migrate_pages", "migrate_page_identity",
           "isolate_lru_page", "putback_lru_page", "putback_movable_pages",
           "MIGRATEPAGE_SUCCESS", "EAGAIN", "ENOMEM", "EBUSY"]

MIGRATEPAGE_SUCCESS = 0
EAGAIN = -11
ENOMEM = -12
EBUSY = -16

EV_PGMIGRATE_SUCCESS = ev_index("pgmigrate_success")
EV_PGMIGRATE_FAIL = ev_index("pgmigrate_fail")
EV_THP_MIGRATION_SUCCESS = ev_index("thp_migration_success")
EV_THP_MIGRATION_FAIL = ev_index("thp_migration_fail")


class MigrateMode(enum.IntEnum):
    """enum migrate_mode (include/linux/migrate_mode.h)."""
    ASYNC = 0
    SYNC_LIGHT = 1
    SYNC = 2
    SYNC_NO_COPY = 3


class MigrateReason(enum.IntEnum):
    """enum migrate_reason (include/linux/migrate_mode.h); str() is the trace name."""
    COMPACTION = 0
    MEMORY_FAILURE = 1
    MEMORY_HOTPLUG = 2
    SYSCALL = 3
    MEMPOLICY_MBIND = 4
    NUMA_MISPLACED = 5
    CONTIG_RANGE = 6
    LONGTERM_PIN = 7
    DEMOTION = 8

    def __str__(self) -> str:
        return _REASON_NAMES[self]


_REASON_NAMES = {
    MigrateReason.COMPACTION: "compaction", MigrateReason.MEMORY_FAILURE: "memory_failure",
    MigrateReason.MEMORY_HOTPLUG: "memory_hotplug", MigrateReason.SYSCALL: "syscall_or_cpuset",
    MigrateReason.MEMPOLICY_MBIND: "mempolicy_mbind", MigrateReason.NUMA_MISPLACED: "numa_misplaced",
    MigrateReason.CONTIG_RANGE: "contig_range", MigrateReason.LONGTERM_PIN: "longterm_pin",
    MigrateReason.DEMOTION: "demotion",
}
_MODE_NAMES = ("MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC", "MIGRATE_SYNC_NO_COPY")


def _replace_in_list(pu, old: int, new: int) -> None:
    """Put ``new`` where ``old`` is in its LRU list."""
    nxt = pu.lru_next
    prv = pu.lru_prev
    n = nxt[old]
    p = prv[old]
    nxt[new] = n
    prv[new] = p
    nxt[p] = new
    prv[n] = new


def migrate_page_identity(mm, src: int, dst: int) -> None:
    """Move a page's user (kind, owner, flags, LRU place, counters) from src to dst.

    Models folio_migrate_mapping + folio_migrate_flags + the LRU side of
    migration; both blocks must be allocated heads of the same order.
    """
    pu = mm.page_users
    mem = mm.mem
    order = mem.order[src]
    nr = 1 << order
    kind = pu.kind[src]
    oid = pu.owner[src]
    f = pu.pflags[src]
    zsrc = page_zone(mm, src)
    zdst = page_zone(mm, dst)
    on_lru = bool(mem.flags[src] & PG_lru)
    if kind == Kind.SLAB_RECLAIMABLE:
        raise ValueError(f"pfn {src:#x}: slab pages do not migrate")
    # counters: the page leaves src's zone/node and enters dst's
    if zsrc is not zdst:
        pu.account(mm, src, order, kind, oid, -1)
        pu.account(mm, dst, order, kind, oid, 1)
        if f & 0x08:       # PGU_DIRTY
            pu.account_dirty(mm, src, order, -1, written=False)
            pu.account_dirty(mm, dst, order, 1)
            vs = zdst.node.vm_stat
            vs["nr_dirtied"] -= nr      # moving a dirty page dirties nothing
    pu.kind[dst] = kind
    pu.owner[dst] = oid
    pu.pflags[dst] = f
    if on_lru:
        lv_src = zsrc.node.lru
        lru = pu.folio_lru_list(src)
        if zsrc.node is zdst.node:
            _replace_in_list(pu, src, dst)
            if zsrc is not zdst:
                update_lru_size(mm, lv_src, lru, zsrc, -nr)
                update_lru_size(mm, lv_src, lru, zdst, nr)
        else:
            _unlink(pu, src)
            update_lru_size(mm, lv_src, lru, zsrc, -nr)
            lruvec_add_folio(mm, dst)
        _set_lru_bits(mm, src, nr, False)
        _set_lru_bits(mm, dst, nr, True)
    elif f & PGU_ISOLATED:
        if zsrc.node is not zdst.node:
            _mod_isolated(mm, src, -nr)
            _mod_isolated(mm, dst, nr)
    pu.kind[src] = 0
    pu.owner[src] = 0
    pu.pflags[src] = 0


def _unmap_and_move(mm, src: int, get_new_page, put_new_page) -> tuple[int, int]:
    """Migrate one page; returns (rc, dst)."""
    pu = mm.page_users
    mem = mm.mem
    if not (mem.flags[src] & PG_head):
        return EBUSY, -1
    order = mem.order[src]
    if not pu.is_movable_kind(pu.kind[src]):
        return EBUSY, -1
    dst = get_new_page(src, order)
    if dst is None or dst < 0:
        return ENOMEM, -1
    fl = mem.flags[dst]
    if fl & (PG_buddy | PG_pcp):
        raise ValueError(f"get_new_page returned pfn {dst:#x}, which is still free")
    if not fl & PG_head:
        # a page the caller took off the free lists itself (compaction_alloc): prep it
        mem.flags[dst] = PG_head
        mem.order[dst] = order
    elif mem.order[dst] != order:
        raise ValueError(f"get_new_page returned an order-{mem.order[dst]} block for an "
                         f"order-{order} page")
    if pu.kind[dst]:
        raise ValueError(f"get_new_page returned pfn {dst:#x}, which is in use")
    isolated = bool(pu.pflags[src] & PGU_ISOLATED)
    migrate_page_identity(mm, src, dst)
    if isolated:
        putback_lru_page(mm, dst)
    # the source's last reference goes: free it like put_page does
    __free_pages(mm, src, order)
    return MIGRATEPAGE_SUCCESS, dst


def migrate_pages(mm, pfns: list[int], get_new_page: Callable[[int, int], int],
                  put_new_page: Callable[[int, int], None] | None = None,
                  mode: int = MigrateMode.ASYNC, reason: int = MigrateReason.COMPACTION,
                  moved: dict[int, int] | None = None) -> tuple[int, int]:
    """Migrate pages to pfns from ``get_new_page(src_pfn, order)`` (-1: none available).

    Returns (pages migrated, pages failed) as pgmigrate_success / pgmigrate_fail count
    them. Like the kernel's ``from`` list, ``pfns`` (when a list) keeps on return the
    pages that were not migrated, for putback_movable_pages; after -ENOMEM the rest are
    left untried (not counted as failed). ``put_new_page`` is never needed: the model
    does not fail after taking the new page. ``moved``, when given, receives
    {old pfn: new pfn}. Models mm/migrate.c:migrate_pages.
    """
    mem = mm.mem
    nr_succeeded = nr_failed = nr_thp_succeeded = nr_thp_failed = 0
    remaining: list[int] = []
    todo = list(pfns)
    if moved is None:
        moved = {}
    for i, src in enumerate(todo):
        order = mem.order[src] if mem.flags[src] & PG_head else 0
        nr = 1 << order
        is_thp = order > 0 and mm.page_users.kind[src] == Kind.THP
        rc, dst = _unmap_and_move(mm, src, get_new_page, put_new_page)
        if rc == MIGRATEPAGE_SUCCESS:
            nr_succeeded += nr
            nr_thp_succeeded += is_thp
            moved[src] = dst
        elif rc == ENOMEM:
            nr_failed += nr
            nr_thp_failed += is_thp
            remaining.extend(todo[i:])
            break
        else:
            nr_failed += nr
            nr_thp_failed += is_thp
            remaining.append(src)
    ev = mm.events
    ev[EV_PGMIGRATE_SUCCESS] += nr_succeeded
    ev[EV_PGMIGRATE_FAIL] += nr_failed
    ev[EV_THP_MIGRATION_SUCCESS] += nr_thp_succeeded
    ev[EV_THP_MIGRATION_FAIL] += nr_thp_failed
    tr = mm.trace
    if tr is not None:
        fields = (f"nr_succeeded={nr_succeeded} nr_failed={nr_failed} "
                  f"nr_thp_succeeded={nr_thp_succeeded} nr_thp_failed={nr_thp_failed} "
                  f"nr_thp_split=0 mode={_MODE_NAMES[int(mode)]} reason={MigrateReason(reason)}")
        fn = getattr(tr, "mm_migrate_pages", None)
        if fn is not None:
            fn(mm, fields)
        elif hasattr(tr, "_line"):
            tr._line(mm, "mm_migrate_pages", fields)
    if isinstance(pfns, list):
        pfns[:] = remaining
    return nr_succeeded, nr_failed


def putback_movable_pages(mm, pfns: list[int]) -> None:
    """Return isolated pages that were not migrated to their LRU (mm/migrate.c)."""
    pu = mm.page_users
    for p in pfns:
        if pu.pflags[p] & PGU_ISOLATED:
            putback_lru_page(mm, p)
    if isinstance(pfns, list):
        pfns.clear()


class Migrator:
    """The migrator compaction, alloc_contig_range and memory offline use (``mm.migrate``).

    Binds isolate_lru_page / migrate_pages / putback_movable_pages to one
    machine; pages without a user (no page_users model, or raw alloc_pages
    allocations) are not LRU pages and cannot be isolated, as in the kernel.
    """

    def __init__(self, mm) -> None:
        self.mm = mm

    def isolate_lru_page(self, pfn: int) -> bool:
        mm = self.mm
        if getattr(mm, "page_users", None) is None:
            return False
        from .swap import isolate_lru_page
        return isolate_lru_page(mm, pfn)

    def migrate_pages(self, pfns: list[int], get_new_page, put_new_page=None, mode: int = 0,
                      reason=MigrateReason.COMPACTION) -> tuple[int, int]:
        mm = self.mm
        if isinstance(reason, str):
            reason = MigrateReason[reason.upper()]
        pfns = list(pfns)
        done = migrate_pages(mm, pfns, get_new_page, put_new_page, mode, reason)
        putback_movable_pages(mm, pfns)
        return done

    def putback_movable_pages(self, pfns: list[int]) -> None:
        putback_movable_pages(self.mm, pfns)
