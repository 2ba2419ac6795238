"""Replay benchmark: exact-mode events per second and peak memory of ``pagealloc replay``.

Not a kernel file. Each measurement runs in a fresh interpreter, so the peak RSS
(VmHWM of /proc/self/status, else resource.getrusage's ru_maxrss, which after fork+exec
can still hold the forking parent's) is the replay's own:

* throughput (events/s of the replay loop, setup excluded; wall time included) in exact
  mode on the oracle's m1g-smp2 trace (set 1: a partial start) and set2/m1g-smp2 (a
  kpageflags start), each from its .xz (decompressed in a helper thread) and from
  plain text; and set2/m1g-smp2 rewritten as trace-cmd report and perf script would
  print it (the per-line reader's speed: the block scan reads raw ftrace only);
* peak memory on a 10-million-line trace made from set2/m256-smp1 (310,902 lines):
  33 copies, copy k with every pfn moved up by k x 0x10000 (the 256 MiB machine's
  span), so each copy replays consistently in its own part of an 8.6 GiB machine
  (no start: the smallest machine that spans the trace, every page unknown); the
  same is measured on one copy, to show that memory follows the machine, not the trace.

A calibration figure (ns per iteration of a plain Python loop) says how fast this
machine runs Python at the time of the run.

    PYTHONPATH=src python bench/bench_replay.py [--lines N] [--skip-big] [--json]
"""
from __future__ import annotations

import json
import lzma
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run", "relocated_trace", "measure"]

from pagealloc.sources.reference import oracle_dir  # noqa: E402
from pagealloc.traces.layouts import relayout  # noqa: E402
ORACLE = oracle_dir()
SRC = Path(__file__).resolve().parents[1] / "src"
SPAN = 0x10000                              # pfns of set2/m256-smp1's machine

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {src!r})
from pagealloc.traces.replay import replay_trace
kw = json.loads({kw!r})
t0 = time.perf_counter()
res = replay_trace(**kw)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
peak = ru.ru_maxrss * 1024
try:        # VmHWM: this process's own peak (ru_maxrss may keep the forking parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
except OSError:
    pass
print(json.dumps({{"events": res["events"], "lines": res["lines"],
                  "impossible": res.get("impossible"), "events_per_s": res["events_per_s"],
                  "loop_seconds": res["seconds"], "setup_seconds": res["setup_seconds"],
                  "wall_seconds": round(wall, 3), "peak_rss_bytes": peak,
                  "ru_maxrss_bytes": ru.ru_maxrss * 1024}}))
"""


def measure(**kw) -> dict:
    """Run replay_trace(**kw) in a fresh interpreter; its figures."""
    code = _CHILD.format(src=str(SRC), kw=json.dumps(kw))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def calibrate() -> float:
    """ns per iteration of ``for i in range(n): x += i``."""
    n = 2_000_000
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return (time.perf_counter() - t) / n * 1e9


def _plain(xz: Path) -> Path:
    d = Path(tempfile.gettempdir()) / "pagealloc-bench"
    d.mkdir(parents=True, exist_ok=True)
    out = d / (xz.parent.parent.name + "-" + xz.parent.name + "-" + xz.name[:-3])
    if not out.exists():
        with lzma.open(xz, "rb") as f, open(out, "wb") as g:
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                g.write(b)
    return out


_PFN = re.compile(rb"(pfn=|range=\(|~ )0x([0-9a-f]+)")
def _relayout_file(xz: Path, layout: str) -> Path:
    """(once) the trace in ``layout``, in the temp directory."""
    d = Path(tempfile.gettempdir()) / "pagealloc-bench"
    d.mkdir(parents=True, exist_ok=True)
    out = d / (xz.parent.parent.name + "-" + xz.parent.name + "-" + layout + ".txt")
    if not out.exists():
        tmp = out.with_suffix(".part")
        with lzma.open(xz, "rt") as f, open(tmp, "w") as g:
            if layout == "trace-cmd":
                g.write("cpus=2\n")
            for line in f:
                if not line.startswith("#"):
                    g.write(relayout(line.rstrip("\n"), layout) + "\n")
        tmp.replace(out)
    return out


def relocated_trace(lines: int) -> Path:
    """Write (once) a trace of ``lines`` lines: copies of set2/m256-smp1 moved up by SPAN."""
    d = Path(tempfile.gettempdir()) / "pagealloc-bench"
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"replay-relocated-{lines}.txt"
    if out.exists():
        return out
    with lzma.open(ORACLE / "set2" / "m256-smp1" / "trace.txt.xz", "rb") as f:
        body = [ln for ln in f if not ln.startswith(b"#")]
    tmp = out.with_suffix(".part")
    n = 0
    with open(tmp, "wb") as g:
        g.write(b"# tracer: nop\n#\n")
        k = 0
        while n < lines:
            off = k * SPAN

            def shift(m: re.Match) -> bytes:
                return m.group(1) + b"0x%x" % (int(m.group(2), 16) + off)
            chunk = body[:lines - n]
            text = b"".join(chunk)
            if k:
                text = _PFN.sub(shift, text)
            g.write(text)
            n += len(chunk)
            k += 1
    tmp.replace(out)
    return out


def run(lines: int = 10_000_000, big: bool = True) -> dict:
    out: dict = {"calibration_ns_per_loop": round(calibrate(), 1)}
    o = ORACLE
    cases = {
        "m1g-smp2 (set 1, partial start)": dict(trace=str(o / "m1g-smp2" / "trace.txt.xz"),
                                                start=str(o / "m1g-smp2"), at="start"),
        "set2/m1g-smp2 (kpageflags start)": dict(
            trace=str(o / "set2" / "m1g-smp2" / "trace.txt.xz"),
            start=str(o / "set2" / "m1g-smp2"), at="before"),
    }
    for name, kw in cases.items():
        forms = ("xz", "plain") + (("trace-cmd", "perf") if name.startswith("set2") else ())
        for form in forms:
            k = dict(kw)
            if form == "plain":
                k["trace"] = str(_plain(Path(kw["trace"])))
            elif form != "xz":
                k["trace"] = str(_relayout_file(Path(kw["trace"]), form))
            r = measure(**k)
            out[f"{name} [{form}]"] = r
            print(f"{name:34} {form:9}: {r['events']:>9,} events, {r['events_per_s']:>9,.0f} "
                  f"events/s (loop {r['loop_seconds']:.1f} s, setup {r['setup_seconds']:.1f} s), "
                  f"impossible {r['impossible']}, peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB",
                  file=sys.stderr)
    if big:
        t = time.perf_counter()
        path = relocated_trace(lines)
        one = relocated_trace(310_890)
        gen = time.perf_counter() - t
        for name, p in ((f"relocated {lines:,} lines", path), ("relocated, one copy", one)):
            r = measure(trace=str(p), skip_bad=False)
            out[name] = r
            print(f"{name:34}      : {r['lines']:>10,} lines, {r['events_per_s']:>9,.0f} "
                  f"events/s, impossible {r['impossible']}, peak RSS "
                  f"{r['peak_rss_bytes'] / 2**20:.0f} MiB (wall {r['wall_seconds']:.0f} s)",
                  file=sys.stderr)
        out["trace_generation_seconds"] = round(gen, 1)
    return out


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--skip-big", action="store_true", help="no 10-million-line run")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = run(a.lines, big=not a.skip_big)
    if a.json:
        print(json.dumps(res))
    else:
        print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
