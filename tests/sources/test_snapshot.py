"""Tests for sources/snapshot.py and ``pagealloc snapshot`` / ``boot --snapshot``.

The loader is checked against the oracle's set-2 folders (real kpageflags with the
buddyinfo and pagetypeinfo read at the same moment), the saver against a fake /proc made
of those files and, for real, against this machine's /proc.
"""
from __future__ import annotations

import json
import lzma
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pagealloc.cli import main
from pagealloc.machine import Machine
from pagealloc.mm.memmap import PG_buddy, PG_head, PG_lru, PG_unknown
from pagealloc.sources.snapshot import (KPF, apply_kpageflags, compare_pagetypeinfo,
                                        default_tag, load_snapshot, model_buddyinfo, parse_buddyinfo,
                                        read_kpage_array)


@pytest.mark.parametrize("shape,tag", [("m1g-smp2", "before"), ("m1g-smp2", "after"),
                                       ("m256-smp1", "before"), ("m256-smp1", "after")])
def test_load_set2_snapshot(oracle, shape, tag):
    folder = oracle / "set2" / shape
    m = load_snapshot(folder, tag)
    m.check()
    info = m.snapshot
    real = parse_buddyinfo((folder / f"buddyinfo.{tag}.txt").read_text())
    model = model_buddyinfo(m)
    kf = read_kpage_array(folder / f"kpageflags.{tag}.bin.xz")
    for key, counts in real.items():
        z = m.zone(key[1], key[0])
        # the free pages are exactly the KPF_BUDDY pages of the zone
        s, e = z.zone_start_pfn, z.zone_end_pfn
        assert z.vm_free == int(((kf[s:e] & int(KPF.BUDDY)) != 0).sum())
        # buddyinfo was read a moment before kpageflags: the high orders agree exactly,
        # the low ones within what a few allocations change
        assert model[key][8:] == counts[8:], (key, model[key], counts)
        diff_pages = sum((a - b) << o for o, (a, b) in enumerate(zip(model[key], counts)))
        assert abs(diff_pages) < 200, (key, model[key], counts)
    # pageblock types are chosen to match pagetypeinfo's counts; the free lists follow
    pt = info["pagetypeinfo"]
    assert pt["blocks_abs_diff"] == 0
    assert pt["free_abs_diff"] <= 0.1 * pt["free_blocks_real"], pt
    assert info["load"]["zones"]["0:DMA32"]["compound_blocks"] > 0


def test_flagless_pages_unknown_or_on_the_pcps(oracle):
    folder = oracle / "set2" / "m1g-smp2"
    clone = load_snapshot(folder, "before")
    replay = load_snapshot(folder, "before", flagless="unknown")
    zr = clone.snapshot["load"]["zones"]["0:DMA32"]
    # zoneinfo.before's pcp counts (cpu 0: 1407, cpu 1: 2055) are filled from flagless pages
    assert [p.count for p in clone.zone("DMA32").pcp] == [1407, 2055]
    assert zr["pcp_pages"] == 3462 < zr["flagless_pages"]
    unknown = int(((replay.mm.mem.a_flags & PG_unknown) != 0).sum())
    assert unknown == sum(z["flagless_pages"] for z in replay.snapshot["load"]["zones"].values())
    assert sum(p.count for p in replay.zone("DMA32").pcp) == 0
    replay.check()


def test_apply_kpageflags_decomposes_runs(oracle):
    m = Machine.boot(mem="64M")
    n = m.mm.mem.npfn
    kf = np.full(n, int(KPF.LRU | KPF.UPTODATE), dtype=np.uint64)
    kf[:0x100] = int(KPF.RESERVED)
    kf[0x2003:0x212c] = int(KPF.BUDDY)
    kf[0x3000] = int(KPF.COMPOUND_HEAD | KPF.LRU)
    kf[0x3001:0x3008] = int(KPF.COMPOUND_TAIL)
    kf[0x3100:0x3110] = 0                        # no flags: pcp pages or kernel pages
    rep = apply_kpageflags(m, kf, flagless="unknown")
    mem = m.mm.mem
    blocks = [(p, int(mem.order[p])) for p in range(0x2000, 0x2140) if mem.flags[p] & PG_buddy]
    assert blocks == [(0x2003, 0), (0x2004, 2), (0x2008, 3), (0x2010, 4), (0x2020, 5),
                      (0x2040, 6), (0x2080, 7), (0x2100, 5), (0x2120, 3), (0x2128, 2)]
    assert mem.flags[0x3000] == PG_head | PG_lru and mem.order[0x3000] == 3
    assert all(mem.flags[p] & PG_unknown for p in range(0x3100, 0x3110))
    assert mem.flags[0x3200] == PG_head | PG_lru and mem.order[0x3200] == 0
    z = m.zone("DMA32")
    assert z.vm_free == 0x212c - 0x2003
    assert rep["zones"]["0:DMA32"]["compound_blocks"] == 1
    m.check()


def test_default_moment(oracle, tmp_path):
    assert default_tag(oracle / "set2" / "m1g-smp2") == "before"      # has kpageflags
    assert default_tag(oracle / "m1g-smp2") == "start"                # buddyinfo.start
    (tmp_path / "zoneinfo.x.txt").write_text("")
    assert default_tag(tmp_path) == "x"
    (tmp_path / "zoneinfo.txt").write_text("")
    assert default_tag(tmp_path) is None


def test_boot_snapshot_cli(oracle, capsys):
    folder = oracle / "set2" / "m1g-smp2"
    assert main(["boot", "--snapshot", str(folder), "--at", "before", "--show",
                 "buddyinfo"]) == 0
    out = parse_buddyinfo(capsys.readouterr().out)
    assert out == model_buddyinfo(load_snapshot(folder, "before"))
    # --at defaults to the folder's first moment with kpageflags (before)
    assert main(["boot", "--snapshot", str(folder), "--show", "buddyinfo"]) == 0
    assert parse_buddyinfo(capsys.readouterr().out) == out


def _fake_root(oracle, tmp_path) -> Path:
    """A /proc and /sys made of the files the oracle's set2/m256-smp1 saved at "before"."""
    src = oracle / "set2" / "m256-smp1"
    root = tmp_path / "root"
    proc = root / "proc"
    (proc / "sys" / "vm").mkdir(parents=True)
    for name in ("zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "meminfo"):
        shutil.copy(src / f"{name}.before.txt", proc / name)
    for name in ("kpageflags", "kpagecount"):
        (proc / name).write_bytes(lzma.open(src / f"{name}.before.bin.xz").read())
    (proc / "version").write_text((src / "kernel-version.txt").read_text())
    (proc / "cmdline").write_text((src / "cmdline.txt").read_text())
    for line in (src / "sysctl-vm-all.txt").read_text().splitlines():
        k, _, v = line.partition(" = ")
        if "can't open" not in v:
            (proc / "sys" / "vm" / k).write_text(v.strip() + "\n")
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text("0\n")
    (cpu / "possible").write_text("0\n")
    thp = root / "sys/kernel/mm/transparent_hugepage"
    thp.mkdir(parents=True)
    (thp / "enabled").write_text((src / "thp.enabled.txt").read_text())
    node = root / "sys/devices/system/node"
    (node / "node0").mkdir(parents=True)
    for f in ("possible", "online", "has_memory", "has_normal_memory", "has_cpu"):
        (node / f).write_text("0\n")
    (node / "node0" / "cpulist").write_text("0\n")
    (node / "node0" / "distance").write_text("10\n")
    return root


def test_snapshot_command_saves_a_loadable_folder(oracle, tmp_path, capsys):
    root = _fake_root(oracle, tmp_path)
    out = tmp_path / "snap"
    assert main(["snapshot", "--root", str(root), "--out", str(out), "--tag", "t",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for name in ("zoneinfo.t.txt", "buddyinfo.t.txt", "pagetypeinfo.t.txt", "vmstat.t.txt",
                 "meminfo.t.txt", "kpageflags.t.bin.xz", "kpagecount.t.bin.xz",
                 "sysctl-vm-all.txt", "nproc.txt", "cpus.online.txt", "thp.enabled.txt",
                 "nodes.txt", "kernel-version.txt"):
        assert (out / name).is_file(), name
        assert name in rep["written"]
    src = oracle / "set2" / "m256-smp1"
    assert lzma.open(out / "kpageflags.t.bin.xz").read() == \
        lzma.open(src / "kpageflags.before.bin.xz").read()
    sysctls = dict(line.split(" = ", 1) for line in
                   (out / "sysctl-vm-all.txt").read_text().splitlines())
    assert sysctls["min_free_kbytes"] == (src / "sysctl.min_free_kbytes.txt").read_text().strip()
    assert "node0 cpulist: 0 distance: 10" in (out / "nodes.txt").read_text()
    # the saved folder loads like the original
    a = load_snapshot(out, "t")
    b = load_snapshot(src, "before")
    assert model_buddyinfo(a) == model_buddyinfo(b)
    assert a.mm.min_free_kbytes == b.mm.min_free_kbytes
    assert compare_pagetypeinfo(a.show("pagetypeinfo"), b.show("pagetypeinfo"))[
        "free_abs_diff"] == 0


def test_snapshot_skips_what_it_cannot_read(oracle, tmp_path, capsys):
    root = _fake_root(oracle, tmp_path)
    (root / "proc" / "kpageflags").unlink()
    out = tmp_path / "snap"
    assert main(["snapshot", "--root", str(root), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "kpageflags.bin.xz not saved" in err
    assert (out / "zoneinfo.txt").is_file() and not (out / "kpageflags.bin.xz").exists()
    m = load_snapshot(out)                      # untagged; no kpageflags: zoneinfo placement
    assert "no kpageflags" in " ".join(m.snapshot["notes"])
    assert main(["snapshot", "--root", str(tmp_path / "nothing"), "--out", str(out)]) == 2


@pytest.mark.skipif(not Path("/proc/zoneinfo").is_file(), reason="not a Linux machine")
def test_snapshot_of_this_machine(tmp_path, capsys):
    out = tmp_path / "live"
    assert main(["snapshot", "--out", str(out), "--tag", "live", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    for name in ("zoneinfo.live.txt", "buddyinfo.live.txt", "vmstat.live.txt",
                 "meminfo.live.txt", "sysctl-vm-all.txt", "cpus.online.txt", "nproc.txt"):
        assert name in rep["written"]
    binfo = parse_buddyinfo((out / "buddyinfo.live.txt").read_text())
    if not os.access("/proc/kpageflags", os.R_OK):
        assert any(s["file"].startswith("kpageflags") for s in rep["skipped"])
        return
    kf = read_kpage_array(out / "kpageflags.live.bin.xz")
    # the kernel exports max_pfn rounded up to a memory section (32768 pfns on x86_64)
    assert len(kf) % 32768 == 0
    free = sum(c << o for counts in binfo.values() for o, c in enumerate(counts))
    buddy = int(((kf & int(KPF.BUDDY)) != 0).sum())
    assert abs(buddy - free) <= 0.05 * free + 4096      # a live machine moves meanwhile
    m = load_snapshot(out, "live")
    model = model_buddyinfo(m)
    assert sum(sum(c << o for o, c in enumerate(v)) for v in model.values()) == buddy
    for key, counts in binfo.items():
        if key[1] == "DMA":                 # nobody allocates there: equal
            assert model[key] == counts


def test_snapshot_clone_with_reclaim_adopts_its_lru_pages(oracle):
    """A clone's in-use LRU pages become unowned page cache when reclaim is switched on."""
    from pagealloc.sources.snapshot import load_snapshot
    from pagealloc.mm.memmap import PG_lru
    m = load_snapshot(str(oracle / "set2" / "m256-smp1"), "before")
    lru_before = int(((m.mm.mem.a_flags & PG_lru) != 0).sum())
    assert lru_before > 0
    m.enable_reclaim()
    m.check()
    node = m.mm.nodes[0]
    assert node.vm_stat["nr_inactive_file"] + node.vm_stat["nr_active_file"] == lru_before
