"""Machine methods: memory pressure: page users, the lru, reclaim, oom and migration.

Not a kernel file: part of the facade (machine.py), kept in its own module so each
block of the Machine class stays small; Machine inherits it.
"""
from __future__ import annotations

from .errors import PageAllocError
from .mm.mmzone import PAGE_SIZE
from .sizes import parse_size

__all__ = ["ReclaimMixin"]


class ReclaimMixin:
    """Machine methods; ``self.mm`` is the machine's mm state (see machine.Machine)."""

    # =====================================================================================
    # Memory pressure: page users, the LRU, reclaim (kswapd, direct), OOM and migration.
    # Facades over mm/page_users.py, mm/swap.py, mm/vmscan.py, mm/oom_kill.py and
    # mm/migrate.py; kept together at the end of the class (their owner edits only this
    # block).
    # =====================================================================================

    def enable_reclaim(self, swap: str | int = 0, *, swappiness: int = 60,
                       thp_defrag: str = "madvise", kswapd: str = "eager") -> None:
        """Model what pages are and reclaim them: page users, LRUs, kswapd, OOM killer.

        ``swap`` is the swap size ("1G", bytes; default none: anonymous and shmem pages
        are then not reclaimable). ``thp_defrag`` is /sys/kernel/mm/transparent_hugepage/
        defrag (Debian's default "madvise"). ``kswapd`` is "eager" (kswapd runs right
        after the allocation that woke it) or "clock" (only as simulated time passes,
        Machine.advance / run_until, or on run_kswapd()).
        """
        from .mm.oom_kill import OOMKiller
        from .mm.page_users import PageUsers, vma_thp_gfp_mask
        from .mm.vmscan import Vmscan
        mm = self.mm
        if getattr(mm, "page_users", None) is not None:
            raise PageAllocError("reclaim is already enabled on this machine")
        vma_thp_gfp_mask(thp_defrag)          # validates the setting
        if not 0 <= swappiness <= 200:
            raise PageAllocError(f"swappiness {swappiness} outside 0..200")
        nbytes = parse_size(swap)
        pu = PageUsers(mm, swap_pages=nbytes // PAGE_SIZE, thp_defrag=thp_defrag,
                       swappiness=swappiness)
        mm.page_users = pu
        self._adopt_lru_pages()
        pu.sync_swap_meminfo(mm)
        if kswapd not in ("eager", "clock"):
            raise PageAllocError(f"kswapd mode {kswapd!r}: expected 'eager' or 'clock'")
        mm.vmscan = Vmscan(mm)
        mm.vmscan.mode = kswapd
        mm.oom = OOMKiller(mm)

    def _adopt_lru_pages(self) -> None:
        """Give LRU pages a machine already has (a snapshot or capture clone) a user.

        Clones mark in-use LRU pages PG_lru (the kernel's movable count) without
        knowing whose they are; with page users on, each becomes an unowned page-cache
        page on the inactive file list, and the LRU counters are recounted from the
        pages the model holds instead of the copied file values.
        """
        import numpy as np
        from .mm.memmap import PG_head, PG_lru
        from .mm.page_users import Kind, set_page_user
        mm = self.mm
        mem = mm.mem
        heads = np.flatnonzero((mem.a_flags & (PG_head | PG_lru)) == (PG_head | PG_lru))
        if not heads.size:
            return
        lru_items = ("nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
                     "nr_file_pages", "nr_anon_pages", "nr_shmem", "nr_mapped")
        for node in mm.nodes:
            for k in lru_items:
                node.vm_stat[k] = 0
            for z in node.node_zones:
                for k in ("nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
                          "nr_zone_active_file"):
                    z.vm_stat[k] = 0
        for pfn in heads.tolist():
            order = int(mem.a_order[pfn])
            mem.flags[pfn] = PG_head
            set_page_user(mm, pfn, order, Kind.FILE, None)

    @property
    def reclaim_enabled(self) -> bool:
        return getattr(self.mm, "page_users", None) is not None

    def _users(self):
        pu = getattr(self.mm, "page_users", None)
        if pu is None:
            raise PageAllocError("page users are off (Machine.enable_reclaim first)")
        return pu

    def spawn(self, name: str, *, oom_score_adj: int = 0, pid: int | None = None,
              kernel: bool = False, uid: int = 0):
        """A new task (or, with kernel=True, a kernel subsystem) to own pages."""
        try:
            return self._users().new_owner(name, is_task=not kernel, oom_score_adj=oom_score_adj,
                                           pid=pid, uid=uid)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def _owner(self, owner):
        pu = self._users()
        if owner is None:
            return None
        if isinstance(owner, int):
            o = pu.get_owner(owner)
            if o is None:
                raise PageAllocError(f"no owner with id {owner}")
            return o
        return owner

    def exit(self, owner) -> int:
        """The task exits: its anon/THP/page tables/stacks are freed, its page cache stays."""
        from .mm.oom_kill import exit_owner
        o = self._owner(owner)
        if not o.alive:
            raise PageAllocError(f"{o.comm} (pid {o.pid}) has already exited")
        freed = exit_owner(self.mm, o)
        o.alive = False
        self._run_kswapd_if_pending()
        return freed

    def alloc_user(self, kind, nr: int = 1, *, order: int | None = None, owner=None,
                   cpu: int | None = None, nid: int | None = None, gfp: int | None = None,
                   dirty: bool = False, mapped: bool = False, madvised: bool = False,
                   fallback: bool = True) -> list[int]:
        """Allocate ``nr`` blocks of a kind of page for ``owner``; their head pfns.

        The gfp is the one the kernel uses for that kind (page_users.gfp_for_kind) unless
        given. Stops early when an allocation fails or the owner is OOM-killed (its pages,
        this one included, are then gone). A THP fault that fails counts
        thp_fault_fallback and, with ``fallback``, faults the 2 MiB range in 4 KiB anonymous
        pages instead; THP disabled (enabled=never, or madvise without ``madvised``) faults
        4 KiB pages directly.
        """
        from .mm.page_users import (HPAGE_PMD_ORDER, Kind, gfp_for_kind, kind_from_name,
                                    set_page_user)
        from .mm.vmstat import ev_index
        pu = self._users()
        mm = self.mm
        try:
            k = kind_from_name(kind)
        except ValueError as e:
            raise PageAllocError(str(e)) from None
        o = self._owner(owner)
        if o is not None and not o.alive:
            raise PageAllocError(f"{o.comm} (pid {o.pid}) is dead")
        if k == Kind.THP:
            thp_on = mm.thp == "always" or (mm.thp == "madvise" and madvised)
            if not thp_on:
                out: list[int] = []
                for _ in range(nr):
                    got = self.alloc_user(Kind.ANON, 1 << HPAGE_PMD_ORDER, owner=o, cpu=cpu,
                                          nid=nid, gfp=gfp)
                    out += got
                    if len(got) < 1 << HPAGE_PMD_ORDER:
                        break
                return out
            order = HPAGE_PMD_ORDER
        elif order is None:
            order = 0
        if gfp is None:
            gfp = gfp_for_kind(k, order, thp_defrag=pu.thp_defrag, madvised=madvised)
        out = []
        saved = getattr(mm, "current", None)
        ev = mm.events
        for _ in range(nr):
            mm.current = o
            try:
                pfn = self.alloc_pages(gfp, order, cpu=cpu, nid=nid)
            finally:
                mm.current = saved
            if o is not None and not o.alive:
                # OOM-killed while allocating: the task dies, this page with it
                if pfn is not None:
                    self.free_pages(pfn, order, cpu=cpu)
                break
            if pfn is None:
                if k == Kind.THP:
                    ev[ev_index("thp_fault_fallback")] += 1
                    if fallback:
                        got = self.alloc_user(Kind.ANON, 1 << order, owner=o, cpu=cpu, nid=nid)
                        out += got
                        if len(got) == 1 << order:
                            continue
                break
            if k == Kind.THP:
                ev[ev_index("thp_fault_alloc")] += 1
            set_page_user(mm, pfn, order, k, o, dirty=dirty, mapped=mapped)
            out.append(pfn)
            self._run_kswapd_if_pending()
        return out

    def free_user(self, pfns) -> int:
        """Release user pages (munmap, truncate, kfree of a slab page ...); pages freed."""
        from .mm.page_alloc import free_the_page, free_unref_page_list
        from .mm.page_users import clear_page_user
        mm = self.mm
        pu = self._users()
        if isinstance(pfns, int):
            pfns = [pfns]
        batch = []
        freed = 0
        for p in pfns:
            if not 0 <= p < mm.mem.npfn or not pu.kind[p]:
                raise PageAllocError(f"pfn {p:#x} holds no recorded user page")
            _kind, _oid, order = clear_page_user(mm, p)
            freed += 1 << order
            if order == 0:
                batch.append(p)
            else:
                free_the_page(mm, p, order)
        if batch:
            free_unref_page_list(mm, batch)
        self._run_kswapd_if_pending()
        return freed

    def mark_accessed(self, pfn: int) -> None:
        """folio_mark_accessed(): a read() or write() of a page cache page."""
        from .mm.swap import folio_mark_accessed
        if not self._users().kind[pfn]:
            raise PageAllocError(f"pfn {pfn:#x} holds no recorded user page")
        folio_mark_accessed(self.mm, pfn)

    def access_page(self, pfn: int) -> None:
        """A CPU access through a mapping: the pte becomes young (folio_referenced sees it)."""
        from .mm.page_users import PGU_MAPPED, PGU_YOUNG
        pu = self._users()
        if not pu.kind[pfn]:
            raise PageAllocError(f"pfn {pfn:#x} holds no recorded user page")
        pu.pflags[pfn] |= PGU_MAPPED | PGU_YOUNG

    def set_page_dirty(self, pfn: int) -> None:
        """Dirty a page cache page (a write): nr_dirty until the flusher writes it."""
        from .mm.page_users import PGU_DIRTY, Kind
        pu = self._users()
        if pu.kind[pfn] != Kind.FILE:
            raise PageAllocError(f"pfn {pfn:#x} is not a page cache page")
        if not pu.pflags[pfn] & PGU_DIRTY:
            pu.pflags[pfn] |= PGU_DIRTY
            pu.account_dirty(self.mm, pfn, self.mm.mem.order[pfn], 1)

    def sync(self) -> int:
        """Write back every dirty page cache page (sync(2)); the pages cleaned."""
        from .mm.vmscan import wakeup_flusher_threads
        self._users()
        return wakeup_flusher_threads(self.mm)

    def drop_caches(self, mode: int = 3) -> int:
        """echo MODE > /proc/sys/vm/drop_caches (1 page cache, 2 slab, 3 both); pages freed."""
        from .mm.vmscan import drop_pagecache, drop_slab
        self._users()
        if mode not in (1, 2, 3):
            raise PageAllocError(f"drop_caches: mode {mode} is not 1, 2 or 3")
        freed = 0
        if mode & 1:
            freed += drop_pagecache(self.mm)
        if mode & 2:
            freed += drop_slab(self.mm)
        return freed

    def _run_kswapd_if_pending(self) -> None:
        vs = getattr(self.mm, "vmscan", None)
        if vs is not None and vs.pending():
            vs.run_pending()

    def run_kswapd(self, *, expire_naps: bool = True, max_runs: int = 1000) -> int:
        """Let every kswapd run until it blocks; the balance_pgdat passes made.

        With ``expire_naps`` a kswapd napping after a pass finishes its HZ/10 nap now
        (full sleep if the node is still balanced, else another pass).
        """
        vs = getattr(self.mm, "vmscan", None)
        if vs is None:
            raise PageAllocError("reclaim is off (Machine.enable_reclaim first)")
        return vs.run_pending(expire_naps=expire_naps, max_runs=max_runs)

    def kswapd_state(self, nid: int = 0) -> str:
        """"sleeping", "napping" or "running"."""
        vs = getattr(self.mm, "vmscan", None)
        if vs is None:
            raise PageAllocError("reclaim is off (Machine.enable_reclaim first)")
        return vs.state(nid)

    @property
    def oom_kills(self) -> list:
        """The OOM killer's victims, in kill order."""
        oom = getattr(self.mm, "oom", None)
        return list(oom.kills) if oom is not None else []

    def pages_of(self, owner, kind=None) -> list[int]:
        """Head pfns of the blocks an owner holds now (migration moves them)."""
        from .mm.page_users import kind_from_name
        o = self._owner(owner)
        return self._users().pfns_of(o, None if kind is None else kind_from_name(kind))

    def page_user(self, pfn: int):
        """(kind, owner or None) of an allocated block's head pfn."""
        pu = self._users()
        return pu.kind_of(pfn), pu.owner_of(pfn)

    def migrate_pages(self, pfns, dst_gfp: int | None = None, *, reason: str = "syscall_or_cpuset",
                      nid: int | None = None) -> tuple[int, int]:
        """Migrate user pages to new pages from the allocator; (migrated, failed) pages.

        Models move_pages(2)-like use of migrate_pages with alloc_migration_target.
        """
        from .mm.gfp import GFP, GFP_HIGHUSER_MOVABLE
        from .mm.migrate import MigrateMode, MigrateReason, migrate_pages
        self._users()
        reasons = {str(r): r for r in MigrateReason}
        if reason not in reasons:
            raise PageAllocError(f"unknown migrate reason {reason!r} (known: {', '.join(reasons)})")
        gfp = GFP_HIGHUSER_MOVABLE if dst_gfp is None else dst_gfp

        def get_new_page(src: int, order: int) -> int:
            p = self.alloc_pages(gfp | (int(GFP.COMP) if order else 0), order, nid=nid)
            return -1 if p is None else p

        lst = [pfns] if isinstance(pfns, int) else list(pfns)
        return migrate_pages(self.mm, lst, get_new_page, None, MigrateMode.SYNC,
                             reasons[reason])

    def check_users(self) -> None:
        """Raise InvariantError unless the page users, LRU lists and PG_lru agree."""
        from .errors import InvariantError
        try:
            self._users().check(self.mm)
        except ValueError as e:
            raise InvariantError(str(e)) from None
