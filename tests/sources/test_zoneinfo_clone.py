"""Cloning real machines from /proc/zoneinfo, and replaying the captured sysctl writes.

The set-1 captures (m256-smp1, m1g-smp2, m5g-smp2) read their sysctls right
after zoneinfo.boot, then wrote min_free_kbytes=20000, watermark_scale_factor=200,
lowmem_reserve_ratio "512 512 64 0 0" and percpu_pagelist_high_fraction=16,
dumping zoneinfo after each. A clone of zoneinfo.boot that does the same
reads and writes must show what the kernel showed, field by field.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from pagealloc import Machine
from pagealloc.errors import InputError
from pagealloc.mm.vmstat import THP_NODE_ITEMS
from pagealloc.sources.zoneinfo import machine_from_zoneinfo, parse_zoneinfo
from pagealloc.sysctl import read_sysctl, write_sysctl
from pagealloc.sources.reference import oracle_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "captures"
SET1 = ["m256-smp1", "m1g-smp2", "m5g-smp2"]
WRITES = [("vm.min_free_kbytes", "20000", "mfk20000"),
          ("vm.watermark_scale_factor", "200", "mfk20000.wsf200"),
          ("vm.lowmem_reserve_ratio", "512 512 64 0 0", "lrr512"),
          ("vm.percpu_pagelist_high_fraction", "16", "phf16")]
# the order tools/init read them after zoneinfo.boot
READS = ["min_free_kbytes", "watermark_scale_factor", "watermark_boost_factor",
         "lowmem_reserve_ratio", "percpu_pagelist_high_fraction", "extfrag_threshold",
         "compaction_proactiveness"]


def real_zones(path: Path) -> dict[tuple[int, str], dict]:
    """Every number of every zone block of a real zoneinfo, parsed here from its text."""
    out: dict[tuple[int, str], dict] = {}
    cur: dict = {}
    cpu = None
    node_stats = False
    for line in path.read_text().splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)$", line)
        if m:
            cur = out[(int(m.group(1)), m.group(2))] = {"pcp": {}, "stats": {}, "node": {}}
            continue
        s = line.strip()
        if s == "per-node stats":
            node_stats = True
            continue
        if node_stats and not s.startswith("pages free"):
            k, v = s.split()
            cur["node"][k] = int(v)
            continue
        node_stats = False
        if s.startswith("protection:"):
            cur["protection"] = [int(v) for v in re.findall(r"\d+", s)]
        elif s.startswith("pages free"):
            cur["free"] = int(s.split()[-1])
        elif s.startswith("cpu:"):
            cpu = int(s.split()[1])
            cur["pcp"][cpu] = {}
        elif s.split(":")[0] in ("count", "high", "batch") and cpu is not None and ":" in s:
            k, v = s.split(":")
            cur["pcp"][cpu][k] = int(v)
        elif s.startswith("vm stats threshold:"):
            cur["pcp"][cpu]["threshold"] = int(s.split()[-1])
        elif s.startswith("start_pfn:"):
            cur["start_pfn"] = int(s.split()[1])
        elif len(s.split()) == 2 and s.split()[1].isdigit():
            k, v = s.split()
            if k in ("boost", "min", "low", "high", "spanned", "present", "managed", "cma"):
                cur[k] = int(v)
            else:
                cur["stats"][k] = int(v)
    return out


def model_zone(z) -> dict:
    d = {"protection": list(z.lowmem_reserve), "free": z.nr_free_pages(), "boost": z.watermark_boost,
         "min": z.min_wmark_pages(), "low": z.low_wmark_pages(), "high": z.high_wmark_pages(),
         "spanned": z.spanned_pages, "present": z.present_pages, "managed": z.managed_pages,
         "cma": z.cma_pages}
    return d


def assert_same_config(m: Machine, path: Path) -> None:
    """min/low/high/boost, spans, managed, protection, pcp high/batch and thresholds."""
    real = real_zones(path)
    for (nid, name), want in real.items():
        z = m.zone(name, nid)
        got = model_zone(z)
        for k in ("protection", "boost", "min", "low", "high", "spanned", "present", "managed"):
            assert got[k] == want[k], f"{path.name}: node {nid} {name} {k}"
        for cpu, p in want["pcp"].items():
            assert (z.pcp[cpu].high, z.pcp[cpu].batch) == (p["high"], p["batch"]), \
                f"{path.name}: node {nid} {name} cpu {cpu} pcp"
            assert z.stat_threshold == p["threshold"]


ALL_ZONEINFOS = sorted(
    [str(p.relative_to(p.parents[1])) for d in SET1 for p in
     (oracle_dir() / d).glob("zoneinfo*.txt")]
    + [f"set2/{d}/zoneinfo.{t}.txt" for d in ("m256-smp1", "m1g-smp2")
       for t in ("boot", "before", "pressure", "after")]
    + [f"{d}/zoneinfo.{t}.txt" for d in ("fl-m1g-smp1", "fl-m2g-smp1-fresh", "fl2-m1g-smp1",
                                         "fl2-m3g-smp1") for t in ("before", "after")])


@pytest.mark.parametrize("rel", ALL_ZONEINFOS)
def test_clone_keeps_every_field(oracle, rel):
    path = oracle / rel
    m = machine_from_zoneinfo(path)
    real = real_zones(path)
    assert {(z.nid, z.name) for z in m.zones} == set(real)
    for (nid, name), want in real.items():
        z = m.zone(name, nid)
        got = model_zone(z)
        for k, v in got.items():
            assert v == want[k], f"node {nid} {name} {k}"
        if z.present_pages:
            assert z.zone_start_pfn == want["start_pfn"]
            assert [z.pcp[c].count for c in want["pcp"]] == [p["count"] for p in want["pcp"].values()]
            assert [z.pcp[c].high for c in want["pcp"]] == [p["high"] for p in want["pcp"].values()]
            numa = dict(zip(("numa_hit", "numa_miss", "numa_foreign", "numa_interleave",
                             "numa_local", "numa_other"), z.numa_events))
            for k, v in want["stats"].items():
                if k.startswith("numa_"):
                    assert numa[k] == v
                elif k in ("nr_free_pages",):
                    assert z.nr_free_pages() == v
                elif k != "nr_free_cma":
                    assert z.vm_stat.get(k, 0) == v, k
            for k, v in want["node"].items():
                got_v = z.node.vm_stat.get(k, 0)
                assert (got_v // 512 if k in THP_NODE_ITEMS else got_v) == v, k
            # the free lists hold exactly "pages free", in blocks
            assert sum(n << o for o, n in enumerate(z.nr_free)) == want["free"]
    m.check()


def test_clone_renders_the_same_zoneinfo(oracle):
    for rel in ("m1g-smp2/zoneinfo.boot.txt", "m5g-smp2/zoneinfo.end.txt",
                "set2/m256-smp1/zoneinfo.after.txt"):
        path = oracle / rel
        assert machine_from_zoneinfo(path).show("zoneinfo") == path.read_text()


@pytest.mark.parametrize("capture", SET1)
def test_sysctl_writes_match_the_kernel(oracle, capture):
    folder = oracle / capture
    m = machine_from_zoneinfo(folder / "zoneinfo.boot.txt",
                              min_free_kbytes=int((folder / "sysctl.min_free_kbytes.txt").read_text()))
    assert_same_config(m, folder / "zoneinfo.boot.txt")
    for name in READS:                    # as tools/init did, right after zoneinfo.boot
        assert read_sysctl(m, name) == (folder / f"sysctl.{name}.txt").read_text()
    for name, value, tag in WRITES:
        write_sysctl(m, name, value)
        assert_same_config(m, folder / f"zoneinfo.{tag}.txt")
        m.check()


def test_reading_lowmem_reserve_ratio_recomputes_protection(oracle):
    """The kernel quirk the captures show: the boot protection (934) became 943 by zoneinfo.end
    because `cat lowmem_reserve_ratio` re-ran setup_per_zone_lowmem_reserve; without the read
    a min_free_kbytes write leaves the boot value."""
    folder = oracle / "m1g-smp2"
    m = machine_from_zoneinfo(folder / "zoneinfo.boot.txt")
    assert m.zone("DMA").lowmem_reserve[1] == 934            # 239264 / 256 at postcore
    write_sysctl(m, "min_free_kbytes", "20000")
    assert m.zone("DMA").lowmem_reserve[1] == 934
    read_sysctl(m, "vm/lowmem_reserve_ratio")
    assert m.zone("DMA").lowmem_reserve[1] == 241528 // 256 == 943
    assert real_zones(folder / "zoneinfo.end.txt")[(0, "DMA")]["protection"][1] == 943


@pytest.mark.parametrize("capture", SET1)
def test_boot_then_writes_match_the_kernel(oracle, capture):
    """The same writes on a machine booted from the capture's dmesg (not cloned)."""
    from pagealloc.sources.layout import spec_from_args
    folder = oracle / capture
    cpus = 1 if "smp1" in capture else 2
    kb = 0x100000 if capture == "m5g-smp2" else None
    m = Machine.from_spec(spec_from_args(e820=str(folder / "dmesg.txt"), cpus=cpus, kernel_base=kb))
    assert_same_config(m, folder / "zoneinfo.boot.txt")
    for name in READS:
        read_sysctl(m, name)
    for name, value, tag in WRITES:
        write_sysctl(m, name, value)
        assert_same_config(m, folder / f"zoneinfo.{tag}.txt")


@pytest.mark.parametrize("capture", SET1 + ["set2/m256-smp1", "set2/m1g-smp2", "fl2-m1g-smp1",
                                            "fl2-m3g-smp1"])
def test_boot_min_free_kbytes_rule(oracle, capture):
    """The min_free_kbytes the kernel chose, from the sqrt rule and khugepaged's raise.

    The kernel computed it at postcore, when managed was the "Memory:" line's
    available total plus the 9 pages of SMP alternatives (freed before), not
    the final managed counts (the init sections and the initrd came back
    later); from the final counts the sqrt rule gives another number.
    """
    folder = oracle / capture
    dm = folder / ("dmesg.before.txt" if capture.startswith("fl2") else "dmesg.txt")
    line = next(x for x in dm.read_text().splitlines() if "Memory: " in x)
    physk, reservedk = int(re.search(r"/(\d+)K", line).group(1)), int(re.search(r"(\d+)K reserved", line).group(1))
    boot_managed = (physk - reservedk) // 4 + 9
    real = real_zones(folder / ("zoneinfo.before.txt" if capture.startswith("fl2") else "zoneinfo.boot.txt"))
    final_managed = sum(v["managed"] for v in real.values())
    sqrt_boot = max(128, min(math.isqrt(boot_managed * 4 * 16), 262144))
    sqrt_final = max(128, min(math.isqrt(final_managed * 4 * 16), 262144))
    nr_zones = sum(1 for (_n, name), v in real.items() if v["present"] and name in ("DMA", "DMA32", "Normal"))
    chosen = int((folder / "sysctl.min_free_kbytes.txt").read_text())
    if boot_managed * 4 < 512 * 1024:
        # hugepage_init turns THP off below 512 MiB: no khugepaged, the sqrt value stays
        assert chosen == sqrt_boot != sqrt_final
        assert "[never]" in (folder / "thp.enabled.txt").read_text()
    else:
        raise_kb = 512 * nr_zones * 11 * 4
        # the 5% cap (of managed minus the sqrt-rule high watermarks) does not bind here
        assert raise_kb < (boot_managed - boot_managed // 100) // 20 * 4
        assert chosen == max(sqrt_boot, raise_kb)


def test_clone_infers_cpu_nodes_and_min_free_kbytes():
    # two nodes, one CPU on node 0: node 1's pcp high is its low watermark over all (1) CPUs
    path = DATA / "fl2-numa2-m2g-smp1" / "zoneinfo.before.txt"
    m = machine_from_zoneinfo(path, use_folder=False)
    assert m.mm.cpu_to_node == [0]
    assert m.mm.node_states["has_cpu"] == {0} and m.mm.node_states["has_memory"] == {0, 1}
    assert [n.fallback_order for n in m.mm.nodes] == [[0, 1], [1, 0]]
    # no sysctl files: the boot rule from the file's managed counts (3 lowmem zones -> 67584)
    assert m.mm.min_free_kbytes == 67584
    m2 = machine_from_zoneinfo(path, cpus=4, cpu_nodes=[0, 0, 1, 1], min_free_kbytes=20000)
    assert m2.mm.nr_cpu_ids == 4 and m2.mm.min_free_kbytes == 20000
    # the file's pcp values stay on the CPUs it lists; the others get the zone's
    assert m2.zone("DMA32", 1).pcp[3].high == m2.zone("DMA32", 1).pageset_high
    write_sysctl(m2, "vm.min_free_kbytes", "20000")      # now two CPUs per node
    z = m2.zone("DMA32", 1)
    assert z.pcp[3].high == max(z.low_wmark_pages() // 2, 4 * z.pcp[3].batch)
    m2.check()


def test_clone_of_movable_capture():
    path = DATA / "fl2-m3g-smp1-movable" / "zoneinfo.before.txt"
    m = machine_from_zoneinfo(path)
    mv = m.zone("Movable")
    assert (mv.zone_start_pfn, mv.present_pages) == (0x100000, 262144)
    assert [(z.nid, z.name) for z in m.mm.nodes[0].zonelist_fallback] == [
        (0, "Movable"), (0, "DMA32"), (0, "DMA")]
    m.check()


def test_clone_holes_follow_the_dmesg_or_q35(oracle):
    # with a dmesg beside it the holes are its e820's; the fl-* folders have none: q35's
    m = machine_from_zoneinfo(oracle / "m5g-smp2" / "zoneinfo.boot.txt")
    flags = m.mm.mem.a_flags
    from pagealloc.mm.memmap import PG_absent
    assert flags[0x9F] & PG_absent and flags[0x100] & PG_absent == 0
    assert flags[0x7FFDF] & PG_absent and flags[0x7FFDE] & PG_absent == 0
    m = machine_from_zoneinfo(oracle / "fl-m2g-smp1-fresh" / "zoneinfo.before.txt")
    flags = m.mm.mem.a_flags
    assert flags[0x9F] & PG_absent and flags[0x7FFDF] & PG_absent and not flags[0x7FFDE] & PG_absent


def test_clone_errors_name_file_and_line(tmp_path, oracle):
    good = (oracle / "m1g-smp2" / "zoneinfo.boot.txt").read_text().splitlines(keepends=True)
    bad = tmp_path / "zoneinfo.txt"
    bad.write_text("".join(good[:50] + ["        min      lots\n"] + good[50:]))
    with pytest.raises(InputError) as e:
        parse_zoneinfo(bad)
    assert e.value.line == 51 and str(bad) in str(e.value)
    bad.write_text("hello\n")
    with pytest.raises(InputError, match=":1:"):
        parse_zoneinfo(bad)
    bad.write_text("".join(x for x in good if "managed" not in x))
    with pytest.raises(InputError, match="no 'managed' line"):
        machine_from_zoneinfo(bad)
    bad.write_text("".join(good).replace("pages free     232390", "pages free     999999"))
    with pytest.raises(InputError, match="not in order"):
        machine_from_zoneinfo(bad)
    with pytest.raises(InputError):
        machine_from_zoneinfo(tmp_path / "absent.txt")


def test_clone_keeps_node_stats_and_events(oracle):
    path = oracle / "m1g-smp2" / "zoneinfo.end.txt"
    m = machine_from_zoneinfo(path)
    node = m.mm.nodes[0]
    real = path.read_text()
    assert node.vm_stat["nr_slab_reclaimable"] == int(re.search(r"nr_slab_reclaimable (\d+)", real).group(1))
    from pagealloc.mm.vmstat import ev_index
    vm = (oracle / "m1g-smp2" / "vmstat.end.txt").read_text()
    assert m.mm.events[ev_index("pgfree")] == int(re.search(r"^pgfree (\d+)", vm, re.M).group(1))


@pytest.mark.parametrize("kw", [
    dict(mem="4G", nodes=2, cpus=3),
    dict(mem="8G", nodes=3, cpus=6, cpu_nodes=[0, 0, 0, 1, 2, 2]),
    dict(mem="3G", nodes=3, cpus=5, node_mem=["1G", "0", "2G"], cpu_nodes=[0, 0, 1, 1, 2]),
    dict(mem="8G", cpus=2, cmdline="movablecore=2G"),
])
def test_clone_round_trip_of_model_machines(tmp_path, kw):
    """A model machine's zoneinfo clones back to the same layout, CPUs per node included."""
    from pagealloc.sources.layout import spec_from_args
    m = Machine.from_spec(spec_from_args(**kw))
    path = tmp_path / "zoneinfo.txt"
    path.write_text(m.show("zoneinfo"))
    c = machine_from_zoneinfo(path)
    assert c.mm.cpu_to_node == m.mm.cpu_to_node
    assert c.mm.node_states == m.mm.node_states
    assert c.show("zoneinfo") == path.read_text()
    assert c.mm.min_free_kbytes == m.mm.min_free_kbytes
    for name in ("min_free_kbytes", "watermark_scale_factor"):
        write_sysctl(c, name, "12345" if name == "min_free_kbytes" else "77")
        write_sysctl(m, name, "12345" if name == "min_free_kbytes" else "77")
    for zc, zm in zip(c.zones, m.zones):
        assert zc._watermark == zm._watermark and [p.high for p in zc.pcp] == [p.high for p in zm.pcp]
    c.check()
