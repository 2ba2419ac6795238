"""pagealloc bench NAME [--json]: run a named benchmark and print its figure."""
from __future__ import annotations

import argparse
import json
import sys


def cmd_bench(args: argparse.Namespace) -> int:
    from ..benchmarks import run_benchmark
    kw = {}
    if args.mem:
        kw["mem"] = args.mem
    if args.n:
        kw["n"] = args.n
    r = run_benchmark(args.name, **kw)
    if args.json:
        sys.stdout.write(json.dumps(r) + "\n")
    else:
        extra = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in r.items() if k not in ("name", "ops_per_s"))
        print(f"{r['name']}: {r['ops_per_s']:,.0f} ops/s ({extra})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a named benchmark (pcp, buddy-worst, mixed, boot, verify)")
    p.add_argument("name")
    p.add_argument("--mem", default=None, help="machine size for the benchmark")
    p.add_argument("-n", type=int, default=None, help="iterations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
