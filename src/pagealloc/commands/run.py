"""pagealloc run: boot a machine and run a workload scenario (the main job)."""
from __future__ import annotations

import argparse
import sys


def cmd_run(args: argparse.Namespace) -> int:
    from ..cli import machine_from_args
    m = machine_from_args(args)
    for view in ("zoneinfo", "buddyinfo"):
        try:
            sys.stdout.write(m.show(view))
        except Exception as e:  # views land one by one
            print(f"pagealloc: {e}", file=sys.stderr)
    return 0


def register(sub) -> None:
    from ..cli import _add_machine_args
    p = sub.add_parser("run", help="run a workload scenario (default: the embedded one)")
    p.add_argument("scenario", nargs="?", default=None)
    p.add_argument("--out", default=None)
    _add_machine_args(p)
    p.set_defaults(func=cmd_run, freelists=None)
