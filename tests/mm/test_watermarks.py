"""The arithmetic of reference sections 5.2 and 6 at edge sizes, against hand-derived values.

Each machine is built directly from managed counts (no boot), so the numbers
below follow from the formulas alone. Literal expectations carry their
derivation; ``_ref`` re-states the formulas of the reference (not the model's
code) for the sweeps.
"""
from __future__ import annotations

import math

import pytest

from pagealloc.mm.core import MM
from pagealloc.mm.mm_init import build_all_zonelists
from pagealloc.mm.mmzone import PgData, Zone
from pagealloc.mm.watermarks import (calculate_min_free_kbytes, init_per_zone_wmark_min,
                                     mult_frac, nr_free_buffer_pages, set_recommended_min_free_kbytes,
                                     setup_per_zone_lowmem_reserve, setup_per_zone_wmarks,
                                     setup_zone_pageset, start_stop_khugepaged)

NAMES = ("DMA", "DMA32", "Normal", "Movable", "Device")


def make_mm(nodes: dict[int, dict[str, int]], cpus: list[int], profile: str = "x86_64",
            thp: str = "always") -> MM:
    """An MM whose zones manage the given pages; ``cpus`` is the node of each CPU."""
    mm = MM(profile=profile)
    mm.thp = thp
    mm.khugepaged_running = False        # as at postcore: khugepaged starts later (hugepage_init)
    mm.nr_cpu_ids = len(cpus)
    mm.cpu_online = [True] * len(cpus)
    mm.cpu_to_node = list(cpus)
    nn = max(list(nodes) + cpus) + 1
    for nid in range(nn):
        node = PgData(nid)
        mm.nodes.append(node)
        node.cpus = [c for c, n in enumerate(cpus) if n == nid]
        node.online = nid in nodes or bool(node.cpus)
        for idx, zt in enumerate(mm.zone_types):
            z = Zone(node, idx, zt)
            z.lowmem_reserve = [0] * mm.MAX_NR_ZONES
            z.vm_stat_diff = [0] * len(cpus)
            managed = nodes.get(nid, {}).get(z.name, 0)
            z.managed_pages = z.present_pages = z.spanned_pages = managed
            node.node_zones.append(z)
            mm.zones.append(z)
        node.node_present_pages = sum(z.present_pages for z in node.node_zones)
    build_all_zonelists(mm)
    for z in mm.zones:
        if z.present_pages:
            setup_zone_pageset(mm, z)
    return mm


def zone(mm: MM, name: str, nid: int = 0) -> Zone:
    return next(z for z in mm.nodes[nid].node_zones if z.name == name)


def wm(z: Zone) -> tuple[int, int, int]:
    return z.min_wmark_pages(), z.low_wmark_pages(), z.high_wmark_pages()


# --- the formulas, as the reference states them (sections 5.2, 6.1, 6.2, 6.4, 11.2) -------------

def _ref_sqrt(lowmem_pages: int) -> int:
    return max(128, min(math.isqrt(lowmem_pages * 4 * 16), 262144))


def _ref_wmarks(min_free_kbytes: int, managed: list[int], factor: int = 10) -> list[tuple[int, int, int]]:
    pages_min = min_free_kbytes // 4
    total = sum(managed)
    out = []
    for m in managed:
        tmp = pages_min * m // total
        gap = max(tmp // 4, m * factor // 10000)
        out.append((tmp, tmp + gap, tmp + 2 * gap))
    return out


def _ref_batch(managed: int) -> int:
    b = min(managed // 1024, 256) // 4
    b = max(b, 1)
    b = 2 ** int(math.log2(b + b // 2)) - 1
    return max(1, b)


def _ref_threshold(managed: int, cpus: int) -> int:
    fls = lambda x: x.bit_length()  # noqa: E731
    return min(125, 2 * fls(cpus) * (1 + fls(managed >> 15)))


# --- 16 MiB: one DMA zone ---------------------------------------------------------------------

def test_16mib_single_dma_zone():
    mm = make_mm({0: {"DMA": 3800}}, [0], thp="never")
    init_per_zone_wmark_min(mm)
    # lowmem_kbytes = 3800*4 = 15200; int_sqrt(15200*16 = 243200) = 493 (493^2 = 243049)
    assert mm.min_free_kbytes == 493
    dma = zone(mm, "DMA")
    # pages_min = 493 >> 2 = 123, all of it to DMA; gap = max(123 >> 2 = 30, 3800*10/10000 = 3) = 30
    assert wm(dma) == (123, 153, 183)
    assert dma._watermark[3] == 213                        # promo = high + gap
    # batch: 3800 >> 10 = 3, /4 = 0 -> 1, rounddown_pow_of_two(1) - 1 = 0 -> max(1, 0) = 1
    # high: low 153 / 1 CPU = 153 >= 4 * batch
    assert (dma.pcp[0].batch, dma.pcp[0].high) == (1, 153)
    # threshold: 2 * fls(1) * (1 + fls(3800 >> 15 = 0)) = 2
    assert dma.stat_threshold == 2
    # a lone zone has nothing above it to protect against: protection stays 0, and the
    # reserve is its high watermark
    assert dma.lowmem_reserve == [0, 0, 0, 0, 0]
    assert mm.totalreserve_pages == 183


def test_min_free_kbytes_floor_at_tiny_sizes():
    # 1000 pages: int_sqrt(1000*4*16 = 64000) = 252; 100 pages: int_sqrt(6400) = 80 -> floor 128
    assert _ref_sqrt(100) == 128
    mm = make_mm({0: {"DMA": 100}}, [0], thp="never")
    calculate_min_free_kbytes(mm)
    assert mm.min_free_kbytes == 128
    mm = make_mm({0: {"DMA": 1000}}, [0], thp="never")
    calculate_min_free_kbytes(mm)
    assert mm.min_free_kbytes == 252


# --- 1 GiB: DMA + DMA32, 2 CPUs (the oracle's m1g-smp2 after boot) --------------------------------

def test_1gib_two_zones_two_cpus():
    mm = make_mm({0: {"DMA": 3840, "DMA32": 241528}}, [0, 0])
    init_per_zone_wmark_min(mm)
    # sqrt rule: 245368 pages * 64 = 15703552, int_sqrt = 3962 (3962^2 = 15697444)
    assert mm.min_free_kbytes == 3962
    start_stop_khugepaged(mm)
    # khugepaged: 2 zones * 512 * (2 + 9) = 11264 pages; the 5% cap, with the watermarks of
    # 3962 kB (DMA high 21, DMA32 high 1460), is (3819 + 240068) / 20 = 12194 -> not capped
    assert mm.min_free_kbytes == 11264 * 4 == 45056
    dma, dma32 = zone(mm, "DMA"), zone(mm, "DMA32")
    # pages_min 11264: DMA 11264*3840/245368 = 176.3 -> 176, gap max(44, 3) = 44
    assert wm(dma) == (176, 220, 264)
    # DMA32 11264*241528/245368 = 11087.7 -> 11087, gap max(2771, 241) = 2771
    assert wm(dma32) == (11087, 13858, 16629)
    # protection of DMA: DMA32's 241528 / 256 = 943 in every column above it
    setup_per_zone_lowmem_reserve(mm)
    assert dma.lowmem_reserve == [0, 943, 943, 943, 943]
    assert dma32.lowmem_reserve == [0, 0, 0, 0, 0]
    # totalreserve = (943 + 264) + (0 + 16629)
    assert mm.totalreserve_pages == 1207 + 16629
    # pcp: DMA batch 1, high 220 / 2 CPUs = 110; DMA32 batch 241528 >> 10 = 235 -> /4 = 58
    # -> rounddown_pow_of_two(58 + 29 = 87) - 1 = 63, high 13858 / 2 = 6929
    assert [(p.batch, p.high) for p in dma.pcp] == [(1, 110)] * 2
    assert [(p.batch, p.high) for p in dma32.pcp] == [(63, 6929)] * 2
    # thresholds: fls(2) = 2; DMA 2*2*(1+0) = 4; DMA32 mem 7, fls 3 -> 2*2*4 = 16
    assert (dma.stat_threshold, dma32.stat_threshold) == (4, 16)
    # drift mark: set by refresh_zone_stat_thresholds at init_per_zone_wmark_min, with the
    # sqrt-rule watermarks (DMA 15/18/21): 2 CPUs * 4 = 8 > 18 - 15 -> 21 + 8 = 29; khugepaged's
    # setup_per_zone_wmarks does not refresh it. DMA32: 2 * 16 = 32 < 1217 - 974: none.
    assert dma.percpu_drift_mark == 29 and dma32.percpu_drift_mark == 0


def test_5_percent_cap_on_the_thp_raise():
    # 100000 pages in DMA32 alone: recommended 1 zone * 512 * 11 = 5632 pages, but the cap
    # is (100000 - high) / 20 with high from the sqrt rule: sqrt(100000*64) = 2529 kB, pages_min
    # 632, gap max(158, 100) = 158, high 948 -> (100000 - 948) / 20 = 4952 pages = 19808 kB
    mm = make_mm({0: {"DMA32": 100000}}, [0])
    init_per_zone_wmark_min(mm)
    assert mm.min_free_kbytes == 2529
    start_stop_khugepaged(mm)
    assert mm.min_free_kbytes == 4952 * 4 == 19808


# --- 4 GiB: DMA, DMA32, Normal ---------------------------------------------------------------

def test_4gib_three_zones():
    managed = {"DMA": 3840, "DMA32": 492457, "Normal": 515000}
    mm = make_mm({0: managed}, [0])
    init_per_zone_wmark_min(mm)
    total = sum(managed.values())                    # 1011297
    assert mm.min_free_kbytes == _ref_sqrt(total) == 8045   # 8045^2 = 64722025 <= 64723008
    start_stop_khugepaged(mm)
    assert mm.min_free_kbytes == 3 * 512 * 11 * 4 == 67584
    ref = _ref_wmarks(67584, list(managed.values()))
    assert [wm(zone(mm, n)) for n in managed] == ref
    # literal anchors: DMA 16896*3840/1011297 = 64.2 -> 64, gap 16; Normal 16896*515000/1011297
    # = 8604.2 -> 8604, gap max(2151, 515) = 2151
    assert ref[0] == (64, 80, 96) and ref[2] == (8604, 10755, 12906)
    dma, dma32 = zone(mm, "DMA"), zone(mm, "DMA32")
    # DMA protects (DMA32)/256, (DMA32+Normal)/256; DMA32 protects Normal/256
    assert dma.lowmem_reserve == [0, 492457 // 256, 1007457 // 256, 1007457 // 256, 1007457 // 256]
    assert dma32.lowmem_reserve == [0, 0, 515000 // 256, 515000 // 256, 515000 // 256]
    assert zone(mm, "Normal").lowmem_reserve == [0, 0, 0, 0, 0]
    # Normal: 32 * ... ratio 32 but nothing above Normal manages pages -> 0
    for n in managed:
        z = zone(mm, n)
        assert z.pcp[0].batch == _ref_batch(z.managed_pages)
        assert z.stat_threshold == _ref_threshold(z.managed_pages, 1)


# --- 64 GiB, 4 CPUs ------------------------------------------------------------------------------

def test_64gib_four_cpus():
    managed = {"DMA": 3840, "DMA32": 492457, "Normal": 15965198}
    mm = make_mm({0: managed}, [0, 0, 0, 0])
    init_per_zone_wmark_min(mm)
    # sqrt: 16461495 pages * 64 = 1053535680, int_sqrt = 32458
    assert mm.min_free_kbytes == 32458
    start_stop_khugepaged(mm)
    assert mm.min_free_kbytes == 67584              # the THP raise still wins at 64 GiB
    normal = zone(mm, "Normal")
    # pages_min 16896 * 15965198 / 16461495 = 16386.6 -> 16386; gap = max(4096, 15965) = 15965:
    # from here on watermark_scale_factor sets the gap
    assert wm(normal) == (16386, 32351, 48316)
    # batch capped at 1 MiB: 256/4 = 64 -> rounddown(96) - 1 = 63; high = low / 4 CPUs
    assert (normal.pcp[0].batch, normal.pcp[0].high) == (63, 32351 // 4)
    # threshold: fls(4) = 3, mem = 15965198 >> 15 = 487, fls 9 -> 2*3*10 = 60
    assert normal.stat_threshold == 60


# --- 4 TiB ------------------------------------------------------------------------------------

@pytest.mark.parametrize("normal, expect", [
    (1_070_000_000, 261747),   # int_sqrt(1070496297 * 64 = 68511763008) = 261747
    (1_100_000_000, 262144),   # above the 262144 kB cap
])
def test_4tib_min_free_kbytes_cap(normal, expect):
    managed = {"DMA": 3840, "DMA32": 492457, "Normal": normal}
    mm = make_mm({0: managed}, [0] * 8)
    init_per_zone_wmark_min(mm)
    assert mm.min_free_kbytes == _ref_sqrt(sum(managed.values())) == expect
    start_stop_khugepaged(mm)                        # 67584 < expect: no raise
    assert mm.min_free_kbytes == expect
    z = zone(mm, "Normal")
    assert z.stat_threshold == 125                   # 2 * fls(8) * (1 + fls(huge)) capped
    assert wm(z) == _ref_wmarks(expect, list(managed.values()))[2]


# --- NUMA: a memoryless node, a CPU-less node, a node with only DMA32 ------------------------------

def test_memoryless_and_cpuless_nodes():
    # node 0: DMA + DMA32 with CPUs 0,1; node 1: no memory, CPUs 2,3; node 2: Normal, no CPUs
    nodes = {0: {"DMA": 3840, "DMA32": 241528}, 2: {"Normal": 500000}}
    mm = make_mm(nodes, [0, 0, 1, 1])
    init_per_zone_wmark_min(mm)
    # the memoryless node's zonelist is the memory nodes' zones: CPU 2 sees the same sum
    mm.cpu = 2
    a = nr_free_buffer_pages(mm)
    mm.cpu = 0
    assert a == nr_free_buffer_pages(mm)
    assert mm.nodes[1].fallback_order[0] == 1 and not mm.nodes[1].zonelist_nofallback
    start_stop_khugepaged(mm)
    assert mm.min_free_kbytes == 3 * 512 * 11 * 4    # three populated zones up to Normal
    # pcp high: node 0's zones split over its 2 CPUs; node 2 has none: all 4 online CPUs
    dma32, normal = zone(mm, "DMA32", 0), zone(mm, "Normal", 2)
    assert dma32.pcp[0].high == max(dma32.low_wmark_pages() // 2, 4 * 63)
    assert normal.pcp[0].high == max(normal.low_wmark_pages() // 4, 4 * 63)
    # the memoryless node's zones are all empty and zero
    assert all(z.managed_pages == 0 and z._watermark == [0, 0, 0, 0] for z in mm.nodes[1].node_zones)
    # protection is per node: node 0's DMA does not see node 2's Normal
    assert zone(mm, "DMA", 0).lowmem_reserve == [0, 241528 // 256] + [241528 // 256] * 3


def test_node_with_only_dma32():
    # node 0: DMA + the low part of DMA32; node 1: only DMA32 (a 2 GiB two-node machine)
    nodes = {0: {"DMA": 3840, "DMA32": 242524}, 1: {"DMA32": 257454}}
    mm = make_mm(nodes, [0, 1])
    init_per_zone_wmark_min(mm)
    start_stop_khugepaged(mm)
    # populated zones up to Normal over all nodes: DMA, DMA32, DMA32 -> 3 * 5632 pages
    assert mm.min_free_kbytes == 67584
    d1 = zone(mm, "DMA32", 1)
    # node 1's DMA manages nothing: cleared; its DMA32 has nothing above it
    assert zone(mm, "DMA", 1).lowmem_reserve == [0] * 5
    assert d1.lowmem_reserve == [0] * 5
    # watermarks share pages_min over all lowmem of all nodes
    ref = _ref_wmarks(67584, [3840, 242524, 257454])
    assert [wm(zone(mm, "DMA", 0)), wm(zone(mm, "DMA32", 0)), wm(d1)] == ref
    assert d1.pcp[0].high == ref[2][1]               # one CPU on node 1


# --- sysctl-driven paths -----------------------------------------------------------------------

def test_watermark_scale_factor_and_boost_reset():
    mm = make_mm({0: {"DMA32": 241528}}, [0])
    mm.min_free_kbytes = 20000
    mm.watermark_scale_factor = 200
    z = zone(mm, "DMA32")
    z.watermark_boost = 777
    setup_per_zone_wmarks(mm)
    # pages_min 5000, all in one zone; gap = max(1250, 241528*200/10000 = 4830) = 4830
    assert wm(z) == (5000, 9830, 14660) and z.watermark_boost == 0
    assert mult_frac(241528, 200, 10000) == 241528 * 200 // 10000 == 4830


def test_percpu_pagelist_high_fraction():
    mm = make_mm({0: {"DMA": 3840, "DMA32": 241528}}, [0, 0])
    init_per_zone_wmark_min(mm)
    mm.percpu_pagelist_high_fraction = 16
    setup_per_zone_wmarks(mm)
    # managed / 16 / 2 CPUs: DMA 3840/16/2 = 120, DMA32 241528/16/2 = 7547
    assert zone(mm, "DMA").pcp[1].high == 120
    assert zone(mm, "DMA32").pcp[1].high == 7547


def test_user_min_free_kbytes_is_kept():
    mm = make_mm({0: {"DMA32": 241528}}, [0])
    mm.user_min_free_kbytes = mm.min_free_kbytes = 100000
    calculate_min_free_kbytes(mm)
    assert mm.min_free_kbytes == 100000
    assert "because user defined value 100000 is preferred" in mm.log[-1]
    set_recommended_min_free_kbytes(mm)               # 5632 pages < 100000 kB: no raise
    assert mm.min_free_kbytes == 100000


def test_thp_never_recomputes_sqrt_with_watermarks():
    mm = make_mm({0: {"DMA": 3840, "DMA32": 241528}}, [0], thp="never")
    init_per_zone_wmark_min(mm)
    # first pass, watermarks 0: int_sqrt(245368 * 64) = 3962; its highs are DMA 21, DMA32 1460
    assert mm.min_free_kbytes == 3962
    assert (zone(mm, "DMA").high_wmark_pages(), zone(mm, "DMA32").high_wmark_pages()) == (21, 1460)
    start_stop_khugepaged(mm)
    # set_recommended_min_free_kbytes with THP off: the sqrt rule again, now on managed - high:
    # int_sqrt((245368 - 1481) * 64 = 15608768) = 3950
    assert mm.min_free_kbytes == 3950
    assert not mm.khugepaged_running


def test_highmem_min_is_clamped():
    # i386 profile: HighMem's min is managed/1024 clamped to 32..128, its gap still proportional
    mm = make_mm({0: {"DMA": 3840, "Normal": 200000, "HighMem": 1000000}}, [0], profile="i386")
    mm.min_free_kbytes = 8000
    setup_per_zone_wmarks(mm)
    hm = zone(mm, "HighMem")
    # lowmem excludes HighMem: 203840; tmp = 2000*1000000/203840 = 9811, gap max(2452, 1000)
    assert hm._watermark[0] == 128
    assert hm._watermark[1] == 128 + 2452
    mm2 = make_mm({0: {"Normal": 200000, "HighMem": 10000}}, [0], profile="i386")
    setup_per_zone_wmarks(mm2)
    assert zone(mm2, "HighMem")._watermark[0] == 32  # 10000/1024 = 9 -> 32


@pytest.mark.parametrize("managed", [1, 1023, 4095, 131072, 262143, 1 << 20, 1 << 30])
def test_batch_matches_the_reference(managed):
    mm = make_mm({0: {"DMA32": managed}}, [0])
    assert zone(mm, "DMA32").pcp[0].batch == _ref_batch(managed)
