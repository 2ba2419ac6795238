"""How the workload gets and gives back pages: through the model's page users when it has
them, else through plain alloc_pages with a stand-in for reclaim.

Not a kernel file. Actors ask :class:`Pages` for blocks of a *kind* (page cache,
anonymous, THP, slab, page table, kernel stack, network buffer, balloon, probe)
on behalf of an *owner* (a task, a file, a slab cache, a driver) and free them
again. Two ways of doing that, chosen when the simulation starts:

``users``
    The model has ``pagealloc.mm.page_users`` (and usually ``vmscan``,
    ``compaction``, ``migrate``): every block is recorded with
    ``set_page_user`` so the LRU, the counters, kswapd, direct reclaim,
    compaction and the OOM killer see it. Reclaim and migration move or free
    pages behind the workload's back, so an owner's list of pfns is only a
    hint: a pfn is freed only if the page users still say it belongs to that
    owner, and an owner whose counters still show pages after its list is
    walked is swept with ``PageUsers.pfns_of`` (the pages migration moved).
``plain``
    Without page users the workload keeps its own per-pfn kind/owner arrays
    and stands in for reclaim: page cache and shrinkable slab go on a FIFO per
    zone, and a zone under its low watermark (or one whose kswapd was woken)
    is refilled to high + boost at the next clock tick; a failed allocation
    that may reclaim reclaims and retries once. This is not the kernel's
    vmscan (no active/inactive aging, no priorities): it exists so that a
    machine without the reclaim model still reaches a steady state.

High-order requests of the tracked orders are timed in *steps*: 1 for the
attempt plus every page that direct compaction and direct reclaim scanned
during it (compact_migrate_scanned + compact_free_scanned less kcompactd's
share, plus pgscan_direct). That is the work a real allocation would have
waited for, and it does not depend on how fast Python is.
"""
from __future__ import annotations

import enum
import random
from array import array
from collections import deque

import numpy as np

from ..mm.gfp import GFP_MOVABLE_MASK, GFP_MOVABLE_SHIFT, __GFP_DIRECT_RECLAIM
from ..mm.page_alloc import alloc_pages_fast as _alloc_pages_fast
from ..mm.page_alloc import free_pages_fast as _free_pages_fast

_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM    # (a __GFP_ name would be mangled in the class)
_GFP_MOVABLE_MASK = GFP_MOVABLE_MASK
_GFP_MOVABLE_SHIFT = GFP_MOVABLE_SHIFT
from ..mm.memmap import PG_head
from ..mm.mmzone import WMARK_HIGH, WMARK_LOW, pageblock_order
from ..mm.vmstat import ev_index

__all__ = ["Kind", "Pages", "KIND_LABELS", "K_ANON", "K_FILE", "K_SHMEM", "K_SLAB_RECLAIMABLE",
           "K_SLAB_UNRECLAIMABLE", "K_PAGE_TABLE", "K_KERNEL_STACK", "K_THP", "K_KERNEL", "K_NET",
           "K_BALLOON", "K_PROBE"]


class Kind(enum.IntEnum):
    """What a block is for; values 1..9 are those of pagealloc.mm.page_users.Kind."""
    ANON = 1
    FILE = 2
    SHMEM = 3
    SLAB_RECLAIMABLE = 4
    SLAB_UNRECLAIMABLE = 5
    PAGE_TABLE = 6
    KERNEL_STACK = 7
    THP = 8
    KERNEL = 9
    # the workload's own labels; page users record them as KERNEL
    NET = 10
    BALLOON = 11
    PROBE = 12


KIND_LABELS = {int(k): k.name.lower() for k in Kind}
# plain ints for the hot paths (an IntEnum index costs a method call)
K_ANON, K_FILE, K_SHMEM, K_SLAB_RECLAIMABLE, K_SLAB_UNRECLAIMABLE, K_PAGE_TABLE, \
    K_KERNEL_STACK, K_THP, K_KERNEL, K_NET, K_BALLOON, K_PROBE = range(1, 13)
# the page users' kind of each workload kind
_USER_KIND = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 0, 0, 0]

# node stat items the plain mode keeps, as the kernel's callers would (pages; stacks in kB)
_PLAIN_NODE_ITEMS = {
    Kind.FILE: (("nr_file_pages", 1), ("nr_inactive_file", 1)),
    Kind.ANON: (("nr_anon_pages", 1), ("nr_inactive_anon", 1)),
    Kind.THP: (("nr_anon_pages", 1), ("nr_inactive_anon", 1),
               ("nr_anon_transparent_hugepages", 1)),
    Kind.SLAB_RECLAIMABLE: (("nr_slab_reclaimable", 1),),
    Kind.SLAB_UNRECLAIMABLE: (("nr_slab_unreclaimable", 1),),
    Kind.NET: (("nr_slab_unreclaimable", 0),),
    Kind.PAGE_TABLE: (("nr_page_table_pages", 1),),
    Kind.KERNEL_STACK: (("nr_kernel_stack", 4),),
}
_PLAIN_ZONE_ITEMS = {Kind.FILE: "nr_zone_inactive_file", Kind.ANON: "nr_zone_inactive_anon",
                     Kind.THP: "nr_zone_inactive_anon"}

_EV_CMS = ev_index("compact_migrate_scanned")
_EV_CFS = ev_index("compact_free_scanned")
_EV_CDMS = ev_index("compact_daemon_migrate_scanned")
_EV_CDFS = ev_index("compact_daemon_free_scanned")
_EV_PGSCAN_DIRECT = ev_index("pgscan_direct")
_EV_COMPACT_STALL = ev_index("compact_stall")
_EV_ALLOCSTALL = ev_index("allocstall_dma")


class Pages:
    """The workload's allocator front: kinds, owners, high-order timing, plain-mode reclaim."""

    def __init__(self, machine, *, mode: str = "auto", tracked_orders=(3, 9, 10),
                 seed: int = 0, now=lambda: 0.0) -> None:
        self.machine = machine
        mm = self.mm = machine.mm
        pu = getattr(mm, "page_users", None)
        if mode == "auto":
            mode = "users" if pu is not None else "plain"
        if mode == "users" and pu is None:
            raise ValueError("page users are not installed on this machine")
        self.mode = mode
        self.now = now
        self.rng = random.Random(f"pages:{seed}")
        self.tracked = frozenset(tracked_orders)
        npfn = mm.mem.npfn
        if mode == "users":
            from ..mm import page_users as _pu
            self._pu = pu
            self._set_user = _pu.set_page_user
            self._clear_user = _pu.clear_page_user
            self._vmscan = getattr(mm, "vmscan", None)
            self.a_owner = pu.a_owner
            self.a_kind = pu.a_kind
        else:
            self._pu = None
            self.a_owner = np.zeros(npfn, dtype=np.int32)
            self.a_kind = np.zeros(npfn, dtype=np.uint8)
            self._plain_resident: dict[int, int] = {}
            self._lru: dict[int, deque] = {}          # zone gid -> deque of (pfn, oid)
            self._kswapd_woken: set[int] = set()
            self._stat_delta = [0] * (16 * len(mm.zones) + 16)   # zone gid * 16 + kind
            if mm.wakeup_kswapd_cb is None:
                mm.wakeup_kswapd_cb = self._plain_wakeup_kswapd
        # the requested migratetype of each allocated head (for pageblock mixing)
        self.a_reqmt = np.zeros(npfn, dtype=np.uint8)
        self.a_wkind = np.zeros(npfn, dtype=np.uint8)   # the workload's own label
        self._reqmt = memoryview(self.a_reqmt)
        self._wkind = memoryview(self.a_wkind)
        self._owner = memoryview(self.a_owner)
        self._kind = memoryview(self.a_kind)
        self._owner_ctx: dict[int, object] = {}
        self._next_oid = 1
        # statistics
        self.attempts = [0] * 16
        self.failures = [0] * 16
        self.pages_allocated = [0] * 16
        self.fail_by_order = [0] * 11
        self.highorder: list[tuple] = []    # (t, order, kind, ok, steps, stalled)
        self.plain_reclaimed = 0
        self.plain_direct_reclaims = 0
        self.stale_frees = 0
        # plain mode: the fraction of a reclaimable slab cache's pages reclaim may free
        self.shrinkable: dict[int, float] = {}

    # --- owners -------------------------------------------------------------------------
    def new_owner(self, comm: str, *, is_task: bool = True, oom_score_adj: int = 0) -> int:
        if self.mode == "users":
            o = self._pu.new_owner(comm, is_task=is_task, oom_score_adj=oom_score_adj)
            self._owner_ctx[o.id] = o
            return o.id
        oid = self._next_oid
        self._next_oid += 1
        self._plain_resident[oid] = 0
        return oid

    def owner_alive(self, oid: int) -> bool:
        if self.mode == "users":
            o = self._owner_ctx.get(oid)
            return o is not None and o.alive and not o.oom_victim
        return True

    def resident(self, oid: int) -> int:
        """Pages the owner holds now (reclaim and OOM kills included)."""
        if self.mode == "users":
            o = self._owner_ctx.get(oid)
            if o is None:
                return 0
            return o.anon + o.file + o.shmem + o.pgtables + o.stack_pages + o.other_pages
        return self._plain_resident.get(oid, 0)

    def forget_owner(self, oid: int) -> None:
        if self.mode == "users":
            o = self._owner_ctx.pop(oid, None)
            if o is not None and o.is_task:
                o.alive = False
        else:
            self._plain_resident.pop(oid, None)

    # --- allocation ---------------------------------------------------------------------
    def alloc(self, kind: int, gfp: int, order: int, cpu: int, oid: int,
              nodemask=None, nid: int | None = None) -> int:
        """Allocate a block for ``oid``; the pfn, or -1 (counted) on failure.

        The hot path of every actor: alloc_pages_fast on the CPU, as Machine.alloc_pages
        does, with the bookkeeping kept to list and memoryview stores.
        """
        mm = self.mm
        self.attempts[kind] += 1
        tracked = order in self.tracked
        if tracked:
            ev = mm.events
            w0 = ev[_EV_CMS] - ev[_EV_CDMS] + ev[_EV_CFS] - ev[_EV_CDFS] + ev[_EV_PGSCAN_DIRECT]
            s0 = ev[_EV_COMPACT_STALL] + sum(ev[_EV_ALLOCSTALL:_EV_ALLOCSTALL + 5])
        users = self._pu is not None
        if users:
            saved = getattr(mm, "current", None)
            task = mm.current = self._owner_ctx.get(oid)
        try:
            pfn = self._alloc_raw(gfp, order, cpu, nid, nodemask)
            if pfn < 0 and not users and gfp & _DIRECT_RECLAIM \
                    and self._plain_direct_reclaim(order, cpu):
                pfn = self._alloc_raw(gfp, order, cpu, nid, nodemask)
        finally:
            if users:
                mm.current = saved
        if users:
            if task is not None and task.is_task and not task.alive and pfn >= 0:
                # OOM-killed while it allocated: the task is gone, this page with it
                mm.cpu = cpu
                _free_pages_fast(mm, pfn, order)
                pfn = -1
            vs = self._vmscan
            if vs is not None and vs.pending():
                vs.run_pending()            # kswapd's safe point after a user allocation
        if tracked:
            ev = mm.events
            w1 = ev[_EV_CMS] - ev[_EV_CDMS] + ev[_EV_CFS] - ev[_EV_CDFS] + ev[_EV_PGSCAN_DIRECT]
            s1 = ev[_EV_COMPACT_STALL] + sum(ev[_EV_ALLOCSTALL:_EV_ALLOCSTALL + 5])
            self.highorder.append((self.now(), order, kind, pfn >= 0, 1 + w1 - w0, s1 != s0))
        if pfn < 0:
            self.failures[kind] += 1
            self.fail_by_order[order] += 1
            return -1
        nr = 1 << order
        self.pages_allocated[kind] += nr
        self._reqmt[pfn] = (gfp & _GFP_MOVABLE_MASK) >> _GFP_MOVABLE_SHIFT
        self._wkind[pfn] = kind
        if users:
            self._set_user(mm, pfn, order, _USER_KIND[kind], oid, dirty=False, mapped=False)
        else:
            self._owner[pfn] = oid
            self._kind[pfn] = kind
            res = self._plain_resident
            res[oid] = res.get(oid, 0) + nr
            zone = mm.pb_zone[pfn >> pageblock_order] or mm.zone_of_pfn(pfn)
            if kind == K_FILE or kind == K_SLAB_RECLAIMABLE:
                q = self._lru.get(zone.gid)
                if q is None:
                    q = self._lru[zone.gid] = deque()
                q.append((pfn, oid))
            self._stat_delta[zone.gid * 16 + kind] += nr
        return pfn

    def _alloc_raw(self, gfp: int, order: int, cpu: int, nid, nodemask) -> int:
        mm = self.mm
        if nodemask is not None:
            pfn = self.machine.alloc_pages(gfp, order, cpu=cpu, nid=nid, nodemask=nodemask)
            return -1 if pfn is None else pfn
        mm.cpu = cpu
        return _alloc_pages_fast(mm, gfp, order, mm.cpu_to_node[cpu] if nid is None else nid)

    def holds(self, pfn: int, oid: int) -> bool:
        """Does ``oid`` still hold the block at ``pfn`` (not reclaimed, migrated or freed)?"""
        return (self._owner[pfn] == oid and self._kind[pfn] != 0
                and self.mm.mem.flags[pfn] & PG_head != 0)

    def free(self, pfn: int, oid: int, cpu: int) -> int:
        """Free one block if ``oid`` still holds it; the pages freed (0 if it is gone)."""
        if (self._owner[pfn] != oid or not self._kind[pfn]
                or not self.mm.mem.flags[pfn] & PG_head):
            self.stale_frees += 1
            return 0
        return self._free(pfn, cpu)

    def _free(self, pfn: int, cpu: int) -> int:
        mm = self.mm
        order = mm.mem.order[pfn]
        nr = 1 << order
        if self._pu is not None:
            self._clear_user(mm, pfn)
        else:
            kind = self._kind[pfn]
            oid = self._owner[pfn]
            self._owner[pfn] = 0
            self._kind[pfn] = 0
            self._plain_resident[oid] = self._plain_resident.get(oid, 0) - nr
            zone = mm.pb_zone[pfn >> pageblock_order] or mm.zone_of_pfn(pfn)
            self._stat_delta[zone.gid * 16 + kind] -= nr
        self._wkind[pfn] = 0
        mm.cpu = cpu
        _free_pages_fast(mm, pfn, order)
        return nr

    def release(self, oid: int, pfns, cpu: int) -> int:
        """Free everything ``oid`` holds (a task exits, a file is deleted); pages freed."""
        freed = 0
        holds = self.holds
        for pfn in pfns:
            if holds(pfn, oid):
                freed += self._free(pfn, cpu)
        if self.resident(oid) > 0:
            # pages moved by migration: find them where they are now
            for pfn in np.flatnonzero(self.a_owner == oid).tolist():
                if holds(pfn, oid):
                    freed += self._free(pfn, cpu)
        return freed

    def compact_list(self, oid: int, pfns: array) -> array:
        """The entries of an owner's pfn list that are still its pages."""
        holds = self.holds
        return array("i", (p for p in pfns if holds(p, oid)))

    # --- plain mode: counters and the stand-in reclaim ------------------------------------
    def _zone(self, pfn: int):
        mm = self.mm
        z = mm.pb_zone[pfn >> pageblock_order]
        return z if z is not None else mm.zone_of_pfn(pfn)

    def flush_stats(self) -> None:
        """Fold the plain mode's per-zone deltas into the node and zone stat items."""
        if self._pu is not None:
            return
        delta = self._stat_delta
        for z in self.mm.zones:
            base = z.gid * 16
            for kind in range(16):
                d = delta[base + kind]
                if not d:
                    continue
                delta[base + kind] = 0
                nvs = z.node.vm_stat
                for item, mult in _PLAIN_NODE_ITEMS.get(kind, ()):
                    if mult:
                        nvs[item] = nvs.get(item, 0) + d * mult
                zi = _PLAIN_ZONE_ITEMS.get(kind)
                if zi:
                    z.vm_stat[zi] = z.vm_stat.get(zi, 0) + d

    def _plain_wakeup_kswapd(self, zone, gfp: int, order: int, highest_zoneidx: int) -> None:
        self._kswapd_woken.add(zone.nid)

    def _reclaim_zone(self, zone, target: int, cpu: int) -> int:
        """Free FIFO page cache / shrinkable slab of a zone until ``target`` free pages."""
        q = self._lru.get(zone.gid)
        if not q:
            return 0
        rng = self.rng
        owner = self._owner
        kind = self._kind
        need = target - (zone.vm_free + sum(zone.vm_stat_diff))
        freed = 0
        budget = len(q)
        while q and freed < need and budget > 0:
            budget -= 1
            pfn, oid = q.popleft()
            if owner[pfn] != oid or not kind[pfn]:
                continue                        # freed by its owner meanwhile
            if kind[pfn] == K_SLAB_RECLAIMABLE and rng.random() > self._shrinkable(oid):
                q.append((pfn, oid))            # objects still in use: the slab page stays
                continue
            freed += self._free(pfn, cpu)
        self.plain_reclaimed += freed
        return freed

    def _shrinkable(self, oid: int) -> float:
        return self.shrinkable.get(oid, 0.6)

    def plain_kswapd(self, cpu_of_node) -> int:
        """The stand-in kswapd: zones below low (or woken) back to high + boost."""
        if self.mode != "plain":
            return 0
        mm = self.mm
        freed = 0
        woken = self._kswapd_woken
        for node in mm.nodes:
            nid = node.node_id
            boosted = False
            for z in node.node_zones:
                if not z.managed_pages or z.gid not in self._lru:
                    continue
                free = z.vm_free + sum(z.vm_stat_diff)
                if nid in woken or free < z._watermark[WMARK_LOW] + z.watermark_boost:
                    target = z._watermark[WMARK_HIGH] + z.watermark_boost
                    if free < target:
                        freed += self._reclaim_zone(z, target, cpu_of_node(nid))
                if z.watermark_boost:
                    boosted = True
                    z.watermark_boost = 0
            if nid in woken and boosted:
                comp = getattr(mm, "compaction", None)
                if comp is not None:
                    comp.wakeup_kcompactd(node, pageblock_order, node.nr_zones - 1)
        woken.clear()
        return freed

    def _plain_direct_reclaim(self, order: int, cpu: int) -> bool:
        """A failed request that may reclaim: free up to high + 2^order in the CPU's node."""
        mm = self.mm
        nid = mm.cpu_to_node[cpu]
        freed = 0
        self.plain_direct_reclaims += 1
        for node in sorted(mm.nodes, key=lambda n: n.node_id != nid):
            for z in node.node_zones:
                if z.managed_pages and z.gid in self._lru:
                    freed += self._reclaim_zone(z, z._watermark[WMARK_HIGH] + z.watermark_boost
                                                + (1 << order) * 2, cpu)
            if freed:
                break
        return freed > 0
