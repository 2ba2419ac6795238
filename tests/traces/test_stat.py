"""Tests for pagealloc.traces.stat and ``pagealloc stat``.

The figures are checked against an independent, line-by-line regex count of the same real
trace (oracle set 2, Debian's 6.1 kernel), for each input layout and process count.
"""
from __future__ import annotations

import json
import lzma
import re
from pathlib import Path

import pytest

from pagealloc.cli import main
from pagealloc.errors import InputError
from pagealloc.mm.gfp import format_gfp, parse_gfp
from pagealloc.traces.stat import pcp_allowed_order, render_stat, stat_trace

LINE_RE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\] (?P<flags>\S{5})\s+"
                     r"(?P<ts>\d+\.\d{6}): (?P<event>\w+): (?P<fields>.*)$")
FIELD_RE = re.compile(r"(\w+)=(\S+)")
MT = {0: "Unmovable", 1: "Movable", 2: "Reclaimable", 3: "HighAtomic", 4: "Isolate"}


def reference_stat(lines: list[str]) -> dict:
    """The stat figures, counted the plain way, one line at a time."""
    ev: dict[str, int] = {}
    a = {"total": 0, "pages": 0, "failed": 0, "by_order": {}, "by_migratetype": {},
         "by_gfp": {}}
    fr = {"total": 0, "batched": 0, "pages": 0, "by_order": {}}
    zl = {"total": 0, "pages": 0, "percpu_refill": 0}
    dr = {"total": 0, "pages": 0}
    fb = {"total": 0, "fragmenting": 0, "change_ownership": 0}
    callers: dict[str, list[int]] = {}
    pending: dict[int, bool] = {}
    hit = refill = buddy = free_pcp = free_buddy = 0
    first = last = None
    for line in lines:
        m = LINE_RE.match(line)
        if not m:
            continue
        name, cpu = m["event"], int(m["cpu"])
        first = first if first is not None else float(m["ts"])
        last = float(m["ts"])
        ev[name] = ev.get(name, 0) + 1
        f = dict(FIELD_RE.findall(m["fields"]))
        comm = m["comm"].strip()
        if name == "mm_page_alloc":
            o = int(f["order"])
            c = callers.setdefault(comm, [0, 0, 0, 0, 0])
            a["total"] += 1
            c[0] += 1
            a["by_order"][str(o)] = a["by_order"].get(str(o), 0) + 1
            mt = MT[int(f["migratetype"])]
            a["by_migratetype"][mt] = a["by_migratetype"].get(mt, 0) + 1
            g = format_gfp(parse_gfp(f["gfp_flags"]))
            a["by_gfp"][g] = a["by_gfp"].get(g, 0) + 1
            was = pending.pop(cpu, False)
            if int(f["pfn"], 16) == 0:
                a["failed"] += 1
                c[2] += 1
                continue
            a["pages"] += 1 << o
            c[1] += 1 << o
            if not pcp_allowed_order(o):
                buddy += 1
            elif was:
                refill += 1
            else:
                hit += 1
        elif name == "mm_page_free":
            o = int(f["order"])
            fr["total"] += 1
            fr["pages"] += 1 << o
            fr["by_order"][str(o)] = fr["by_order"].get(str(o), 0) + 1
            c = callers.setdefault(comm, [0, 0, 0, 0, 0])
            c[3] += 1
            c[4] += 1 << o
            if pcp_allowed_order(o):
                free_pcp += 1
            else:
                free_buddy += 1
        elif name == "mm_page_free_batched":
            fr["batched"] += 1
        elif name == "mm_page_alloc_zone_locked":
            pending[cpu] = True
            zl["total"] += 1
            zl["pages"] += 1 << int(f["order"])
            zl["percpu_refill"] += int(f["percpu_refill"])
        elif name == "mm_page_pcpu_drain":
            dr["total"] += 1
            dr["pages"] += 1 << int(f["order"])
        elif name == "mm_page_alloc_extfrag":
            fb["total"] += 1
            fb["fragmenting"] += int(f["fragmenting"])
            fb["change_ownership"] += int(f["change_ownership"])
    return {"events": ev, "allocations": a, "frees": fr, "zone_locked": zl, "pcpu_drain": dr,
            "fallbacks": fb, "hit": hit, "refill": refill, "buddy": buddy,
            "free_pcp": free_pcp, "free_buddy": free_buddy, "first": first, "last": last,
            "callers": {k: dict(zip(("allocations", "pages", "failed", "frees", "free_pages"),
                                    v)) for k, v in callers.items()}}


def check_against_reference(s: dict, ref: dict) -> None:
    assert {k: v for k, v in s["events"].items() if v} == ref["events"]
    a = s["allocations"]
    for k in ("total", "pages", "failed", "by_order", "by_migratetype", "by_gfp"):
        assert a[k] == ref["allocations"][k], k
    assert sum(a["by_order"].values()) == a["total"]
    assert {o: sum(d.values()) for o, d in a["by_order_migratetype"].items()} == a["by_order"]
    assert s["frees"] == ref["frees"]
    pb = s["pcp_vs_buddy"]
    assert pb["allocations"] == {"pcp_hit": ref["hit"], "pcp_refill": ref["refill"],
                                 "buddy": ref["buddy"]}
    assert sum(pb["allocations"].values()) == a["total"] - a["failed"]
    assert pb["frees"] == {"pcp": ref["free_pcp"], "buddy": ref["free_buddy"]}
    assert pb["zone_locked"] == ref["zone_locked"]
    assert pb["pcpu_drain"] == ref["pcpu_drain"]
    fb = s["fallbacks"]
    assert {k: fb[k] for k in ("total", "fragmenting", "change_ownership")} == ref["fallbacks"]
    assert sum(e["count"] for e in fb["by_pair"].values()) == fb["total"]
    assert sum(fb["by_fallback_order"].values()) == fb["total"]
    assert s["callers"] == ref["callers"]
    assert s["duration_s"] == pytest.approx(ref["last"] - ref["first"], abs=1e-6)


@pytest.fixture(scope="module")
def set2_lines(oracle) -> list[str]:
    """The first 60 000 lines of a set 2 capture, with its extfrag and compaction lines."""
    head, extra = [], []
    with lzma.open(oracle / "set2/m256-smp1/trace.txt.xz", "rt") as f:
        for i, line in enumerate(f):
            line = line.rstrip("\n")
            if i < 60000:
                head.append(line)
            elif "extfrag" in line or "isolate_freepages" in line or "mark_write" in line:
                extra.append(line)
    return head + extra


@pytest.fixture(scope="module")
def set2_file(tmp_path_factory, set2_lines) -> str:
    p = tmp_path_factory.mktemp("stat") / "trace.txt"
    p.write_text("\n".join(set2_lines) + "\n")
    return str(p)


@pytest.fixture(scope="module")
def set2_stat(set2_file) -> dict:
    return stat_trace(set2_file, jobs=1)


def test_stat_matches_a_plain_count(set2_stat, set2_lines):
    s = set2_stat
    check_against_reference(s, reference_stat(set2_lines))
    assert s["format"] == "ftrace" and s["lines"] == len(set2_lines) and s["bad_lines"] == 0
    assert s["fallbacks"]["total"] == 11 and s["events"]["tracing_mark_write"] == 25
    iso = s["compaction"]["isolate_freepages"]
    assert iso["events"] == 110 and 0 < iso["taken"] <= iso["scanned"]


def test_interfaces_keys(set2_stat):
    s = set2_stat
    assert {"events", "allocations", "frees", "pcp_vs_buddy", "fallbacks", "callers"} <= set(s)
    assert {"total", "by_order", "by_migratetype", "by_gfp", "pages", "failed"} <= \
        set(s["allocations"])
    assert {"total", "batched", "by_order", "pages"} <= set(s["frees"])
    assert {"mm_page_alloc", "mm_page_free", "mm_page_free_batched"} <= set(s["events"])
    assert json.loads(json.dumps(s)) == s


@pytest.mark.parametrize("jobs", [2, 3])
def test_processes_give_the_same_figures(set2_file, set2_stat, jobs):
    assert stat_trace(set2_file, jobs=jobs) == set2_stat


def test_whole_real_trace(oracle):
    rel = oracle / "m256-smp1/trace.txt.xz"
    with lzma.open(rel, "rt") as f:
        lines = f.read().splitlines()
    s = stat_trace(str(rel))
    check_against_reference(s, reference_stat(lines))
    assert s["lines"] == 170964 and s["allocations"]["total"] == 40698


def _rewrite(lines: list[str], fmt: str) -> str:
    out = ["cpus=2"] if fmt == "trace-cmd" else []
    for line in lines:
        m = LINE_RE.match(line)
        if not m:
            continue
        d = m.groupdict()
        if fmt == "trace-cmd":
            out.append(f"{d['comm'].strip():>16}-{int(d['pid']):<5} [{int(d['cpu']):03d}] "
                       f"{d['flags']} {d['ts']:>12}: {d['event'] + ':':<21} {d['fields']}")
        else:
            out.append(f"{d['comm'].strip():>16} {int(d['pid']):>6} [{int(d['cpu']):03d}] "
                       f"{d['ts']:>12}: {d['event']:>30}: {d['fields']}")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("fmt", ["trace-cmd", "perf"])
def test_other_layouts_give_the_same_figures(tmp_path, set2_lines, set2_stat, fmt):
    lines = set2_lines[:20000]
    ref = stat_trace(str(_write(tmp_path, "ref.txt", "\n".join(lines) + "\n")))
    p = _write(tmp_path, "t.txt", _rewrite(lines, fmt))
    s = stat_trace(str(p))
    assert s["format"] == fmt
    for k in ("events", "allocations", "frees", "pcp_vs_buddy", "fallbacks", "callers"):
        assert s[k] == ref[k], k


@pytest.mark.parametrize("variant", ["no-irq-info", "record-tgid", "long-uptime", "crlf"])
def test_ftrace_column_variants(tmp_path, set2_lines, variant):
    """Other tracefs options, and a timestamp that widens half way through a block."""
    lines = [line for line in set2_lines[:6000] if LINE_RE.match(line)]
    ref = stat_trace(str(_write(tmp_path, "ref.txt", "\n".join(lines) + "\n")))
    out = []
    for i, line in enumerate(lines):
        if variant == "no-irq-info":
            line = line[:31] + line[37:]
        elif variant == "record-tgid":
            line = line[:24] + f" ({line[17:24].strip():>7})" + line[24:]
        elif variant == "long-uptime":
            secs = 99999 if i < 3000 else 100000
            line = line[:37] + f"{secs:5d}.{line[43:49]}" + line[49:]
        out.append(line)
    text = "\n".join(out) + "\n"
    if variant == "crlf":
        text = text.replace("\n", "\r\n")
    p = tmp_path / "v.txt"
    p.write_bytes(text.encode())
    s = stat_trace(str(p))
    for k in ("events", "allocations", "frees", "pcp_vs_buddy", "fallbacks", "callers"):
        assert s[k] == ref[k], k
    assert s["bad_lines"] == 0 and s["lines"] == len(lines)


def test_compressed(tmp_path, set2_lines):
    text = "\n".join(set2_lines[:8000]) + "\n"
    ref = stat_trace(str(_write(tmp_path, "t.txt", text)))
    xz = tmp_path / "t.txt.xz"
    xz.write_bytes(lzma.compress(text.encode()))
    assert stat_trace(str(xz)) == ref


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def L(cpu: int, event: str, fields: str, comm: str = "bash", pid: int = 7, ts: float = 1.0,
      flags: str = ".....") -> str:
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:12.6f}: {event}: {fields}"


def ZL(cpu, pfn, order=0, mt=1):
    return L(cpu, "mm_page_alloc_zone_locked", f"page=00000000deadbeef pfn={pfn:#x} "
             f"order={order} migratetype={mt} percpu_refill={int(order <= 3)}")


def AL(cpu, pfn, order=0, gfp="GFP_HIGHUSER_MOVABLE", comm="bash"):
    page = "0000000000000000" if pfn == 0 else "00000000cafef00d"
    return L(cpu, "mm_page_alloc", f"page={page} pfn={pfn:#x} order={order} migratetype=1 "
             f"gfp_flags={gfp}", comm=comm)


def test_pcp_estimate_and_failures(tmp_path):
    lines = [
        "# tracer: nop",
        ZL(0, 0x100), ZL(0, 0x101), ZL(1, 0x200),
        AL(0, 0x100),               # cpu 0 after a refill
        AL(1, 0x200),               # cpu 1 after a refill
        AL(0, 0x101),               # cpu 0 hit
        ZL(0, 0x400, order=4),      # rmqueue_buddy for an order-4 request
        AL(0, 0x400, order=4),      # buddy
        AL(1, 0x201),               # hit
        ZL(1, 0x300),
        AL(1, 0, order=9, gfp="GFP_TRANSHUGE_LIGHT"),   # failed: the refill is spent
        AL(1, 0x202),               # hit
        L(0, "mm_page_free", "page=00000000cafef00d pfn=0x100 order=0"),
        L(0, "mm_page_free", "page=00000000cafef00d pfn=0x400 order=4", comm="kswapd0"),
        L(0, "mm_page_free_batched", "page=00000000cafef00d pfn=0x100 order=0"),
        L(0, "mm_page_pcpu_drain", "page=00000000cafef00d pfn=0x100 order=0 migratetype=1"),
        L(1, "mm_page_alloc_extfrag", "page=00000000cafef00d pfn=0x8000 alloc_order=0 "
          "fallback_order=3 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=1 "
          "fragmenting=1 change_ownership=0"),
    ]
    s = stat_trace(str(_write(tmp_path, "h.txt", "\n".join(lines) + "\n")))
    pb = s["pcp_vs_buddy"]
    assert pb["allocations"] == {"pcp_hit": 3, "pcp_refill": 2, "buddy": 1}
    assert pb["pcp_hit_ratio"] == 0.6
    assert pb["frees"] == {"pcp": 1, "buddy": 1}
    assert pb["zone_locked"] == {"total": 5, "pages": 20, "percpu_refill": 4}
    a = s["allocations"]
    assert (a["total"], a["failed"], a["pages"]) == (7, 1, 5 + 16)
    assert a["by_order"] == {"0": 5, "4": 1, "9": 1}
    assert a["by_gfp"] == {"GFP_HIGHUSER_MOVABLE": 6, "GFP_TRANSHUGE_LIGHT": 1}
    assert s["callers"]["bash"] == {"allocations": 7, "pages": 21, "failed": 1, "frees": 1,
                                    "free_pages": 1}
    assert s["callers"]["kswapd0"]["free_pages"] == 16
    assert s["frees"] == {"total": 2, "batched": 1, "by_order": {"0": 1, "4": 1}, "pages": 17}
    assert s["fallbacks"] == {"total": 1, "fragmenting": 1, "change_ownership": 0,
                              "by_fallback_order": {"3": 1},
                              "by_pair": {"Unmovable/Movable": {"count": 1, "fragmenting": 1,
                                                                "change_ownership": 0}}}


GOOD = L(0, "mm_page_free", "page=00000000cafef00d pfn=0x100 order=0")


@pytest.mark.parametrize("bad, message", [
    ("not a trace line at all", "not a trace event line"),
    (GOOD.replace("order=0", "order=x"), "bad field value"),
    (GOOD.replace(" order=0", ""), "missing field order="),
    (AL(0, 0x10, gfp="GFP_NOT_A_FLAG"), "unknown GFP flag name"),
    (GOOD.replace("pfn=0x100", "pfn=0xzz"), "bad pfn"),
    (GOOD.replace("bash-7 ", "bash   "), "columns before the event"),
])
def test_malformed_lines(tmp_path, bad, message):
    text = "\n".join([GOOD] * 3 + [bad] + [GOOD, bad, GOOD]) + "\n"
    p = str(_write(tmp_path, "bad.txt", text))
    with pytest.raises(InputError) as e:
        stat_trace(p)
    assert (e.value.path, e.value.line) == (p, 4)
    assert message in str(e.value)
    s = stat_trace(p, skip_bad=True)
    assert s["bad_lines"] == 2 and s["frees"]["total"] == 5 and s["lines"] == 7


def test_first_error_with_processes(tmp_path):
    """With several processes the first malformed line is still the one reported."""
    body = [GOOD] * 30000
    body[25000] = GOOD.replace("order=0", "order=x")
    body[29000] = "junk"
    p = str(_write(tmp_path, "bad.txt", "\n".join(body) + "\n"))
    for jobs in (1, 2, 3):
        with pytest.raises(InputError) as e:
            stat_trace(p, jobs=jobs)
        assert e.value.line == 25001
        s = stat_trace(p, skip_bad=True, jobs=jobs)
        assert (s["bad_lines"], s["frees"]["total"], s["lines"]) == (2, 29998, 30000)


def test_render_empty_trace(tmp_path):
    s = stat_trace(str(_write(tmp_path, "e.txt", "# tracer: nop\n")))
    assert s["allocations"]["total"] == 0 and s["duration_s"] is None
    assert "Total allocation requests" in render_stat(s)


def test_render_table(set2_stat):
    text = render_stat(set2_stat)
    for heading in ("SUMMARY (page allocator)", "Allocations by order and migratetype",
                    "Allocations by gfp flags", "Per-CPU lists vs buddy",
                    "Fallbacks (mm_page_alloc_extfrag)", "Callers (by comm)"):
        assert heading in text
    total = f"{set2_stat['allocations']['total']:,}"
    assert re.search(rf"Total allocation requests\s+:\s+{total}\b", text)


# ------------------------------------------------------------------------------------------
# The command.

def test_cli_json(set2_file, set2_stat, capsys):
    assert main(["stat", set2_file, "--json"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1 and json.loads(out) == set2_stat
    assert err == ""


def test_cli_table(set2_file, capsys):
    assert main(["stat", set2_file, "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SUMMARY (page allocator)")


def test_cli_reads_stdin(set2_lines):
    """``pagealloc stat -``: a trace piped in (as from trace_pipe), gzip-compressed here."""
    import gzip
    import os
    import subprocess
    import sys
    text = "\n".join(set2_lines[:3000]) + "\n"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "pagealloc", "stat", "-", "--json"],
                         input=gzip.compress(text.encode()), capture_output=True, env=env,
                         check=True).stdout
    s = json.loads(out)
    assert s["lines"] == 3000 and s["events"]["mm_page_alloc"] > 0


def test_cli_bad_input(tmp_path, capsys):
    p = _write(tmp_path, "bad.txt", GOOD + "\nnonsense\n")
    assert main(["stat", str(p), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"{p}:2: not a trace event line" in err
    assert main(["stat", str(p), "--json", "--skip-bad"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["bad_lines"] == 1 and "1 malformed lines skipped" in err
    assert main(["stat", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
