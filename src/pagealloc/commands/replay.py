"""pagealloc replay TRACE: replay a real kmem trace on the model (traces/replay.py).

Exit codes (INTERFACES.md): 0 the trace was read and no impossible move was
found, 3 impossible moves were found (each reported with its line), 2
malformed input (file:line) unless --skip-bad.
"""
from __future__ import annotations

import argparse
import json
import sys


def cmd_replay(args: argparse.Namespace) -> int:
    from ..traces.replay import format_result, replay_trace
    if args.start and args.zoneinfo:
        from ..errors import PageAllocError
        raise PageAllocError("--start and --zoneinfo: give one of them")
    show_progress = not args.quiet and sys.stderr.isatty()

    def progress(lines: int, rate: float) -> None:
        print(f"\rpagealloc replay: {lines:,} lines, {rate:,.0f} events/s\x1b[K", end="",
              file=sys.stderr, flush=True)
    res = replay_trace(args.trace, start=args.start, at=args.at, zoneinfo=args.zoneinfo,
                       mode=args.mode, out=args.out, skip_bad=args.skip_bad,
                       sysctls=args.sysctl, cpus=args.cpus, max_detail=args.max_detail,
                       end_at=args.end_at, limit=args.limit,
                       untraced_compaction=args.untraced_compaction,
                       progress=progress if show_progress else None)
    if show_progress:
        print(file=sys.stderr)
    res.pop("machine", None)
    if args.json:
        print(json.dumps(res, default=str))
    else:
        sys.stdout.write(format_result(res))
    if res["bad_lines"]:
        print(f"pagealloc: {args.trace}: {res['bad_lines']} malformed lines skipped",
              file=sys.stderr)
    if args.mode == "exact" and res["impossible"]:
        first = res["impossible_first"][0] if res["impossible_first"] else None
        print(f"pagealloc: {res['impossible']} impossible moves"
              + (f" (first: {args.trace}:{first['line']}: {first['message']})" if first else ""),
              file=sys.stderr)
        return 3
    return 0


def register(sub) -> None:
    p = sub.add_parser("replay", help="replay a real kmem trace on the model",
                       description="Replay the kmem page events of a real trace. exact: the "
                       "kernel's pfns, each move checked (exit 3 on impossible moves); policy: "
                       "the model chooses the pages for the same requests.")
    p.add_argument("trace", help="raw ftrace text, trace-cmd report or perf script output; "
                   "plain, .xz, .gz or .bz2; - for stdin")
    p.add_argument("--start", default=None, metavar="SNAPSHOT",
                   help="snapshot folder of the machine at the trace's start (pagealloc "
                        "snapshot, or an oracle folder)")
    p.add_argument("--at", default=None, metavar="TAG",
                   help="the snapshot's moment (before, start ...; default: its untagged files "
                        "or its first moment)")
    p.add_argument("--zoneinfo", default=None, metavar="FILE",
                   help="the machine's layout from a zoneinfo (every page's state unknown)")
    p.add_argument("--mode", choices=("exact", "policy"), default="exact")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write views, metrics.csv, replay.json and compare.txt here")
    p.add_argument("--skip-bad", action="store_true",
                   help="count malformed lines and go on (default: stop at the first)")
    p.add_argument("--sysctl", action="append", default=[], metavar="vm.NAME=VALUE",
                   help="write a sysctl before the replay (repeatable)")
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the machine (default: the "
                   "start's, or the trace's)")
    p.add_argument("--end-at", default=None, metavar="TAG",
                   help="the snapshot moment to compare the end with (default: after or end)")
    p.add_argument("--limit", type=int, default=None, metavar="LINES",
                   help="replay only the first LINES lines")
    p.add_argument("--untraced-compaction", choices=("auto", "yes", "no"), default="auto",
                   help="a free of a page the model has free: compaction's untraced free "
                        "scanner took it (yes), an impossible move (no), or yes when the trace "
                        "has no compaction events or one came since the page became free "
                        "(auto, the default)")
    p.add_argument("--max-detail", type=int, default=20,
                   help="impossible moves reported in detail (default 20)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_replay)
