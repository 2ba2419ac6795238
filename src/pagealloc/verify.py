"""pagealloc verify: replay an exact free-list capture and compare pfn for pfn.

Not a kernel file. Loads the capture's "before" dump into a machine cloned
from the zoneinfo, runs its script through alloc_pages/__free_pages on the
captured CPU, and compares every allocation's pfn (failures included) and
every later checkpoint (fl2: pree, mid; both kinds: after). At a divergence
it reports the model's reasoning for that allocation: zones and watermark
values tried, the list and order taken, fallbacks and pcp refills. A
checkpoint whose only difference is the split of NR_FREE_PAGES between the
global counter and cpu 0's diff (the vmstat worker folds at times no script
line shows) is reported as such, and the run carries on from the kernel's
split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .mm.gfp import __GFP_NOWARN
from .mm.page_alloc import alloc_pages_fast, free_pages_fast
from .sources.fldump import FlDump, apply_checkpoint, compare_checkpoint, parse_fldump

__all__ = ["VerifyResult", "verify_capture", "run_script"]


@dataclass
class PhaseResult:
    phase: str
    matched: int = 0
    total: int = 0
    failed: int = 0
    first_divergence: dict | None = None


@dataclass
class VerifyResult:
    capture: str
    allocations_total: int = 0
    allocations_matched: int = 0
    after_state_equal: bool = False
    checkpoints_equal: bool = False
    first_divergence: dict | None = None
    phases: list[PhaseResult] = field(default_factory=list)
    checkpoint_diffs: dict[str, list[str]] = field(default_factory=dict)
    split_notes: list[str] = field(default_factory=list)
    bad_frees: int = 0

    @property
    def ok(self) -> bool:
        return (self.allocations_matched == self.allocations_total and self.after_state_equal
                and self.checkpoints_equal)

    def to_json(self) -> dict:
        return {
            "capture": self.capture,
            "allocations_total": self.allocations_total,
            "allocations_matched": self.allocations_matched,
            "after_state_equal": self.after_state_equal,
            "checkpoints_equal": self.checkpoints_equal,
            "first_divergence": self.first_divergence,
            "phases": [{"phase": p.phase, "matched": p.matched, "total": p.total,
                        "failed": p.failed, "first_divergence": p.first_divergence}
                       for p in self.phases],
            "checkpoint_differences": {k: v[:20] for k, v in self.checkpoint_diffs.items()},
            "split_notes": self.split_notes,
        }


def run_script(machine, dump: FlDump, result: VerifyResult) -> None:
    """Run the script from 'before', checking allocations and every checkpoint."""
    mm = machine.mm
    held: dict[int, tuple[int, int]] = {}
    phases: dict[str, PhaseResult] = {}
    at = {}   # script position -> checkpoint tags
    for tag, pos in dump.checkpoint_at.items():
        if tag != "before":
            at.setdefault(pos, []).append(tag)
    explain: list[str] = []
    mm.explain = explain
    script = dump.script
    try:
        for pos in range(len(script) + 1):
            for tag in at.get(pos, ()):
                _check(machine, dump, tag, result)
            if pos == len(script):
                break
            op = script[pos]
            ph = phases.get(op.phase)
            if ph is None:
                ph = phases[op.phase] = PhaseResult(op.phase)
                result.phases.append(ph)
            mm.cpu = op.cpu
            if op.kind == "A":
                explain.clear()
                pfn = alloc_pages_fast(mm, op.gfp | __GFP_NOWARN, op.order, mm.cpu_to_node[op.cpu])
                kernel = op.pfn if op.pfn else -1
                ph.total += 1
                result.allocations_total += 1
                if kernel < 0:
                    ph.failed += 1
                if pfn == kernel:
                    ph.matched += 1
                    result.allocations_matched += 1
                elif ph.first_divergence is None:
                    div = {"line": op.line, "index": op.index,
                           "kernel_pfn": f"{op.pfn:#x}",
                           "model_pfn": f"{pfn:#x}" if pfn >= 0 else "0x0",
                           "gfp": op.gfp_name, "order": op.order,
                           "reason": "; ".join(explain[-12:]) or "no decision recorded"}
                    ph.first_divergence = div
                    if result.first_divergence is None:
                        result.first_divergence = div
                if pfn >= 0:
                    held[op.index] = (pfn, op.order)
            else:
                blk = held.pop(op.index, None)
                if blk is None:
                    continue   # the allocation failed in the model: nothing to free
                before = mm.nr_bad_pages
                free_pages_fast(mm, blk[0], blk[1])
                if mm.nr_bad_pages != before:
                    result.bad_frees += 1
    finally:
        mm.explain = None


def _check(machine, dump: FlDump, tag: str, result: VerifyResult) -> None:
    diffs = compare_checkpoint(machine, dump, tag)
    real = [d for d in diffs if not d.startswith("split:")]
    splits = [d[len("split: "):] for d in diffs if d.startswith("split:")]
    result.split_notes.extend(splits)
    result.checkpoint_diffs[tag] = real
    if splits and not real:
        # carry on from the kernel's split of NR_FREE_PAGES
        cp = dump.checkpoints[tag]
        for (node, zname), zs in cp.zones.items():
            if zs.z is None:
                continue
            for z in machine.mm.nodes[node].node_zones:
                if z.name == zname:
                    z.vm_free = int(zs.z["free"])
                    z.vm_stat_diff[0] = int(zs.z.get("cpu0_diff", 0))


def verify_capture(fldump_path: str, zoneinfo_path: str, *, cpus: int | None = None) -> VerifyResult:
    """Verify one capture; see the module docstring."""
    from .machine import Machine
    dump = parse_fldump(fldump_path)
    machine = Machine.from_zoneinfo(zoneinfo_path, cpus=cpus)
    apply_checkpoint(machine, dump, "before")
    result = VerifyResult(capture=fldump_path)
    run_script(machine, dump, result)
    tags = [t for t in dump.order if t != "before"]
    result.after_state_equal = not result.checkpoint_diffs.get("after", ["missing"])
    result.checkpoints_equal = all(not result.checkpoint_diffs.get(t) for t in tags)
    return result
