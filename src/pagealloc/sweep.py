"""Sweeps: one scenario under a grid of settings, run on Dask, gathered into one table.

Not a kernel file. A sweep file names a scenario (a path, relative to the sweep
file, or "default" for the embedded one) and a grid; every combination of the
grid's values is one run::

    scenario = "default"
    duration = "60s"            # optional: shorten every run

    [grid]
    seed = [1, 2, 3]
    "vm.watermark_boost_factor" = [0, 15000]      # sysctls by name
    "machine.thp" = ["always", "madvise"]         # [machine] keys (thp, thp_defrag, cmdline...)
    mode = ["auto", "plain"]                      # policy: the model's reclaim or the stand-in

    [plot]
    metrics = ["order9_success_pct", "thp_success_pct", "unusable_o9_mean", "compact_stall"]

Runs go to a Dask cluster: by default a ``LocalCluster`` of two worker
processes with one thread each (the model is single-threaded Python, so
processes, not threads, give parallelism), or an existing cluster with
``--scheduler ADDRESS`` (its workers need pagealloc installed). Each task gets
the scenario *text*, not a path, so remote workers need no shared files.
The results are one CSV row per run (the settings, then the run's summary and
a few fragmentation figures) and one comparison plot.
"""
from __future__ import annotations

import csv
import itertools
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError, PageAllocError

__all__ = ["Sweep", "load_sweep", "expand_grid", "run_point", "run_sweep", "write_results",
           "plot_comparison", "DEFAULT_METRICS"]

DEFAULT_METRICS = ("order9_success_pct", "thp_success_pct", "unusable_o9_mean",
                   "mixed_blocks_end", "compact_stall", "alloc_failures")
_MACHINE_KEYS = ("mem", "nodes", "cpus", "thp", "thp_defrag", "cmdline", "swap",
                 "page_reporting")


@dataclass
class Sweep:
    path: str
    scenario_text: str
    scenario_path: str
    duration: float | None
    grid: dict[str, list]
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))

    def points(self) -> list[dict]:
        return expand_grid(self.grid)


def expand_grid(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, in key order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; errors name the file, the line and the key."""
    from .workload.distributions import UnitError, parse_duration
    from .workload.scenario import default_scenario_text, loads_scenario
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(str(path), 0, f"cannot read sweep file: {e.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(str(path), 0, f"not valid TOML: {e}") from None

    from .workload.tomlkeys import KeyLines
    keys = KeyLines(text)

    def err(key: str, msg: str) -> InputError:
        parts = tuple(key.split(".", 1)) if key.startswith(("grid.", "plot.")) else (key,)
        return InputError(str(path), keys.line(parts), f"{key}: {msg}")
    for k in doc:
        if k not in ("scenario", "duration", "grid", "plot", "trace"):
            raise err(k, "unknown key (expected scenario, duration, grid, plot)")
    if "trace" in doc:
        raise err("trace", "sweeping a trace needs `pagealloc replay` (pagealloc.traces.replay), "
                           "which this build does not have yet; sweep a scenario instead")
    name = doc.get("scenario", "default")
    if not isinstance(name, str):
        raise err("scenario", "expected a path or \"default\"")
    if name == "default":
        stext, spath = default_scenario_text(), "<embedded default.toml>"
    else:
        sp = Path(name) if Path(name).is_absolute() else p.parent / name
        try:
            stext = sp.read_text()
        except OSError as e:
            raise err("scenario", f"cannot read {str(sp)!r}: {e.strerror}") from None
        spath = str(sp)
    loads_scenario(stext, spath, base=Path(spath).parent)   # validate once, here
    duration = None
    if "duration" in doc:
        try:
            duration = parse_duration(doc["duration"])
        except UnitError as e:
            raise err("duration", str(e)) from None
    grid = doc.get("grid", {})
    if not isinstance(grid, dict) or not grid:
        raise err("grid", "expected a [grid] table with at least one key = [values]")
    for k, vals in grid.items():
        if not isinstance(vals, list) or not vals:
            raise err(f"grid.{k}", "expected a non-empty array of values")
        if k in ("seed",):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                raise err(f"grid.{k}", "expected integers")
        elif k == "mode":
            if not all(v in ("auto", "plain") for v in vals):
                raise err(f"grid.{k}", "expected \"auto\" (the model's reclaim) or \"plain\"")
        elif k.startswith("machine."):
            if k[8:] not in _MACHINE_KEYS:
                raise err(f"grid.{k}", f"expected one of machine.{', machine.'.join(_MACHINE_KEYS)}")
        elif not k.startswith("vm."):
            raise err(f"grid.{k}", "expected seed, mode, machine.KEY or a sysctl vm.NAME")
    metrics = list(DEFAULT_METRICS)
    plot = doc.get("plot", {})
    if plot:
        m = plot.get("metrics")
        if not isinstance(m, list) or not all(isinstance(x, str) for x in m) or not m:
            raise err("plot.metrics", "expected an array of result column names")
        metrics = m
    sw = Sweep(str(path), stext, spath, duration, grid, metrics)
    # every point must still be a valid scenario (machine keys are checked by building it)
    for pt in sw.points():
        try:
            _scenario_for(sw.scenario_text, sw.scenario_path, pt, duration)
        except (PageAllocError, ValueError) as e:
            raise InputError(str(path), keys.line(("grid",)), f"grid point {pt}: {e}") from None
    return sw


def _scenario_for(text: str, spath: str, point: dict, duration: float | None):
    from .workload.scenario import loads_scenario
    sc = loads_scenario(text, spath, base=Path(spath).parent if not spath.startswith("<") else None)
    sysctls = [f"{k}={v}" for k, v in point.items() if k.startswith("vm.")]
    machine = {k[8:]: v for k, v in point.items() if k.startswith("machine.")}
    if "swap" in machine:
        from .workload.distributions import parse_size
        machine["swap"] = parse_size(machine["swap"])
    return sc.with_overrides(seed=point.get("seed"), duration=duration, sysctls=sysctls,
                             machine=machine)


def run_point(text: str, spath: str, point: dict, duration: float | None) -> dict:
    """Run one grid point (on a worker); the settings and the results as one flat row."""
    from .report.metrics import Recorder
    from .workload.simulation import Simulation
    sc = _scenario_for(text, spath, point, duration)
    rec = Recorder(None, write_views=False, keep_pictures=False)
    sim = Simulation(sc, observer=rec, mode=point.get("mode", "auto"))
    summary = sim.run()
    row: dict[str, Any] = {f"set:{k}": v for k, v in point.items()}
    row.update(summary)
    row.update(_fragmentation_figures(rec))
    row["notes"] = " | ".join(sim.notes)
    row["worker_pid"] = os.getpid()
    return row


def _fragmentation_figures(rec) -> dict:
    """Means over the run of the unusable index at orders 3 and 9 (largest zone per node),
    and the mixed pageblocks at the end."""
    out: dict[str, Any] = {}
    best: dict[int, tuple[int, str]] = {}
    for r in rec.zone_rows:
        if r["node"] not in best or r["managed_pages"] > best[r["node"]][0]:
            best[r["node"]] = (r["managed_pages"], r["zone"])
    main = {(nid, z) for nid, (_, z) in best.items()}
    rows = [r for r in rec.zone_rows if (r["node"], r["zone"]) in main]
    for o in (3, 9):
        vals = [r[f"unusable_o{o}"] for r in rows]
        out[f"unusable_o{o}_mean"] = round(sum(vals) / len(vals), 4) if vals else None
    out["mixed_blocks_end"] = rec.timeline[-1]["mixed_blocks"] if rec.timeline else None
    return out


def run_sweep(sw: Sweep, *, scheduler: str | None = None, workers: int = 2,
              progress=None) -> list[dict]:
    """Run every point on Dask; rows in grid order."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise PageAllocError("pagealloc sweep needs dask.distributed: "
                             "pip install 'pagealloc[sweep]'") from None
    points = sw.points()
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        # workers must import this very pagealloc, wherever it is (an editable install, or
        # PYTHONPATH=src in a checkout)
        src = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join([src] + [p for p in os.environ.get(
            "PYTHONPATH", "").split(os.pathsep) if p])}
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=env)
        client = Client(cluster)
    try:
        futures = [client.submit(run_point, sw.scenario_text, sw.scenario_path, pt, sw.duration,
                                 key=f"pagealloc-point-{i}", pure=False)
                   for i, pt in enumerate(points)]
        index = {f.key: i for i, f in enumerate(futures)}
        rows: list[dict | None] = [None] * len(points)
        done = 0
        for fut in as_completed(futures):
            rows[index[fut.key]] = fut.result()
            done += 1
            if progress is not None:
                progress(done, len(points))
        return [r for r in rows if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def write_results(rows: list[dict], path: Path) -> Path:
    """One CSV: the settings columns first, then every result column."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    cols.sort(key=lambda c: (not c.startswith("set:"), ))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in cols})
    return path


def plot_comparison(rows: list[dict], metrics: list[str], path: Path) -> Path:
    """One panel per metric, one bar per setting (mean over seeds, whiskers min..max)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    set_keys = [k for k in rows[0] if k.startswith("set:") and k != "set:seed"] if rows else []
    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = "\n".join(f"{k[4:]}={r[k]}" for k in set_keys) or "all"
        groups.setdefault(label, []).append(r)
    metrics = [m for m in metrics if any(isinstance(r.get(m), (int, float)) for r in rows)]
    n = max(1, len(metrics))
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.3 * nrows + 0.6 * len(set_keys)),
                             squeeze=False)
    labels = list(groups)
    colours = plt.get_cmap("tab10")
    for ax, m in zip(axes.flat, metrics):
        means, lo, hi = [], [], []
        for g in labels:
            vals = [float(r[m]) for r in groups[g] if isinstance(r.get(m), (int, float))]
            vals = vals or [float("nan")]
            means.append(float(np.mean(vals)))
            lo.append(means[-1] - min(vals))
            hi.append(max(vals) - means[-1])
        x = np.arange(len(labels))
        ax.bar(x, means, yerr=[lo, hi], capsize=3,
               color=[colours(i % 10) for i in range(len(labels))])
        ax.set_title(m, fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    seeds = sorted({r.get("set:seed") for r in rows if "set:seed" in r})
    fig.suptitle("pagealloc sweep" + (f": mean over seeds {seeds} (whiskers: min..max)"
                                      if len(seeds) > 1 else ""), fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
