"""`pagealloc run` on a small scenario: the files, and their numbers against the model's."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pagealloc.cli import main
from pagealloc.commands.run import run_scenario
from pagealloc.mm.vmstat import VM_EVENT_ITEMS
from pagealloc.workload.scenario import loads_scenario

SMALL = """\
[scenario]
name = "small"
description = "a 256 MiB machine: page cache, anon with THP, slab, forks, NIC bursts"
duration = "3s"
tick = "10ms"
seed = 11

[machine]
mem = "256M"
nodes = 1
cpus = 2

[report]
sample_every = "1s"
views = ["buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat"]
memmap_at = ["0s", "end"]
track_orders = [3, 9, 10]

[probe]
every = "500ms"

[[phase]]
name = "main"

[[phase.actor]]
kind = "page_cache"
rate = "96M/s"
files = 40
file_size = { dist = "lognormal", median = "2M", sigma = 1.0 }

[[phase.actor]]
kind = "anon"
procs = 2
size = "48M"
fault_rate = "64M/s"
churn = "1M/s"

[[phase.actor]]
kind = "slab"
rate = "1M/s"
reclaimable = true
lifetime = { dist = "exp", mean = "1s" }

[[phase.actor]]
kind = "slab"
rate = "512K/s"

[[phase.actor]]
kind = "fork"
rate = "20/s"

[[phase.actor]]
kind = "net"
burst_rate = "30/s"
"""


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module", params=["auto", "plain"])
def ran(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"run-{request.param}")
    sc = loads_scenario(SMALL, "small.toml")
    summary, files, sim = run_scenario(sc, out, progress=False, mode=request.param, trace=True)
    return summary, files, sim, out


def test_files_are_written(ran):
    summary, files, sim, out = ran
    for name in ("metrics.csv", "timeline.csv", "highorder.csv", "report.html", "trace.txt",
                 "free_by_order.png", "unusable_index.png", "extfrag_index.png", "highorder.png",
                 "migratetypes.png", "pressure.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
        assert name in files
    assert len(list(out.glob("memmap.*.png"))) == 2
    views = sorted(p.name for p in (out / "views").iterdir())
    # a sample every second from 0 to 3 s, four views each
    assert len(views) == 4 * 4
    assert "buddyinfo.t00003.00s.txt" in views
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 8


def test_last_metrics_equal_the_zones(ran):
    summary, files, sim, out = ran
    mm = sim.machine.mm
    rows = _rows(out / "metrics.csv")
    last_t = rows[-1]["t_s"]
    last = {(int(r["node"]), r["zone"]): r for r in rows if r["t_s"] == last_t}
    assert float(last_t) == sim.scenario.duration
    zones = [z for z in mm.zones if z.present_pages]
    assert len(last) == len(zones)
    for z in zones:
        r = last[(z.nid, z.name)]
        assert [int(r[f"free_o{o}"]) for o in range(11)] == list(z.nr_free)
        assert int(r["free_pages"]) == max(z.vm_free, 0)
        assert int(r["wmark_low"]) == z._watermark[1]
    # pageblock counts as /proc/pagetypeinfo has them at the same moment
    pti = (out / "views" / "pagetypeinfo.t00003.00s.txt").read_text()
    counts = pti.split("Number of blocks type")[1].splitlines()[1:]
    for z in zones:
        line = next(l for l in counts if l.startswith(f"Node {z.nid}, zone") and
                    l.split()[3] == z.name)
        r = last[(z.nid, z.name)]
        assert [int(x) for x in line.split()[4:]] == [
            int(r[f"blocks_{n}"]) for n in ("unmovable", "movable", "reclaimable", "highatomic",
                                           "isolate")]
    # the final buddyinfo view says the same
    buddy = (out / "views" / "buddyinfo.t00003.00s.txt").read_text().splitlines()
    for z in zones:
        line = next(l for l in buddy if f"Node {z.nid}, zone" in l and l.split()[3] == z.name)
        assert [int(x) for x in line.split()[4:]] == list(z.nr_free)


def test_timeline_and_summary_equal_the_counters(ran):
    summary, files, sim, out = ran
    mm = sim.machine.mm
    tl = _rows(out / "timeline.csv")
    last = tl[-1]
    assert int(last["free_pages"]) == sum(max(z.vm_free, 0) for z in mm.zones)
    ev = dict(zip(VM_EVENT_ITEMS, mm.events))
    for name in ("pgfree", "thp_fault_alloc", "compact_stall", "pgsteal_kswapd"):
        assert int(last[name]) == ev[name]
    assert summary["free_pages"] == int(last["free_pages"])
    assert summary["alloc_attempts"] == int(last["alloc_attempts"]) == sum(sim.pages.attempts)
    assert summary["thp_fault_alloc"] == ev["thp_fault_alloc"] > 0


def test_highorder_table_counts_every_attempt(ran):
    summary, files, sim, out = ran
    rows = _rows(out / "highorder.csv")
    recs = sim.pages.highorder
    for order in (3, 9, 10):
        n = sum(int(r["attempts"]) for r in rows if int(r["order"]) == order)
        ok = sum(int(r["successes"]) for r in rows if int(r["order"]) == order)
        assert n == sum(1 for r in recs if r[1] == order) == summary[f"order{order}_attempts"]
        assert ok == sum(1 for r in recs if r[1] == order and r[3])
    # probes every 500 ms from 0.5 s to 3 s: six tries of order 10
    assert summary["order10_attempts"] == 6


def test_trace_is_ftrace_text(ran):
    summary, files, sim, out = ran
    lines = (out / "trace.txt").read_text().splitlines()
    assert lines[0] == "# tracer: nop"
    events = [l for l in lines if not l.startswith("#")]
    assert any(": mm_page_alloc: " in l for l in events)
    assert any(": mm_page_free" in l for l in events)
    assert f"entries-written: {len(events)}/{len(events)}" in lines[2].replace(" ", "") or \
        f"{len(events)}/{len(events)}" in lines[2]


def test_the_machine_is_consistent_after_the_run(ran):
    summary, files, sim, out = ran
    sim.machine.check()


def test_cli_run_json(tmp_path):
    sc = tmp_path / "s.toml"
    sc.write_text(SMALL.replace('duration = "3s"', 'duration = "1s"'))
    out = tmp_path / "out"
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["run", str(sc), "--out", str(out), "--quiet", "--json", "--seed", "5",
                   "--no-report"])
    assert rc == 0
    s = json.loads(buf.getvalue())
    assert s["seed"] == 5 and s["simulated_s"] == 1.0
    assert (out / "metrics.csv").is_file() and not (out / "report.html").exists()


def test_cli_bad_scenario_exits_2(tmp_path, capsys):
    sc = tmp_path / "s.toml"
    sc.write_text(SMALL.replace('kind = "net"', 'kind = "nic"'))
    assert main(["run", str(sc), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{sc}:" in err and "phase[0].actor[5].kind" in err
