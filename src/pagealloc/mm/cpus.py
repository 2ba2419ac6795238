"""Simulated CPUs: CPU hotplug, pcp lock holders, interrupts, PREEMPT_RT and UP.

Models the CPU side of mm/page_alloc.c and mm/vmstat.c in Linux 6.1
([6.1.y-late]):

* CPU hotplug: page_alloc_cpu_dead (drain the dead CPU's pcps, fold its
  vmstat diffs, zone_pcp_update(zone, 0)) and vmstat_cpu_dead (stat
  thresholds, N_CPU); page_alloc_cpu_online (zone_pcp_update(zone, 1)
  while the new CPU is not yet in its node's mask) and vmstat_cpu_online.
  The callbacks run in the kernel's order (CPUHP_PAGE_ALLOC before
  CPUHP_MM_VMSTAT_DEAD on the way down; the PREPARE state before the CPU
  is online on the way up).
* The pcp lock and who can find it held. A task holds a pcp lock between
  pcp_spin_lock and pcp_spin_unlock (``PerCpuPages.locked``). What may run
  on that CPU meanwhile depends on the build:

  - non-RT SMP: pcpu_task_pin is preempt_disable, IRQs stay enabled: an
    interrupt runs at once and finds the pcp locked (its allocation goes
    to rmqueue_buddy, its free to free_one_page); another task waits
    until the holder unlocks, then finds the pcp free.
  - PREEMPT_RT: pcpu_task_pin is migrate_disable and the lock sleeps:
    another task on the same CPU (and a threaded interrupt handler, which
    is a task) preempts the holder and finds the pcp locked.
  - UP without RT: spin_trylock always succeeds, so pcp_trylock_prepare
    disables IRQs around the critical section: an interrupt is delivered
    when the holder unlocks and never finds the pcp locked.

``CpuSched.trylock_fallbacks`` counts the pcp_spin_trylock failures of
the work run through this module, allocations and frees apart
(``{"alloc": n, "free": n}``): allocations that fell back to
rmqueue_buddy and frees that fell back to free_one_page. Under the same
scripted interleaving it is larger on PREEMPT_RT than on non-RT, and zero
on UP. (page_alloc keeps one global ``mm.pcp_trylock_failures``; the
split is made here from its delta around each piece of work.)

Deliberate differences: a held pcp stops nothing but trylocks; a remote
drain (drain_all_pages, which takes the lock in the kernel and would wait)
still empties it. Work run directly through page_alloc while a pcp is
held is counted in ``mm.pcp_trylock_failures`` only.

Thread safety is separate: every call through
:class:`pagealloc.threadsafe.ThreadSafeMachine` runs under ``mm.lock``
(the one lock that stands for zone->lock and the pcp locks), so Python
threads bound to simulated CPUs can allocate and free at once.
"""
from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from .gfp import GFP_ATOMIC
from .mm_init import N_CPU
from .mmzone import Zone

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM

__all__ = ["CpuSched", "Work", "cpu_sched", "cpu_down", "cpu_up", "page_alloc_cpu_dead",
           "page_alloc_cpu_online", "cpu_vm_stats_fold", "pcp_spin_lock", "pcp_spin_unlock",
           "raise_irq", "wake_task", "alloc_from_irq", "run_script", "default_pcp_zone"]


@dataclass
class Work:
    """One allocation or free run by an interrupt or a task on a CPU."""
    context: str                 # "irq" or "task"
    cpu: int
    kind: str                    # "alloc" or "free"
    gfp: int = 0
    order: int = 0
    pfn: int = -1                # the page freed, or the page allocated (-1: failed)
    name: str = ""
    deferred: bool = False       # could not run when raised/woken
    done: bool = False
    fell_back: bool = False      # pcp_spin_trylock failed
    in_interrupt: bool = False   # ran in hardirq context
    ok: bool = True              # free: no bad page report

    @property
    def result(self) -> int | None:
        return self.pfn if self.pfn >= 0 else None


@dataclass
class CpuSched:
    """Per-CPU execution state the pcp locking rules depend on.

    Not a kernel structure: the preempt count, the IRQ flag and the
    migrate_disable count of the task running on each CPU, the pcp locks
    it holds, and what waits for it.
    """
    nr_cpus: int
    smp: bool = True
    irqs_disabled: list[bool] = field(default_factory=list)
    preempt_count: list[int] = field(default_factory=list)
    migrate_disable: list[int] = field(default_factory=list)
    held: list[list[Zone]] = field(default_factory=list)
    pending_irqs: list[deque] = field(default_factory=list)
    pending_tasks: list[deque] = field(default_factory=list)
    trylock_fallbacks: dict[str, int] = field(default_factory=lambda: {"alloc": 0, "free": 0})
    history: list[Work] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.nr_cpus
        self.irqs_disabled = [False] * n
        self.preempt_count = [0] * n
        self.migrate_disable = [0] * n
        self.held = [[] for _ in range(n)]
        self.pending_irqs = [deque() for _ in range(n)]
        self.pending_tasks = [deque() for _ in range(n)]


def cpu_sched(mm: "MM", *, smp: bool | None = None) -> CpuSched:
    """The machine's CpuSched (created on first use; ``smp=False`` is a UP kernel).

    A UP kernel (!CONFIG_SMP) needs a one-CPU machine.
    """
    s = getattr(mm, "cpu_sched", None)
    if s is None:
        s = CpuSched(mm.nr_cpu_ids)
        mm.cpu_sched = s
    if smp is not None:
        if not smp and mm.nr_cpu_ids != 1:
            raise ValueError(f"a UP kernel has one CPU, this machine has {mm.nr_cpu_ids}")
        s.smp = smp
    return s


# --------------------------------------------------------------------------------------
# CPU hotplug


def cpu_vm_stats_fold(mm: "MM", cpu: int) -> None:
    """Fold a dead CPU's vmstat differentials into the zone counters (mm/vmstat.c)."""
    for z in mm.zones:
        if z.vm_stat_diff and z.vm_stat_diff[cpu]:
            z.vm_free += z.vm_stat_diff[cpu]
            z.vm_stat_diff[cpu] = 0


def page_alloc_cpu_dead(mm: "MM", cpu: int) -> None:
    """Drain the dead CPU's pcps, fold its stats, recompute pcp high/batch.

    Models mm/page_alloc.c:page_alloc_cpu_dead, run on a surviving CPU
    (``mm.cpu``) after the dead one left the online and node masks; the
    event counters are machine-wide in the model, so vm_events_fold_cpu
    has nothing to do.
    """
    from .page_alloc import drain_pages
    from .watermarks import zone_pcp_update
    drain_pages(mm, cpu)
    cpu_vm_stats_fold(mm, cpu)
    for z in mm.zones:
        if z.present_pages:
            zone_pcp_update(mm, z, 0)


def page_alloc_cpu_online(mm: "MM", cpu: int) -> None:
    """Recompute pcp high/batch for a CPU coming up (page_alloc_cpu_online, cpu_online=1)."""
    from .watermarks import zone_pcp_update
    for z in mm.zones:
        if z.present_pages:
            zone_pcp_update(mm, z, 1)


def _node_states(mm: "MM"):
    from .memory_hotplug import node_states
    return node_states(mm)


def cpu_down(mm: "MM", cpu: int) -> int:
    """Take a CPU offline: 0, -EINVAL (no such CPU) or -EBUSY (the last one online).

    Models kernel/cpu.c:cpu_down as mm/ sees it: the CPU leaves
    cpu_online_mask and its node's mask, then page_alloc_cpu_dead and
    vmstat_cpu_dead run on a surviving CPU.
    """
    if not 0 <= cpu < mm.nr_cpu_ids:
        return -errno.EINVAL
    if not mm.cpu_online[cpu]:
        return 0
    if mm.num_online_cpus() == 1:
        return -errno.EBUSY
    sched = cpu_sched(mm)
    if sched.held[cpu]:
        return -errno.EBUSY            # a task still pinned to it (migrate/preempt disabled)
    with mm.lock:
        mm.cpu_online[cpu] = False
        node = mm.nodes[mm.cpu_to_node[cpu]]
        if cpu in node.cpus:
            node.cpus.remove(cpu)
        mm.cpu = mm.online_cpus()[0]
        page_alloc_cpu_dead(mm, cpu)
        # vmstat_cpu_dead
        from .watermarks import refresh_zone_stat_thresholds
        refresh_zone_stat_thresholds(mm)
        if not any(mm.cpu_online[c] and mm.cpu_to_node[c] == node.node_id
                   for c in range(mm.nr_cpu_ids)):
            _node_states(mm)[N_CPU].discard(node.node_id)
        mm.invalidate_alloc_caches()
    return 0


def cpu_up(mm: "MM", cpu: int) -> int:
    """Bring a CPU online: 0 (also when already online) or -EINVAL.

    page_alloc_cpu_online runs in the PREPARE stage (the CPU not yet in its
    node's mask, hence cpu_online=1), vmstat_cpu_online once it is online.
    """
    if not 0 <= cpu < mm.nr_cpu_ids:
        return -errno.EINVAL
    if mm.cpu_online[cpu]:
        return 0
    with mm.lock:
        page_alloc_cpu_online(mm, cpu)
        mm.cpu_online[cpu] = True
        node = mm.nodes[mm.cpu_to_node[cpu]]
        if cpu not in node.cpus:
            node.cpus.append(cpu)
            node.cpus.sort()
        from .watermarks import refresh_zone_stat_thresholds
        refresh_zone_stat_thresholds(mm)
        _node_states(mm)[N_CPU].add(node.node_id)
        mm.invalidate_alloc_caches()
    return 0


# --------------------------------------------------------------------------------------
# pcp lock holders, interrupts and tasks


def default_pcp_zone(mm: "MM", cpu: int, gfp: int = GFP_ATOMIC, order: int = 0) -> Zone:
    """The zone whose pcp an allocation on ``cpu`` tries first (ac->preferred_zoneref)."""
    from .page_alloc import prepare_alloc_pages
    ac, _ = prepare_alloc_pages(mm, gfp, order, mm.cpu_to_node[cpu], None)
    zone = ac.preferred_zone
    if zone is None:
        raise ValueError(f"no zone for gfp {gfp:#x} on cpu {cpu}")
    return zone


def _check_cpu(mm: "MM", cpu: int) -> None:
    if not 0 <= cpu < mm.nr_cpu_ids or not mm.cpu_online[cpu]:
        raise ValueError(f"cpu {cpu} is not online (online: {mm.online_cpus()})")


def pcp_spin_lock(mm: "MM", cpu: int, zone: Zone | None = None) -> Zone:
    """The task running on ``cpu`` enters a pcp critical section of ``zone``.

    Models pcp_trylock_prepare + pcp_spin_trylock succeeding: on UP
    without RT IRQs go off; the task is pinned (preempt_disable, or
    migrate_disable on PREEMPT_RT); the pcp is locked. Returns the zone.
    """
    _check_cpu(mm, cpu)
    sched = cpu_sched(mm)
    if zone is None:
        zone = default_pcp_zone(mm, cpu)
    pcp = zone.pcp[cpu]
    if pcp.locked:
        raise ValueError(f"the pcp of {zone} on cpu {cpu} is already locked")
    if not sched.smp and not mm.preempt_rt:
        sched.irqs_disabled[cpu] = True          # pcp_trylock_prepare: local_irq_save
    if mm.preempt_rt:
        sched.migrate_disable[cpu] += 1
    else:
        sched.preempt_count[cpu] += 1
    pcp.locked = True
    sched.held[cpu].append(zone)
    return zone


def pcp_spin_unlock(mm: "MM", cpu: int, zone: Zone | None = None) -> list[Work]:
    """Leave the critical section; run what was waiting. Returns the work that ran.

    Unlock, unpin (preempt_enable: a waiting task runs), pcp_trylock_finish
    (UP: IRQs back on, a pending interrupt is delivered first).
    """
    sched = cpu_sched(mm)
    held = sched.held[cpu]
    if not held:
        raise ValueError(f"no pcp lock is held on cpu {cpu}")
    if zone is None:
        zone = held[-1]
    held.remove(zone)
    zone.pcp[cpu].locked = False
    if mm.preempt_rt:
        sched.migrate_disable[cpu] -= 1
    else:
        sched.preempt_count[cpu] -= 1
    if not held:
        sched.irqs_disabled[cpu] = False
    ran: list[Work] = []
    while sched.pending_irqs[cpu] and not sched.irqs_disabled[cpu]:
        ran.append(_run(mm, sched.pending_irqs[cpu].popleft()))
    while sched.pending_tasks[cpu] and not sched.preempt_count[cpu]:
        ran.append(_run(mm, sched.pending_tasks[cpu].popleft()))
    return ran


def _run(mm: "MM", w: Work) -> Work:
    """Run one piece of work on its CPU now, and count its trylock fallback."""
    from .page_alloc import __alloc_pages, __free_pages
    sched = cpu_sched(mm)
    saved = (mm.cpu, mm.in_interrupt)
    mm.cpu = w.cpu
    # PREEMPT_RT forces threaded interrupt handlers: they run in task context.
    w.in_interrupt = mm.in_interrupt = w.context == "irq" and not mm.preempt_rt
    before = mm.pcp_trylock_failures
    bad = mm.nr_bad_pages
    try:
        if w.kind == "alloc":
            w.pfn = __alloc_pages(mm, w.gfp, w.order, mm.cpu_to_node[w.cpu], None)
        else:
            __free_pages(mm, w.pfn, w.order)
            w.ok = mm.nr_bad_pages == bad
    finally:
        mm.cpu, mm.in_interrupt = saved
    if mm.pcp_trylock_failures != before:
        w.fell_back = True
        sched.trylock_fallbacks[w.kind] += mm.pcp_trylock_failures - before
    w.done = True
    sched.history.append(w)
    return w


def raise_irq(mm: "MM", cpu: int, work: Work) -> Work:
    """An interrupt on ``cpu`` whose handler runs ``work`` (GFP_ATOMIC, typically).

    Runs at once unless IRQs are off on that CPU (UP with a pcp held);
    then it is delivered when they come back on.
    """
    _check_cpu(mm, cpu)
    sched = cpu_sched(mm)
    work.context, work.cpu = "irq", cpu
    if sched.irqs_disabled[cpu]:
        work.deferred = True
        sched.pending_irqs[cpu].append(work)
        return work
    return _run(mm, work)


def wake_task(mm: "MM", cpu: int, work: Work) -> Work:
    """Another (higher-priority) task on ``cpu`` wakes and runs ``work``.

    It preempts the current task unless preemption is disabled there (a
    pcp held on non-RT) or IRQs are off; then it runs when the holder
    unlocks.
    """
    _check_cpu(mm, cpu)
    sched = cpu_sched(mm)
    work.context, work.cpu = "task", cpu
    if sched.preempt_count[cpu] or sched.irqs_disabled[cpu]:
        work.deferred = True
        sched.pending_tasks[cpu].append(work)
        return work
    return _run(mm, work)


def alloc_from_irq(mm: "MM", cpu: int, gfp: int = GFP_ATOMIC, order: int = 0, *,
                   pcp_held: bool = True, zone: Zone | None = None) -> Work:
    """Allocate from an interrupt on ``cpu``, by default while a task there holds the pcp.

    The task holds the pcp lock of ``zone`` (default: the zone the
    allocation tries first), the interrupt allocates, the task unlocks.
    The returned Work says where the page came from (``fell_back``: the
    zone path after a failed trylock) and whether it had to wait.
    """
    w = Work("irq", cpu, "alloc", gfp=gfp, order=order)
    if not pcp_held:
        return raise_irq(mm, cpu, w)
    z = pcp_spin_lock(mm, cpu, zone if zone is not None else default_pcp_zone(mm, cpu, gfp, order))
    raise_irq(mm, cpu, w)
    pcp_spin_unlock(mm, cpu, z)
    return w


def run_script(mm: "MM", steps: Iterable[tuple], names: dict[str, Any] | None = None
               ) -> dict[str, Work]:
    """Run a scripted interleaving; returns the named work.

    Steps (cpu is a simulated CPU, zone None means default_pcp_zone):

    * ``("lock", cpu[, zone])`` / ``("unlock", cpu[, zone])``: the task on
      cpu takes / drops a pcp lock;
    * ``("irq", cpu, "alloc", gfp, order, name)`` and
      ``("task", cpu, "alloc", gfp, order, name)``: an allocation from an
      interrupt or from another task on cpu;
    * ``("irq" | "task", cpu, "free", page, order[, name])``: a free, where
      page is a pfn or the name of an earlier allocation.

    ``names`` may pre-bind names to pfns.
    """
    out: dict[str, Work] = {}
    pfns: dict[str, Any] = dict(names or {})
    for step in steps:
        op = step[0]
        if op == "lock":
            pcp_spin_lock(mm, step[1], step[2] if len(step) > 2 else None)
        elif op == "unlock":
            pcp_spin_unlock(mm, step[1], step[2] if len(step) > 2 else None)
        elif op in ("irq", "task"):
            cpu, kind = step[1], step[2]
            if kind == "alloc":
                w = Work(op, cpu, "alloc", gfp=step[3], order=step[4],
                         name=step[5] if len(step) > 5 else "")
            elif kind == "free":
                page = step[3]
                if isinstance(page, str):
                    src = out.get(page)
                    page = src.pfn if src is not None else pfns[page]
                w = Work(op, cpu, "free", order=step[4], pfn=page,
                         name=step[5] if len(step) > 5 else "")
            else:
                raise ValueError(f"unknown work {kind!r} in {step!r}")
            (raise_irq if op == "irq" else wake_task)(mm, cpu, w)
            if w.name:
                out[w.name] = w
        else:
            raise ValueError(f"unknown step {step!r}")
    return out
