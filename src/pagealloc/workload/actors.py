"""Workload actors: the kernel's page allocation callers, driven by the simulated clock.

Not a kernel file. Each actor stands for a kind of caller and uses the gfp
masks and orders that caller uses in Linux 6.1:

``page_cache``  readers (readahead: ``readahead_gfp_mask`` = GFP_HIGHUSER_MOVABLE
                | __GFP_NORETRY | __GFP_NOWARN; on XFS large folios ramping by two
                orders per window up to ilog2(readahead), mm/readahead.c:
                page_cache_ra_order, falling back to order 0) and writers
                (GFP_HIGHUSER_MOVABLE | __GFP_WRITE, order 0).
``anon``        processes faulting anonymous memory: a THP per 2 MiB where
                transparent_hugepage allows it (vma_thp_gfp_mask, first
                __GFP_THISNODE | __GFP_NORETRY on the local node, mm/mempolicy.c:
                vma_alloc_folio), else 512 order-0 GFP_HIGHUSER_MOVABLE faults
                (thp_fault_alloc / thp_fault_fallback counted).
``slab``        new slabs of one cache: first the cache's order with __GFP_NOWARN |
                __GFP_NORETRY, then order 0 (mm/slub.c:allocate_slab);
                __GFP_RECLAIMABLE for SLAB_RECLAIM_ACCOUNT caches.
``fork``        fork/exit: a 16 KiB vmap stack per thread (four order-0 pages,
                two cached per CPU, kernel/fork.c), an order-1 pgd (PTI), page
                table pages and a little private anonymous memory.
``net``         receive bursts in interrupt context (the NIC's NAPI softirq; the
                model's ``mm.in_interrupt``): page_frag refills of order 3 with
                GFP_ATOMIC | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY |
                __GFP_NOMEMALLOC, falling back to order-0 GFP_ATOMIC | __GFP_NOWARN
                (mm/page_alloc.c:__page_frag_cache_refill), freed milliseconds later.
``balloon``     virtio-balloon inflating/deflating to a target (balloon_page_alloc:
                GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN).
``hotplug``     memory blocks offlined, onlined, added, removed at given moments.
``sysctl``      sysctl writes at a moment (vm.compact_memory, vm.drop_caches, tunables).

Sizes, rates and lifetimes are drawn from the scenario's distributions with
the actor's own ``random.Random`` (seeded from the scenario seed, the phase
and the actor's name), so runs repeat exactly.
"""
from __future__ import annotations

import bisect
import heapq
import math
import random
from array import array

from ..mm.gfp import (GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_KERNEL_ACCOUNT,
                      __GFP_COMP, __GFP_DIRECT_RECLAIM, __GFP_NOMEMALLOC, __GFP_NORETRY,
                      __GFP_NOWARN, __GFP_RECLAIMABLE, __GFP_THISNODE, __GFP_WRITE, __GFP_ZERO,
                      GFP_TRANSHUGE, GFP_TRANSHUGE_LIGHT, __GFP_KSWAPD_RECLAIM)
from ..mm.vmstat import ev_index
from .distributions import poisson
from .pages import (K_ANON, K_BALLOON, K_FILE, K_KERNEL_STACK, K_NET, K_PAGE_TABLE,
                    K_SLAB_RECLAIMABLE, K_SLAB_UNRECLAIMABLE, K_THP)

__all__ = ["Actor", "make_actor", "ACTOR_CLASSES", "vma_thp_gfp_mask"]

PAGE = 4096
HPAGE_PMD_ORDER = 9
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
THREAD_STACK_PAGES = 4            # THREAD_SIZE 16 KiB, vmalloc'ed order-0 pages (VMAP_STACK)
NR_CACHED_STACKS = 2              # kernel/fork.c
PGD_ORDER = 1                     # PGD_ALLOCATION_ORDER with PAGE_TABLE_ISOLATION
GFP_PGTABLE_USER = GFP_KERNEL_ACCOUNT | __GFP_ZERO
THREADINFO_GFP = GFP_KERNEL_ACCOUNT | __GFP_ZERO
READAHEAD_GFP = GFP_HIGHUSER_MOVABLE | __GFP_NORETRY | __GFP_NOWARN
PAGE_FRAG_GFP = GFP_ATOMIC | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY | __GFP_NOMEMALLOC
BALLOON_GFP = GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN
WRITE_BEGIN_GFP = GFP_HIGHUSER_MOVABLE | __GFP_WRITE          # FGP_WRITEBEGIN
NET_ORDER0_GFP = GFP_ATOMIC | __GFP_NOWARN
# __GFP_* names would be mangled inside class bodies: the bits the classes add, by role
_COMP = __GFP_COMP
_QUIET_TRY = __GFP_NOWARN | __GFP_NORETRY                     # allocate_slab's first try
_THP_LOCAL = __GFP_THISNODE | __GFP_NORETRY                   # vma_alloc_folio, local node
_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM
_RECLAIMABLE = __GFP_RECLAIMABLE

_EV_THP_FAULT_ALLOC = ev_index("thp_fault_alloc")
_EV_THP_FAULT_FALLBACK = ev_index("thp_fault_fallback")
_EV_PGFAULT = ev_index("pgfault")
_EV_BALLOON_INFLATE = ev_index("balloon_inflate")
_EV_BALLOON_DEFLATE = ev_index("balloon_deflate")


def vma_thp_gfp_mask(defrag: str, madvised: bool) -> int:
    """The gfp of a THP fault; models mm/huge_memory.c:vma_thp_gfp_mask."""
    if defrag == "always":
        return GFP_TRANSHUGE | (0 if madvised else __GFP_NORETRY)
    if defrag == "defer":
        return GFP_TRANSHUGE_LIGHT | __GFP_KSWAPD_RECLAIM
    if defrag == "defer+madvise":
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if madvised else __GFP_KSWAPD_RECLAIM)
    if defrag == "madvise":
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if madvised else 0)
    return GFP_TRANSHUGE_LIGHT


class Actor:
    """One actor of one phase: ``tick`` runs every clock tick, ``step`` only while active."""

    kind = ""

    def __init__(self, conf, sim, phase) -> None:
        self.conf = conf
        self.sim = sim
        self.pages = sim.pages
        self.params = conf.params
        self.name = conf.name
        self.phase = phase
        self.rng = random.Random(f"{sim.scenario.seed}:{phase.name}:{conf.name}")
        mm = sim.machine.mm
        if conf.cpus is not None:
            cpus = list(conf.cpus)
        elif conf.node is not None:
            cpus = [c for c in range(mm.nr_cpu_ids) if mm.cpu_to_node[c] == conf.node]
        else:
            cpus = list(range(mm.nr_cpu_ids))
        self.cpus = [c for c in cpus if mm.cpu_online[c]] or [mm.online_cpus()[0]]
        self._rr = 0
        self._expiry: list = []         # (time, seq, payload)
        self._seq = 0
        self.active = False
        self.pages_held = 0
        self.stats: dict[str, float] = {}

    # --- helpers ------------------------------------------------------------------------
    def cpu(self) -> int:
        c = self.cpus[self._rr % len(self.cpus)]
        self._rr += 1
        return c

    def expire_at(self, t: float, payload) -> None:
        self._seq += 1
        heapq.heappush(self._expiry, (t, self._seq, payload))

    def count(self, key: str, n: float = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    # --- the clock's calls --------------------------------------------------------------
    def start(self, now: float) -> None:
        self.active = True

    def tick(self, now: float, dt: float) -> None:
        exp = self._expiry
        while exp and exp[0][0] <= now:
            _, _, payload = heapq.heappop(exp)
            self.expired(payload, now)
        if self.active:
            self.step(now, dt)

    def step(self, now: float, dt: float) -> None:
        pass

    def expired(self, payload, now: float) -> None:
        pass

    def stop(self, now: float) -> None:
        self.active = False
        if self.conf.on_end == "free":
            self.free_all(now)

    def free_all(self, now: float) -> None:
        while self._expiry:
            _, _, payload = heapq.heappop(self._expiry)
            self.expired(payload, now)


# --------------------------------------------------------------------------------------
# page cache


class _File:
    __slots__ = ("oid", "npages", "pfns", "deleted")

    def __init__(self, oid: int, npages: int) -> None:
        self.oid = oid
        self.npages = npages
        self.pfns = array("i")
        self.deleted = False


class PageCache(Actor):
    kind = "page_cache"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        p = self.params
        self.rate_pages = p["rate"] / PAGE
        self.write = p["mode"] == "write"
        self.large = p["fs"] == "xfs" and not self.write
        self.max_order = max(0, min(HPAGE_PMD_ORDER, int(math.log2(max(p["readahead"], PAGE) / PAGE))))
        self.files: list[_File] = []
        self.budget = 0.0
        self.cur: _File | None = None
        self.cur_order = 0
        self._zipf_cdf: list[float] = []
        self.file_seq = 0

    def _new_file(self) -> _File:
        npages = max(1, int(math.ceil(self.params["file_size"].sample(self.rng) / PAGE)))
        self.file_seq += 1
        oid = self.pages.new_owner(f"{self.name}:f{self.file_seq}", is_task=False)
        f = _File(oid, npages)
        if self.write and self.params["delete_after"] is not None:
            self.expire_at(self.sim.now + self.params["delete_after"].sample(self.rng), f)
        return f

    def _pick(self) -> _File:
        p = self.params
        pool = p["files"]
        if p["popularity"] == "stream" or self.write or pool == 0:
            f = self._new_file()
            self.files.append(f)
            return f
        if len(self.files) < pool:
            # the pool fills as files are first touched
            f = self._new_file()
            self.files.append(f)
            return f
        if p["popularity"] == "uniform":
            return self.files[self.rng.randrange(pool)]
        if not self._zipf_cdf:
            acc = 0.0
            s = p["zipf_s"]
            for i in range(pool):
                acc += 1.0 / (i + 1) ** s
                self._zipf_cdf.append(acc)
        x = self.rng.random() * self._zipf_cdf[-1]
        return self.files[min(bisect.bisect_left(self._zipf_cdf, x), pool - 1)]

    def step(self, now: float, dt: float) -> None:
        self.budget += self.rate_pages * dt
        pages = self.pages
        picks = 0
        while self.budget >= 1:
            f = self.cur
            if f is None or f.deleted:
                if picks >= 64:
                    # everything picked was cached: hits cost no IO, the tick is done
                    self.budget = min(self.budget, self.rate_pages * dt)
                    break
                picks += 1
                f = self.cur = self._pick()
                self.cur_order = 0
                self.count("file_opens")
            missing = f.npages - pages.resident(f.oid)
            if missing <= 0:
                self.count("cache_hits")
                self.cur = None
                continue
            n = self._fill(f, min(missing, int(self.budget)), missing)
            if n <= 0:
                self.budget = 0
                break
            self.budget -= n
            if n >= missing:
                self.cur = None
                if len(f.pfns) > 2 * f.npages + 64:
                    f.pfns = pages.compact_list(f.oid, f.pfns)

    def _fill(self, f: _File, n: int, missing: int) -> int:
        """Insert n pages of ``f`` into the page cache (a last large folio may overshoot,
        never past the ``missing`` pages of the file); pages inserted."""
        pages = self.pages
        done = 0
        cpu = self.cpu()
        while done < n:
            order = 0
            if self.large:
                # page_cache_ra_order: +2 orders per readahead window, capped by the window
                order = min(self.cur_order + 2, self.max_order)
                while order and (1 << order) > missing - done:
                    order -= 1
                if order == 1:
                    order = 0
            if self.write:
                gfp = WRITE_BEGIN_GFP
            else:
                gfp = READAHEAD_GFP | (_COMP if order else 0)
            pfn = pages.alloc(K_FILE, gfp, order, cpu, f.oid)
            if pfn < 0 and order:
                self.count("large_folio_fallbacks")
                order = 0
                self.cur_order = 0
                pfn = pages.alloc(K_FILE, READAHEAD_GFP, 0, cpu, f.oid)
            if pfn < 0:
                # readahead gave up: the read itself faults the page in with reclaim allowed
                pfn = pages.alloc(K_FILE, GFP_HIGHUSER_MOVABLE, 0, cpu, f.oid)
                if pfn < 0:
                    self.count("read_failures")
                    return done
            if self.large and order:
                self.cur_order = order
            f.pfns.append(pfn)
            done += 1 << order
        self.count("pages_inserted", done)
        return done

    def expired(self, f: _File, now: float) -> None:
        # a written file is deleted (truncate_inode_pages)
        if f.deleted:
            return
        f.deleted = True
        self.pages.release(f.oid, f.pfns, self.cpu())
        self.pages.forget_owner(f.oid)
        f.pfns = array("i")
        self.count("files_deleted")

    def free_all(self, now: float) -> None:
        for f in self.files:
            if not f.deleted:
                self.expired(f, now)
        self._expiry.clear()


# --------------------------------------------------------------------------------------
# anonymous memory


class _Proc:
    __slots__ = ("oid", "cpu", "target", "touched", "small_left", "pfns", "orders", "dead",
                 "thp_ok", "credit", "churn_credit")

    def __init__(self, oid: int, cpu: int, target: int, thp_ok: bool) -> None:
        self.oid = oid
        self.cpu = cpu
        self.target = target          # pages the process will touch
        self.touched = 0
        self.small_left = 0           # order-0 faults left in a 2 MiB range whose THP failed
        self.pfns = array("i")
        self.orders = array("b")
        self.dead = False
        self.thp_ok = thp_ok
        self.credit = 0.0             # pages the process may fault in now (fault_rate)
        self.churn_credit = 0.0       # pages it may unmap now (churn)


class Anon(Actor):
    kind = "anon"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        self.procs: list[_Proc] = []
        self.nproc = 0
        m = sim.scenario.machine
        madv = self.params["madvise"]
        self.thp_enabled = m.thp == "always" or (m.thp == "madvise" and madv)
        self.thp_gfp = vma_thp_gfp_mask(sim.thp_defrag, madv)

    def start(self, now: float) -> None:
        super().start(now)
        for _ in range(self.params["procs"]):
            self._spawn(now)

    def _spawn(self, now: float) -> None:
        p = self.params
        self.nproc += 1
        oid = self.pages.new_owner(f"{self.name}{self.nproc}"[:15], is_task=True)
        target = max(1, int(p["size"].sample(self.rng) / PAGE))
        proc = _Proc(oid, self.cpu(), target, self.thp_enabled)
        self.procs.append(proc)
        if p["lifetime"] is not None:
            self.expire_at(now + p["lifetime"].sample(self.rng), proc)
        self.count("spawned")

    def step(self, now: float, dt: float) -> None:
        p = self.params
        if p["spawn_rate"]:
            for _ in range(poisson(self.rng, p["spawn_rate"] * dt)):
                self._spawn(now)
        budget = p["fault_rate"] / PAGE * dt
        churn = p["churn"] / PAGE * dt
        alive = []
        for proc in self.procs:
            if proc.dead:
                continue
            if not self.pages.owner_alive(proc.oid):
                self._exit(proc, oom=True)
                continue
            if churn:
                proc.churn_credit += churn
                if proc.churn_credit >= 1:
                    self._churn(proc)
            if proc.touched < proc.target:
                proc.credit = min(proc.credit + budget, proc.target - proc.touched)
                if proc.credit >= 1:
                    self._fault(proc)
            else:
                proc.credit = 0.0
            alive.append(proc)
        self.procs = alive

    def _fault(self, proc: _Proc) -> None:
        pages = self.pages
        mm = self.sim.machine.mm
        while proc.credit >= 1 and proc.touched < proc.target:
            if proc.small_left == 0 and proc.thp_ok and proc.target - proc.touched >= HPAGE_PMD_NR:
                # do_huge_pmd_anonymous_page: local node first, quietly
                nid = mm.cpu_to_node[proc.cpu]
                pfn = pages.alloc(K_THP, self.thp_gfp | _THP_LOCAL,
                                  HPAGE_PMD_ORDER, proc.cpu, proc.oid, nid=nid)
                if pfn < 0 and self.thp_gfp & _DIRECT_RECLAIM:
                    pfn = pages.alloc(K_THP, self.thp_gfp, HPAGE_PMD_ORDER, proc.cpu, proc.oid)
                if pfn >= 0:
                    mm.events[_EV_THP_FAULT_ALLOC] += 1
                    mm.events[_EV_PGFAULT] += 1
                    proc.pfns.append(pfn)
                    proc.orders.append(HPAGE_PMD_ORDER)
                    proc.touched += HPAGE_PMD_NR
                    proc.credit -= HPAGE_PMD_NR
                    self.count("thp")
                    continue
                mm.events[_EV_THP_FAULT_FALLBACK] += 1
                self.count("thp_fallback")
                proc.small_left = HPAGE_PMD_NR
            pfn = pages.alloc(K_ANON, GFP_HIGHUSER_MOVABLE, 0, proc.cpu, proc.oid)
            if pfn < 0:
                self.count("fault_failures")
                return
            mm.events[_EV_PGFAULT] += 1
            proc.pfns.append(pfn)
            proc.orders.append(0)
            proc.touched += 1
            proc.credit -= 1
            if proc.small_left:
                proc.small_left -= 1

    def _churn(self, proc: _Proc) -> None:
        """MADV_DONTNEED/munmap of random ranges that the process touches again later."""
        pfns = proc.pfns
        orders = proc.orders
        while proc.churn_credit >= 1 and pfns:
            i = self.rng.randrange(len(pfns))
            pfn, order = pfns[i], orders[i]
            pfns[i] = pfns[-1]
            orders[i] = orders[-1]
            pfns.pop()
            orders.pop()
            self.pages.free(pfn, proc.oid, proc.cpu)
            proc.touched -= 1 << order
            proc.churn_credit -= 1 << order

    def _exit(self, proc: _Proc, oom: bool = False) -> None:
        proc.dead = True
        self.pages.release(proc.oid, proc.pfns, proc.cpu)
        self.pages.forget_owner(proc.oid)
        proc.pfns = array("i")
        proc.orders = array("b")
        self.count("oom_killed" if oom else "exited")

    def expired(self, proc: _Proc, now: float) -> None:
        if not proc.dead:
            self._exit(proc)

    def free_all(self, now: float) -> None:
        for proc in self.procs:
            if not proc.dead:
                self._exit(proc)
        self.procs = []
        self._expiry.clear()


# --------------------------------------------------------------------------------------
# slab


class Slab(Actor):
    kind = "slab"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        p = self.params
        self.kind_ = K_SLAB_RECLAIMABLE if p["reclaimable"] else K_SLAB_UNRECLAIMABLE
        self.gfp = GFP_KERNEL | (_RECLAIMABLE if p["reclaimable"] else 0)
        self.oid = self.pages.new_owner(p["cache"], is_task=False)
        if p["reclaimable"]:
            self.pages.shrinkable[self.oid] = p["shrinkable"]
        self.budget = 0.0
        self.rate_pages = p["rate"] / PAGE

    def step(self, now: float, dt: float) -> None:
        p = self.params
        pages = self.pages
        self.budget += self.rate_pages * dt
        while self.budget > 0:
            order = int(p["order"].sample(self.rng))
            cpu = self.cpu()
            gfp = self.gfp | (_COMP if order else 0)
            pfn = pages.alloc(self.kind_, gfp | _QUIET_TRY, order, cpu, self.oid)
            if pfn < 0 and order:
                self.count("min_order_fallbacks")
                order = 0
                pfn = pages.alloc(self.kind_, self.gfp, 0, cpu, self.oid)
            if pfn < 0:
                self.count("failures")
                self.budget = 0
                break
            self.budget -= 1 << order
            self.count("slabs")
            self.expire_at(now + p["lifetime"].sample(self.rng), (pfn, cpu))

    def expired(self, payload, now: float) -> None:
        pfn, cpu = payload
        self.pages.free(pfn, self.oid, cpu)


# --------------------------------------------------------------------------------------
# fork/exit


class _Task:
    __slots__ = ("oid", "cpu", "pfns", "stacks")

    def __init__(self, oid: int, cpu: int) -> None:
        self.oid = oid
        self.cpu = cpu
        self.pfns = array("i")
        self.stacks: list[array] = []


class Fork(Actor):
    kind = "fork"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        self.stack_owner = sim.kernel_owner("kthread_stacks")
        self.stack_cache = sim.stack_cache            # cpu -> list of cached stacks
        self.ntask = 0

    def step(self, now: float, dt: float) -> None:
        for _ in range(poisson(self.rng, self.params["rate"] * dt)):
            self._fork(now)

    def _stack(self, cpu: int) -> array | None:
        cache = self.stack_cache.setdefault(cpu, [])
        if cache:
            self.count("stack_cache_hits")
            return cache.pop()
        st = array("i")
        for _ in range(THREAD_STACK_PAGES):
            pfn = self.pages.alloc(K_KERNEL_STACK, THREADINFO_GFP, 0, cpu, self.stack_owner)
            if pfn < 0:
                for q in st:
                    self.pages.free(q, self.stack_owner, cpu)
                return None
            st.append(pfn)
        return st

    def _fork(self, now: float) -> None:
        p = self.params
        pages = self.pages
        cpu = self.cpu()
        self.ntask += 1
        oid = pages.new_owner(f"{self.name}{self.ntask}"[:15], is_task=True)
        task = _Task(oid, cpu)
        ok = True
        for _ in range(max(1, int(p["threads"].sample(self.rng)))):
            st = self._stack(cpu)
            if st is None:
                ok = False
                break
            task.stacks.append(st)
        if ok:
            pgd = pages.alloc(K_PAGE_TABLE, GFP_PGTABLE_USER, PGD_ORDER, cpu, oid)
            ok = pgd >= 0
            if ok:
                task.pfns.append(pgd)
        if ok:
            for _ in range(int(p["page_tables"].sample(self.rng))):
                pfn = pages.alloc(K_PAGE_TABLE, GFP_PGTABLE_USER, 0, cpu, oid)
                if pfn < 0:
                    ok = False
                    break
                task.pfns.append(pfn)
        if ok:
            for _ in range(int(p["rss"].sample(self.rng) / PAGE)):
                pfn = pages.alloc(K_ANON, GFP_HIGHUSER_MOVABLE, 0, cpu, oid)
                if pfn < 0:
                    break
                task.pfns.append(pfn)
        if not ok:
            self.count("fork_failures")
            self._exit(task)
            return
        self.count("forks")
        self.expire_at(now + p["lifetime"].sample(self.rng), task)

    def _exit(self, task: _Task) -> None:
        pages = self.pages
        pages.release(task.oid, task.pfns, task.cpu)
        pages.forget_owner(task.oid)
        cache = self.stack_cache.setdefault(task.cpu, [])
        for st in task.stacks:
            if len(cache) < NR_CACHED_STACKS:
                cache.append(st)
            else:
                for q in st:
                    pages.free(q, self.stack_owner, task.cpu)
        task.stacks = []

    def expired(self, task: _Task, now: float) -> None:
        self._exit(task)
        self.count("exits")


# --------------------------------------------------------------------------------------
# network


class Net(Actor):
    kind = "net"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        self.oid = sim.kernel_owner("net_rx")

    def step(self, now: float, dt: float) -> None:
        p = self.params
        mm = self.sim.machine.mm
        pages = self.pages
        for _ in range(poisson(self.rng, p["burst_rate"] * dt)):
            cpu = self.cpu()
            n = max(1, int(p["burst_size"].sample(self.rng)))
            self.count("bursts")
            mm.in_interrupt = True
            try:
                for _ in range(n):
                    order = p["order"]
                    pfn = pages.alloc(K_NET, PAGE_FRAG_GFP, order, cpu, self.oid)
                    if pfn < 0 and p["fallback_order0"]:
                        self.count("order0_fallbacks")
                        order = 0
                        pfn = pages.alloc(K_NET, NET_ORDER0_GFP, 0, cpu, self.oid)
                    if pfn < 0:
                        self.count("drops")
                        continue
                    self.expire_at(now + p["lifetime"].sample(self.rng), (pfn, cpu))
            finally:
                mm.in_interrupt = False

    def expired(self, payload, now: float) -> None:
        pfn, cpu = payload
        self.pages.free(pfn, self.oid, cpu)


# --------------------------------------------------------------------------------------
# balloon


class Balloon(Actor):
    kind = "balloon"

    def __init__(self, conf, sim, phase) -> None:
        super().__init__(conf, sim, phase)
        self.oid = sim.kernel_owner("virtio_balloon")
        self.held = array("i")
        self.cpu0 = self.cpus[0]

    def _target(self, now: float) -> int:
        rel = now - self.phase.start
        target = 0.0
        for t, size in self.params["schedule"]:
            if t <= rel:
                target = size
        return int(target / PAGE)

    def step(self, now: float, dt: float) -> None:
        mm = self.sim.machine.mm
        pages = self.pages
        target = self._target(now)
        cur = len(self.held)
        step = max(1, int(self.params["rate"] / PAGE * dt))
        if cur < target:
            for _ in range(min(step, target - cur)):
                pfn = pages.alloc(K_BALLOON, BALLOON_GFP, 0, self.cpu0, self.oid)
                if pfn < 0:
                    self.count("inflate_failures")
                    break
                self.held.append(pfn)
                mm.events[_EV_BALLOON_INFLATE] += 1
        elif cur > target:
            for _ in range(min(step, cur - target)):
                pages.free(self.held.pop(), self.oid, self.cpu0)
                mm.events[_EV_BALLOON_DEFLATE] += 1

    def free_all(self, now: float) -> None:
        mm = self.sim.machine.mm
        while self.held:
            self.pages.free(self.held.pop(), self.oid, self.cpu0)
            mm.events[_EV_BALLOON_DEFLATE] += 1


# --------------------------------------------------------------------------------------
# hotplug and sysctl events


class Hotplug(Actor):
    kind = "hotplug"

    def start(self, now: float) -> None:
        super().start(now)
        for ev in self.params["events"]:
            self.expire_at(self.phase.start + ev["at"], ev)

    def step(self, now: float, dt: float) -> None:
        pass

    def stop(self, now: float) -> None:
        self.active = False            # events still pending fire at their time

    def expired(self, ev: dict, now: float) -> None:
        self.sim.hotplug_event(ev, self)


class Sysctl(Actor):
    kind = "sysctl"

    def start(self, now: float) -> None:
        super().start(now)
        self.expire_at(self.phase.start + self.params["at"], self.params["set"])

    def stop(self, now: float) -> None:
        self.active = False

    def expired(self, items: list[str], now: float) -> None:
        for s in items:
            self.sim.write_sysctl(s, self)


ACTOR_CLASSES = {"page_cache": PageCache, "anon": Anon, "slab": Slab, "fork": Fork, "net": Net,
                 "balloon": Balloon, "hotplug": Hotplug, "sysctl": Sysctl}


def make_actor(conf, sim, phase) -> Actor:
    return ACTOR_CLASSES[conf.kind](conf, sim, phase)
