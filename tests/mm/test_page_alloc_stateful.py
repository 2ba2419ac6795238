"""Random alloc/free/drain sequences against a simple reference model, on several machine shapes.

The reference model is a set of allocated (pfn, order) blocks with a page bitmap. After
every step it must agree with the allocator: blocks aligned and disjoint, inside a zone
the request may use (gfp_zone, the zonelist of the CPU's node, __GFP_THISNODE, the
nodemask) and that zone was above the most lenient watermark the request could have
passed (its min, reduced as section 6.6 allows, plus lowmem_reserve[gfp_zone]); free +
pcp + allocated pages equal what the zone had after boot; no two free buddies below
pageblock order are left unmerged; and Machine.check() holds. Freeing everything and
draining gives every zone back its NR_FREE_PAGES after boot.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pagealloc import Machine, MachineSpec, NodeSpec, gfp
from pagealloc.mm.gfp import gfp_zone
from pagealloc.mm.memmap import PG_buddy, PG_head
from pagealloc.mm.mm_init import boot
from pagealloc.mm.mmzone import MIGRATE_TYPES, pageblock_order

from _pa_helpers import fold_vmstat, nr_free_snapshot

NOWARN = gfp.__GFP_NOWARN
THISNODE = gfp.__GFP_THISNODE
GFPS = [
    gfp.GFP_KERNEL | NOWARN,
    gfp.GFP_ATOMIC | NOWARN,
    gfp.GFP_ATOMIC,                                  # warn_alloc on failure
    gfp.GFP_NOWAIT | NOWARN,
    gfp.GFP_DMA32,
    gfp.GFP_KERNEL | gfp.GFP_DMA32 | NOWARN,
    gfp.GFP_KERNEL | gfp.GFP_DMA | NOWARN,
    gfp.GFP_HIGHUSER_MOVABLE | NOWARN,
    gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE | NOWARN,
    gfp.GFP_TRANSHUGE_LIGHT,
]
ORDERS = st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9, 10])


def lenient_min(zone, g: int) -> int:
    """The lowest order-0 mark any path of this request can use in this zone: the unboosted
    min, minus 1/2 for __GFP_HIGH and a further 1/4 when also non-blocking (6.1.y-late)."""
    m = zone._watermark[0]
    if g & gfp.__GFP_HIGH:
        m -= m // 2
        if not g & gfp.__GFP_DIRECT_RECLAIM and not g & gfp.__GFP_NOMEMALLOC:
            m -= m // 4
    return m


def ignores_nodemask(g: int) -> bool:
    """The slowpath drops the nodemask when ALLOC_CPUSET is off: a non-blocking __GFP_HIGH
    request (reference 7.6 step 11)."""
    return bool(g & gfp.__GFP_HIGH) and not g & gfp.__GFP_DIRECT_RECLAIM


class AllocatorModel(RuleBasedStateMachine):
    """Drives one machine; subclasses say which (``make``)."""

    @staticmethod
    def make() -> Machine:  # pragma: no cover - overridden
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.m = self.make()
        mm = self.m.mm
        self.mm = mm
        self.ncpus = mm.nr_cpu_ids
        self.zones = [z for z in mm.zones if z.present_pages]
        self.baseline = {z.gid: z.managed_pages for z in self.zones}
        for z in self.zones:
            assert nr_free_snapshot(z) + sum(p.count for p in z.pcp) == z.managed_pages, \
                f"{z}: boot left managed pages neither free nor on a pcp"
        self.boot_free = {z.gid: nr_free_snapshot(z) for z in self.zones}
        self.live: dict[int, tuple[int, int]] = {}       # pfn -> (order, zone gid)
        self.in_zone = {z.gid: 0 for z in self.zones}    # allocated pages per zone
        self.owned = np.zeros(mm.mem.npfn, dtype=bool)
        self.freed: list[tuple[int, int]] = []
        self.bad = mm.nr_bad_pages
        self.sound = True        # False once a step failed: teardown then checks nothing

    # ----------------------------------------------------------------------- helpers --
    def zone_at(self, pfn: int):
        zs = [z for z in self.zones if z.zone_start_pfn <= pfn < z.zone_end_pfn]
        assert len(zs) == 1, f"pfn {pfn:#x} in zones {zs}"
        return zs[0]

    def allowed_zones(self, g: int, nid: int, nodemask):
        node = self.mm.nodes[nid]
        hz = gfp_zone(g)
        zl = node.zonelist_nofallback if g & THISNODE else node.zonelist_fallback
        out = [z for z in zl if z.idx <= hz]
        if nodemask is not None and not ignores_nodemask(g):
            out = [z for z in out if z.nid in nodemask]
        return out

    def record_alloc(self, g: int, order: int, cpu: int, nodemask=None, nid=None) -> None:
        self.sound = False
        before = {z.gid: max(z.vm_free, 0) for z in self.zones}
        if nid is None and nodemask is None:
            pfn = self.m.alloc_pages(g, order, cpu=cpu)
        else:
            pfn = self.m.alloc_pages(g, order, cpu=cpu, nid=nid, nodemask=nodemask)
        if pfn is None:
            self.sound = True
            return
        n = 1 << order
        assert pfn % n == 0, f"order-{order} block at unaligned pfn {pfn:#x}"
        z = self.zone_at(pfn)
        assert z is self.zone_at(pfn + n - 1), f"block {pfn:#x} order {order} crosses zones"
        pref = self.mm.cpu_to_node[cpu] if nid is None else nid
        allowed = self.allowed_zones(g, pref, nodemask)
        assert z in allowed, (f"{g:#x} order {order} on cpu {cpu} for node {pref} got "
                              f"{pfn:#x} in {z}, allowed {allowed}")
        assert z.idx <= gfp_zone(g)
        hz = gfp_zone(g)
        assert before[z.gid] - (n - 1) > lenient_min(z, g) + z.lowmem_reserve[hz], (
            f"{z} served {g:#x} order {order} with {before[z.gid]} free pages: at or "
            f"below min {lenient_min(z, g)} + lowmem_reserve {z.lowmem_reserve[hz]}")
        assert not self.owned[pfn:pfn + n].any(), f"{pfn:#x} order {order} overlaps a block"
        mem = self.mm.mem
        assert mem.flags[pfn] & PG_head and mem.order[pfn] == order
        self.owned[pfn:pfn + n] = True
        self.live[pfn] = (order, z.gid)
        self.in_zone[z.gid] += n
        self.sound = True

    def release(self, pfn: int, cpu: int) -> None:
        self.sound = False
        order, gid = self.live.pop(pfn)
        assert self.m.free_pages(pfn, order, cpu=cpu)
        n = 1 << order
        self.owned[pfn:pfn + n] = False
        self.in_zone[gid] -= n
        self.freed.append((pfn, order))
        del self.freed[:-32]
        self.sound = True

    # ------------------------------------------------------------------------- rules --
    @rule(cpu=st.integers(0, 3), order=ORDERS, g=st.sampled_from(GFPS))
    def alloc(self, cpu, order, g):
        self.record_alloc(g, order, cpu % self.ncpus)

    @rule(cpu=st.integers(0, 3), order=st.sampled_from([0, 2, 9, 10]), g=st.sampled_from(GFPS),
          count=st.integers(1, 48))
    def fill(self, cpu, order, g, count):
        """Allocate until the request fails: drives zones to their watermarks and the
        zonelist walk into the lower zones."""
        for _ in range(count):
            n = len(self.live)
            self.record_alloc(g, order, cpu % self.ncpus)
            if len(self.live) == n:
                break

    @rule(cpu=st.integers(0, 3), order=ORDERS, g=st.sampled_from(GFPS))
    def alloc_thisnode(self, cpu, order, g):
        cpu %= self.ncpus
        node = self.mm.nodes[self.mm.cpu_to_node[cpu]]
        before = len(self.live)
        self.record_alloc(g | THISNODE, order, cpu)
        if not node.has_memory():
            assert len(self.live) == before, "__GFP_THISNODE served from a memoryless node"

    @precondition(lambda self: len(self.mm.nodes) > 1)
    @rule(cpu=st.integers(0, 3), order=ORDERS, g=st.sampled_from(GFPS), nid=st.integers(0, 1))
    def alloc_node(self, cpu, order, g, nid):
        """alloc_pages_node(): the preferred node need not be the CPU's (nor have memory)."""
        self.record_alloc(g, order, cpu % self.ncpus, nid=nid)

    @precondition(lambda self: sum(n.has_memory() for n in self.mm.nodes) > 1)
    @rule(cpu=st.integers(0, 3), order=ORDERS, g=st.sampled_from(GFPS), data=st.data())
    def alloc_nodemask(self, cpu, order, g, data):
        nids = [n.node_id for n in self.mm.nodes if n.has_memory()]
        mask = frozenset(data.draw(st.lists(st.sampled_from(nids), min_size=1, unique=True)))
        self.record_alloc(g, order, cpu % self.ncpus, nodemask=mask)

    @precondition(lambda self: self.live)
    @rule(cpu=st.integers(0, 3), data=st.data())
    def free(self, cpu, data):
        pfn = data.draw(st.sampled_from(sorted(self.live)))
        self.release(pfn, cpu % self.ncpus)

    @precondition(lambda self: any(p not in self.live for p, _ in self.freed))
    @rule(cpu=st.integers(0, 3), data=st.data())
    def double_free(self, cpu, data):
        """Freeing what is not an allocated block head is a bad page: reported, no change."""
        pfn, order = data.draw(st.sampled_from([b for b in self.freed if b[0] not in self.live]))
        before = [(nr_free_snapshot(z), [p.count for p in z.pcp]) for z in self.zones]
        assert self.m.free_pages(pfn, order, cpu=cpu % self.ncpus) is False
        self.bad += 1
        assert self.mm.nr_bad_pages == self.bad
        assert [(nr_free_snapshot(z), [p.count for p in z.pcp]) for z in self.zones] == before

    @rule()
    def drain(self):
        self.m.drain_all_pages()
        assert all(p.count == 0 for z in self.zones for p in z.pcp)

    @rule(go=st.integers(0, 7), cpu=st.integers(0, 3))
    def free_everything(self, go, cpu):
        if go == 0:
            self.release_all(cpu % self.ncpus)

    def release_all(self, cpu: int) -> None:
        for pfn in sorted(self.live):
            self.release(pfn, cpu)
        self.sound = False
        self.m.drain_all_pages()
        for z in self.zones:
            assert nr_free_snapshot(z) == self.boot_free[z.gid], (
                f"{z}: NR_FREE_PAGES {nr_free_snapshot(z)} after freeing everything, "
                f"{self.boot_free[z.gid]} after boot")
            assert sum(z.nr_free[o] << o for o in range(11)) == self.boot_free[z.gid]
        fold_vmstat(self.m)
        assert [z.nr_free_pages() for z in self.zones] == \
            [self.boot_free[z.gid] for z in self.zones]
        assert not self.owned.any()
        self.sound = True

    # -------------------------------------------------------------------- invariants --
    @invariant()
    def consistent(self):
        self.sound = False
        self.m.check()
        for z in self.zones:
            held = nr_free_snapshot(z) + sum(p.count for p in z.pcp) + self.in_zone[z.gid]
            assert held == self.baseline[z.gid], (
                f"{z}: free {nr_free_snapshot(z)} + pcp {sum(p.count for p in z.pcp)} + "
                f"allocated {self.in_zone[z.gid]} != {self.baseline[z.gid]} after boot")
        assert self.mm.nr_bad_pages == self.bad
        self.sound = True

    @invariant()
    def merged_below_pageblock_order(self):
        mem = self.mm.mem
        nxt = mem.next
        for z in self.zones:
            for order in range(pageblock_order):
                for mt in range(MIGRATE_TYPES):
                    head = z.list_base + order * MIGRATE_TYPES + mt
                    p = nxt[head]
                    while p != head:
                        b = p ^ (1 << order)
                        assert not (z.spans(b) and mem.flags[b] & PG_buddy
                                    and mem.order[b] == order), (
                            f"{z}: free buddies {p:#x} and {b:#x} of order {order} unmerged")
                        p = nxt[p]

    def teardown(self):
        if getattr(self, "sound", False):
            self.release_all(0)
            self.m.check()


# --------------------------------------------------------------------------- shapes --

def _spec_machine(nodes: list[NodeSpec], cpus: int) -> Machine:
    spec = MachineSpec(nodes=nodes, nr_cpus=cpus)
    return Machine(boot(spec), spec)


class OneNodeSmall(AllocatorModel):
    """256M, 2 CPUs: DMA + DMA32."""
    make = staticmethod(lambda: Machine.boot(mem="256M", cpus=2))


class TwoNodes(AllocatorModel):
    """512M over 2 nodes, one CPU each: node 0 DMA + DMA32, node 1 DMA32."""
    make = staticmethod(lambda: Machine.boot(mem="512M", nodes=2, cpus=2))


class DmaOnly(AllocatorModel):
    """16M: a single DMA zone, 2 CPUs."""
    make = staticmethod(lambda: Machine.boot(mem="16M", cpus=2))


class MemorylessNode(AllocatorModel):
    """Node 0: 128M (DMA + DMA32) and CPU 0; node 1: CPU 1 and no memory."""
    make = staticmethod(lambda: _spec_machine(
        [NodeSpec(0, [(1, 0x9F), (0x100, 0x8000)], [0]), NodeSpec(1, [], [1])], 2))


class WithNormal(AllocatorModel):
    """One node with DMA, a small DMA32 and a small Normal (so ALLOC_NOFRAGMENT is on)."""
    make = staticmethod(lambda: _spec_machine(
        [NodeSpec(0, [(1, 0x9F), (0x100, 0x8000), (0x100000, 0x108000)], [0, 1])], 2))


_SETTINGS = dict(deadline=None, stateful_step_count=30,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TestOneNodeSmall = OneNodeSmall.TestCase
TestOneNodeSmall.settings = settings(max_examples=20, **_SETTINGS)
TestTwoNodes = TwoNodes.TestCase
TestTwoNodes.settings = settings(max_examples=15, **_SETTINGS)
TestDmaOnly = DmaOnly.TestCase
TestDmaOnly.settings = settings(max_examples=25, **_SETTINGS)
TestMemorylessNode = MemorylessNode.TestCase
TestMemorylessNode.settings = settings(max_examples=20, **_SETTINGS)
TestWithNormal = WithNormal.TestCase
TestWithNormal.settings = settings(max_examples=8, **_SETTINGS)
