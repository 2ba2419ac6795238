"""Policy replay: the trace's requests, the model's choices.

Not a kernel file. :class:`PolicyReplay` asks the model for the same
allocations the kernel served (each mm_page_alloc: gfp, order, CPU; failed
ones too) and frees the model's block when the kernel frees the block it had
handed out for that request, so that two policies or sysctl settings can be
compared on one real trace. What the trace does not ask for is left to the
model: which pfn, pcp refills and drains, fallbacks, compaction.

* A free of a block allocated before the trace started has no model block:
  it is counted (``frees_of_preexisting``) and skipped.
* A free of part of a block (an untraced split_page, a THP split) splits the
  model's block (:meth:`Machine.split_page`) and frees the same part of it.
* mm_page_free_batched only repeats an mm_page_free: not replayed again.
* When the kernel's request failed the model's is tried too; a block the model
  got is freed at once (``model_ok_kernel_failed``). When the model's failed,
  the kernel's later free of that block is skipped (``frees_of_model_failures``).
* The model's clock follows the trace's timestamps, so its delayed works
  (vmstat, kswapd and kcompactd wakeups, page reporting) run as time passes.

The model's own page allocator events are counted by a small tracer on
``mm.trace`` (so the model's fast path is off in this mode): zone_locked,
pcp drains, fallbacks (mm_page_alloc_extfrag), and compared with the
kernel's counts from the trace.
"""
from __future__ import annotations

from collections import Counter

from ..errors import PageAllocError
from .replay_input import ALLOC, BATCHED, DRAIN, EXTFRAG, FREE, ZONE_LOCKED, ts_of

__all__ = ["PolicyReplay"]


class _CountingTracer:
    """Duck-types mm.tracepoints.Tracer: counts the model's kmem events."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.fallback_fragmenting = 0

    def mm_page_alloc(self, mm, pfn, order, gfp, mt) -> None:
        self.counts["mm_page_alloc"] += 1

    def mm_page_free(self, mm, pfn, order) -> None:
        self.counts["mm_page_free"] += 1

    def mm_page_free_batched(self, mm, pfn) -> None:
        self.counts["mm_page_free_batched"] += 1

    def mm_page_alloc_zone_locked(self, mm, pfn, order, mt, refill) -> None:
        self.counts["mm_page_alloc_zone_locked"] += 1

    def mm_page_pcpu_drain(self, mm, pfn, order, mt) -> None:
        self.counts["mm_page_pcpu_drain"] += 1

    def mm_page_alloc_extfrag(self, mm, pfn, alloc_order, fallback_order, alloc_mt,
                              fallback_mt, *args, **kw) -> None:
        self.counts["mm_page_alloc_extfrag"] += 1
        if fallback_order < 9:
            self.fallback_fragmenting += 1

    def __getattr__(self, name):          # any other tracepoint the model may grow
        if name.startswith("mm_"):
            return lambda *a, **k: None
        raise AttributeError(name)


class PolicyReplay:
    """Replay a trace's requests on a machine that chooses its own pages."""

    def __init__(self, machine, *, clock: bool = True) -> None:
        self.machine = machine
        self.mm = machine.mm
        self.ncpu = machine.mm.nr_cpu_ids
        self.online = [c for c in range(self.ncpu) if machine.mm.cpu_online[c]]
        self.map: dict[int, tuple[int, int]] = {}      # kernel head pfn -> (model pfn, order)
        self.failed: dict[int, int] = {}               # kernel pfns the model could not serve
        self.stats: Counter = Counter()
        self.kernel: Counter = Counter()               # the kernel's events in the trace
        self.by_order: dict[int, list[int]] = {}       # order -> [requests, model failures]
        self.tracer = _CountingTracer()
        self.mm.trace = self.tracer
        self.clock = clock
        self._t0 = None
        self._clock0 = 0
        self._next_tick = 0.0
        self.events = 0
        self.last_line = 0
        self.last_when = None

    def _cpu(self, cpu: int) -> int:
        if cpu < self.ncpu and self.mm.cpu_online[cpu]:
            return cpu
        self.stats["cpus_clamped"] += 1
        return self.online[cpu % len(self.online)]

    def _tick(self, when) -> None:
        ts = ts_of(when)
        if ts != ts:                          # nan
            return
        if self._t0 is None:
            self._t0 = ts
            self._clock0 = self.machine.clock_ns
            self._next_tick = ts
        if ts >= self._next_tick:
            target = self._clock0 + int((ts - self._t0) * 1e9)
            if target > self.mm.clock_ns:
                self.machine.run_until(target)
            self._next_tick = ts + 0.001

    def _alloc(self, line: int, cpu: int, kpfn: int, order: int, gfp: int) -> None:
        m = self.machine
        st = self.stats
        bo = self.by_order.setdefault(order, [0, 0, 0])
        bo[0] += 1
        try:
            mp = m.alloc_pages(gfp, order, cpu=self._cpu(cpu))
        except PageAllocError as e:
            st["model_refused"] += 1
            if st["model_refused"] == 1:
                st["model_refused_first"] = f"line {line}: {e}"
            return
        if kpfn < 0:
            st["kernel_failed"] += 1
            bo[2] += 1
            if mp is not None:
                st["model_ok_kernel_failed"] += 1
                m.free_pages(mp, order, cpu=self._cpu(cpu))
            return
        if mp is None:
            st["model_failed"] += 1
            bo[1] += 1
            self.failed[kpfn] = order          # its free will have nothing to free
            return
        old = self.map.get(kpfn)
        if old is not None:
            # the kernel handed out a block it never freed in the trace: keep the newest
            st["kernel_realloc_without_free"] += 1
        self.map[kpfn] = (mp, order)
        st["model_allocated"] += 1

    def _free(self, line: int, cpu: int, kpfn: int, order: int) -> None:
        m = self.machine
        ent = self.map.pop(kpfn, None)
        if ent is not None and ent[1] == order:
            m.free_pages(ent[0], order, cpu=self._cpu(cpu))
            self.stats["model_freed"] += 1
            return
        if ent is not None:
            self.map[kpfn] = ent
        # part of a larger block: find it, split it in the model
        for k in range(1, 11):
            h = kpfn & ~((1 << k) - 1)
            big = self.map.get(h)
            if big is not None and big[1] >= k and big[1] > order:
                mp, bo = big
                del self.map[h]
                m.split_page(mp, bo)
                for i in range(1 << bo):
                    self.map[h + i] = (mp + i, 0)
                self.stats["splits"] += 1
                for i in range(1 << order):
                    e = self.map.pop(kpfn + i, None)
                    if e is not None:
                        m.free_pages(e[0], 0, cpu=self._cpu(cpu))
                self.stats["model_freed"] += 1
                return
        if ent is not None and ent[1] < order:
            # the kernel frees more than the request got: free what the model holds
            for i in range(0, 1 << order):
                e = self.map.pop(kpfn + i, None)
                if e is not None:
                    m.free_pages(e[0], e[1], cpu=self._cpu(cpu))
            self.stats["model_freed"] += 1
            return
        if self.failed.pop(kpfn, None) is not None:
            self.stats["frees_of_model_failures"] += 1
            return
        self.stats["frees_of_preexisting"] += 1
        self.stats["frees_of_preexisting_pages"] += 1 << order

    def feed(self, batch: list[tuple]) -> None:
        kernel = self.kernel
        for line, code, cpu, pfn, order, a, b, when in batch:
            if code == ALLOC:
                kernel["mm_page_alloc"] += 1
                if self.clock:
                    self._tick(when)
                self._alloc(line, cpu, pfn, order, a)
            elif code == FREE:
                kernel["mm_page_free"] += 1
                self._free(line, cpu, pfn, order)
            elif code == BATCHED:
                kernel["mm_page_free_batched"] += 1
            elif code == ZONE_LOCKED:
                kernel["mm_page_alloc_zone_locked"] += 1
            elif code == DRAIN:
                kernel["mm_page_pcpu_drain"] += 1
            elif code == EXTFRAG:
                kernel["mm_page_alloc_extfrag"] += 1
                if a["fallback_order"] < 9:
                    kernel["fallback_fragmenting"] += 1
        if batch:
            self.events += len(batch)
            self.last_line = batch[-1][0]
            self.last_when = batch[-1][7]

    def finish(self) -> dict:
        self.mm.trace = None
        model = dict(self.tracer.counts)
        model["fallback_fragmenting"] = self.tracer.fallback_fragmenting
        st = dict(self.stats)
        return {
            "events": self.events,
            "stats": st,
            "requests": sum(v[0] for v in self.by_order.values()),
            "model_failures": st.get("model_failed", 0),
            "kernel_failures": st.get("kernel_failed", 0),
            "by_order": {str(o): {"requests": v[0], "model_failed": v[1], "kernel_failed": v[2]}
                         for o, v in sorted(self.by_order.items())},
            "model_events": model,
            "kernel_events": dict(self.kernel),
            "fallbacks": {"model": model.get("mm_page_alloc_extfrag", 0),
                          "kernel": self.kernel.get("mm_page_alloc_extfrag", 0)},
            "outstanding_blocks": len(self.map),
        }
