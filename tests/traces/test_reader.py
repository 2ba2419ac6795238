"""Tests for pagealloc.traces.reader: real ftrace captures, trace-cmd and perf layouts.

Every kmem field the reader yields is compared with an independent regex parse of the
same real line (oracle set 1 and set 2 captures of Debian's 6.1 kernel).
"""
from __future__ import annotations

import gzip
import lzma
import re
import tracemalloc
from pathlib import Path

import pytest

from pagealloc.errors import InputError
from pagealloc.mm.gfp import format_gfp, parse_gfp
from pagealloc.traces.reader import (KMEM_EVENTS, TraceReader, detect_format, parse_fields,
                                     parse_line, read_events)

# the raw ftrace line, as kernel/trace/trace_output.c prints it with irq-info
LINE_RE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\] (?P<flags>\S{5})\s+"
                     r"(?P<ts>\d+\.\d{6}): (?P<event>\w+): (?P<fields>.*)$")
FIELD_RE = re.compile(r"(\w+)=(\S+)")


def real_lines(oracle: Path, rel: str, limit: int | None = None) -> list[str]:
    out = []
    with lzma.open(oracle / rel, "rt") as f:
        for i, line in enumerate(f):
            if limit is not None and i >= limit:
                break
            out.append(line.rstrip("\n"))
    return out


def regex_event(line: str) -> dict | None:
    m = LINE_RE.match(line)
    if m is None:
        return None
    d = m.groupdict()
    d["fields"] = dict(FIELD_RE.findall(d["fields"]))
    return d


def check_kmem(ev, d: dict) -> None:
    """The reader's event equals the regex reading of the same line."""
    f = d["fields"]
    assert ev.name == d["event"]
    assert ev.comm == d["comm"].strip()
    assert ev.pid == int(d["pid"])
    assert ev.cpu == int(d["cpu"])
    assert ev.flags == d["flags"]
    assert ev.ts == float(d["ts"])
    pfn = int(f["pfn"], 16)
    if d["event"] == "mm_page_alloc" and pfn == 0:
        assert ev.pfn == -1 and ev.failed
    else:
        assert ev.pfn == pfn and not ev.failed
    if d["event"] == "mm_page_alloc_extfrag":
        assert ev.order == int(f["alloc_order"])
        assert ev.migratetype == int(f["alloc_migratetype"])
        for k in ("fallback_order", "pageblock_order", "fallback_migratetype", "fragmenting",
                  "change_ownership"):
            assert ev.extra[k] == int(f[k])
    else:
        assert ev.order == int(f["order"])
    if "migratetype" in f:
        assert ev.migratetype == int(f["migratetype"])
    if "gfp_flags" in f:
        assert format_gfp(ev.gfp) == f["gfp_flags"]
    else:
        assert ev.gfp is None
    if "percpu_refill" in f:
        assert ev.extra["percpu_refill"] == int(f["percpu_refill"])


@pytest.mark.parametrize("rel", ["m256-smp1/trace.txt.xz", "set2/m256-smp1/trace.txt.xz"])
def test_real_trace_fields_match_regex(oracle, rel):
    lines = real_lines(oracle, rel, 30000)
    events = {ev.line: ev for ev in read_events(str(oracle / rel))
              if ev.line <= len(lines)}
    kinds = set()
    for n, line in enumerate(lines, 1):
        d = regex_event(line)
        if d is None:
            assert line.startswith("#") and n not in events
            continue
        ev = events[n]
        kinds.add(ev.name)
        if d["event"] in KMEM_EVENTS:
            check_kmem(ev, d)
        else:
            assert ev.name == d["event"] and ev.extra is not None
    assert {"mm_page_alloc", "mm_page_free", "mm_page_alloc_zone_locked"} <= kinds


def test_whole_real_trace_counts(oracle):
    rel = "m256-smp1/trace.txt.xz"
    counts: dict[str, int] = {}
    lines = 0
    with lzma.open(oracle / rel, "rb") as f:
        for line in f:
            lines += 1
            if line.startswith(b"#"):
                continue
            name = line.split(b": ")[1].decode()
            counts[name] = counts.get(name, 0) + 1
    r = TraceReader(str(oracle / rel))
    mine: dict[str, int] = {}
    for ev in r:
        mine[ev.name] = mine.get(ev.name, 0) + 1
    assert mine == counts
    assert r.lines == lines and r.bad_lines == 0 and r.format == "ftrace"


def test_fast_path_equals_general_parser(oracle):
    """Each line read by the block/split fast path equals parse_line's slow reading."""
    rel = "set2/m1g-smp2/trace.txt.xz"
    lines = real_lines(oracle, rel, 20000)
    for ev in read_events(str(oracle / rel)):
        if ev.line > len(lines):
            break
        slow = parse_line(lines[ev.line - 1].encode(), ev.line)
        assert slow == ev


def test_set2_markers_and_compaction(oracle):
    rel = "set2/m256-smp1/trace.txt.xz"
    marks = []
    iso = []
    names = set()
    for ev in read_events(str(oracle / rel), events={"tracing_mark_write",
                                                       "mm_compaction_isolate_freepages",
                                                       "mm_compaction_begin",
                                                       "mm_compaction_suitable",
                                                       "mm_vmscan_wakeup_kswapd"}):
        names.add(ev.name)
        if ev.name == "tracing_mark_write":
            marks.append(ev.extra["message"])
        elif ev.name == "mm_compaction_isolate_freepages":
            iso.append(ev)
        elif ev.name == "mm_compaction_begin":
            assert ev.extra["zone_end"].startswith("0x") and ev.extra["mode"] == "sync"
        elif ev.name == "mm_compaction_suitable":
            assert ev.extra["zone"] in ("DMA", "DMA32", "Normal")
        elif ev.name == "mm_vmscan_wakeup_kswapd":
            assert parse_gfp(ev.extra["gfp_flags"]) >= 0
    assert marks[0].startswith("KT ") and len(marks) == 25
    assert "KT snapshot before begin" in marks
    assert iso
    for ev in iso:
        assert ev.pfn == ev.extra["start_pfn"] < ev.extra["end_pfn"]
        assert 0 <= ev.extra["nr_taken"] <= ev.extra["nr_scanned"]
    assert "mm_vmscan_wakeup_kswapd" in names


# ------------------------------------------------------------------------------------------
# Other layouts, made from real lines.

def to_trace_cmd(d: dict, hex_gfp: bool = False) -> str:
    f = d["fields"]
    fields = " ".join(f"{k}={v}" for k, v in f.items())
    if "page" in f:
        # trace-cmd cannot hash: it prints a pointer of its own making
        fields = fields.replace(f"page={f['page']}",
                                f"page=0xffffea{int(f['pfn'], 16) * 64:010x}")
    if hex_gfp and "gfp_flags" in f:
        fields = fields.replace(f"gfp_flags={f['gfp_flags']}",
                                f"gfp_flags={parse_gfp(f['gfp_flags']):#x}")
    return (f"{d['comm'].strip():>16}-{int(d['pid']):<5} [{int(d['cpu']):03d}] {d['flags']} "
            f"{d['ts']:>12}: {d['event'] + ':':<21} {fields}")


def to_perf(d: dict, page: bool = True) -> str:
    f = dict(d["fields"])
    if not page:
        f.pop("page", None)
    fields = " ".join(f"{k}={v}" for k, v in f.items())
    return (f"{d['comm'].strip():>16} {int(d['pid']):>6} [{int(d['cpu']):03d}] "
            f"{d['ts']:>12}: {'kmem:' + d['event']:>30}: {fields}")


def kmem_tuple(ev) -> tuple:
    return (ev.name, ev.comm, ev.pid, ev.cpu, ev.ts, ev.pfn, ev.order, ev.migratetype, ev.gfp,
            dict(ev.extra) if ev.extra else {})


@pytest.fixture(scope="module")
def sample(oracle) -> list[dict]:
    """3000 real kmem lines, and the extfrag ones, regex-read."""
    ds, extfrag = [], []
    with lzma.open(oracle / "m256-smp1/trace.txt.xz", "rt") as f:
        for line in f:
            if len(ds) < 3000 or "extfrag" in line:
                d = regex_event(line.rstrip("\n"))
                if d and d["event"] == "mm_page_alloc_extfrag":
                    extfrag.append(d)
                elif d and len(ds) < 3000:
                    ds.append(d)
    assert extfrag
    return ds + extfrag


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("layout", ["trace-cmd", "trace-cmd-hex-gfp", "perf", "perf-no-page"])
def test_other_layouts_read_the_same(tmp_path, sample, layout):
    ref_lines = []
    for d in sample:
        ref_lines.append(f"{d['comm']:>16}-{int(d['pid']):<7} [{int(d['cpu']):03d}] {d['flags']} "
                         f"{d['ts']:>12}: {d['event']}: "
                         + " ".join(f"{k}={v}" for k, v in d["fields"].items()))
    ref = [kmem_tuple(ev) for ev in read_events(write(tmp_path, "t.txt",
                                                      "\n".join(ref_lines) + "\n"))]
    if layout.startswith("trace-cmd"):
        body = "cpus=2\n" + "\n".join(to_trace_cmd(d, layout.endswith("gfp")) for d in sample)
        want_fmt = "trace-cmd"
    else:
        body = "\n".join(to_perf(d, page=layout == "perf") for d in sample)
        want_fmt = "perf"
    path = write(tmp_path, "other.txt", body + "\n")
    r = TraceReader(path)
    got = [kmem_tuple(ev) for ev in r]
    assert got == ref
    assert r.format == want_fmt == detect_format(path)


def test_perf_callchains_and_blank_lines_are_skipped(tmp_path, sample):
    d = sample[0]
    text = (to_perf(d) + "\n\tffffffff8123abcd __alloc_pages+0x1f ([kernel.kallsyms])\n"
            "\t    ffffffff8123ff00 alloc_pages+0x9 ([kernel.kallsyms])\n\n" + to_perf(sample[1])
            + "\n")
    r = TraceReader(write(tmp_path, "p.txt", text))
    assert [ev.line for ev in r] == [1, 5] and r.bad_lines == 0


def test_ftrace_stack_traces_are_skipped(tmp_path):
    text = (f"            bash-2047    [002] .....  5208.376652: {ALLOC}\n"
            "            bash-2047    [002] .....  5208.376653: <stack trace>\n"
            " => __alloc_pages\n => alloc_pages_vma\n => do_anonymous_page\n"
            f"            bash-2047    [002] .....  5208.376700: {ALLOC}\n")
    r = TraceReader(write(tmp_path, "s.txt", text))
    assert [ev.line for ev in r] == [1, 6] and r.bad_lines == 0


def test_compressed_inputs_read_the_same(tmp_path, oracle):
    lines = real_lines(oracle, "set2/m256-smp1/trace.txt.xz", 5000)
    text = "\n".join(lines) + "\n"
    plain = write(tmp_path, "t.txt", text)
    (tmp_path / "t.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "t.xz").write_bytes(lzma.compress(text.encode()))
    (tmp_path / "t.crlf").write_bytes(text.replace("\n", "\r\n").encode())
    ref = list(read_events(plain))
    assert len(ref) == 5000 - 12
    for name in ("t.gz", "t.xz", "t.crlf"):
        assert list(read_events(str(tmp_path / name))) == ref


# ------------------------------------------------------------------------------------------
# Column variants and odd lines.

ALLOC = ("mm_page_alloc: page=00000000c1a4e7f2 pfn=0x12a4c7 order=0 migratetype=1 "
         "gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO")


@pytest.mark.parametrize("line, comm, pid, cpu, flags", [
    (f"            bash-2047    [002] .....  5208.376652: {ALLOC}", "bash", 2047, 2, "....."),
    # without the irq-info option: no flags column
    (f"            bash-2047    [002]  5208.376652: {ALLOC}", "bash", 2047, 2, ""),
    # record-tgid
    (f"            bash-2047    (   2040) [002] d..1.  5208.376652: {ALLOC}", "bash", 2047, 2,
     "d..1."),
    # a comm with a space, and one with ": " in it (the general parser finds the columns)
    (f"        my prog-77       [001] .....  5208.376652: {ALLOC}", "my prog", 77, 1, "....."),
    (f"          a: b-78       [001] .....  5208.376652: {ALLOC}", "a: b", 78, 1, "....."),
    # uptime past 99999 s widens the timestamp
    (f"     kworker/0:1-12      [000] ..s1. 123456.000001: {ALLOC}", "kworker/0:1", 12, 0,
     "..s1."),
    (f"          <idle>-0       [003] d.h1.  5208.376652: {ALLOC}", "<idle>", 0, 3, "d.h1."),
])
def test_column_variants(tmp_path, line, comm, pid, cpu, flags):
    evs = list(read_events(write(tmp_path, "v.txt", line + "\n")))
    assert len(evs) == 1
    ev = evs[0]
    assert (ev.comm, ev.pid, ev.cpu, ev.flags) == (comm, pid, cpu, flags)
    assert (ev.name, ev.pfn, ev.order, ev.migratetype) == ("mm_page_alloc", 0x12a4c7, 0, 1)
    assert ev.gfp == parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO")


def test_failed_allocation_and_lost_events(tmp_path):
    text = ("# tracer: nop\n#\n"
            "            java-4120    [000] .....  5208.512345: mm_page_alloc: "
            "page=0000000000000000 pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE_LIGHT\n"
            "CPU:1 [LOST 42 EVENTS]\n"
            "##### CPU 1 buffer started ####\n")
    r = TraceReader(write(tmp_path, "f.txt", text))
    (ev,) = list(r)
    assert ev.failed and ev.pfn == -1 and ev.order == 9
    assert r.lost_events == 42 and r.bad_lines == 0 and r.format == "ftrace"


GOOD = "              cc-3110    [001] .....  5208.401133: mm_page_free: page=000000005f0c2b9e pfn=0x11d002 order=0"


@pytest.mark.parametrize("bad, message", [
    ("this is not a trace line", "not a trace event line"),
    (GOOD.replace("pfn=0x11d002", "pfn=0xzz"), "bad pfn"),
    (GOOD.replace(" order=0", ""), "missing field order="),
    (GOOD.replace("order=0", "order=x"), "bad field value"),
    (GOOD.replace("pfn=0x11d002 ", ""), "missing pfn"),
    (GOOD.replace("5208.401133", "5208.4x1133"), "timestamp"),
    (GOOD.replace("[001]", "[0a1]"), ""),
    (ALLOC.join(["            bash-2047    [002] .....  5208.376652: ", ""]).replace(
        "GFP_HIGHUSER_MOVABLE", "GFP_NO_SUCH_FLAG"), "unknown GFP flag name"),
])
def test_malformed_lines(tmp_path, bad, message):
    path = write(tmp_path, "bad.txt", f"{GOOD}\n{GOOD}\n{bad}\n{GOOD}\n")
    with pytest.raises(InputError) as e:
        list(read_events(path))
    assert e.value.line == 3 and e.value.path == path
    assert str(e.value).startswith(f"{path}:3: ")
    assert message in str(e.value)
    r = TraceReader(path, skip_bad=True)
    assert [ev.line for ev in r] == [1, 2, 4]
    assert r.bad_lines == 1 and r.first_bad[0] == 3


def test_missing_file():
    with pytest.raises(InputError, match="no such file"):
        list(read_events("/nonexistent/trace.txt"))


def test_parse_fields():
    assert parse_fields("range=(0x3fc00 ~ 0x3fe00) nr_scanned=512 nr_taken=0") == {
        "range": "(0x3fc00 ~ 0x3fe00)", "nr_scanned": "512", "nr_taken": "0"}
    assert parse_fields("zone_start=0x1 zone_end=0x1000, mode=sync") == {
        "zone_start": "0x1", "zone_end": "0x1000", "mode": "sync"}
    assert parse_fields("node=0 zone=DMA32    order=-1 ret=continue")["zone"] == "DMA32"
    assert parse_fields("KT phase fill begin") is None


def test_streams_in_bounded_memory(tmp_path, sample):
    """25 000 lines (3.7 MB) go through with a smaller peak: nothing is kept per line."""
    block = "\n".join(to_trace_cmd(d) for d in sample[:1000]) + "\n"
    path = tmp_path / "big.txt"
    with open(path, "w") as f:
        for _ in range(25):
            f.write(block)
    assert path.stat().st_size > 3_500_000
    tracemalloc.start()
    try:
        n = 0
        for _ in read_events(str(path)):
            n += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 25_000
    assert peak < 2_500_000
