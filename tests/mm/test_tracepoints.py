"""The model's kmem tracepoint lines (mm/tracepoints.py) against real Linux 6.1 lines.

Real lines: oracle set 1 and set 2 captures (tracefs ``trace`` of Debian's 6.1.0-56 kernel)
and set 2's ``trace.formats.txt`` (each event's print fmt). Compared: the header, the
column layout of kernel/trace/trace_output.c, each event's field names and order, value
formats, gfp names, and what the trace reader makes of both.
"""
from __future__ import annotations

import lzma
import re
from pathlib import Path

import pytest

from pagealloc import Machine, gfp
from pagealloc.mm.gfp import format_gfp, parse_gfp
from pagealloc.mm.tracepoints import Tracer, format_trace_line, trace_header
from pagealloc.traces.reader import KMEM_EVENTS, TraceReader

FIELD_RE = re.compile(r"(\w+)=(\S+)")
HEADER_LINES = 12


def _event(line: str) -> str:
    return line[51:].split(":", 1)[0]


@pytest.fixture(scope="module")
def real(oracle) -> dict:
    """The header of a set 1 capture and up to 3000 lines of each kmem event, in order."""
    with lzma.open(oracle / "m1g-smp2/trace.txt.xz", "rt") as f:
        header = [next(f).rstrip("\n") for _ in range(HEADER_LINES)]
        lines, by_event = [], {}
        for line in f:
            line = line.rstrip("\n")
            got = by_event.setdefault(_event(line), [])
            if len(got) < 3000:
                got.append(line)
                lines.append(line)
    assert set(by_event) == set(KMEM_EVENTS)
    return {"header": header, "by_event": by_event, "lines": lines}


@pytest.fixture(scope="module")
def model() -> dict:
    """Model lines of every kmem event, a failure included."""
    m = Machine.boot(mem="1G", cpus=2)
    m.mm.trace = Tracer()
    pfns = [m.alloc_pages(gfp.GFP_KERNEL, 0) for _ in range(40)]   # extfrag, refill
    m.free_pages_list(pfns[:20])                                  # free + free_batched
    for p in pfns[20:]:
        m.free_pages(p, 0)
    thp = m.alloc_pages(gfp.GFP_TRANSHUGE_LIGHT, 9)
    m.free_pages(thp, 9)
    big = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 5)      # not a pcp order
    m.free_pages(big, 5)
    m.drain_all_pages()                                           # pcpu_drain
    held = []
    while True:
        p = m.alloc_pages(gfp.GFP_NOWAIT | gfp.__GFP_NOWARN, 10)
        if p is None:
            break
        held.append(p)
        assert len(held) < 1000
    lines = list(m.mm.trace.lines)
    by_event: dict[str, list[str]] = {}
    for line in lines:
        by_event.setdefault(_event(line), []).append(line)
    assert set(by_event) == set(KMEM_EVENTS)
    return {"machine": m, "lines": lines, "by_event": by_event, "failed": lines[-1],
            "written": m.mm.trace.written}


# ------------------------------------------------------------------------------------------
# Header and columns.

def test_header_is_the_kernels(real):
    hdr = real["header"]
    m = re.match(r"# entries-in-buffer/entries-written: (\d+)/(\d+)   #P:(\d+)$", hdr[2])
    assert m, hdr[2]
    assert trace_header(*map(int, m.groups())) == "\n".join(hdr) + "\n"


def _columns(line: str) -> dict:
    """Split a line by the columns of trace_output.c: "%16s-%-7d [%03d] %5s %5lu.%06lu: "."""
    assert line[16] == "-", line
    assert line[24:26] == " [" and line[29:31] == "] " and line[36] == " ", line
    assert line[49:51] == ": ", line
    return {"comm": line[:16], "pid": line[17:24], "cpu": line[26:29], "flags": line[31:36],
            "ts": line[37:49], "rest": line[51:]}


def _check_columns(line: str) -> None:
    c = _columns(line)
    comm = c["comm"].lstrip()
    assert c["comm"] == f"{comm:>16}"
    pid = int(c["pid"])
    assert c["pid"] == f"{pid:<7}"
    assert re.fullmatch(r"\d{3}", c["cpu"])
    assert re.fullmatch(r"[dDbX.][Nnp.][ZzHhs.][0-9a-f.][0-9a-f.]", c["flags"]), c["flags"]
    assert re.fullmatch(r"[ \d]{5}\.\d{6}", c["ts"]) and c["ts"][4] != " "
    assert re.fullmatch(r"\w+: \S.*", c["rest"])


def test_column_layout(real, model):
    for line in real["lines"][:3000]:
        _check_columns(line)
    for line in model["lines"]:
        _check_columns(line)


def test_format_trace_line_columns():
    line = format_trace_line("kworker/u4:2", 1234567, 7, "d..3.", 5208_376_652_000,
                             "mm_page_free", "page=00000000c1a4e7f2 pfn=0x12a4c7 order=0")
    assert line == ("    kworker/u4:2-1234567 [007] d..3.  5208.376652: mm_page_free: "
                    "page=00000000c1a4e7f2 pfn=0x12a4c7 order=0")
    _check_columns(line)


# ------------------------------------------------------------------------------------------
# Fields.

def _print_fmt_fields(oracle: Path) -> dict[str, list[str]]:
    text = (oracle / "set2/m1g-smp2/trace.formats.txt").read_text()
    out = {}
    for block in text.split("### ")[1:]:
        name = block.split("\n", 1)[0].split(":")[-1]
        m = re.search(r'print fmt: "([^"]*)"', block)
        if name in KMEM_EVENTS and m:
            out[name] = re.findall(r"(\w+)=", m.group(1))
    return out


@pytest.mark.parametrize("event", KMEM_EVENTS)
def test_field_names_and_order(real, model, oracle, event):
    names = _print_fmt_fields(oracle)[event]
    for line in real["by_event"][event][:200]:
        assert [k for k, _ in FIELD_RE.findall(_columns(line)["rest"])] == names
    for line in model["by_event"][event]:
        assert [k for k, _ in FIELD_RE.findall(_columns(line)["rest"])] == names
        # one space between fields, none at the end
        fields = _columns(line)["rest"].split(": ", 1)[1]
        assert fields == " ".join(f"{k}={v}" for k, v in FIELD_RE.findall(fields))


VALUE_RE = {
    "page": r"00000000[0-9a-f]{8}",       # %p with hash-ptr: 32-bit hash, zero-extended
    "pfn": r"0x(0|[1-9a-f][0-9a-f]*)",    # 0x%lx
    "order": r"\d+", "alloc_order": r"\d+", "fallback_order": r"\d+",
    "pageblock_order": r"9",
    "migratetype": r"[0-4]", "alloc_migratetype": r"[0-4]", "fallback_migratetype": r"[0-4]",
    "percpu_refill": r"[01]", "fragmenting": r"[01]", "change_ownership": r"[01]",
    "gfp_flags": r"none|[A-Z_0-9]+(\|[A-Z_0-9]+)*(\|0x[0-9a-f]+)?|0x[0-9a-f]+",
}


@pytest.mark.parametrize("event", KMEM_EVENTS)
def test_value_formats(real, model, event):
    for line in real["by_event"][event][:500] + model["by_event"][event]:
        for k, v in FIELD_RE.findall(_columns(line)["rest"]):
            assert re.fullmatch(VALUE_RE[k], v), (k, v, line)


def test_page_hash_is_per_pfn(real, model):
    """%p of a given struct page prints the same hash throughout a boot."""
    for lines in (real["lines"], model["lines"][:-1]):
        seen: dict[str, str] = {}
        for line in lines:
            f = dict(FIELD_RE.findall(line[51:]))
            assert seen.setdefault(f["pfn"], f["page"]) == f["page"]
        assert len(set(seen.values())) == len(seen)


def test_failed_allocation_line(model):
    # ptr_to_id prints NULL as a zero-padded raw pointer; the print fmt maps pfn -1 to 0
    f = _columns(model["failed"])["rest"]
    assert f == ("mm_page_alloc: page=0000000000000000 pfn=0x0 order=10 migratetype=0 "
                 "gfp_flags=GFP_NOWAIT|__GFP_NOWARN")


def test_extfrag_fields_follow_the_kernels_rules(real, model):
    for line in real["by_event"]["mm_page_alloc_extfrag"] + \
            model["by_event"]["mm_page_alloc_extfrag"]:
        f = {k: int(v, 0) for k, v in FIELD_RE.findall(line[51:]) if k != "page"}
        assert f["fragmenting"] == int(f["fallback_order"] < f["pageblock_order"])
        assert f["alloc_migratetype"] != f["fallback_migratetype"]


def test_percpu_refill_is_derived_from_order_and_type(real, model):
    """[6.1] __rmqueue_smallest prints pcp_allowed_order(order) && mt < MIGRATE_PCPTYPES."""
    for line in real["by_event"]["mm_page_alloc_zone_locked"] + \
            model["by_event"]["mm_page_alloc_zone_locked"]:
        f = dict(FIELD_RE.findall(line[51:]))
        o, mt = int(f["order"]), int(f["migratetype"])
        assert int(f["percpu_refill"]) == int((o <= 3 or o == 9) and mt < 3), line


def test_pcpu_drain_reports_pcp_orders(real, model):
    """free_pcppages_bulk reports the page and order as they sat on the pcp list."""
    for line in real["by_event"]["mm_page_pcpu_drain"] + \
            model["by_event"]["mm_page_pcpu_drain"]:
        f = dict(FIELD_RE.findall(line[51:]))
        assert int(f["order"]) in (0, 1, 2, 3, 9) and int(f["migratetype"]) < 3, line


# ------------------------------------------------------------------------------------------
# gfp names.

def _real_gfp_orders(oracle: Path) -> set[tuple[str, int]]:
    out = set()
    for rel in ("m256-smp1/trace.txt.xz", "set2/m256-smp1/trace.txt.xz"):
        text = lzma.open(oracle / rel, "rt").read()
        out |= {(g, int(o)) for o, g in
                re.findall(r"mm_page_alloc: \S+ \S+ order=(\d+) migratetype=\d gfp_flags=(\S+)",
                           text)}
    return out


def test_gfp_names(oracle):
    """Every gfp_flags text of the real traces, and the model printing those masks."""
    pairs = _real_gfp_orders(oracle)
    assert len({g for g, _ in pairs}) >= 10
    m = Machine.boot(mem="1G", cpus=2)
    m.mm.trace = Tracer()
    for text, order in sorted(pairs):
        assert format_gfp(parse_gfp(text)) == text
        m.mm.trace.lines.clear()
        pfn = m.alloc_pages(parse_gfp(text), order)
        assert pfn is not None
        line = m.mm.trace.lines[-1]
        assert _event(line) == "mm_page_alloc"
        assert dict(FIELD_RE.findall(line[51:]))["gfp_flags"] == text, text


# ------------------------------------------------------------------------------------------
# Through the reader.

def test_reader_reads_model_lines_as_real_ones(tmp_path, real, model):
    mp = tmp_path / "model.txt"
    mp.write_text(trace_header(model["written"], model["written"], 2)
                  + "\n".join(model["lines"]) + "\n")
    rp = tmp_path / "real.txt"
    rp.write_text("\n".join(real["header"] + real["lines"]) + "\n")
    shapes = {}
    for path in (rp, mp):
        r = TraceReader(str(path))
        got: dict[str, tuple] = {}
        for ev in r:
            got.setdefault(ev.name, (type(ev.pfn), type(ev.order), type(ev.migratetype),
                                     type(ev.gfp), tuple(sorted(ev.extra))))
        assert r.bad_lines == 0 and r.format == "ftrace"
        shapes[path.name] = got
    assert shapes["model.txt"] == shapes["real.txt"]


# ------------------------------------------------------------------------------------------
# The flags column: the context each event fires in.

_REAL_FLAGS_NOTE = ("model prints '...1.' or '.....' where the kernel runs this event with "
                    "IRQs off under zone->lock ('d..3.') or with preemption off ('...2.')")


@pytest.mark.parametrize("event", [
    "mm_page_alloc",
    "mm_page_free",
    "mm_page_free_batched",
    "mm_page_alloc_zone_locked",
    "mm_page_pcpu_drain",
    "mm_page_alloc_extfrag",
])
def test_flags_column_in_process_context(real, model, event):
    """In process context the model's flags are ones the kernel shows for the event."""
    real_flags = {_columns(line)["flags"] for line in real["by_event"][event]
                  if "s" not in _columns(line)["flags"] and "h" not in _columns(line)["flags"]}
    model_flags = {_columns(line)["flags"] for line in model["by_event"][event]}
    assert model_flags <= real_flags, (model_flags, real_flags)
