"""The block scan of raw ftrace lines (traces/rawscan.py) against the per-line reader.

Whatever a line holds, EventBlocks must give the same tuples, line numbers, bad-line
counts and messages with the scan as without it (``scan=False``): the scan is only
allowed to be faster. Hypothesis writes raw ftrace lines with every column varied and
with the damage a real file can hold; the oracle's traces are compared whole.
"""
from __future__ import annotations

import lzma
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagealloc.errors import InputError
from pagealloc.traces.layouts import relayout
from pagealloc.traces.rawscan import EVENT_PREFIXES, scan_block
from pagealloc.traces.replay_input import (ALLOC, DRAIN, FREE, ZONE_LOCKED, EventBlocks,
                                            ts_of)


def _read(path: Path, *, scan: bool, skip_bad: bool = True, limit: int | None = None):
    eb = EventBlocks(str(path), skip_bad=skip_bad, limit=limit, scan=scan)
    # ``when`` as the replay reads it (flags, timestamp): a comm holding ": " sends a
    # line to the general parser, which rebuilds the columns without the comm
    events = [ev[:7] + (ev[7][31:36], ts_of(ev[7])) for block in eb for ev in block]
    return events, eb.lines, eb.bad_lines, eb.first_bad, dict(eb.other), eb.lost_events


def _same(path: Path, **kw) -> list:
    fast = _read(path, scan=True, **kw)
    slow = _read(path, scan=False, **kw)
    assert fast == slow
    return fast[0]


def _line(comm: str, pid: int, cpu: int, flags: str, ts: str, event: str, fields: str) -> str:
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags} {ts:>12}: {event}: {fields}\n"


_TAILS = {
    "mm_page_alloc": "order={o} migratetype={m} gfp_flags={g}",
    "mm_page_free": "order={o}",
    "mm_page_free_batched": "order=0",
    "mm_page_alloc_zone_locked": "order={o} migratetype={m} percpu_refill={r}",
    "mm_page_pcpu_drain": "order={o} migratetype={m}",
    "mm_page_alloc_extfrag": "alloc_order={o} fallback_order=9 pageblock_order=9 "
                             "alloc_migratetype={m} fallback_migratetype=0 fragmenting=1 "
                             "change_ownership=1",
    "mm_compaction_isolate_freepages": "range=(0x1000 ~ 0x1200) nr_scanned=12 nr_taken=3",
    "mm_vmscan_kswapd_wake": "nid=0 order=3",
    "tracing_mark_write": "KT snapshot x begin",
}

_hexdigits = st.text("0123456789abcdef", min_size=1, max_size=17)


@st.composite
def raw_line(draw) -> str:
    event = draw(st.sampled_from(sorted(_TAILS)))
    comm = draw(st.sampled_from(["t", "kworker/u4:2", "<idle>", "dd", "a: b", "x" * 15,
                                 "sh[1]"]))
    pid = draw(st.sampled_from([0, 7, 498, 4194304, 123456789]))
    cpu = draw(st.integers(0, 1100))
    flags = draw(st.sampled_from([".....", "d..3.", "..s1.", "d.h2.", "dNs.."]))
    secs = draw(st.sampled_from([0, 2, 99999, 100000, 12345678, 10 ** 12]))
    ts = f"{secs}.{draw(st.integers(0, 999999)):06d}"
    page = draw(st.sampled_from(["00000000fa8717b5", "0000000000000000", "(null)",
                                 "0000 0000fa8717b", "fa8717b5", "00000000FA8717B5"]))
    pfn = draw(st.one_of(_hexdigits.map(lambda h: "0x" + h), st.sampled_from(
        ["0x", "0xzz", "12", "0x1g", "0x" + "f" * 16, "0x800000000"])))
    tail = _TAILS[event].format(o=draw(st.integers(0, 11)), m=draw(st.integers(-1, 6)),
                                g=draw(st.sampled_from(["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|"
                                                        "__GFP_COMP", "0x0", "GFP_NOWAIT|?"])),
                                r=draw(st.integers(0, 1)))
    fields = (f"page={page} pfn={pfn} {tail}"
              if event.startswith("mm_page") else tail)
    line = _line(comm, pid, cpu, flags, ts, event, fields)
    damage = draw(st.sampled_from(["", "", "", "cut", "tab", "cr", "trailing", "double"]))
    if damage == "cut":
        line = line[:draw(st.integers(0, len(line) - 1))] + "\n"
    elif damage == "tab":
        line = line.replace(" pfn=", "\tpfn=")
    elif damage == "trailing":
        line = line[:-1] + " \n"
    elif damage == "double":
        line = line.replace(": ", ":  ", 2)
    return line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(raw_line(), min_size=1, max_size=40),
       st.sampled_from(["# tracer: nop\n#\n", "", "CPU:1 [LOST 17 EVENTS]\n"]))
def test_scan_gives_the_per_line_readers_tuples(tmp_path, lines, head):
    p = tmp_path / "t.txt"
    p.write_text(head + "".join(lines))
    _same(p)
    _same(p, limit=len(lines) // 2 + 1)


def test_scan_reads_the_columns_and_leaves_the_rest(tmp_path):
    ok = [_line("dd", 498, 1, ".....", "4.920691", "mm_page_alloc",
                "page=000000009ea48479 pfn=0x21a95 order=0 migratetype=1 "
                "gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
          _line("init", 1, 17, "d..3.", "123456.5", "mm_page_alloc_zone_locked",
                "page=000000002502da50 pfn=0x7fffffffe order=3 migratetype=0 percpu_refill=1"),
          _line("x", 2, 999, "d..3.", "2.5", "mm_page_pcpu_drain",
                "page=000000002502da50 pfn=0x5 order=9 migratetype=2"),
          _line("x", 2, 0, ".....", "2.5", "mm_page_free",
                "page=000000002502da50 pfn=0x1234 order=10")]
    other = ["# tracer: nop\n",
             _line("x", 2, 0, ".....", "2.5", "mm_page_free",
                   "page=000000002502da50 pfn=0x800000000 order=0"),     # beyond 2^35
             _line("x", 2, 0, ".....", "2.5", "mm_page_free",
                   "page=000000002502da50 pfn=0x" + "1" * 16 + " order=0"),
             _line("x", 2, 0, ".....", "2.5", "mm_page_free",
                   "page=00000000 pfn=0x5 order=0"),                      # 32-bit %p
             _line("x", 2, 0, ".....", "2.5", "mm_vmscan_kswapd_wake", "nid=0 order=3"),
             "            sh-7       [000] .....     2.5: mm_page_free: page=1 pfn=0x5 order=0\n"]
    text = "".join(ok + other).encode()
    sb = scan_block(text)
    assert sb is not None and sb.n == len(ok) + len(other)
    infos = sb.info
    assert all(i == 0 for i in infos[len(ok):])
    got = [(i & 7, (i >> 3) & 1023, i >> 28) for i in infos[:len(ok)]]
    assert got == [(ALLOC, 1, 0x21a95), (ZONE_LOCKED, 17, 0x7fffffffe), (DRAIN, 999, 5),
                   (FREE, 0, 0x1234)]
    starts = [0] + [e + 1 for e in sb.end[:-1]]
    for k, line in enumerate(ok):
        s, i = starts[k], infos[k]
        assert text[s + ((i >> 13) & 127):].startswith(b": mm_page_")
        assert text[s + ((i >> 20) & 255):].startswith(b"order=")
    assert sb.end[-1] == len(text) - 1
    assert scan_block(b"".join(x.encode() for x in other[-2:])) is None
    assert scan_block(b"") is None


def test_event_prefixes_are_the_readers_events():
    assert sorted(code for _, code in EVENT_PREFIXES) == sorted(
        [ALLOC, FREE, ZONE_LOCKED, DRAIN, 3])
    assert all(p.endswith(b": page=") for p, _ in EVENT_PREFIXES)


def test_bad_pfn_is_reported_with_its_line_either_way(tmp_path):
    good = _line("x", 2, 0, ".....", "2.5", "mm_page_free", "page=000000002502da50 pfn=0x5 "
                 "order=0")
    bad = _line("x", 2, 0, ".....", "2.5", "mm_page_free", "page=000000002502da50 pfn=0x5q "
                "order=0")
    p = tmp_path / "t.txt"
    p.write_text(good * 3 + bad + good)
    for scan in (True, False):
        with pytest.raises(InputError) as e:
            _read(p, scan=scan, skip_bad=False)
        assert e.value.line == 4 and "bad pfn" in str(e.value)
    events = _same(p)
    assert [ev[0] for ev in events] == [1, 2, 3, 5]


@pytest.mark.parametrize("trace", ["set2/m256-smp1", "m256-smp1"])
def test_oracle_traces_read_the_same_with_the_scan(oracle, trace):
    events = _same(oracle / trace / "trace.txt.xz")
    assert len(events) > 10_000


@pytest.mark.parametrize("layout", ["trace-cmd", "perf"])
def test_other_layouts_give_the_raw_tuples(oracle, tmp_path, layout):
    with lzma.open(oracle / "set2" / "m256-smp1" / "trace.txt.xz", "rt") as f:
        lines = [ln.rstrip("\n") for ln in f if not ln.startswith("#")][:30_000]
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join(lines) + "\n")
    other = tmp_path / "other.txt"
    other.write_text("\n".join(relayout(ln, layout) for ln in lines) + "\n")
    want = _read(raw, scan=True, skip_bad=False)
    got = _read(other, scan=True, skip_bad=False)
    if layout == "perf":       # perf prints no flags
        want = ([ev[:7] + (b".....", ev[8]) for ev in want[0]],) + want[1:]
    assert got == want
    assert got[2] == 0 and len(got[0]) + sum(got[4].values()) == len(lines) == 30_000


def test_relayout_refuses_an_unknown_layout():
    with pytest.raises(ValueError, match="trace-cmd"):
        relayout("x", "ftrace-json")
    assert relayout("# tracer: nop", "perf") == "# tracer: nop"


@pytest.mark.parametrize("scan", [True, False])
def test_a_cut_compaction_range_is_a_bad_line(tmp_path, scan):
    # found by the hypothesis test: "...: mm_compaction_isolate_freepages: r" crashed
    p = tmp_path / "t.txt"
    p.write_text(_line("t", 0, 0, ".....", "0.000000", "mm_compaction_isolate_freepages", "r"))
    with pytest.raises(InputError) as e:
        _read(p, scan=scan, skip_bad=False)
    assert e.value.line == 1 and "range=" in str(e.value)
    assert _read(p, scan=scan)[2] == 1
