"""pagealloc snapshot [--out DIR] [--tag TAG]: save this machine's allocator state.

Run on a real Linux machine (as root for pagetypeinfo, kpageflags and kpagecount);
the folder is what ``pagealloc boot --snapshot``, ``run`` and ``replay --start``
take (sources/snapshot.py). Files that cannot be read are skipped with a warning
on stderr; the command fails (exit 2) only when there is no /proc/zoneinfo.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def cmd_snapshot(args: argparse.Namespace) -> int:
    from ..sources.snapshot import save_snapshot
    out = args.out or time.strftime("snapshot-%Y%m%d-%H%M%S")
    t0 = time.perf_counter()
    rep = save_snapshot(out, args.tag, root=args.root, kpage=not args.no_kpage, mark=args.mark,
                        warn=lambda s: print(f"pagealloc: warning: {s}", file=sys.stderr))
    secs = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"folder": str(rep.folder), "tag": args.tag, "written": rep.written,
                          "skipped": [{"file": f, "why": w} for f, w in rep.skipped],
                          "seconds": round(secs, 3)}))
    else:
        print(f"pagealloc snapshot: {len(rep.written)} files in {rep.folder} ({secs:.1f} s)"
              + (f", {len(rep.skipped)} skipped" if rep.skipped else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("snapshot", help="save this machine's allocator state into a folder",
                       description="Save zoneinfo, buddyinfo, pagetypeinfo, vmstat, meminfo, the "
                       "vm sysctls, CPUs, nodes, THP mode and /proc/kpageflags + kpagecount "
                       "(xz) into a folder that boot --snapshot, run and replay --start take.")
    p.add_argument("--out", default=None, help="folder (default ./snapshot-DATE-TIME)")
    p.add_argument("--tag", default=None,
                   help="name of the moment: files become zoneinfo.TAG.txt etc. (e.g. before)")
    p.add_argument("--no-kpage", action="store_true",
                   help="skip /proc/kpageflags and /proc/kpagecount")
    p.add_argument("--mark", action="store_true",
                   help="write 'KT snapshot TAG begin/end' into the ftrace marker around it, so "
                        "a trace recorded meanwhile can be replayed from this snapshot")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)     # tests: a fake /proc
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_snapshot)
