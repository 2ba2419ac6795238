"""`pagealloc sweep`: a tiny grid on a local Dask cluster of two worker processes."""
from __future__ import annotations

import csv

import pytest

pytest.importorskip("dask.distributed")

from pagealloc.cli import main  # noqa: E402
from pagealloc.errors import InputError  # noqa: E402
from pagealloc.sweep import expand_grid, load_sweep  # noqa: E402

SCENARIO = """\
[scenario]
name = "tiny"
duration = "2s"
seed = 1

[machine]
mem = "128M"
cpus = 2

[report]
sample_every = "1s"

[probe]
every = "250ms"
orders = [3, 9]

[[phase]]
name = "p"

[[phase.actor]]
kind = "page_cache"
rate = "96M/s"
files = 30

[[phase.actor]]
kind = "anon"
procs = 1
size = "24M"

[[phase.actor]]
kind = "net"
burst_rate = "40/s"
"""


def test_grid_expansion():
    pts = expand_grid({"seed": [1, 2], "vm.x": [0, 5]})
    assert pts == [{"seed": 1, "vm.x": 0}, {"seed": 1, "vm.x": 5},
                   {"seed": 2, "vm.x": 0}, {"seed": 2, "vm.x": 5}]


def test_bad_grid_key_names_file_and_line(tmp_path):
    (tmp_path / "s.toml").write_text(SCENARIO)
    sw = tmp_path / "sweep.toml"
    sw.write_text('scenario = "s.toml"\n[grid]\nseed = [1]\nwatermark = [1, 2]\n')
    with pytest.raises(InputError) as ei:
        load_sweep(sw)
    assert str(ei.value).startswith(f"{sw}:4: grid.watermark:")
    sw.write_text('scenario = "s.toml"\n[grid]\nseed = [1]\n"vm.watermark_boost_factor" = 0\n')
    with pytest.raises(InputError) as ei:
        load_sweep(sw)
    assert str(ei.value).startswith(f"{sw}:4: grid.vm.watermark_boost_factor: expected")


def test_sweep_on_a_local_dask_cluster(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SCENARIO)
    sw = tmp_path / "sweep.toml"
    sw.write_text('scenario = "s.toml"\nduration = "1500ms"\n[grid]\nseed = [1, 2]\n'
                  '"vm.watermark_scale_factor" = [10, 200]\n'
                  '[plot]\nmetrics = ["order9_success_pct", "free_pages", "alloc_attempts"]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(sw), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "results:" in printed
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert [(r["set:seed"], r["set:vm.watermark_scale_factor"]) for r in rows] == \
        [("1", "10"), ("1", "200"), ("2", "10"), ("2", "200")]
    assert all(float(r["simulated_s"]) == 1.5 for r in rows)
    # the runs ran in the cluster's worker processes, not here
    import os
    pids = {r["worker_pid"] for r in rows}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
    # the same seed with the same settings repeats exactly, wherever it ran
    by = {(r["set:seed"], r["set:vm.watermark_scale_factor"]): r for r in rows}
    assert by[("1", "10")]["alloc_attempts"] != "" and int(by[("1", "10")]["alloc_attempts"]) > 0
    assert (out / "comparison.png").stat().st_size > 10_000
