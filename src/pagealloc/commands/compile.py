"""pagealloc compile [--clean]: build (or remove) the optional mypyc-compiled hot modules."""
from __future__ import annotations

import argparse


def cmd_compile(args: argparse.Namespace) -> int:
    from ..compiled import main
    return main(["--clean"] if args.clean else [])


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile the hot modules with mypyc (optional; "
                       "pip install 'pagealloc[compiled]'), or --clean to remove them")
    p.add_argument("--clean", action="store_true", help="remove the compiled modules")
    p.set_defaults(func=cmd_compile)
