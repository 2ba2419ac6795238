"""Stat benchmark: lines per second and peak memory of ``pagealloc stat`` on a trace.

Not a kernel file. ``run(path=None, lines=1_000_000)`` summarises ``path``, or a
synthetic raw-ftrace trace of ``lines`` lines made from the real line shapes of the
oracle's set 2 capture (each real line kept, its timestamp rewritten to run on), in a
fresh interpreter so that the peak RSS is the stat's own; ``ops_per_s`` is lines per
second of wall time (INTERFACES.md). The synthetic trace is written once to the temp
directory and reused.

    PYTHONPATH=src python bench/bench_stat.py [TRACE] [--lines N] [--jobs J] [--json]
"""
from __future__ import annotations

import json
import lzma
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run", "synthetic_trace"]

from pagealloc.sources.reference import oracle_dir  # noqa: E402
ORACLE = oracle_dir()
SOURCE = ORACLE / "set2" / "m1g-smp2" / "trace.txt.xz"
TEMPLATES = 200_000

# kernel-6.1-page-alloc.md section 10.8, for when the oracle is not at hand
_FALLBACK = b"""\
            bash-2047    [002] .....  5208.376652: mm_page_alloc: page=00000000c1a4e7f2 pfn=0x12a4c7 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO
            bash-2047    [002] ...1.  5208.376660: mm_page_alloc_zone_locked: page=000000003b91d0aa pfn=0x13f200 order=0 migratetype=1 percpu_refill=1
     kworker/2:1-88      [002] d..1.  5208.377010: mm_page_pcpu_drain: page=00000000e02f7a15 pfn=0x10c3e1 order=0 migratetype=0
              cc-3110    [001] .....  5208.401133: mm_page_free: page=000000005f0c2b9e pfn=0x11d002 order=0
         kswapd0-61      [000] .....  5208.402001: mm_page_free_batched: page=00000000a8e1c4d3 pfn=0x1047aa order=0
"""


def _templates() -> list[tuple[bytes, bytes]]:
    """(head up to the timestamp, rest from ": <event>") of real event lines."""
    out = []
    if SOURCE.exists():
        with lzma.open(SOURCE, "rb") as f:
            for line in f:
                if line.startswith(b"#"):
                    continue
                out.append((line[:37], line[49:]))
                if len(out) >= TEMPLATES:
                    break
    else:
        out = [(line[:37], line[49:] + b"\n") for line in _FALLBACK.splitlines()]
    return out


def synthetic_trace(lines: int, directory: str | None = None) -> str:
    """Write (once) a raw ftrace trace of ``lines`` lines; return its path."""
    d = Path(directory or tempfile.gettempdir()) / "pagealloc-bench"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"stat-{lines}.txt"
    if path.exists():
        return str(path)
    tmpl = _templates()
    header = (b"# tracer: nop\n#\n# entries-in-buffer/entries-written: %d/%d   #P:2\n#\n"
              % (lines, lines))
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(header)
        buf: list[bytes] = []
        k = len(tmpl)
        for i in range(lines - 4):
            head, rest = tmpl[i % k]
            us = 2_000_000 + i * 7            # 7 us apart, from 2 s on
            buf.append(head + b"%5d.%06d" % divmod(us, 1_000_000) + rest)
            if len(buf) >= 65536:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))
    os.replace(tmp, path)
    return str(path)


def _vm_hwm_bytes() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not carry over exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure(path: str, jobs: int | None) -> dict:
    """In this process: stat the trace, return the figures."""
    from pagealloc.traces.reader import compression
    from pagealloc.traces.stat import _default_jobs, stat_trace
    used = jobs if jobs is not None else _default_jobs(path)
    t = time.perf_counter()
    c = time.process_time()
    s = stat_trace(path, jobs=jobs)
    dt = time.perf_counter() - t
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the stat alone (not the interpreter start): on a shared machine the wall
    # time also holds the time other processes had the CPU
    cpu = time.process_time() - c + kids.ru_utime + kids.ru_stime
    return {"name": "stat", "ops_per_s": s["lines"] / dt, "seconds": dt, "lines": s["lines"],
            "jobs": used, "compression": compression(path) or "none",
            "bytes": os.path.getsize(path), "format": s["format"],
            "cpu_seconds": cpu, "lines_per_cpu_s": s["lines"] / cpu,
            "peak_rss_bytes": _vm_hwm_bytes(),
            "peak_rss_worker_bytes": kids.ru_maxrss * 1024}


def run(path: str | None = None, lines: int = 1_000_000, jobs: int | None = None) -> dict:
    """Summarise ``path`` (or a synthetic trace of ``lines`` lines) in a fresh interpreter."""
    if path is None:
        path = synthetic_trace(lines)
    cmd = [sys.executable, __file__, path, "--measure"]
    if jobs is not None:
        cmd += ["--jobs", str(jobs)]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    args = list(argv)
    as_json = "--json" in args
    jobs = None
    lines = 1_000_000
    if "--jobs" in args:
        jobs = int(args[args.index("--jobs") + 1])
    if "--lines" in args:
        lines = int(args[args.index("--lines") + 1])
    pos = [a for i, a in enumerate(args)
           if not a.startswith("--") and (i == 0 or args[i - 1] not in ("--jobs", "--lines"))]
    path = pos[0] if pos else None
    if "--measure" in args:
        print(json.dumps(_measure(path, jobs)))
        return 0
    r = run(path, lines, jobs)
    if as_json:
        print(json.dumps(r))
    else:
        print(f"stat: {r['ops_per_s']:,.0f} lines/s ({r['lines']:,} lines, {r['seconds']:.1f} s, "
              f"{r['jobs']} process(es), {r['lines_per_cpu_s']:,.0f} lines per CPU-second, "
              f"compression {r['compression']}), peak RSS "
              f"{r['peak_rss_bytes'] / 2**20:,.0f} MiB (workers "
              f"{r['peak_rss_worker_bytes'] / 2**20:,.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
