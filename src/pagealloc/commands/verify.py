"""pagealloc verify FLDUMP --zoneinfo ZONEINFO [--json]: pfn-exact check against a capture."""
from __future__ import annotations

import argparse
import json
import sys


def _human(r) -> str:
    out = [f"capture: {r.capture}",
           f"allocations: {r.allocations_matched}/{r.allocations_total} returned the kernel's pfn"]
    for p in r.phases:
        line = f"  phase {p.phase}: {p.matched}/{p.total} matched, {p.failed} kernel failures"
        if p.first_divergence:
            d = p.first_divergence
            line += (f"; first divergence at line {d['line']} (block {d['index']}, {d['gfp']} "
                     f"order {d['order']}): kernel {d['kernel_pfn']}, model {d['model_pfn']}\n"
                     f"    model reasoning: {d['reason']}")
        out.append(line)
    for tag, diffs in r.checkpoint_diffs.items():
        out.append(f"checkpoint {tag}: {'equal' if not diffs else f'{len(diffs)} differences'}")
        out.extend(f"    {d}" for d in diffs[:20])
    for note in r.split_notes:
        out.append(f"note: {note} — the vmstat worker folded cpu 0's diff; continued from the kernel's split")
    if r.bad_frees:
        out.append(f"bad frees reported: {r.bad_frees}")
    out.append("RESULT: " + ("everything matches" if r.ok else "MISMATCH"))
    return "\n".join(out) + "\n"


def cmd_verify(args: argparse.Namespace) -> int:
    from ..verify import verify_capture
    r = verify_capture(args.fldump, args.zoneinfo, cpus=args.cpus)
    if args.json:
        sys.stdout.write(json.dumps(r.to_json()) + "\n")
    else:
        sys.stdout.write(_human(r))
    return 0 if r.ok else 1


def register(sub) -> None:
    p = sub.add_parser("verify", help="replay an exact free-list capture and compare with the kernel")
    p.add_argument("fldump", help="the capture (fldump.txt of an fl-* or fl2-* folder)")
    p.add_argument("--zoneinfo", required=True, help="zoneinfo of the captured machine (zoneinfo.before.txt)")
    p.add_argument("--cpus", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_verify)
