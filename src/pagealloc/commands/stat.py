"""pagealloc stat: summarise a kmem trace, like ``perf kmem --page stat``."""
from __future__ import annotations

import argparse
import json
import sys


def cmd_stat(args: argparse.Namespace) -> int:
    from ..traces.stat import render_stat, stat_trace
    s = stat_trace(args.trace, skip_bad=args.skip_bad, cma=args.cma, jobs=args.jobs)
    if args.json:
        sys.stdout.write(json.dumps(s) + "\n")
    else:
        sys.stdout.write(render_stat(s, top=args.top))
    if s["bad_lines"]:
        print(f"pagealloc: {args.trace}: {s['bad_lines']} malformed lines skipped",
              file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("stat", help="summarise a kmem trace (like perf kmem --page stat)",
                       description="Summarise the page allocator events of a trace: totals, "
                       "by order, migratetype, gfp flags and comm, pcp vs buddy, fallbacks.")
    p.add_argument("trace", help="raw ftrace text (tracefs trace or trace_pipe), trace-cmd "
                   "report or perf script output; plain, .xz, .gz or .bz2; - for stdin")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--skip-bad", action="store_true",
                   help="count malformed lines and go on (default: stop at the first)")
    p.add_argument("--cma", action="store_true",
                   help="the trace is from a CONFIG_CMA kernel (migratetype 4 is CMA)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes for a large plain trace (default: automatic)")
    p.add_argument("--top", type=int, default=10, help="rows of the gfp and caller tables")
    p.set_defaults(func=cmd_stat)
