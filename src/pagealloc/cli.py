"""The command line: pagealloc boot | run | verify | replay | stat | snapshot | sweep | bench.

Not a kernel file. Exit codes (INTERFACES.md): 0 success, 1 a check that did
not hold, 2 bad input or usage, 3 impossible moves found (replay). Errors on
user input are one clear line on stderr naming the file, line or value.
"""
from __future__ import annotations

import argparse
import sys

from .errors import PageAllocError

__all__ = ["main", "build_parser"]

VIEWS = ("zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "meminfo", "extfrag_index",
         "unusable_index", "page_owner")


def _add_machine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mem", default="4G", help="RAM size (e.g. 1G, 16G, 1T); default 4G")
    p.add_argument("--nodes", type=int, default=1, help="NUMA nodes (memory split evenly)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs, spread over the nodes in blocks")
    p.add_argument("--cpu-nodes", default=None, help="node of each CPU, e.g. 0,0,1,1")
    p.add_argument("--thp", default=None, choices=("always", "madvise", "never"),
                   help="THP mode (default: always; a clone takes its folder's thp.enabled)")
    p.add_argument("--node-mem", default=None,
                   help="memory of each node, e.g. 1G,3G (default: split evenly)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--e820", default=None, help="BIOS-e820 lines (a whole dmesg is fine)")
    src.add_argument("--zoneinfo", default=None, help="clone a machine from a real /proc/zoneinfo")
    p.add_argument("--cmdline", default="", help="kernel parameters (movablecore=, kernelcore=, ...)")
    p.add_argument("--sysctl", action="append", default=[], metavar="vm.NAME=VALUE",
                   help="write a sysctl after boot (repeatable, applied in order)")
    p.add_argument("--seed", type=int, default=0)


def machine_from_args(args: argparse.Namespace):
    """Build a Machine from the common machine arguments."""
    from .machine import Machine
    cpu_nodes = None
    if args.cpu_nodes:
        try:
            cpu_nodes = [int(x) for x in args.cpu_nodes.split(",")]
        except ValueError:
            raise PageAllocError(f"--cpu-nodes {args.cpu_nodes!r}: expected node numbers like 0,0,1,1") from None
    if getattr(args, "snapshot", None):
        # boot --snapshot DIR [--at TAG]: a clone with the snapshot's free blocks
        # (sources/snapshot.py; issue 6 item 5). --at defaults to the folder's
        # untagged files, else its first moment.
        from .sources.snapshot import load_snapshot
        cpus = args.cpus if args.cpus != 1 or cpu_nodes else None
        m = load_snapshot(args.snapshot, args.at, cpus=cpus, thp=args.thp)
        for note in m.snapshot["notes"]:
            print(f"pagealloc: {note}", file=sys.stderr)
    elif getattr(args, "zoneinfo", None):
        cpus = args.cpus if args.cpus != 1 or cpu_nodes else None
        m = Machine.from_zoneinfo(args.zoneinfo, cpus=cpus, thp=args.thp, cpu_nodes=cpu_nodes)
    else:
        node_mem = args.node_mem.split(",") if getattr(args, "node_mem", None) else None
        nodes = len(node_mem) if node_mem and args.nodes == 1 else args.nodes
        m = Machine.boot(mem=args.mem, cpus=args.cpus, nodes=nodes, cpu_nodes=cpu_nodes,
                         thp=args.thp or "always", cmdline=args.cmdline, e820=args.e820,
                         seed=args.seed, node_mem=node_mem)
        ignored = getattr(m.spec, "ignored_params", None)
        if ignored:
            print("pagealloc: kernel parameters ignored by the model: " + " ".join(ignored),
                  file=sys.stderr)
    if getattr(args, "freelists", None):
        from .sources.fldump import load_fldump
        load_fldump(m, args.freelists, tag=args.at or "before")
    for s in args.sysctl:
        m.write_sysctl_assignment(s)
    return m


def cmd_boot(args: argparse.Namespace) -> int:
    m = machine_from_args(args)
    if getattr(args, "dmesg", False):
        for line in m.mm.log:
            print(line, file=sys.stderr)
    views = args.show or ["zoneinfo", "buddyinfo"]
    for v in views:
        sys.stdout.write(m.show(v))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pagealloc",
                                description="An executable model of the Linux 6.1 page allocator.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("boot", help="boot a machine and print its /proc views")
    _add_machine_args(b)
    b.add_argument("--freelists", default=None, help="load exact free lists from an fldump capture")
    b.add_argument("--snapshot", default=None, metavar="DIR",
                   help="clone a snapshot folder (pagealloc snapshot; the oracle's set2 folders)")
    b.add_argument("--at", default=None, help="which dump of the capture (before, pree, mid, "
                   "after; default before), or which moment of the snapshot (its tag)")
    b.add_argument("--show", action="append", choices=VIEWS, help="view to print (repeatable)")
    b.add_argument("--dmesg", action="store_true", help="print the model's boot log on stderr")
    b.set_defaults(func=cmd_boot)
    for mod in ("verify", "run", "bench", "stat", "replay", "snapshot", "sweep", "compile"):
        try:
            m = __import__(f"pagealloc.commands.{mod}", fromlist=["register"])
        except ImportError:
            continue
        m.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PageAllocError as e:
        print(f"pagealloc: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("pagealloc: interrupted", file=sys.stderr)
        return 130
