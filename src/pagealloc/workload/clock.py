"""The simulated clock of a workload run: ticks, timed events and the kernel's daemons.

Not a kernel file. Time is explicit and monotonic, in nanoseconds like the
model's ``mm.clock_ns``. Every tick the clock

1. moves the model's clock, running its delayed works (``Machine.run_until``
   when the model has timers, mm/timers.py: page reporting, and whatever
   daemons arm their own works), else just sets ``mm.clock_ns``;
2. runs the daemons the model has but does not drive from timers:
   kswapd (``mm.vmscan.run_pending``, so its HZ/10 naps end as time passes),
   kcompactd's proactive check every HPAGE_FRAG_CHECK_INTERVAL_MSEC (500 ms,
   mm/compaction.c:kcompactd) and the vmstat fold every vm.stat_interval
   seconds (mm/vmstat.c:vmstat_update -> refresh_cpu_vm_stats: per-CPU
   NR_FREE_PAGES deltas folded into the zone counter);
3. runs the timed events that fall due (samples, phase starts and ends),
   then every actor's tick.

A daemon the model arms as a delayed work of its own (a pending work named
``vmstat_update`` or ``kcompactd*``) is left to the model: the clock checks
the pending works at start and every ten simulated seconds.
"""
from __future__ import annotations

import heapq
from typing import Callable

__all__ = ["SimClock", "NSEC_PER_SEC", "HPAGE_FRAG_CHECK_INTERVAL_NS"]

NSEC_PER_SEC = 1_000_000_000
HPAGE_FRAG_CHECK_INTERVAL_NS = 500_000_000


class SimClock:
    """Ticks of ``tick_s`` seconds from the machine's current time to an end."""

    def __init__(self, machine, tick_s: float, *, on_tick: Callable[[float, float], None],
                 plain_kswapd: Callable[[], int] | None = None) -> None:
        self.machine = machine
        self.mm = machine.mm
        self.tick_ns = max(1, int(round(tick_s * NSEC_PER_SEC)))
        self.start_ns = int(getattr(self.mm, "clock_ns", 0) or 0)
        self.now_ns = self.start_ns
        self.on_tick = on_tick
        self.plain_kswapd = plain_kswapd
        self._events: list = []
        self._seq = 0
        self._next_vmstat = self.start_ns
        self._next_kcompactd = self.start_ns + HPAGE_FRAG_CHECK_INTERVAL_NS
        self._next_check = self.start_ns
        self._model_vmstat = False
        self._model_kcompactd = False
        self.daemon_runs = {"kswapd": 0, "kcompactd_proactive": 0, "vmstat_fold": 0,
                            "model_works": 0}

    # --- simulated seconds since the run started ------------------------------------------
    @property
    def now(self) -> float:
        return (self.now_ns - self.start_ns) / NSEC_PER_SEC

    def ns(self, t: float) -> int:
        return self.start_ns + int(round(t * NSEC_PER_SEC))

    def at(self, t: float, fn: Callable[[float], None], prio: int = 0) -> None:
        """Run ``fn(now)`` at simulated second ``t`` of the run (before the actors' tick).

        Events at the same instant run by ``prio`` (observers use a high one, to see
        what the others did), then in the order they were scheduled.
        """
        self._seq += 1
        heapq.heappush(self._events, (self.ns(t), prio, self._seq, fn))

    def every(self, period: float, fn: Callable[[float], None], start: float = 0.0,
              until: float | None = None, prio: int = 0) -> None:
        """Run ``fn(now)`` every ``period`` seconds from ``start`` (to ``until`` included)."""
        def again(now: float, t=start) -> None:
            fn(now)
            nxt = t + period
            if until is None or nxt <= until + 1e-9:
                self.at(nxt, lambda n, nxt=nxt: again(n, nxt), prio)
        self.at(start, again, prio)

    # --- the model's clock and daemons ----------------------------------------------------
    def _check_model_works(self) -> None:
        pending = getattr(self.machine, "pending_work", None)
        names = []
        if pending is not None:
            try:
                names = [w.name for w in pending()]
            except Exception:
                names = []
        self._model_vmstat = any(n.startswith("vmstat") for n in names)
        self._model_kcompactd = any(n.startswith("kcompactd") for n in names)

    def _advance_model(self, now_ns: int) -> None:
        m = self.machine
        mm = self.mm
        if hasattr(m, "run_until"):
            self.daemon_runs["model_works"] += m.run_until(now_ns) or 0
        elif hasattr(mm, "run_timers"):
            self.daemon_runs["model_works"] += mm.run_timers(now_ns) or 0
        else:
            mm.clock_ns = now_ns

    def _daemons(self, now_ns: int) -> None:
        mm = self.mm
        if now_ns >= self._next_check:
            self._check_model_works()
            self._next_check = now_ns + 10 * NSEC_PER_SEC
        vs = getattr(mm, "vmscan", None)
        if vs is not None and hasattr(vs, "run_pending"):
            if vs.pending():
                self.daemon_runs["kswapd"] += vs.run_pending() or 0
        elif self.plain_kswapd is not None:
            if self.plain_kswapd():
                self.daemon_runs["kswapd"] += 1
        if not self._model_kcompactd and now_ns >= self._next_kcompactd:
            self._next_kcompactd += HPAGE_FRAG_CHECK_INTERVAL_NS
            comp = getattr(mm, "compaction", None)
            if comp is not None and hasattr(comp, "proactive_tick"):
                for node in mm.nodes:
                    if node.online and node.has_memory() and comp.proactive_tick(node):
                        self.daemon_runs["kcompactd_proactive"] += 1
        if not self._model_vmstat and now_ns >= self._next_vmstat:
            self._next_vmstat += max(1, int(mm.stat_interval)) * NSEC_PER_SEC
            fold_vm_stats(mm)
            self.daemon_runs["vmstat_fold"] += 1

    # --- running --------------------------------------------------------------------------
    def run_until(self, end: float, progress: Callable[[float], None] | None = None) -> None:
        """Tick until simulated second ``end`` of the run (events at ``end`` included)."""
        end_ns = self.ns(end)
        tick = self.tick_ns
        events = self._events
        while True:
            now_ns = self.now_ns
            self._advance_model(now_ns)
            self._daemons(now_ns)
            while events and events[0][0] <= now_ns:
                fn = heapq.heappop(events)[3]
                fn(self.now)
            if now_ns >= end_ns:
                break
            self.on_tick(self.now, tick / NSEC_PER_SEC)
            if progress is not None:
                progress(self.now)
            self.now_ns = min(now_ns + tick, end_ns)


def fold_vm_stats(mm) -> None:
    """refresh_cpu_vm_stats() for NR_FREE_PAGES: fold every CPU's delta into the zone.

    Models mm/vmstat.c:refresh_cpu_vm_stats as far as the model keeps per-CPU
    deltas (only NR_FREE_PAGES); used when the model does not run vmstat_update itself.
    """
    with mm.lock:
        for z in mm.zones:
            diff = z.vm_stat_diff
            if diff and any(diff):
                z.vm_free += sum(diff)
                for i in range(len(diff)):
                    diff[i] = 0
