"""pagealloc run [SCENARIO] [--out DIR] [--trace] [--seed N]: the main job.

Boots the scenario's machine (default: the embedded 16 GiB two-node scenario),
runs its workload on the simulated clock with a progress bar on stderr, and
writes into DIR (default ./pagealloc-out):

    views/<view>.t<seconds>s.txt   the /proc views sampled over time
    metrics.csv, timeline.csv, highorder.csv
    *.png                          the plots and memory maps
    report.html                    everything in one self-contained page
    trace.txt                      with --trace: the kmem events, ftrace format

and prints a short summary on stdout (``--json``: one JSON object instead).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

__all__ = ["run_scenario", "register", "format_summary"]


def run_scenario(scenario, out: Path, *, trace: bool = False, progress: bool = True,
                 mode: str = "auto", report: bool = True, write_views: bool = True,
                 log=None):
    """Run ``scenario`` writing every output into ``out``; (summary, files written, simulation)."""
    from ..report.metrics import Recorder
    from ..workload.simulation import Simulation
    from ._progress import Progress

    out.mkdir(parents=True, exist_ok=True)
    body = None
    if trace:
        body = (out / "trace.txt.part").open("w")
    rec = Recorder(out, views=scenario.report.views, write_views=write_views,
                   keep_pictures=report)
    sim = Simulation(scenario, observer=rec, mode=mode, trace=body, log=log)
    bar = Progress(scenario.duration, f"pagealloc run {scenario.name}", enabled=progress)
    mm = sim.machine.mm

    def tick(now: float) -> None:
        free = sum(max(z.vm_free, 0) for z in mm.zones) * 4096 / 2**30
        bar.update(now, f"free {free:5.2f}G")
    try:
        summary = sim.run(tick)
    finally:
        bar.close()
        if body is not None:
            body.close()
    files = rec.write_csv(out)
    files += [f"views/{n}" for n in rec.view_files]
    if trace:
        from ..mm.tracepoints import trace_header
        tr = mm.trace
        with (out / "trace.txt").open("w") as fh:
            fh.write(trace_header(tr.written, tr.written, mm.nr_cpu_ids))
            with (out / "trace.txt.part").open() as src:
                shutil.copyfileobj(src, fh)
        (out / "trace.txt.part").unlink()
        mm.trace = None
        files.append("trace.txt")
    if report:
        from ..report.html import write_report
        from ..report.plots import render_all
        images = render_all(sim, rec, out)
        files += images
        write_report(sim, rec, summary, out, images)
        files.append("report.html")
    summary["out"] = str(out)
    summary["notes"] = list(sim.notes)
    return summary, files, sim


def format_summary(s: dict, scenario) -> str:
    gib = 4096 / 2**30
    mc = scenario.machine
    where = f"clone of {mc.snapshot}" if mc.snapshot else f"{mc.mem}, {mc.nodes} node(s), {mc.cpus} CPUs"
    lines = [f"pagealloc run: {s['scenario']} ({where}): {s['simulated_s']:g} s simulated "
             f"in {s['wall_s']:.1f} s ({s['models']}; pages through {s['mode']})",
             f"  free at the end: {s['free_pages'] * gib:.2f} GiB of "
             f"{s['managed_pages'] * gib:.2f} GiB; allocations {s['alloc_attempts']:,} "
             f"({s['alloc_failures']:,} failed)"]
    ho = []
    for key in sorted(k for k in s if k.startswith("order") and k.endswith("_attempts")):
        o = key[5:-9]
        pct = s.get(f"order{o}_success_pct")
        if pct is None:
            continue
        ho.append(f"order-{o} {pct:g}% of {s[key]:,} (mean {s[f'order{o}_mean_steps']:g} steps)")
    if ho:
        lines.append("  high-order: " + "; ".join(ho))
    if s.get("thp_success_pct") is not None:
        lines.append(f"  THP faults: {s['thp_success_pct']:g}% huge; direct compaction "
                     f"{s['compact_stall']:,} stalls ({s['compact_success']:,} succeeded); "
                     f"reclaimed {s['pgsteal_kswapd']:,} by kswapd, "
                     f"{s['pgsteal_direct']:,} directly; OOM kills {s['oom_kill']}")
    for n in s.get("notes", []):
        lines.append(f"  note: {n}")
    lines.append(f"  report: {Path(s['out']) / 'report.html'}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from ..workload.scenario import load_scenario
    scenario = load_scenario(args.scenario)
    if args.seed is not None or args.duration is not None:
        from ..workload.distributions import UnitError, parse_duration
        dur = None
        if args.duration is not None:
            try:
                dur = parse_duration(args.duration)
            except UnitError as e:
                from ..errors import PageAllocError
                raise PageAllocError(f"--duration: {e}") from None
        scenario = scenario.with_overrides(seed=args.seed, duration=dur)
    out = Path(args.out)
    progress = not args.quiet
    summary, files, _ = run_scenario(scenario, out, trace=args.trace, progress=progress,
                                  mode="plain" if args.plain else "auto",
                                  report=not args.no_report,
                                  log=(lambda s: print(f"pagealloc: {s}", file=sys.stderr))
                                  if progress else None)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(format_summary(summary, scenario))
    return 0


def register(sub) -> None:
    p = sub.add_parser("run", help="run a workload scenario (default: the embedded one)",
                       description="Run a workload scenario on the simulated clock and write "
                                   "the /proc views, metrics, plots and an HTML report.")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario TOML file (default: the embedded 16 GiB two-node scenario)")
    p.add_argument("--out", default="pagealloc-out", help="output folder (default ./pagealloc-out)")
    p.add_argument("--trace", action="store_true",
                   help="also write the kmem tracepoints as an ftrace-format trace.txt")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--duration", default=None, help="override the simulated time (e.g. 30s)")
    p.add_argument("--plain", action="store_true",
                   help="do not install page users/reclaim: plain alloc_pages and the "
                        "workload's stand-in reclaim")
    p.add_argument("--no-report", action="store_true", help="CSV and views only, no plots/HTML")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_run)
