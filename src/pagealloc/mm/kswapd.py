"""kswapd: the per-node reclaim thread, its wakeups, balance_pgdat and its sleep.

Models the kswapd half of mm/vmscan.c ([6.1.y-late]): wakeup_kswapd,
pgdat_balanced, pgdat_watermark_boosted, prepare_kswapd_sleep,
kswapd_shrink_node, balance_pgdat (priorities 12..1, boosted reclaim and its
decrement, ZONE_RECLAIM_ACTIVE, kswapd_failures), kswapd_age_node, the
kswapd() loop with kswapd_try_to_sleep (the HZ/10 nap, the
kswapd_low/high_wmark_hit_quickly counters, kcompactd wakeups) and
mm/vmstat.c:set_pgdat_percpu_threshold (the pressure stat threshold while
kswapd is awake). The LRU scan it drives is in :mod:`pagealloc.mm.vmscan`.

How kswapd runs. kswapd is a thread; the model has one thread of control,
so kswapd runs at *safe points*: in "eager" mode (the default) at the end of
every slowpath allocation (after the allocation that woke it has succeeded or
failed, as if kswapd got the CPU right after it) and after the Machine's
user-page operations; in both modes when simulated time passes (a delayed
work of mm/timers.py, armed at each wakeup and for each nap), when a direct
reclaimer is throttled on it, and on ``Machine.run_kswapd()``. A run executes
the kernel's loop until kswapd blocks: a full sleep, the HZ/10 nap of
kswapd_try_to_sleep, or ``max_runs`` balance_pgdat passes (it then stays
runnable). The nap ends when the clock reaches it (or at once with
``expire_naps``); a wakeup during the nap counts kswapd_low_wmark_hit_quickly,
a node still unbalanced at its end kswapd_high_wmark_hit_quickly.
"""
from __future__ import annotations

from .gfp import GFP_KERNEL, __GFP_DIRECT_RECLAIM, format_gfp
from .internal import SWAP_CLUSTER_MAX
from .mmzone import WMARK_LOW, WMARK_MIN, ZONE_RECLAIM_ACTIVE, pageblock_order
from .page_users import LRU_ACTIVE_ANON, LRU_INACTIVE_ANON
from .vmscan import (DEF_PRIORITY, EV_HIGH_HIT, EV_LOW_HIT, EV_PAGEOUTRUN, HZ,
                     MAX_RECLAIM_RETRIES, ScanControl, _trace, _wakeup_kcompactd,
                     can_age_anon_pages, compact_gap, inactive_is_low, shrink_active_list,
                     shrink_node, try_to_free_pages, zone_reclaimable_pages,
                     zone_watermark_ok_safe)
from .vmstat import calculate_normal_threshold, calculate_pressure_threshold

__all__ = ["Vmscan", "KswapdState", "KSWAPD_SLEEPING", "KSWAPD_NAPPING", "KSWAPD_RUNNING",
           "wakeup_kswapd", "pgdat_balanced", "pgdat_watermark_boosted", "prepare_kswapd_sleep",
           "balance_pgdat", "kswapd_shrink_node", "kswapd_age_node", "set_pgdat_percpu_threshold"]

# kswapd thread states
KSWAPD_SLEEPING = "sleeping"     # schedule() in kswapd_try_to_sleep, on the waitqueue
KSWAPD_NAPPING = "napping"       # schedule_timeout(HZ/10), on the waitqueue
KSWAPD_RUNNING = "running"       # in balance_pgdat or between passes: not on the waitqueue


class _KThread:
    """current for kswapd: PF_MEMALLOC | PF_KSWAPD, a kernel thread."""

    __slots__ = ("comm", "pid", "pf_memalloc", "oom_victim", "rt", "is_task", "oom_score_adj")

    def __init__(self, comm: str, pid: int) -> None:
        self.comm = comm
        self.pid = pid
        self.pf_memalloc = True
        self.oom_victim = False
        self.rt = False
        self.is_task = False
        self.oom_score_adj = 0


class KswapdState:
    """One node's kswapd thread: where it is blocked and what it was asked to do."""

    __slots__ = ("pgdat", "state", "woken", "nap_deadline_ns", "alloc_order", "reclaim_order",
                 "highest_zoneidx", "task", "runs", "work")

    def __init__(self, pgdat, max_nr_zones: int, pid: int) -> None:
        self.pgdat = pgdat
        self.state = KSWAPD_SLEEPING
        self.woken = False
        self.nap_deadline_ns = 0
        self.work = None
        self.alloc_order = 0
        self.reclaim_order = 0
        self.highest_zoneidx = max_nr_zones - 1
        self.task = _KThread(f"kswapd{pgdat.node_id}", pid)
        self.runs = 0

    def on_waitqueue(self) -> bool:
        """waitqueue_active(&pgdat->kswapd_wait)."""
        return self.state != KSWAPD_RUNNING


# --------------------------------------------------------------------------------------
# balance


def pgdat_watermark_boosted(pgdat, highest_zoneidx: int) -> bool:
    """Is any managed zone up to highest_zoneidx boosted? (mm/vmscan.c)."""
    for z in pgdat.node_zones[:highest_zoneidx + 1][::-1]:
        if z.managed_pages and z.watermark_boost:
            return True
    return False


def pgdat_balanced(mm, pgdat, order: int, highest_zoneidx: int) -> bool:
    """Is some eligible zone above its high watermark for this order? (mm/vmscan.c)."""
    mark = -1
    for z in pgdat.node_zones[:highest_zoneidx + 1]:
        if not z.managed_pages:
            continue
        mark = z.high_wmark_pages()
        if zone_watermark_ok_safe(mm, z, order, mark, highest_zoneidx):
            return True
    return mark == -1


def set_pgdat_percpu_threshold(mm, pgdat, pressure: bool) -> None:
    """Switch a node's zones with a drift mark to the pressure or normal stat threshold.

    Models mm/vmstat.c:set_pgdat_percpu_threshold.
    """
    ncpus = mm.num_online_cpus()
    for z in pgdat.node_zones:
        if not z.percpu_drift_mark:
            continue
        if pressure:
            t = calculate_pressure_threshold(z._watermark[WMARK_LOW], z._watermark[WMARK_MIN],
                                             ncpus)
        else:
            t = calculate_normal_threshold(z.managed_pages, ncpus)
        z.stat_threshold = t
        for pcp in z.pcp:
            pcp.stat_threshold = t



def prepare_kswapd_sleep(mm, pgdat, order: int, highest_zoneidx: int) -> bool:
    """May kswapd sleep: node hopeless or balanced? (mm/vmscan.c)."""
    if pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES:
        return True
    return pgdat_balanced(mm, pgdat, order, highest_zoneidx)


def kswapd_shrink_node(mm, pgdat, sc: ScanControl) -> bool:
    """One kswapd pass over a node; True when it scanned as much as it wanted to reclaim.

    Models mm/vmscan.c:kswapd_shrink_node.
    """
    sc.nr_to_reclaim = 0
    for z in pgdat.node_zones[:sc.reclaim_idx + 1]:
        if z.managed_pages:
            sc.nr_to_reclaim += max(z.high_wmark_pages(), SWAP_CLUSTER_MAX)
    shrink_node(mm, pgdat, sc)
    if sc.order and sc.nr_reclaimed >= compact_gap(sc.order):
        sc.order = 0
    return sc.nr_scanned >= sc.nr_to_reclaim


def _update_reclaim_active(pgdat, highest_zoneidx: int, active: bool) -> None:
    for z in pgdat.node_zones[:highest_zoneidx + 1]:
        if not z.managed_pages:
            continue
        if active:
            z.flags |= ZONE_RECLAIM_ACTIVE
        else:
            z.flags &= ~ZONE_RECLAIM_ACTIVE


def kswapd_age_node(mm, pgdat, sc: ScanControl) -> None:
    """Deactivate some anon pages when the inactive anon list is low (mm/vmscan.c)."""
    if not can_age_anon_pages(mm):
        return
    if inactive_is_low(pgdat.lru, LRU_INACTIVE_ANON):
        shrink_active_list(mm, SWAP_CLUSTER_MAX, pgdat.lru, sc, LRU_ACTIVE_ANON)


def balance_pgdat(mm, pgdat, order: int, highest_zoneidx: int) -> int:
    """Reclaim until an eligible zone is above high (plus boost); return the final order.

    Models mm/vmscan.c:balance_pgdat.
    """
    sc = ScanControl(gfp_mask=GFP_KERNEL, order=order,
                     reclaim_idx=highest_zoneidx, is_kswapd=True)
    mm.events[EV_PAGEOUTRUN] += 1
    zone_boosts = {}
    nr_boost_reclaim = 0
    for z in pgdat.node_zones[:highest_zoneidx + 1]:
        if not z.managed_pages:
            continue
        nr_boost_reclaim += z.watermark_boost
        zone_boosts[z.idx] = z.watermark_boost
    boosted = bool(nr_boost_reclaim)
    balanced_out = False
    while True:  # restart:
        _update_reclaim_active(pgdat, highest_zoneidx, True)
        sc.priority = DEF_PRIORITY
        restart = False
        while True:
            nr_reclaimed = sc.nr_reclaimed
            raise_priority = True
            sc.reclaim_idx = highest_zoneidx
            balanced = pgdat_balanced(mm, pgdat, sc.order, highest_zoneidx)
            if not balanced and nr_boost_reclaim:
                nr_boost_reclaim = 0
                restart = True
                break
            if not nr_boost_reclaim and balanced:
                balanced_out = True
                break
            if nr_boost_reclaim and sc.priority == DEF_PRIORITY - 2:
                raise_priority = False
            sc.may_writepage = not nr_boost_reclaim
            sc.may_swap = not nr_boost_reclaim
            kswapd_age_node(mm, pgdat, sc)
            if sc.priority < DEF_PRIORITY - 2:
                sc.may_writepage = True
            sc.nr_scanned = 0
            if kswapd_shrink_node(mm, pgdat, sc):
                raise_priority = False
            nr_reclaimed = sc.nr_reclaimed - nr_reclaimed
            nr_boost_reclaim -= min(nr_boost_reclaim, nr_reclaimed)
            if nr_boost_reclaim and not nr_reclaimed:
                break
            if raise_priority or not nr_reclaimed:
                sc.priority -= 1
            if sc.priority < 1:
                break
        if not restart:
            break
    if not balanced_out and not sc.nr_reclaimed:
        pgdat.kswapd_failures += 1
    _update_reclaim_active(pgdat, highest_zoneidx, False)
    if boosted:
        for z in pgdat.node_zones[:highest_zoneidx + 1]:
            b = zone_boosts.get(z.idx, 0)
            if b:
                z.watermark_boost -= min(z.watermark_boost, b)
        _wakeup_kcompactd(mm, pgdat, pageblock_order, highest_zoneidx)
    return sc.order


def wakeup_kswapd(mm, zone, gfp: int, order: int, highest_zoneidx: int) -> None:
    """Ask a node's kswapd to balance it for (order, highest_zoneidx).

    Models mm/vmscan.c:wakeup_kswapd (no cpusets): a hopeless or balanced,
    unboosted node only gets kcompactd (for requests that cannot reclaim).
    """
    if not zone.managed_pages:
        return
    vs = mm.vmscan
    pgdat = zone.node
    curr = pgdat.kswapd_highest_zoneidx
    if curr >= mm.MAX_NR_ZONES or curr < 0 or curr < highest_zoneidx:
        pgdat.kswapd_highest_zoneidx = highest_zoneidx
    if pgdat.kswapd_order < order:
        pgdat.kswapd_order = order
    ks = vs.kswapd[pgdat.node_id]
    if not ks.on_waitqueue():
        return
    if (pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES
            or (pgdat_balanced(mm, pgdat, order, highest_zoneidx)
                and not pgdat_watermark_boosted(pgdat, highest_zoneidx))):
        if not gfp & __GFP_DIRECT_RECLAIM:
            _wakeup_kcompactd(mm, pgdat, order, highest_zoneidx)
        return
    _trace(mm, "mm_vmscan_wakeup_kswapd",
           f"nid={pgdat.node_id} order={order} gfp_flags={format_gfp(gfp) if gfp else 'none'}")
    ks.woken = True
    vs.kick(pgdat.node_id, 0)


def _kswapd_highest_zoneidx(mm, pgdat, prev: int) -> int:
    """kswapd_highest_zoneidx(): the waker's request, or the previous one when unset."""
    curr = pgdat.kswapd_highest_zoneidx
    return prev if curr >= mm.MAX_NR_ZONES or curr < 0 else curr


class Vmscan:
    """The machine's reclaim: kswapd threads, direct reclaim, the slowpath's hooks.

    Installed as ``mm.vmscan``; the slowpath calls :meth:`try_to_free_pages` and
    :meth:`zone_reclaimable_pages`, page_alloc's wakeup_kswapd calls
    ``mm.wakeup_kswapd_cb``.
    """

    def __init__(self, mm) -> None:
        self.mm = mm
        self.kswapd: dict[int, KswapdState] = {}
        pid = 30
        for n in mm.nodes:
            # kswapd() start: order 0, highest zone unset (MAX_NR_ZONES)
            n.kswapd_order = 0
            n.kswapd_highest_zoneidx = mm.MAX_NR_ZONES
            n.kswapd_sleeping = True
            self.kswapd[n.node_id] = KswapdState(n, mm.MAX_NR_ZONES, pid + n.node_id)
        self._running = False
        self.max_runs = 4
        # "eager": kswapd also runs at the safe points (after each slowpath allocation);
        # "clock": only when simulated time passes (Machine.advance), so that bursts of
        # allocations outrun it as they do on a busy machine.
        self.mode = "eager"
        from .timers import timer_base
        timer_base(mm)
        mm.wakeup_kswapd_cb = self._wakeup_cb

    # --- hooks the allocator calls -------------------------------------------------------
    def _wakeup_cb(self, zone, gfp: int, order: int, highest_zoneidx: int) -> None:
        wakeup_kswapd(self.mm, zone, gfp, order, highest_zoneidx)

    def try_to_free_pages(self, ac, order: int, gfp: int) -> int:
        return try_to_free_pages(self.mm, ac.zonelist, order, gfp, ac.nodemask)

    def zone_reclaimable_pages(self, zone) -> int:
        return zone_reclaimable_pages(self.mm, zone)

    # --- running the kswapd threads ------------------------------------------------------
    def pending(self) -> bool:
        """Would some kswapd run at the next safe point?"""
        if self.mode != "eager":
            return False
        now = getattr(self.mm, "clock_ns", None)
        for ks in self.kswapd.values():
            if ks.woken or ks.state == KSWAPD_RUNNING:
                return True
            if (ks.state == KSWAPD_NAPPING and now is not None
                    and now >= ks.nap_deadline_ns):
                return True
        return False

    def run_pending(self, *, expire_naps: bool = False, max_runs: int | None = None) -> int:
        """Run every kswapd that can run now; return the balance_pgdat passes made."""
        if self._running:
            return 0
        n = 0
        for nid in list(self.kswapd):
            n += self.run_kswapd(nid, expire_naps=expire_naps, max_runs=max_runs)
        return n

    def run_kswapd(self, nid: int, *, expire_naps: bool = False,
                   max_runs: int | None = None) -> int:
        """Run one node's kswapd until it blocks; models mm/vmscan.c:kswapd's loop."""
        if self._running:
            return 0
        mm = self.mm
        ks = self.kswapd[nid]
        pgdat = ks.pgdat
        limit = self.max_runs if max_runs is None else max_runs
        now = getattr(mm, "clock_ns", None)
        saved_cpu, saved_current = mm.cpu, getattr(mm, "current", None)
        cpus = [c for c in pgdat.cpus if c < mm.nr_cpu_ids and mm.cpu_online[c]]
        self._running = True
        runs = 0
        try:
            mm.current = ks.task
            if cpus:
                mm.cpu = cpus[0]
            while True:
                if ks.state == KSWAPD_SLEEPING:
                    if not ks.woken:
                        return runs
                    ks.woken = False
                    pgdat.kswapd_sleeping = False
                    set_pgdat_percpu_threshold(mm, pgdat, True)
                elif ks.state == KSWAPD_NAPPING:
                    if ks.woken:
                        # woken before the HZ/10 nap ran out (remaining != 0)
                        ks.woken = False
                        pgdat.kswapd_highest_zoneidx = _kswapd_highest_zoneidx(
                            mm, pgdat, ks.highest_zoneidx)
                        if pgdat.kswapd_order < ks.reclaim_order:
                            pgdat.kswapd_order = ks.reclaim_order
                        mm.events[EV_LOW_HIT] += 1
                    elif expire_naps or (now is not None and now >= ks.nap_deadline_ns):
                        if prepare_kswapd_sleep(mm, pgdat, ks.reclaim_order, ks.highest_zoneidx):
                            _trace(mm, "mm_vmscan_kswapd_sleep", f"nid={pgdat.node_id}")
                            set_pgdat_percpu_threshold(mm, pgdat, False)
                            ks.state = KSWAPD_SLEEPING
                            pgdat.kswapd_sleeping = True
                            return runs
                        mm.events[EV_HIGH_HIT] += 1
                    else:
                        return runs
                if runs >= limit:
                    ks.state = KSWAPD_RUNNING
                    self.kick(nid, 0)
                    return runs
                # read the new order and highest_zoneidx
                alloc_order = pgdat.kswapd_order
                hz = _kswapd_highest_zoneidx(mm, pgdat, ks.highest_zoneidx)
                pgdat.kswapd_order = 0
                pgdat.kswapd_highest_zoneidx = mm.MAX_NR_ZONES
                ks.state = KSWAPD_RUNNING
                _trace(mm, "mm_vmscan_kswapd_wake", f"nid={pgdat.node_id} order={alloc_order}")
                reclaim_order = balance_pgdat(mm, pgdat, alloc_order, hz)
                runs += 1
                ks.runs += 1
                if reclaim_order >= alloc_order:
                    alloc_order = reclaim_order = pgdat.kswapd_order
                    hz = _kswapd_highest_zoneidx(mm, pgdat, hz)
                ks.alloc_order, ks.reclaim_order, ks.highest_zoneidx = (alloc_order,
                                                                        reclaim_order, hz)
                # kswapd_try_to_sleep
                if prepare_kswapd_sleep(mm, pgdat, reclaim_order, hz):
                    comp = getattr(mm, "compaction", None)
                    reset = getattr(comp, "reset_isolation_suitable", None)
                    if reset is not None:
                        reset(pgdat)
                    _wakeup_kcompactd(mm, pgdat, alloc_order, hz)
                    ks.state = KSWAPD_NAPPING
                    ks.woken = False
                    self.kick(nid, HZ // 10)
                    ks.nap_deadline_ns = ks.work.expires
                    if not expire_naps:
                        return runs
                    continue
                mm.events[EV_HIGH_HIT] += 1
        finally:
            self._running = False
            mm.cpu = saved_cpu
            mm.current = saved_current

    def kick(self, nid: int, delay: int) -> None:
        """Arm the node's kswapd work ``delay`` jiffies ahead (0: at the next timer run).

        The simulated clock then runs kswapd as a thread would (mm/timers.py); the
        safe points run it earlier when there is one.
        """
        from .timers import DelayedWork, mod_delayed_work
        ks = self.kswapd[nid]
        if ks.work is None:
            ks.work = DelayedWork(lambda mm, nid=nid: self.run_kswapd(nid), f"kswapd{nid}")
        mod_delayed_work(self.mm, ks.work, delay)

    def state(self, nid: int = 0) -> str:
        """sleeping, napping or running."""
        return self.kswapd[nid].state
