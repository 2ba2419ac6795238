"""Page users: what each allocated block is, who owns it, and the counters that follow.

Not one kernel file: the kernel spreads this over struct folio (PageAnon,
mapping, PG_swapbacked, PG_active, PG_referenced, PG_dirty, PG_workingset),
the mm_struct rss counters (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES,
MM_SWAPENTS, pgtables_bytes), the node and zone stat items that
mm/memcontrol.c, mm/rmap.c, mm/filemap.c, mm/shmem.c, mm/slub.c and
kernel/fork.c keep (nr_anon_pages, nr_file_pages, nr_shmem, nr_slab_*,
nr_page_table_pages, nr_kernel_stack, nr_anon_transparent_hugepages, the
LRU sizes), and the gfp masks the callers use (GFP_HIGHUSER_MOVABLE for user
pages, GFP_KERNEL | __GFP_RECLAIMABLE for reclaimable slab, GFP_PGTABLE_USER,
THREADINFO_GFP, vma_thp_gfp_mask of mm/huge_memory.c).

State is compact per-pfn arrays, meaningful at the head pfn of an allocated
block (``PG_head`` in the memmap): ``kind`` (uint8, :class:`Kind`), ``owner``
(int32, an :class:`Owner` id; 0 is the page cache / kernel, owned by no task)
and ``pflags`` (uint8, the folio flags the reclaim model reads, ``PGU_*``).
The LRU lists of :mod:`pagealloc.mm.swap` are threaded through two more int32
arrays, ``lru_next``/``lru_prev``, with per-node sentinels after the pfns.

Owners are few (tasks and subsystems), so they are Python objects; pages
never are. An owner doubles as ``mm.current`` while it allocates (the slowpath
reads ``pf_memalloc``, ``oom_victim`` and ``rt`` from it).

Counters are kept exact in ``PgData.vm_stat`` / ``Zone.vm_stat`` (no per-CPU
drift for these items, unlike NR_FREE_PAGES). A machine cloned from a real
zoneinfo starts with the real counters; the model adds and subtracts its own
pages on top, and bases its reclaim decisions on the pages it really has
(:attr:`Lruvec.size`), not on those inherited numbers.
"""
from __future__ import annotations

import enum

import numpy as np

from .gfp import (GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_KERNEL_ACCOUNT, GFP_TRANSHUGE,
                  GFP_TRANSHUGE_LIGHT, __GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_KSWAPD_RECLAIM,
                  __GFP_NORETRY, __GFP_RECLAIMABLE, __GFP_ZERO)
from .memmap import PG_head, PG_lru
from .mmzone import PAGE_SIZE, pageblock_order

__all__ = ["Kind", "Owner", "PageUsers", "kind_from_name", "gfp_for_kind", "vma_thp_gfp_mask",
           "PGU_ACTIVE", "PGU_REFERENCED", "PGU_YOUNG", "PGU_DIRTY", "PGU_MAPPED",
           "PGU_WORKINGSET", "PGU_ISOLATED", "LRU_INACTIVE_ANON", "LRU_ACTIVE_ANON",
           "LRU_INACTIVE_FILE", "LRU_ACTIVE_FILE", "LRU_SLAB", "NR_LISTS", "NR_LRU_LISTS",
           "LRU_NAMES", "HPAGE_PMD_ORDER", "THREAD_SIZE_ORDER", "page_zone", "OOM_SCORE_ADJ_MIN",
           "OOM_SCORE_ADJ_MAX"]

HPAGE_PMD_ORDER = pageblock_order          # 2 MiB THP on x86_64
THREAD_SIZE_ORDER = 2                      # 16 KiB kernel stacks (x86_64, no KASAN)
OOM_SCORE_ADJ_MIN = -1000
OOM_SCORE_ADJ_MAX = 1000


class Kind(enum.IntEnum):
    """What an allocated block is used for."""
    NONE = 0                 # not recorded (a raw alloc_pages caller)
    ANON = 1                 # anonymous memory (MM_ANONPAGES, anon LRU)
    FILE = 2                 # page cache of a regular file (MM_FILEPAGES, file LRU)
    SHMEM = 3                # tmpfs / shared anonymous (swap-backed: anon LRU)
    SLAB_RECLAIMABLE = 4     # dentries, inodes ... (shrinkable)
    SLAB_UNRECLAIMABLE = 5   # other slab caches
    PAGE_TABLE = 6           # user page tables (counted in the owner's pgtables)
    KERNEL_STACK = 7         # task stacks (nr_kernel_stack, in kB)
    THP = 8                  # an anonymous transparent huge page (order 9)
    KERNEL = 9               # any other kernel allocation (unmovable, uncounted)


_KIND_NAMES = {
    "anon": Kind.ANON, "anonymous": Kind.ANON, "file": Kind.FILE, "pagecache": Kind.FILE,
    "page_cache": Kind.FILE, "shmem": Kind.SHMEM, "tmpfs": Kind.SHMEM,
    "slab_reclaimable": Kind.SLAB_RECLAIMABLE, "sreclaimable": Kind.SLAB_RECLAIMABLE,
    "slab_unreclaimable": Kind.SLAB_UNRECLAIMABLE, "slab_unmovable": Kind.SLAB_UNRECLAIMABLE,
    "slab": Kind.SLAB_UNRECLAIMABLE, "page_table": Kind.PAGE_TABLE,
    "pagetable": Kind.PAGE_TABLE, "kernel_stack": Kind.KERNEL_STACK, "stack": Kind.KERNEL_STACK,
    "thp": Kind.THP, "kernel": Kind.KERNEL, "other": Kind.KERNEL, "other_kernel": Kind.KERNEL,
}


def kind_from_name(kind: "Kind | str | int") -> Kind:
    """A :class:`Kind` from itself, its value or a name such as "file" or "slab_reclaimable"."""
    if isinstance(kind, Kind):
        return kind
    if isinstance(kind, int):
        return Kind(kind)
    k = _KIND_NAMES.get(str(kind).strip().lower())
    if k is None:
        raise ValueError(f"unknown page kind {kind!r} (known: {', '.join(sorted(_KIND_NAMES))})")
    return k


# folio flags the model keeps (pflags bits)
PGU_ACTIVE = 0x01        # PG_active
PGU_REFERENCED = 0x02    # PG_referenced (folio_mark_accessed)
PGU_YOUNG = 0x04         # some pte mapping it is young (folio_referenced() > 0)
PGU_DIRTY = 0x08         # PG_dirty (file pages; anon pages are dirty by nature)
PGU_MAPPED = 0x10        # mapped into a task (file pages; anon, shmem, THP always are)
PGU_WORKINGSET = 0x20    # PG_workingset
PGU_ISOLATED = 0x40      # taken off the LRU by isolate_lru_page / reclaim

# LRU lists per node (enum lru_list without UNEVICTABLE), then the model's list_lru of
# reclaimable slab blocks that shrink_slab walks.
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_SLAB = 4
NR_LRU_LISTS = 4
NR_LISTS = 5
LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file")

_LRU_KINDS = frozenset({Kind.ANON, Kind.FILE, Kind.SHMEM, Kind.THP})


def vma_thp_gfp_mask(defrag: str, madvised: bool = False) -> int:
    """The gfp of a THP fault for a transparent_hugepage/defrag setting.

    Models mm/huge_memory.c:vma_thp_gfp_mask.
    """
    if defrag == "always":
        return GFP_TRANSHUGE | (0 if madvised else __GFP_NORETRY)
    if defrag == "defer":
        return GFP_TRANSHUGE_LIGHT | __GFP_KSWAPD_RECLAIM
    if defrag == "defer+madvise":
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if madvised else __GFP_KSWAPD_RECLAIM)
    if defrag == "madvise":
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if madvised else 0)
    if defrag == "never":
        return GFP_TRANSHUGE_LIGHT
    raise ValueError(f"unknown THP defrag setting {defrag!r}")


def gfp_for_kind(kind: Kind, order: int = 0, *, thp_defrag: str = "madvise",
                 madvised: bool = False) -> int:
    """The gfp mask the kernel's callers use for a kind of page.

    Anonymous faults and the page cache of a regular file: GFP_HIGHUSER_MOVABLE; slab:
    GFP_KERNEL (| __GFP_RECLAIMABLE for SLAB_RECLAIM_ACCOUNT caches, | __GFP_COMP for
    multi-page slabs); page tables GFP_PGTABLE_USER; stacks THREADINFO_GFP; THP per defrag.
    """
    if kind in (Kind.ANON, Kind.FILE, Kind.SHMEM):
        return GFP_HIGHUSER_MOVABLE
    if kind == Kind.THP:
        return vma_thp_gfp_mask(thp_defrag, madvised)
    if kind == Kind.SLAB_RECLAIMABLE:
        return GFP_KERNEL | __GFP_RECLAIMABLE | (__GFP_COMP if order else 0)
    if kind == Kind.SLAB_UNRECLAIMABLE:
        return GFP_KERNEL | (__GFP_COMP if order else 0)
    if kind in (Kind.PAGE_TABLE, Kind.KERNEL_STACK):
        return GFP_KERNEL_ACCOUNT | __GFP_ZERO
    return GFP_KERNEL


def page_zone(mm, pfn: int):
    """page_zone(): the zone of a pfn (cached per pageblock)."""
    z = mm.pb_zone[pfn >> pageblock_order]
    if z is None:
        z = mm.zone_of_pfn(pfn)
    return z


class Owner:
    """A task (with an mm) or a kernel subsystem that allocates pages.

    Models the parts of task_struct / mm_struct / signal_struct the OOM killer and the
    allocator read: comm, pid, uid, oom_score_adj, the rss counters, pgtables_bytes, and
    the flags PF_MEMALLOC, PF_KTHREAD and the OOM-victim mark.
    """

    __slots__ = ("id", "comm", "pid", "uid", "oom_score_adj", "is_task", "alive", "oom_victim",
                 "pf_memalloc", "rt", "anon", "file", "shmem", "swapents", "pgtables",
                 "stack_pages", "other_pages", "oom_skip")

    def __init__(self, oid: int, comm: str, pid: int, *, is_task: bool = True,
                 oom_score_adj: int = 0, uid: int = 0, rt: bool = False) -> None:
        if not OOM_SCORE_ADJ_MIN <= oom_score_adj <= OOM_SCORE_ADJ_MAX:
            raise ValueError(f"oom_score_adj {oom_score_adj} outside -1000..1000")
        self.id = oid
        self.comm = comm[:15]                # TASK_COMM_LEN - 1
        self.pid = pid
        self.uid = uid
        self.oom_score_adj = oom_score_adj
        self.is_task = is_task               # False: a kernel subsystem (PF_KTHREAD-like)
        self.alive = True
        self.oom_victim = False              # tsk_is_oom_victim()
        self.oom_skip = False                # MMF_OOM_SKIP: reaped, nothing left to free
        self.pf_memalloc = False
        self.rt = rt
        self.anon = 0                        # MM_ANONPAGES (THP counts 512)
        self.file = 0                        # MM_FILEPAGES
        self.shmem = 0                       # MM_SHMEMPAGES
        self.swapents = 0                    # MM_SWAPENTS
        self.pgtables = 0                    # page-table pages (pgtables_bytes / PAGE_SIZE)
        self.stack_pages = 0
        self.other_pages = 0                 # slab and other kernel pages charged to it

    @property
    def name(self) -> str:
        return self.comm

    def rss(self) -> int:
        """get_mm_rss(): anon + file + shmem pages."""
        return self.anon + self.file + self.shmem

    def pgtables_bytes(self) -> int:
        return self.pgtables * PAGE_SIZE

    def __repr__(self) -> str:
        state = "" if self.alive else " dead"
        return (f"<Owner {self.id} {self.comm!r} pid {self.pid}{state} rss={self.rss()} "
                f"swap={self.swapents} pgtables={self.pgtables} adj={self.oom_score_adj}>")


class Lruvec:
    """struct lruvec of one node (no memcg): list sizes per zone, reclaim costs.

    ``size[lru][zone_idx]`` counts the pages the model really has on each list;
    ``anon_cost``/``file_cost`` are lru_note_cost's decaying cost counters.
    """

    __slots__ = ("nid", "base", "size", "anon_cost", "file_cost", "refaults", "congested",
                 "nr_deferred")

    def __init__(self, nid: int, base: int, nzones: int) -> None:
        self.nid = nid
        self.base = base                     # sentinel of list 0 in lru_next/lru_prev
        self.size = [[0] * nzones for _ in range(NR_LISTS)]
        self.anon_cost = 0
        self.file_cost = 0
        self.refaults = [0, 0]
        self.congested = False
        self.nr_deferred = 0                 # the slab shrinker's deferred work

    def lru_size(self, lru: int, zone_idx: int) -> int:
        """lruvec_lru_size(): pages on a list in zones 0..zone_idx."""
        s = self.size[lru]
        return sum(s[:zone_idx + 1])

    def total(self, lru: int) -> int:
        return sum(self.size[lru])


class PageUsers:
    """Per-page kind/owner/flags arrays, the LRU links, the owners and the swap space."""

    def __init__(self, mm, *, swap_pages: int = 0, thp_defrag: str = "madvise",
                 swappiness: int = 60) -> None:
        npfn = mm.mem.npfn
        nnodes = len(mm.nodes)
        self.npfn = npfn
        self.a_kind = np.zeros(npfn, dtype=np.uint8)
        self.a_owner = np.zeros(npfn, dtype=np.int32)
        self.a_pflags = np.zeros(npfn, dtype=np.uint8)
        total = npfn + nnodes * NR_LISTS
        self.a_lru_next = np.zeros(total, dtype=np.int32)
        self.a_lru_prev = np.zeros(total, dtype=np.int32)
        sent = np.arange(npfn, total, dtype=np.int32)
        self.a_lru_next[npfn:] = sent
        self.a_lru_prev[npfn:] = sent
        self.kind = memoryview(self.a_kind)
        self.owner = memoryview(self.a_owner)
        self.pflags = memoryview(self.a_pflags)
        self.lru_next = memoryview(self.a_lru_next)
        self.lru_prev = memoryview(self.a_lru_prev)
        self.lruvecs = [Lruvec(n.node_id, npfn + i * NR_LISTS, mm.MAX_NR_ZONES)
                        for i, n in enumerate(mm.nodes)]
        for n, lv in zip(mm.nodes, self.lruvecs):
            n.lru = lv
        self.owners: dict[int, Owner] = {}
        self.next_owner_id = 1
        self.next_pid = 2                    # pid 1 is init
        self.swap_total = swap_pages         # total_swap_pages
        self.swap_used = 0
        self.thp_defrag = thp_defrag
        self.swappiness = swappiness         # vm.swappiness
        self.page_cache_owner = 0

    # --- owners ---------------------------------------------------------------------------
    def new_owner(self, comm: str, *, is_task: bool = True, oom_score_adj: int = 0,
                  pid: int | None = None, uid: int = 0, rt: bool = False) -> Owner:
        """Create a task (is_task) or a kernel subsystem that will own pages."""
        if pid is None:
            pid = self.next_pid
        self.next_pid = max(self.next_pid, pid + 1)
        o = Owner(self.next_owner_id, comm, pid, is_task=is_task, oom_score_adj=oom_score_adj,
                  uid=uid, rt=rt)
        self.owners[o.id] = o
        self.next_owner_id += 1
        return o

    def get_owner(self, oid: int) -> Owner | None:
        return self.owners.get(oid)

    def tasks(self) -> list[Owner]:
        """Live tasks in creation order (for_each_process)."""
        return [o for o in self.owners.values() if o.is_task and o.alive]

    def pfns_of(self, owner: "Owner | int", kind: Kind | None = None) -> list[int]:
        """Head pfns of the blocks an owner holds now (after migration: the new pfns)."""
        oid = owner if isinstance(owner, int) else owner.id
        sel = (self.a_owner == oid) & (self.a_kind != 0)
        if kind is not None:
            sel &= self.a_kind == int(kind)
        return np.flatnonzero(sel).tolist()

    # --- swap space (mm/swapfile.c counters only) -------------------------------------------
    def nr_swap_pages(self) -> int:
        """get_nr_swap_pages(): free swap slots."""
        return self.swap_total - self.swap_used

    def sync_swap_meminfo(self, mm) -> None:
        """Publish SwapTotal/SwapFree (kB) where the meminfo and Mem-Info views read them."""
        extra = getattr(mm, "meminfo_extra", None)
        if extra is None:
            extra = {}
            mm.meminfo_extra = extra
        extra["SwapTotal"] = self.swap_total * (PAGE_SIZE >> 10)
        extra["SwapFree"] = self.nr_swap_pages() * (PAGE_SIZE >> 10)

    # --- queries ------------------------------------------------------------------------
    def kind_of(self, pfn: int) -> Kind:
        return Kind(self.kind[pfn])

    def owner_of(self, pfn: int) -> Owner | None:
        return self.owners.get(self.owner[pfn])

    @staticmethod
    def is_lru_kind(kind: int) -> bool:
        return kind in _LRU_KINDS

    @staticmethod
    def is_file_lru(kind: int) -> bool:
        """folio_is_file_lru(): page cache of a regular file (not shmem)."""
        return kind == Kind.FILE

    @staticmethod
    def is_movable_kind(kind: int) -> bool:
        """Pages migration can move: user pages on the LRU."""
        return kind in _LRU_KINDS

    def folio_lru_list(self, pfn: int) -> int:
        """folio_lru_list(): the list a page belongs on from its kind and PG_active."""
        base = LRU_INACTIVE_FILE if self.kind[pfn] == Kind.FILE else LRU_INACTIVE_ANON
        return base + (1 if self.pflags[pfn] & PGU_ACTIVE else 0)

    # --- counters -------------------------------------------------------------------------
    def account(self, mm, pfn: int, order: int, kind: int, oid: int, sign: int) -> None:
        """Add (sign=1) or remove (sign=-1) a block's contribution to the counters."""
        nr = (1 << order) * sign
        zone = page_zone(mm, pfn)
        nvs = zone.node.vm_stat
        o = self.owners.get(oid)
        if kind == Kind.ANON or kind == Kind.THP:
            nvs["nr_anon_pages"] = nvs.get("nr_anon_pages", 0) + nr
            if kind == Kind.THP:
                nvs["nr_anon_transparent_hugepages"] = (
                    nvs.get("nr_anon_transparent_hugepages", 0) + nr)
            if o is not None:
                o.anon += nr
        elif kind == Kind.FILE:
            nvs["nr_file_pages"] = nvs.get("nr_file_pages", 0) + nr
            if o is not None:
                o.file += nr
        elif kind == Kind.SHMEM:
            nvs["nr_file_pages"] = nvs.get("nr_file_pages", 0) + nr
            nvs["nr_shmem"] = nvs.get("nr_shmem", 0) + nr
            if o is not None:
                o.shmem += nr
        elif kind == Kind.SLAB_RECLAIMABLE:
            nvs["nr_slab_reclaimable"] = nvs.get("nr_slab_reclaimable", 0) + nr
            if o is not None:
                o.other_pages += nr
        elif kind == Kind.SLAB_UNRECLAIMABLE:
            nvs["nr_slab_unreclaimable"] = nvs.get("nr_slab_unreclaimable", 0) + nr
            if o is not None:
                o.other_pages += nr
        elif kind == Kind.PAGE_TABLE:
            nvs["nr_page_table_pages"] = nvs.get("nr_page_table_pages", 0) + nr
            if o is not None:
                o.pgtables += nr
        elif kind == Kind.KERNEL_STACK:
            nvs["nr_kernel_stack"] = nvs.get("nr_kernel_stack", 0) + nr * (PAGE_SIZE >> 10)
            if o is not None:
                o.stack_pages += nr
        elif kind == Kind.KERNEL:
            if o is not None:
                o.other_pages += nr

    def account_dirty(self, mm, pfn: int, order: int, sign: int, written: bool = True) -> None:
        """NR_FILE_DIRTY (nr_dirty) and NR_ZONE_WRITE_PENDING for a file page.

        Dirtying counts nr_dirtied; cleaning counts nr_written when the data was written.
        """
        nr = (1 << order) * sign
        zone = page_zone(mm, pfn)
        nvs = zone.node.vm_stat
        nvs["nr_dirty"] = nvs.get("nr_dirty", 0) + nr
        zvs = zone.vm_stat
        zvs["nr_zone_write_pending"] = zvs.get("nr_zone_write_pending", 0) + nr
        if sign > 0:
            nvs["nr_dirtied"] = nvs.get("nr_dirtied", 0) + nr
        elif written:
            nvs["nr_written"] = nvs.get("nr_written", 0) - nr

    # --- the invariant ------------------------------------------------------------------
    def check(self, mm) -> None:
        """Raise ValueError unless kinds, LRU lists, PG_lru and the counters agree."""
        mem = mm.mem
        heads = self.a_kind != 0
        not_head = heads & ((mem.a_flags & PG_head) == 0)
        if not_head.any():
            p = int(np.flatnonzero(not_head)[0])
            raise ValueError(f"pfn {p:#x} has kind {Kind(self.kind[p]).name} but is not an "
                             f"allocated block head (flags={mem.flags[p]:#x})")
        expect_lru = np.zeros(mem.npfn, dtype=bool)
        for lv in self.lruvecs:
            for lru in range(NR_LISTS):
                head = lv.base + lru
                counts = [0] * len(lv.size[lru])
                prev = head
                p = self.lru_next[head]
                n = 0
                while p != head:
                    if self.lru_prev[p] != prev:
                        raise ValueError(f"node {lv.nid} list {lru}: broken back link at {p:#x}")
                    k = self.kind[p]
                    if lru == LRU_SLAB:
                        if k != Kind.SLAB_RECLAIMABLE:
                            raise ValueError(f"pfn {p:#x} on the slab list has kind {k}")
                    elif self.folio_lru_list(p) != lru or not self.is_lru_kind(k):
                        raise ValueError(f"pfn {p:#x} (kind {Kind(k).name}, flags "
                                         f"{self.pflags[p]:#x}) on LRU list {lru}")
                    if self.pflags[p] & PGU_ISOLATED:
                        raise ValueError(f"pfn {p:#x} is isolated but on a list")
                    o = mem.order[p]
                    z = page_zone(mm, p)
                    counts[z.idx] += 1 << o
                    if lru != LRU_SLAB:
                        expect_lru[p:p + (1 << o)] = True
                    prev = p
                    p = self.lru_next[p]
                    n += 1
                    if n > mem.npfn:
                        raise ValueError(f"node {lv.nid} list {lru} loops")
                if counts != lv.size[lru]:
                    raise ValueError(f"node {lv.nid} list {lru}: sizes {lv.size[lru]} but the "
                                     f"list holds {counts}")
        has_lru = (mem.a_flags & PG_lru) != 0
        bad = has_lru != expect_lru
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise ValueError(f"pfn {p:#x}: PG_lru is {bool(has_lru[p])} but the page is "
                             f"{'' if expect_lru[p] else 'not '}on an LRU list")
        lru_heads = heads & np.isin(self.a_kind, [int(k) for k in _LRU_KINDS])
        off = lru_heads & ~expect_lru & ((self.a_pflags & PGU_ISOLATED) == 0)
        if off.any():
            p = int(np.flatnonzero(off)[0])
            raise ValueError(f"pfn {p:#x} ({Kind(self.kind[p]).name}) is neither on an LRU "
                             f"list nor isolated")


def set_page_user(mm, pfn: int, order: int, kind: "Kind | str | int", owner: "Owner | int | None",
                  *, dirty: bool = False, mapped: bool = False, active: bool = False) -> None:
    """Record what a freshly allocated block is, count it and put it on its LRU.

    Models the end of a fault or a page-cache insertion: folio_add_new_anon_rmap /
    filemap_add_folio / shmem_add_to_page_cache with folio_add_lru, and the slab, page
    table and stack accounting (mod_node_page_state of the matching item). Anonymous,
    shmem and THP pages start mapped and young (the instantiating fault set the pte).
    """
    from .swap import folio_add_lru, slab_list_add
    pu = mm.page_users
    mem = mm.mem
    if not (mem.flags[pfn] & PG_head and mem.order[pfn] == order):
        raise ValueError(f"pfn {pfn:#x} is not an allocated order-{order} block")
    if pu.kind[pfn]:
        raise ValueError(f"pfn {pfn:#x} already holds a {Kind(pu.kind[pfn]).name} page")
    if not isinstance(kind, Kind):
        kind = kind_from_name(kind)
    if kind == Kind.NONE:
        raise ValueError("a page user needs a kind")
    kind = int(kind)
    oid = owner if isinstance(owner, int) else (owner.id if owner is not None else 0)
    pu.kind[pfn] = kind
    pu.owner[pfn] = oid
    f = 0
    if kind in (Kind.ANON, Kind.SHMEM, Kind.THP):
        f |= PGU_MAPPED | PGU_YOUNG
    elif kind == Kind.FILE:
        if mapped:
            f |= PGU_MAPPED | PGU_YOUNG
        if dirty:
            f |= PGU_DIRTY
    if active:
        f |= PGU_ACTIVE
    pu.pflags[pfn] = f
    pu.account(mm, pfn, order, kind, oid, 1)
    if f & PGU_DIRTY:
        pu.account_dirty(mm, pfn, order, 1)
    if kind in _LRU_KINDS:
        folio_add_lru(mm, pfn)
    elif kind == Kind.SLAB_RECLAIMABLE:
        slab_list_add(mm, pfn)


def clear_page_user(mm, pfn: int) -> tuple[Kind, int, int]:
    """Forget a block's user before it is freed: off the LRU, counters back, PG_lru clear.

    Returns (kind, owner id, order). Models the release side: folio_remove_rmap /
    __filemap_remove_folio / the slab and stack frees, and __folio_clear_lru_flags.
    """
    from .swap import _mod_isolated, lruvec_del_folio, slab_list_del
    pu = mm.page_users
    mem = mm.mem
    kind = pu.kind[pfn]
    if not kind:
        raise ValueError(f"pfn {pfn:#x} has no recorded user")
    order = mem.order[pfn]
    oid = pu.owner[pfn]
    f = pu.pflags[pfn]
    if kind in _LRU_KINDS:
        if f & PGU_ISOLATED:
            _mod_isolated(mm, pfn, -(1 << order))
        elif mem.flags[pfn] & PG_lru:
            lruvec_del_folio(mm, pfn)
    elif kind == Kind.SLAB_RECLAIMABLE:
        slab_list_del(mm, pfn)
    if f & PGU_DIRTY:
        pu.account_dirty(mm, pfn, order, -1, written=False)
    pu.account(mm, pfn, order, kind, oid, -1)
    pu.kind[pfn] = 0
    pu.owner[pfn] = 0
    pu.pflags[pfn] = 0
    return Kind(kind), oid, order
