"""The inlined fast path makes the same decisions as the general path."""
from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings, strategies as st

from pagealloc import Machine, gfp
from pagealloc.mm.mmzone import MAX_ORDER, MIGRATE_TYPES
from pagealloc.mm.page_alloc import (__alloc_pages as alloc_general, __free_pages as free_general,
                                     alloc_pages_fast, free_pages_fast)

GFPS = [gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE,
        gfp.GFP_ATOMIC, gfp.GFP_DMA32, gfp.GFP_NOWAIT | gfp.__GFP_NOWARN]


def _state(m):
    mm = m.mm
    lists = []
    for z in mm.zones:
        for o in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                lists.append(tuple(mm.mem.iter_list(z.list_base + o * MIGRATE_TYPES + mt)))
        for pcp in z.pcp:
            lists.append((pcp.count, pcp.free_factor, tuple(tuple(lst) for lst in pcp.lists)))
        lists.append((z.vm_free, tuple(z.vm_stat_diff), z.watermark_boost, tuple(z.numa_events)))
    return lists, bytes(mm.mem.a_pageblock), list(mm.events)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cpus=st.integers(1, 3))
def test_fast_and_general_paths_agree(seed, cpus):
    a = Machine.boot(mem="64M", cpus=cpus)
    b = Machine.boot(mem="64M", cpus=cpus)
    rng = random.Random(seed)
    live = []
    for _ in range(1500):
        cpu = rng.randrange(cpus)
        a.mm.cpu = b.mm.cpu = cpu
        if live and rng.random() < 0.45:
            pfn, order = live.pop(rng.randrange(len(live)))
            free_pages_fast(a.mm, pfn, order)
            free_general(b.mm, pfn, order)
        else:
            order = rng.choice([0, 0, 0, 1, 2, 3, 4, 9])
            g = rng.choice(GFPS) | gfp.__GFP_NOWARN
            pa = alloc_pages_fast(a.mm, g, order, 0)
            pb = alloc_general(b.mm, g, order, 0)
            assert pa == pb
            if pa >= 0:
                live.append((pa, order))
    assert _state(a) == _state(b)
    a.check()
    assert np.array_equal(a.mm.mem.a_flags, b.mm.mem.a_flags)
