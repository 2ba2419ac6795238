"""pagealloc sweep SWEEP.toml [--scheduler ADDRESS] [--out DIR]: a grid of runs on Dask.

See pagealloc/sweep.py for the file format. Writes DIR/results.csv (one row per
run) and DIR/comparison.png, and prints the table's main columns.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..sweep import load_sweep, plot_comparison, run_sweep, write_results
    from ._progress import Progress
    sw = load_sweep(args.sweep)
    points = sw.points()
    where = args.scheduler or f"a local Dask cluster ({args.workers} worker processes)"
    if not args.quiet:
        print(f"pagealloc sweep: {len(points)} runs of {sw.scenario_path} on {where}",
              file=sys.stderr)
    bar = Progress(len(points), "pagealloc sweep", unit=" runs", enabled=not args.quiet)
    try:
        rows = run_sweep(sw, scheduler=args.scheduler, workers=args.workers,
                         progress=lambda done, total: bar.update(done))
    finally:
        bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_results(rows, out / "results.csv")
    plot_comparison(rows, sw.metrics, out / "comparison.png")
    if args.json:
        print(json.dumps({"results": str(out / "results.csv"),
                          "plot": str(out / "comparison.png"), "rows": rows}, default=str))
        return 0
    set_cols = [k for k in rows[0] if k.startswith("set:")] if rows else []
    cols = set_cols + [m for m in sw.metrics if any(m in r for r in rows)] + ["wall_s"]
    widths = [max(len(c[4:] if c.startswith("set:") else c),
                  *(len(_fmt(r.get(c))) for r in rows)) for c in cols]
    print("  ".join((c[4:] if c.startswith("set:") else c).ljust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(cols, widths)))
    print(f"results: {out / 'results.csv'}\nplot: {out / 'comparison.png'}")
    return 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a scenario under a grid of settings on Dask",
                       description="Run one scenario under every combination of a grid of "
                                   "settings (sysctls, seeds, machine keys, policy) on a Dask "
                                   "cluster; write results.csv and comparison.png.")
    p.add_argument("sweep", help="sweep file (TOML: scenario, [grid], optional duration, [plot])")
    p.add_argument("--scheduler", default=None,
                   help="address of an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes of the local cluster (default 2)")
    p.add_argument("--out", default="pagealloc-sweep", help="output folder (default ./pagealloc-sweep)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_sweep)
