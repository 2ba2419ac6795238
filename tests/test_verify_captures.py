"""pagealloc verify against every exact capture of the real kernel (issues 7 and 9).

The shipped oracle captures (fl-*, fl2-*) and our own captures of the shapes
the oracle lacks (tests/data/captures: two NUMA nodes with the CPU on node 0,
and a Movable zone from movablecore=1G), all made by the oracle's modules on
Debian's 6.1.192 under qemu.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pagealloc.verify import verify_capture

DATA = Path(__file__).resolve().parent / "data" / "captures"
ORACLE_CAPTURES = ["fl-m1g-smp1", "fl-m2g-smp1-fresh", "fl2-m1g-smp1", "fl2-m3g-smp1"]
OWN_CAPTURES = ["fl2-numa2-m2g-smp1", "fl2-m3g-smp1-movable"]


def _paths(oracle: Path | None, name: str) -> tuple[str, str]:
    if name in OWN_CAPTURES:
        d = DATA / name
        return str(d / "fldump.txt.xz"), str(d / "zoneinfo.before.txt")
    d = oracle / name
    return str(d / "fldump.txt"), str(d / "zoneinfo.before.txt")


@pytest.mark.parametrize("name", ORACLE_CAPTURES)
def test_oracle_capture_matches_exactly(oracle, name):
    fl, zi = _paths(oracle, name)
    r = verify_capture(fl, zi)
    assert r.first_divergence is None, r.first_divergence
    assert r.allocations_matched == r.allocations_total > 900
    assert r.after_state_equal and r.checkpoints_equal, r.checkpoint_diffs
    if name.startswith("fl2"):
        assert [p.phase for p in r.phases] == list("abcdef")
        assert sum(p.failed for p in r.phases) > 0      # the trough reaches real failures


@pytest.mark.parametrize("name", OWN_CAPTURES)
def test_own_capture_of_other_shapes_matches_exactly(name):
    fl, zi = _paths(None, name)
    r = verify_capture(fl, zi)
    assert r.first_divergence is None, r.first_divergence
    assert r.allocations_matched == r.allocations_total
    assert r.checkpoints_equal, r.checkpoint_diffs


def test_verify_cli_json_keys_and_exit_code(oracle):
    fl, zi = _paths(oracle, "fl-m1g-smp1")
    p = subprocess.run([sys.executable, "-m", "pagealloc", "verify", fl, "--zoneinfo", zi, "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    for key in ("allocations_total", "allocations_matched", "after_state_equal",
                "checkpoints_equal", "first_divergence", "phases"):
        assert key in r
    assert r["phases"] == [{"phase": "a", "matched": 919, "total": 919, "failed": 0,
                            "first_divergence": None}]


def test_verify_reports_a_divergence_and_exits_1(oracle, tmp_path):
    fl, zi = _paths(oracle, "fl-m1g-smp1")
    text = Path(fl).read_text().splitlines()
    # make the kernel "return" a different pfn for allocation 5
    for i, line in enumerate(text):
        if line.startswith("FLD script A 5 "):
            parts = line.split()
            parts[6] = hex(int(parts[6], 16) + 1)
            text[i] = " ".join(parts)
            break
    bad = tmp_path / "fldump.txt"
    bad.write_text("\n".join(text) + "\n")
    p = subprocess.run([sys.executable, "-m", "pagealloc", "verify", str(bad), "--zoneinfo", zi, "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    r = json.loads(p.stdout)
    d = r["first_divergence"]
    assert d["index"] == 5 and d["kernel_pfn"] != d["model_pfn"]
    assert "DMA32" in d["reason"] or "got" in d["reason"]


def test_malformed_capture_exits_2_with_file_and_line(oracle, tmp_path):
    fl, zi = _paths(oracle, "fl-m1g-smp1")
    text = Path(fl).read_text().splitlines()
    text[3] = "FLD before F 0 DMA32 zz 1 0x1000"
    bad = tmp_path / "fldump.txt"
    bad.write_text("\n".join(text) + "\n")
    p = subprocess.run([sys.executable, "-m", "pagealloc", "verify", str(bad), "--zoneinfo", zi],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert f"{bad}:4:" in p.stderr and "Traceback" not in p.stderr


def test_boot_freelists_loads_the_exact_state(oracle):
    """`pagealloc boot --zoneinfo Z --freelists F --at TAG`: buddyinfo from the capture's lists."""
    from pagealloc.sources.fldump import parse_fldump
    fl, zi = _paths(oracle, "fl2-m3g-smp1")
    dump = parse_fldump(fl)
    for tag in ("before", "mid"):
        p = subprocess.run([sys.executable, "-m", "pagealloc", "boot", "--zoneinfo", zi,
                            "--freelists", fl, "--at", tag, "--show", "buddyinfo"],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        got = {line.split()[3]: [int(x) for x in line.split()[4:]] for line in p.stdout.splitlines()}
        for (node, zone), zs in dump.checkpoints[tag].zones.items():
            want = [sum(len(zs.free[o][mt]) for mt in range(6)) for o in range(11)]
            assert got[zone] == want, (tag, zone)
