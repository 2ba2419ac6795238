"""CPUs: hotplug, pcp trylock from interrupts and tasks, PREEMPT_RT, UP, threads."""
from __future__ import annotations

import errno
import random
import threading

import pytest

from pagealloc import Machine, PageAllocError, gfp
from pagealloc.mm import cpus
from pagealloc.mm.pcp import zone_highsize
from pagealloc.mm.vmstat import calculate_normal_threshold


def _high(m, zone, node_cpus, cpu_online):
    return zone_highsize(zone, zone.pageset_batch, cpu_online,
                         high_fraction=m.mm.percpu_pagelist_high_fraction,
                         node_cpus=node_cpus, online_cpus=m.mm.num_online_cpus())


# --------------------------------------------------------------------------------------
# CPU hotplug


def test_cpu_down_drains_its_pcps_and_recomputes_high_and_thresholds():
    m = Machine.boot(mem="1G", cpus=4)
    mm = m.mm
    z = m.zone("DMA32")
    assert all(p.high == _high(m, z, 4, 0) for p in z.pcp)
    pages = [m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=3) for _ in range(100)]
    for p in pages:
        m.free_pages(p, 0, cpu=3)
    assert z.pcp[3].count > 0
    free = z.nr_free_pages_snapshot() + z.pcp[3].count
    assert m.cpu_down(3) == 0
    assert z.pcp[3].count == 0 and z.vm_stat_diff[3] == 0
    assert z.nr_free_pages_snapshot() == free                # drained to the buddy
    # zone_pcp_update(zone, 0) without the dead CPU in the node's mask
    assert all(p.high == _high(m, z, 3, 0) for p in z.pcp)
    assert z.pcp[0].high != _high(m, z, 4, 0)
    assert z.stat_threshold == calculate_normal_threshold(z.managed_pages, 3)
    assert mm.online_cpus() == [0, 1, 2] and mm.nodes[0].cpus == [0, 1, 2]
    with pytest.raises(PageAllocError):
        m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=3)
    m.check()
    # cpu_up: zone_pcp_update(zone, 1) while the CPU is not yet in the mask -> 4 CPUs
    assert m.cpu_up(3) == 0
    assert all(p.high == _high(m, z, 3, 1) == _high(m, z, 4, 0) for p in z.pcp)
    assert z.stat_threshold == calculate_normal_threshold(z.managed_pages, 4)
    assert m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=3) is not None
    m.check()


def test_cpu_hotplug_errors_and_n_cpu():
    spec_m = Machine.boot(mem="512M", cpus=2, nodes=2)
    assert spec_m.cpu_down(7) == -errno.EINVAL
    assert spec_m.cpu_up(1) == 0                              # already online
    assert spec_m.node_states()["has_cpu"] == [0, 1]
    assert spec_m.cpu_down(1) == 0
    assert spec_m.node_states()["has_cpu"] == [0]
    assert spec_m.cpu_down(1) == 0                            # already offline
    assert spec_m.cpu_down(0) == -errno.EBUSY                 # the last one
    assert spec_m.cpu_up(1) == 0
    assert spec_m.node_states()["has_cpu"] == [0, 1]


def test_cpu_down_moves_the_default_cpu():
    m = Machine.boot(mem="256M", cpus=2)
    m.default_cpu = 1
    assert m.cpu_down(1) == 0
    assert m.default_cpu == 0
    assert m.alloc_pages(gfp.GFP_KERNEL) is not None


def test_cpu_down_folds_the_dead_cpus_vmstat_diff():
    m = Machine.boot(mem="512M", cpus=2)
    z = m.zone("DMA32")
    z.vm_stat_diff[1] += 5          # as if cpu 1 had counted 5 pages not yet folded
    z.vm_free -= 5
    total = z.nr_free_pages_snapshot()
    assert m.cpu_down(1) == 0
    assert z.vm_stat_diff[1] == 0 and z.nr_free_pages_snapshot() == total
    m.check()


# --------------------------------------------------------------------------------------
# interrupts, PREEMPT_RT and UP


def _machine(rt: bool, ncpus: int = 2, smp: bool = True) -> Machine:
    m = Machine.boot(mem="512M", cpus=ncpus)
    m.kernel_config(preempt_rt=rt, smp=smp)
    return m


def test_irq_allocation_with_the_pcp_held_takes_the_zone_path():
    m = _machine(False)
    mm = m.mm
    z = cpus.default_pcp_zone(mm, 0)
    m.alloc_pages(gfp.GFP_ATOMIC, 0, cpu=0)      # fill cpu 0's pcp
    count = z.pcp[0].count
    failures = mm.pcp_trylock_failures
    p = m.alloc_from_irq(0)
    assert p is not None
    assert mm.pcp_trylock_failures == failures + 1
    assert m.trylock_fallbacks() == {"alloc": 1, "free": 0}
    assert z.pcp[0].count == count                   # rmqueue_buddy, not the pcp
    w = cpus.cpu_sched(mm).history[-1]
    assert w.context == "irq" and w.in_interrupt and w.fell_back and not w.deferred
    # without a holder the interrupt is served from the pcp
    q = m.alloc_from_irq(0, pcp_held=False)
    assert q is not None and m.trylock_fallbacks()["alloc"] == 1
    assert z.pcp[0].count == count - 1
    m.check()


def test_up_kernel_disables_irqs_so_the_interrupt_waits():
    m = _machine(False, ncpus=1, smp=False)
    mm = m.mm
    z = cpus.default_pcp_zone(mm, 0)
    m.alloc_pages(gfp.GFP_ATOMIC, 0)
    count = z.pcp[0].count
    assert m.alloc_from_irq(0) is not None
    w = cpus.cpu_sched(mm).history[-1]
    assert w.deferred and not w.fell_back
    assert m.trylock_fallbacks() == {"alloc": 0, "free": 0}
    assert z.pcp[0].count == count - 1               # delivered after the unlock: pcp hit
    with pytest.raises(PageAllocError):
        _machine(False, ncpus=2, smp=False)          # UP means one CPU


# the same scripted interleaving on every kernel: a task on cpu 0 holds its pcp
# lock; an interrupt allocates, another task on cpu 0 allocates and frees, a task on
# cpu 1 allocates; then the holder unlocks.
def _script(m: Machine, two_cpus: bool = True):
    mm = m.mm
    victim = m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=0)
    steps = [("lock", 0),
             ("irq", 0, "alloc", gfp.GFP_ATOMIC, 0, "irq_alloc"),
             ("task", 0, "alloc", gfp.GFP_KERNEL, 0, "task_alloc"),
             ("task", 0, "free", victim, 0, "task_free")]
    if two_cpus:
        steps.append(("task", 1, "alloc", gfp.GFP_KERNEL, 0, "other_cpu"))
    steps.append(("unlock", 0))
    out = cpus.run_script(mm, steps)
    m.check()
    return m.trylock_fallbacks(), out


def test_rt_and_non_rt_differ_in_trylock_fallbacks():
    non_rt, out = _script(_machine(False))
    assert non_rt == {"alloc": 1, "free": 0}
    assert not out["other_cpu"].fell_back               # another CPU's pcp is not contended
    # preemption is off while the pcp is held: the other task waited and used the pcp
    assert out["task_alloc"].deferred and not out["task_alloc"].fell_back
    assert out["task_free"].deferred and not out["task_free"].fell_back
    assert out["irq_alloc"].in_interrupt and out["irq_alloc"].fell_back

    rt, out = _script(_machine(True))
    assert rt == {"alloc": 2, "free": 1}
    # migrate_disable only: the other task preempted the holder and found the pcp locked
    assert out["task_alloc"].fell_back and out["task_free"].fell_back
    assert not out["irq_alloc"].in_interrupt          # threaded interrupt handler
    assert not out["other_cpu"].fell_back
    assert rt["alloc"] > non_rt["alloc"] and rt["free"] > non_rt["free"]

    up, out = _script(_machine(False, 1, smp=False), two_cpus=False)
    assert up == {"alloc": 0, "free": 0}
    assert all(w.deferred for w in out.values())
    up_rt, _ = _script(_machine(True, 1, smp=False), two_cpus=False)
    assert up_rt == {"alloc": 2, "free": 1}           # RT keeps its rules on one CPU


def test_freed_page_from_an_interrupt_goes_to_the_buddy_while_the_pcp_is_held():
    m = _machine(False)
    mm = m.mm
    p = m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=0)
    out = cpus.run_script(mm, [("lock", 0), ("irq", 0, "free", p, 0, "f"), ("unlock", 0)])
    assert out["f"].fell_back and out["f"].ok
    assert m.page_state(p) in ("buddy", "inside another block (a tail page)")
    assert m.trylock_fallbacks() == {"alloc": 0, "free": 1}
    m.check()


def test_cpu_with_a_held_pcp_cannot_go_down():
    m = _machine(False)
    cpus.pcp_spin_lock(m.mm, 1)
    assert m.cpu_down(1) == -errno.EBUSY
    cpus.pcp_spin_unlock(m.mm, 1)
    assert m.cpu_down(1) == 0


# --------------------------------------------------------------------------------------
# Python threads


def test_concurrent_alloc_free_from_threads_bound_to_cpus():
    m = Machine.boot(mem="512M", cpus=4)
    ts = m.threadsafe()
    managed = sum(z.managed_pages for z in m.zones)
    free_before = sum(z.nr_free_pages_snapshot() for z in m.zones)
    errors: list[BaseException] = []
    leftovers: list[list[tuple[int, int]]] = [[] for _ in range(4)]

    def worker(cpu: int) -> None:
        try:
            h = ts.on_cpu(cpu)
            rng = random.Random(cpu)
            live: list[tuple[int, int]] = []
            for i in range(1500):
                if live and rng.random() < 0.5:
                    p, o = live.pop(rng.randrange(len(live)))
                    assert h.free_pages(p, o)
                else:
                    o = rng.choice([0, 0, 0, 1, 2, 3, 9])
                    g = rng.choice([gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC])
                    p = h.alloc_pages(g | gfp.__GFP_NOWARN, o)
                    if p is not None:
                        live.append((p, o))
                if i % 500 == 0:
                    ts.drain_all_pages()
            leftovers[cpu] = live
        except BaseException as e:          # noqa: BLE001 - surfaced below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ts.check()
    # every live block is a distinct allocated block
    blocks = [b for lst in leftovers for b in lst]
    assert len({p for p, _ in blocks}) == len(blocks)
    assert all(m.page_state(p) == "allocated" for p, _ in blocks)
    for cpu, lst in enumerate(leftovers):
        for p, o in lst:
            assert ts.on_cpu(cpu).free_pages(p, o)
    ts.drain_all_pages()
    m.check()
    assert sum(z.nr_free_pages_snapshot() for z in m.zones) == free_before
    assert sum(z.managed_pages for z in m.zones) == managed
