"""Tests for ``pagealloc replay`` (traces/replay*.py) on the real traces of the oracle.

Exact mode: every real trace replays without an impossible move; the end state is
compared with what the real machine showed after the workload (buddyinfo, and for set 2
the KPF_BUDDY pages of /proc/kpageflags), field by field from the capture files. Small
hand-made traces pin the checks (a page allocated twice, a free of a free page,
malformed lines) and the exit codes. Policy mode runs and tells two sysctl settings apart.
"""
from __future__ import annotations

import csv
import json
import lzma
from pathlib import Path

import pytest

from pagealloc.cli import main
from pagealloc.errors import InputError
from pagealloc.mm.memmap import PG_buddy, PG_head, PG_pcp, PG_unknown
from pagealloc.sources.snapshot import parse_buddyinfo
from pagealloc.traces.replay import replay_trace

SET1 = ("m256-smp1", "m1g-smp2", "m5g-smp2")


def _marker_line(trace: Path, text: str) -> int:
    with lzma.open(trace, "rt") as fh:
        for n, line in enumerate(fh, 1):
            if line.rstrip().endswith(text):
                return n
    raise AssertionError(f"no marker {text!r}")


def _line(cpu: int, ts: float, event: str, fields: str, flags: str = ".....",
          comm: str = "t", pid: int = 7) -> str:
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:12.6f}: {event}: {fields}\n"


def _alloc(pfn: int, order: int = 0, cpu: int = 0, ts: float = 1.0,
           gfp: str = "GFP_KERNEL") -> str:
    return _line(cpu, ts, "mm_page_alloc", f"page=0000000012345678 pfn={pfn:#x} order={order} "
                 f"migratetype=0 gfp_flags={gfp}")


def _zl(pfn: int, order: int = 0, cpu: int = 0, ts: float = 1.0, refill: int = 1) -> str:
    return _line(cpu, ts, "mm_page_alloc_zone_locked", f"page=0000000012345678 pfn={pfn:#x} "
                 f"order={order} migratetype=0 percpu_refill={refill}", "d..3.")


def _free(pfn: int, order: int = 0, cpu: int = 0, ts: float = 1.0) -> str:
    return _line(cpu, ts, "mm_page_free", f"page=0000000012345678 pfn={pfn:#x} order={order}")


def _drain(pfn: int, order: int = 0, cpu: int = 0, ts: float = 1.0) -> str:
    return _line(cpu, ts, "mm_page_pcpu_drain", f"page=0000000012345678 pfn={pfn:#x} "
                 f"order={order} migratetype=0", "d..3.")


def _write(tmp_path: Path, lines: list[str], name: str = "t.txt") -> Path:
    p = tmp_path / name
    p.write_text("# tracer: nop\n#\n" + "".join(lines))
    return p


# --------------------------------------------------------------------------------------------
# set 2: exact starts from kpageflags

@pytest.fixture(scope="module")
def set2_m256(oracle, tmp_path_factory):
    out = tmp_path_factory.mktemp("replay-set2-m256")
    folder = oracle / "set2" / "m256-smp1"
    res = replay_trace(str(folder / "trace.txt.xz"), start=str(folder), at="before", out=out)
    return res, out, folder


def test_set2_m256_replays_without_impossible_moves(set2_m256):
    res, _out, folder = set2_m256
    assert res["impossible"] == 0, res["impossible_first"]
    assert res["lines"] == 310902
    assert res["start"]["kind"] == "exact"
    # the dump was read between the "before" markers: those events were applied leniently
    assert res["sync_end_line"] == _marker_line(folder / "trace.txt.xz",
                                                "KT snapshot before end")
    assert res["stats"]["sync_skipped"] > 0
    # every compaction free-scanner range took exactly nr_taken pages from the model
    assert res["stats"]["compaction_isolated_pages"] > 0
    assert "compaction_isolate_mismatch" not in res["stats"]
    res["machine"].check()


def test_set2_m256_end_state_is_the_kernels(set2_m256):
    res, _out, _folder = set2_m256
    cmp = res["compare"]
    # the free pages at the end are exactly the KPF_BUDDY pages of kpageflags.after
    for zone, z in cmp["kpageflags"]["zones"].items():
        assert z["model_only"] == 0 and z["real_only"] == 0, (zone, z)
    # buddyinfo.pressure and buddyinfo.after: the model's buddyinfo equals the real one,
    # order by order, at some event of the window in which the dump was read
    for tag in ("pressure", "after"):
        w = cmp[tag]["window"]
        assert w["best_diff"] == 0, (tag, w)
        for z in w["zones"].values():
            assert z["model"] == z["real"]


def test_replay_outputs(set2_m256):
    res, out, folder = set2_m256
    m = res["machine"]
    for v in ("zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "meminfo", "extfrag_index",
              "unusable_index"):
        assert (out / "views" / f"{v}.end.txt").stat().st_size > 0
    assert parse_buddyinfo((out / "views" / "buddyinfo.end.txt").read_text()) == {
        (z.nid, z.name): list(z.nr_free) for z in m.mm.zones if z.present_pages}
    assert (out / "views" / "buddyinfo.after.model.txt").is_file()
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) > 10
    last = rows[-1]
    assert int(last["line"]) == res["lines"]
    for o in range(11):
        assert int(last[f"nr_free_o{o}"]) == sum(z.nr_free[o] for z in m.mm.zones)
    for z in m.mm.zones:
        if z.present_pages:
            assert int(last[f"pcp_{z.name}"]) == sum(p.count for p in z.pcp)
    saved = json.loads((out / "replay.json").read_text())
    assert saved["impossible"] == 0 and saved["events"] == res["events"]
    assert "buddyinfo: model at" in (out / "compare.txt").read_text()


def test_set2_m1g_replays_to_the_kernels_end_state(oracle):
    folder = oracle / "set2" / "m1g-smp2"
    res = replay_trace(str(folder / "trace.txt.xz"), start=str(folder), at="before")
    assert res["impossible"] == 0, res["impossible_first"]
    cmp = res["compare"]
    for tag in ("pressure", "after"):
        assert cmp[tag]["window"]["best_diff"] == 0, cmp[tag]["window"]
    for zone, z in cmp["kpageflags"]["zones"].items():
        assert z["model_only"] == 0, (zone, z)
        # pages the kernel had free when kpageflags was read and that were allocated and
        # freed again by the dump's own processes after it: on the model's pcp at the end
        assert z["real_only"] == z["real_only_on_model_pcp"] < 100, (zone, z)
    # frees from softirqs while the task held the pcp lock went to the buddy
    assert res["stats"]["irq_free_to_buddy"] > 0


# --------------------------------------------------------------------------------------------
# set 1: partial starts (buddyinfo/pagetypeinfo at trace start only)

@pytest.mark.parametrize("shape", SET1)
def test_set1_partial_start_replays(oracle, shape):
    folder = oracle / shape
    res = replay_trace(str(folder / "trace.txt.xz"), start=str(folder), at="start")
    assert res["start"]["kind"] == "partial"
    assert res["impossible"] == 0, res["impossible_first"]
    assert res["unknown_pages_left"] > 0
    cmp = res["compare"]
    assert res["end_at"] == "end"
    assert not res.get("constraint_violations")
    # free pages at the end = model free + the start's free pages no event revealed, but
    # for the pages compaction migrated into (targets taken without events): counted by
    # the kernel in pgmigrate_success
    mig = cmp["migrations"]["pgmigrate_success"]
    err = sum(p["prediction_error_pages"] for p in cmp["prediction"].values())
    real = sum(p["real_end_free_pages"] for p in cmp["prediction"].values())
    assert abs(err - mig) < 0.01 * real + 100, (err, mig)
    # with the untouched free pages as the largest unknown blocks, high orders line up
    for zone, c in cmp["completed"].items():
        assert all(abs(d) <= 3 for d in c["diff"][8:]), (zone, c)
    res["machine"].check()


# --------------------------------------------------------------------------------------------
# the checks, on small hand-made traces (no start: the smallest machine, pages unknown)

def test_unknown_pages_are_revealed_and_driven_through_the_model(tmp_path):
    t = _write(tmp_path, [_zl(0x5000, 1), _alloc(0x5000, 1), _free(0x5000, 1),
                          _drain(0x5000, 1), _zl(0x5004, 2, refill=0), _alloc(0x5004, 2),
                          _free(0x5010), _free(0x5011)])
    res = replay_trace(str(t))
    assert res["start"]["kind"] == "partial"
    assert res["impossible"] == 0
    m = res["machine"]
    mem = m.mm.mem
    assert mem.flags[0x5000] == PG_buddy and mem.order[0x5000] == 1   # drained: buddy
    assert mem.flags[0x5004] == PG_head and mem.order[0x5004] == 2
    assert mem.flags[0x5010] == PG_pcp and mem.flags[0x5011] == PG_pcp  # freed to cpu 0's pcp
    assert mem.flags[0x5002] & PG_unknown                                 # never named
    assert res["stats"]["revealed_free_pages"] == 2 + 4
    assert res["stats"]["revealed_allocated_pages"] == 2
    m.check()


def test_allocated_twice_is_impossible_with_its_line(tmp_path, capsys):
    t = _write(tmp_path, [_zl(0x6000), _alloc(0x6000), _alloc(0x6000, ts=2.0)])
    assert main(["replay", str(t), "-q"]) == 3
    cap = capsys.readouterr()
    assert f"{t}:5:" in cap.err                  # the header is 2 lines: the third event
    assert "allocated_twice" in cap.out and "line 5" in cap.out


def test_free_of_a_free_page(tmp_path, capsys):
    lines = [_zl(0x7000), _alloc(0x7000), _free(0x7000), _drain(0x7000), _free(0x7000)]
    t = _write(tmp_path, lines)
    # no compaction events in the trace: compaction may have taken it unseen
    assert main(["replay", str(t), "-q", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["explained_by_kind"] == {"untraced_compaction": 1}
    assert main(["replay", str(t), "-q", "--untraced-compaction", "no"]) == 3
    assert f"{t}:7:" in capsys.readouterr().err
    # a trace that records compaction, none since the page became free: impossible
    t2 = _write(tmp_path, lines + [_line(0, 3.0, "mm_compaction_kcompactd_sleep", "nid=0")],
                "t2.txt")
    assert main(["replay", str(t2), "-q"]) == 3


def test_drain_and_free_checks(tmp_path, capsys):
    # a drain of a page that is allocated, an mm_page_free_batched without its free
    t = _write(tmp_path, [_zl(0x8000), _alloc(0x8000), _drain(0x8000),
                          _zl(0x8001), _alloc(0x8001),
                          _line(0, 1.0, "mm_page_free_batched",
                                "page=0000000012345678 pfn=0x8001 order=0")])
    assert main(["replay", str(t), "-q", "--json"]) == 3
    res = json.loads(capsys.readouterr().out)
    assert res["impossible_by_kind"] == {"drain_of_allocated": 1, "batched_not_freed": 1}
    assert [d["line"] for d in res["impossible_first"]] == [5, 8]


def test_malformed_lines(tmp_path, capsys):
    t = _write(tmp_path, [_zl(0x9000), "this is not a trace line\n", _alloc(0x9000),
                          _line(0, 1.0, "mm_page_free", "page=0000000012345678 pfn=0xzz order=0")])
    assert main(["replay", str(t), "-q"]) == 2
    assert f"{t}:4:" in capsys.readouterr().err
    assert main(["replay", str(t), "-q", "--skip-bad", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["bad_lines"] == 2 and res["first_bad"]["line"] == 4
    assert res["impossible"] == 0
    with pytest.raises(InputError, match=r"bad2.txt:5: mm_page_free: bad pfn"):
        replay_trace(str(_write(tmp_path, [_zl(0x9000), _alloc(0x9000), _line(
            0, 1.0, "mm_page_free", "page=0000000012345678 pfn=0xzz order=0")], "bad2.txt")))


def test_missing_trace_is_bad_input(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.txt"), "-q"]) == 2
    assert "nope.txt" in capsys.readouterr().err


_FTRACE = __import__("re").compile(
    r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\] (?P<flags>\S{5})\s+(?P<ts>[\d.]+): "
    r"(?P<event>\w+): (?P<fields>.*)$")


@pytest.mark.parametrize("layout", ["trace-cmd", "perf"])
def test_other_layouts_replay_the_same(oracle, tmp_path, layout):
    folder = oracle / "set2" / "m256-smp1"
    lines = []
    with lzma.open(folder / "trace.txt.xz", "rt") as fh:
        for n, raw in enumerate(fh, 1):
            if n > 40000:
                break
            m = _FTRACE.match(raw.rstrip("\n"))
            if m is None:
                lines.append(raw)           # the header: comments keep the line numbers
                continue
            d = m.groupdict()
            if layout == "perf":
                ev = d["event"] if d["event"] == "tracing_mark_write" else "kmem:" + d["event"]
                lines.append(f"{d['comm']:>16} {d['pid']:>6} [{d['cpu']}] {d['ts']:>12}: "
                             f"{ev:>30}: {d['fields']}\n")
            else:
                lines.append(f"{d['comm']:>16}-{d['pid']:<5} [{d['cpu']}] {d['flags']} "
                             f"{d['ts']:>12}: {d['event'] + ':':<27} {d['fields']}\n")
    other = tmp_path / "other.txt"
    other.write_text("".join(lines))
    a = replay_trace(str(folder / "trace.txt.xz"), start=str(folder), at="before", limit=40000)
    b = replay_trace(str(other), start=str(folder), at="before")
    assert b["impossible"] == a["impossible"] == 0
    assert b["events"] == a["events"]
    assert b["end_buddyinfo"] == a["end_buddyinfo"]
    for za, zb in zip(a["machine"].mm.zones, b["machine"].mm.zones):
        assert [p.count for p in za.pcp] == [p.count for p in zb.pcp]


# --------------------------------------------------------------------------------------------
# policy mode

def test_policy_mode_tells_two_min_free_kbytes_apart(oracle):
    folder = oracle / "m256-smp1"
    trace = str(folder / "trace.txt.xz")
    a = replay_trace(trace, start=str(folder), at="start", mode="policy")
    b = replay_trace(trace, start=str(folder), at="start", mode="policy",
                     sysctls=["vm.min_free_kbytes=20000"])
    assert a["requests"] == b["requests"] > 40000
    assert a["stats"]["model_allocated"] + a["model_failures"] == a["requests"]
    # the higher watermarks hold more pages on the pcp lists (high follows low) and leave
    # the free lists another shape
    assert a["end_buddyinfo"] != b["end_buddyinfo"]
    pcp = [sum(p.count for z in r["machine"].mm.zones for p in z.pcp) for r in (a, b)]
    assert pcp[0] != pcp[1]
    assert a["kernel_events"]["mm_page_alloc"] == a["requests"]
    a["machine"].check()
    b["machine"].check()
