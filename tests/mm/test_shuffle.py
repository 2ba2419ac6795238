"""Page allocator randomisation (mm/shuffle.c): boot shuffle and random tail placement."""
from __future__ import annotations

import copy

from pagealloc import Machine, gfp
from pagealloc.mm.mm_init import MachineSpec, NodeSpec
from pagealloc.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE
from pagealloc.mm.shuffle import SHUFFLE_ORDER, __shuffle_zone, shuffle_zone

START = 0x8000
BLOCKS = 64


def machine(seed: int, shuffle: bool = True, blocks: int = BLOCKS) -> Machine:
    spec = MachineSpec(nodes=[NodeSpec(0, [(START, START + blocks * 1024)], [0])],
                       shuffle=shuffle, seed=seed)
    if hasattr(spec, "boot_reservations"):
        spec.boot_reservations = False
    return Machine.from_spec(spec)


def order10(m: Machine, mt: int = MIGRATE_MOVABLE) -> list[int]:
    z = m.zone("DMA32")
    return list(m.mm.mem.iter_list(z.list_base + SHUFFLE_ORDER * MIGRATE_TYPES + mt))


def test_boot_shuffle_is_reproducible_per_seed():
    plain = order10(machine(1, shuffle=False))
    assert plain == [START + i * 1024 for i in range(BLOCKS)]    # boot frees in pfn order
    a, b, c = machine(1), machine(1), machine(2)
    la, lb, lc = order10(a), order10(b), order10(c)
    assert la == lb                          # same seed, same order
    assert la != lc                          # another seed, another order
    assert la != plain and lc != plain
    assert sorted(la) == plain and sorted(lc) == plain      # a permutation: nothing lost
    assert a.zone("DMA32").nr_free[SHUFFLE_ORDER] == BLOCKS
    a.check()
    c.check()


def test_shuffle_swaps_only_within_a_migratetype():
    m = machine(7, shuffle=False)
    # an unmovable order-10 allocation claims its pageblocks; freed, it sits alone on the
    # UNMOVABLE order-10 list
    pfn = m.alloc_pages(gfp.GFP_KERNEL, SHUFFLE_ORDER)
    m.free_pages(pfn, SHUFFLE_ORDER)
    assert order10(m, MIGRATE_UNMOVABLE) == [pfn]
    movable = order10(m)
    m.mm.shuffle = True
    swaps = shuffle_zone(m.mm, m.zone("DMA32"))
    assert swaps > 0
    assert order10(m, MIGRATE_UNMOVABLE) == [pfn]
    assert sorted(order10(m)) == sorted(movable) and order10(m) != movable
    m.check()


def test_shuffle_zone_is_a_noop_when_off_and_on_empty_zones():
    m = machine(3, shuffle=False)
    before = order10(m)
    assert shuffle_zone(m.mm, m.zone("DMA32")) == 0
    assert order10(m) == before
    assert __shuffle_zone(m.mm, m.zone("Normal")) == 0         # unpopulated


def _expected_bits(mm, n: int) -> list[bool]:
    # replay shuffle_pick_tail on a copy of the generator and its cached bits
    rng = copy.deepcopy(mm.rng)
    rand, bits = mm.shuffle_rand, mm.shuffle_rand_bits
    out = []
    for _ in range(n):
        if not bits:
            rand, bits = rng.getrandbits(64), 64
        out.append(bool(rand & 1))
        rand >>= 1
        bits -= 1
    return out


def test_freed_max_order_blocks_go_head_or_tail_on_a_random_bit():
    m = machine(11)
    mm = m.mm
    pfns = [m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, SHUFFLE_ORDER) for _ in range(40)]
    bits = _expected_bits(mm, 40)
    for pfn, to_tail in zip(pfns, bits):
        m.free_pages(pfn, SHUFFLE_ORDER)
        lst = order10(m)
        assert lst[-1 if to_tail else 0] == pfn
    assert 0 < sum(bits) < 40
    # reproducible: the same seed and the same operations give the same lists
    m2 = machine(11)
    for pfn in [m2.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, SHUFFLE_ORDER) for _ in range(40)]:
        m2.free_pages(pfn, SHUFFLE_ORDER)
    assert order10(m2) == order10(m)
    m.check()


def test_without_shuffle_freed_max_order_blocks_go_to_the_head():
    m = machine(11, shuffle=False)
    pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, SHUFFLE_ORDER)
    m.free_pages(pfn, SHUFFLE_ORDER)
    assert order10(m)[0] == pfn
