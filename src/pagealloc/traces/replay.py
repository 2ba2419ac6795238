"""Replay a real kmem trace on the model: ``pagealloc replay``.

Not a kernel file. :func:`replay_trace` builds the start machine, streams the
trace through :mod:`.replay_input` into the exact replayer
(:mod:`.replay_exact`: the kernel's pfns, each move checked) or the policy
replayer (:mod:`.replay_policy`: the model's own choices for the same
requests), compares the end with what the real machine showed, and writes the
outputs. Memory is bounded by the machine, not the trace: the trace is read
a block at a time and nothing per event is kept.

Starts (INTERFACES.md, ``replay``):

* ``--start DIR [--at TAG]`` with kpageflags of that moment: the exact free
  blocks (sources/snapshot.py); pages without flags (pcp pages, or unmapped
  kernel pages: kpagecount cannot tell) start unknown. Events until the
  snapshot's "KT snapshot TAG end" marker are applied leniently (the dump was
  read somewhere in between).
* ``--start DIR [--at TAG]`` without kpageflags (the set-1 captures: buddyinfo
  and pagetypeinfo at trace start only): the layout of the folder's zoneinfo,
  every page unknown; the moment's buddyinfo is the constraint checked at the
  end (pages revealed free at start may not exceed it, and with the free pages
  nobody touched it predicts the end's).
* ``--zoneinfo FILE``: that layout, every page unknown.
* nothing: the smallest layout that spans every pfn the trace names (a first
  quick pass finds them), every page unknown.

In policy mode the start is a clone that can allocate: the snapshot with its
flagless pages allocated and the pcps filled to zoneinfo's counts, or the
zoneinfo's own placement, or (no start) a machine whose memory is all free.

Outputs in ``--out DIR``: ``views/<view>.end.txt`` (the /proc views at the
end), ``views/buddyinfo.<tag>.model.txt`` at each snapshot marker,
``metrics.csv`` (sampled as the trace goes), ``replay.json`` (the result
dict) and ``compare.txt`` (the end-state comparison, order by order).
"""
from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, PageAllocError
from ..mm.memmap import PG_absent, PG_buddy, PG_unknown
from ..mm.mmzone import MAX_ORDER, MIGRATE_TYPES
from ..sources.snapshot import (KPF, SnapshotFiles, compare_buddyinfo, default_tag,
                                load_snapshot, model_buddyinfo, parse_buddyinfo,
                                read_kpage_array, snapshot_file)
from .replay_input import EventBlocks, prescan, ts_of

__all__ = ["ReplayStart", "build_start", "make_unknown", "replay_trace", "format_result",
           "END_VIEWS"]

END_VIEWS = ("zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "meminfo", "extfrag_index",
             "unusable_index")


@dataclass
class ReplayStart:
    """The machine a replay starts from and what is known about it."""
    machine: object
    kind: str                          # "exact", "partial", "clone" (policy), "fresh"
    folder: Path | None = None
    tag: str | None = None
    sync_tag: str | None = None
    notes: list[str] = field(default_factory=list)
    start_buddyinfo: dict | None = None           # {(nid, zone): counts} at the start


def make_unknown(machine) -> None:
    """Every present page of every populated zone becomes PG_unknown; lists and pcps empty."""
    mm = machine.mm
    mem = mm.mem
    for z in mm.zones:
        if not z.present_pages:
            continue
        s, e = z.zone_start_pfn, z.zone_end_pfn
        f = mem.a_flags[s:e]
        f[(f & PG_absent) == 0] = PG_unknown
        mem.a_order[s:e] = -1
        for o in range(MAX_ORDER):
            z.nr_free[o] = 0
            for mt in range(MIGRATE_TYPES):
                h = z.list_base + o * MIGRATE_TYPES + mt
                mem.next[h] = h
                mem.prev[h] = h
        for pcp in z.pcp:
            for lst in pcp.lists:
                lst.clear()
            pcp.count = 0
        z.vm_free = 0
        z.vm_stat_diff = [0] * mm.nr_cpu_ids
    mm.update_pb_zone()


def _machine_spanning(trace: str, *, skip_bad: bool, limit: int | None, cpus: int | None):
    """The smallest machine holding every pfn and CPU the trace names (one quick pass)."""
    from ..machine import Machine
    info = prescan(trace, skip_bad=skip_bad, limit=limit)
    if info["max_pfn"] < 0:
        raise InputError(trace, 0, "the trace names no pfn: nothing to replay")
    end_pfn = (info["max_pfn"] | ((1 << (MAX_ORDER - 1)) - 1)) + 1     # a whole MAX_ORDER block
    end_pfn = max(end_pfn, 0x1000 + (1 << (MAX_ORDER - 1)))          # DMA and a bit of DMA32
    with tempfile.NamedTemporaryFile("w", suffix=".e820", delete=False) as fh:
        fh.write(f"BIOS-e820: [mem 0x0000000000000000-0x{(end_pfn << 12) - 1:016x}] usable\n")
        e820 = fh.name
    try:
        m = Machine.boot(e820=e820, cpus=cpus or info["max_cpu"] + 1)
    finally:
        Path(e820).unlink()
    return m, info


def build_start(trace: str, *, start: str | None = None, at: str | None = None,
                zoneinfo: str | None = None, mode: str = "exact", cpus: int | None = None,
                skip_bad: bool = False, limit: int | None = None) -> ReplayStart:
    """The machine a replay starts from (see the module docstring)."""
    from ..machine import Machine
    if mode not in ("exact", "policy"):
        raise PageAllocError(f"--mode {mode!r}: expected exact or policy")
    if start is not None:
        tag = at if at is not None else default_tag(start)
        files = SnapshotFiles.find(start, tag)
        bi = parse_buddyinfo(files.buddyinfo.read_text(), str(files.buddyinfo)) \
            if files.buddyinfo is not None else None
        if mode == "exact":
            if files.kpageflags is not None:
                m = load_snapshot(start, tag, cpus=cpus, flagless="unknown")
                return ReplayStart(m, "exact", files.folder, tag, tag, list(m.snapshot["notes"]),
                                   bi)
            m = load_snapshot(start, tag, cpus=cpus, use_kpageflags=False)
            make_unknown(m)
            notes = [n for n in m.snapshot["notes"] if not n.startswith("no kpageflags")]
            notes.append(f"no kpageflags.{tag}: a partial start (every page unknown)")
            return ReplayStart(m, "partial", files.folder, tag, None, notes, bi)
        m = load_snapshot(start, tag, cpus=cpus)
        return ReplayStart(m, "clone", files.folder, tag, None, list(m.snapshot["notes"]), bi)
    if zoneinfo is not None:
        m = Machine.from_zoneinfo(zoneinfo, cpus=cpus)
        if mode == "exact":
            make_unknown(m)
            return ReplayStart(m, "partial", notes=[f"layout of {zoneinfo}, every page unknown"])
        return ReplayStart(m, "clone", notes=[f"clone of {zoneinfo}"])
    if trace == "-":
        raise PageAllocError("reading the trace from stdin needs --start or --zoneinfo (without "
                             "them a first pass over the trace sizes the machine)")
    m, info = _machine_spanning(trace, skip_bad=skip_bad, limit=limit, cpus=cpus)
    note = (f"no start: a machine spanning pfn 0..{info['max_pfn']:#x} with "
            f"{m.mm.nr_cpu_ids} CPUs")
    if mode == "exact":
        make_unknown(m)
        return ReplayStart(m, "partial", notes=[note + ", every page unknown"])
    return ReplayStart(m, "fresh", notes=[note + ", all its memory free"])


# --------------------------------------------------------------------------------------------
# the end-state comparisons

def _kpageflags_compare(machine, flags: np.ndarray) -> dict:
    """Free pages of the model (buddy) against the kernel's KPF_BUDDY pages, per zone."""
    mm = machine.mm
    mem = mm.mem
    out = {}
    n = min(len(flags), mem.npfn)
    model_free = np.zeros(mem.npfn, dtype=bool)
    heads = np.flatnonzero(mem.a_flags & PG_buddy)
    for h, o in zip(heads.tolist(), mem.a_order[heads].tolist()):
        model_free[h:h + (1 << o)] = True
    unknown = (mem.a_flags & PG_unknown) != 0
    on_pcp = np.zeros(mem.npfn, dtype=bool)
    for z in mm.zones:
        for pcp in z.pcp:
            for i, lst in enumerate(pcp.lists):
                o = i // 3 if i < 12 else 9
                for p in lst:
                    on_pcp[p:p + (1 << o)] = True
    real = (flags[:n] & int(KPF.BUDDY)) != 0
    for z in mm.zones:
        if not z.present_pages:
            continue
        s, e = z.zone_start_pfn, min(z.zone_end_pfn, n)
        a = model_free[s:e]
        b = real[s:e]
        out[f"{z.nid}:{z.name}"] = {
            "real_buddy_pages": int(b.sum()), "model_free_pages": int(a.sum()),
            "both": int((a & b).sum()), "model_only": int((a & ~b).sum()),
            "real_only": int((~a & b).sum()),
            "real_only_unknown_in_model": int((~a & b & unknown[s:e]).sum()),
            "real_only_on_model_pcp": int((~a & b & on_pcp[s:e]).sum()),
        }
    return out


def _compare_end(res: dict, start: ReplayStart, machine, rp, end_at: str | None) -> None:
    """Fill res["compare"]: buddyinfo at each snapshot marker and at the end, kpageflags."""
    cmp: dict = {}
    res["compare"] = cmp
    folder = start.folder
    if folder is None:
        return
    snaps = getattr(rp, "snapshots", {})
    for tag, snap in snaps.items():
        p = snapshot_file(folder, "buddyinfo", tag)
        if p is None:
            continue
        model = {tuple((int(k.split(":")[0]), k.split(":")[1])): v
                 for k, v in snap["buddyinfo"].items()}
        real = parse_buddyinfo(p.read_text(), str(p))
        cmp[tag] = {"real": p.name, "model_at": f"line {snap['line']} (KT snapshot {tag} begin)",
                    "zones": compare_buddyinfo(model, real)}
        win = snap.get("window")
        if win is not None:
            best = {(int(k.split(":")[0]), k.split(":")[1]): v
                    for k, v in win["best_buddyinfo"].items()}
            cmp[tag]["window"] = {k: v for k, v in win.items() if k != "best_buddyinfo"}
            cmp[tag]["window"]["zones"] = compare_buddyinfo(best, real)
    if end_at is None:
        for t in ("after", "end"):
            if snapshot_file(folder, "buddyinfo", t) is not None and t != start.tag:
                end_at = t
                break
    res["end_at"] = end_at
    if end_at is None:
        return
    if end_at not in cmp:
        p = snapshot_file(folder, "buddyinfo", end_at)
        if p is not None:
            cmp[end_at] = {"real": p.name, "model_at": "the end of the trace",
                           "zones": compare_buddyinfo(model_buddyinfo(machine),
                                                      parse_buddyinfo(p.read_text(), str(p)))}
    kp = snapshot_file(folder, "kpageflags", end_at, (".bin.xz", ".bin"))
    if kp is not None and res["mode"] == "exact":
        cmp["kpageflags"] = {"real": kp.name, "model_at": "the end of the trace",
                             "zones": _kpageflags_compare(machine, read_kpage_array(kp))}
    mig = _migrations(folder, start.tag, end_at)
    if mig is not None:
        cmp["migrations"] = mig
    if start.kind == "partial" and start.start_buddyinfo and end_at in cmp:
        # untouched pages keep their start state: the end's free pages should be the model's
        # plus the start's free pages that no event revealed
        pred = {}
        rev = res.get("revealed_free_pages", {})
        for key, counts in start.start_buddyinfo.items():
            k = f"{key[0]}:{key[1]}"
            z = cmp[end_at]["zones"].get(k)
            if z is None:
                continue
            start_free = sum(c << o for o, c in enumerate(counts))
            untouched = start_free - rev.get(k, 0)
            pred[k] = {"start_free_pages": start_free, "revealed_free_pages": rev.get(k, 0),
                       "untouched_free_pages": untouched, "model_free_pages": z["model_pages"],
                       "predicted_end_free_pages": z["model_pages"] + untouched,
                       "real_end_free_pages": z["real_pages"],
                       "prediction_error_pages": z["model_pages"] + untouched - z["real_pages"]}
            if untouched < 0:
                res.setdefault("constraint_violations", []).append(
                    f"zone {k}: {rev.get(k, 0)} pages revealed free at the start, but the "
                    f"start's buddyinfo has only {start_free} free")
        cmp["prediction"] = pred
        cmp["completed"] = _completed(machine, pred, cmp[end_at]["zones"])


def _migrations(folder: Path, start_tag: str | None, end_tag: str) -> dict | None:
    """pgmigrate_success between the start and the end (vmstat files of the folder).

    Each migrated page took a free page as its target without an mm_page_alloc: in a
    trace without compaction events that is what the model cannot see.
    """
    def read(tag):
        p = snapshot_file(folder, "vmstat", tag)
        if p is None:
            return None, None
        for line in p.read_text().splitlines():
            w = line.split()
            if len(w) == 2 and w[0] == "pgmigrate_success":
                return int(w[1]), p.name
        return None, None
    a, an = read(start_tag)
    if a is None:
        a, an = read("boot")
    b, bn = read(end_tag)
    if a is None or b is None:
        return None
    return {"pgmigrate_success": b - a, "from": an, "to": bn}


def _completed(machine, pred: dict, zones: dict) -> dict:
    """The end buddyinfo with the start's untouched free pages put back, as an estimate.

    The pages no event touched keep their start state; the start's buddyinfo says how
    many were free but not where. Taking them as the largest fully unknown aligned blocks
    (highest pfns first, order 10 down, until the untouched free pages are used up)
    gives an end buddyinfo to compare order by order with the real one.
    """
    mm = machine.mm
    mem = mm.mem
    out = {}
    for z in mm.zones:
        k = f"{z.nid}:{z.name}"
        if not z.present_pages or k not in pred or k not in zones:
            continue
        budget = max(0, pred[k]["untouched_free_pages"])
        s, e = z.zone_start_pfn, z.zone_end_pfn
        u = (mem.a_flags[s:e] & PG_unknown) != 0
        add = [0] * MAX_ORDER
        for o in range(MAX_ORDER - 1, -1, -1):
            n = 1 << o
            a0 = -(-s // n) * n
            b0 = (e // n) * n
            if b0 <= a0 or budget < n:
                continue
            whole = np.flatnonzero(u[a0 - s:b0 - s].reshape(-1, n).all(axis=1))[::-1]
            take = whole[:budget // n]
            for i in take.tolist():
                u[a0 - s + i * n:a0 - s + (i + 1) * n] = False
            add[o] = int(take.size)
            budget -= n * int(take.size)
        comp = [a + b for a, b in zip(z.nr_free, add)]
        real = zones[k]["real"]
        out[k] = {"completed": comp, "real": real, "diff": [a - b for a, b in zip(comp, real)],
                  "diff_pages": sum((a - b) << o for o, (a, b) in enumerate(zip(comp, real)))}
    return out


# --------------------------------------------------------------------------------------------
# metrics

class _Metrics:
    """metrics.csv: one row every ``every`` events (at block ends)."""

    def __init__(self, path: Path, machine, every: int) -> None:
        self.machine = machine
        self.every = every
        self.next = every
        self.fh = path.open("w", newline="")
        self.w = csv.writer(self.fh)
        zones = [z for z in machine.mm.zones if z.present_pages]
        self.zones = zones
        self.w.writerow(["line", "ts", "events", "impossible"]
                        + [f"free_{z.name}" for z in zones] + [f"pcp_{z.name}" for z in zones]
                        + [f"nr_free_o{o}" for o in range(MAX_ORDER)])

    def sample(self, rp, force: bool = False) -> None:
        if rp.events < self.next and not force:
            return
        self.next = rp.events + self.every
        zones = self.zones
        imp = rp.impossible.total if hasattr(rp, "impossible") else 0
        ts = ts_of(rp.last_when) if rp.last_when is not None else float("nan")
        nr = [sum(z.nr_free[o] for z in zones) for o in range(MAX_ORDER)]
        self.w.writerow([rp.last_line, "" if math.isnan(ts) else f"{ts:.6f}", rp.events, imp]
                        + [z.vm_free + sum(z.vm_stat_diff) for z in zones]
                        + [sum(p.count for p in z.pcp) for z in zones] + nr)

    def close(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------------------------

def replay_trace(trace: str, *, start: str | None = None, at: str | None = None,
                 zoneinfo: str | None = None, mode: str = "exact", out: str | Path | None = None,
                 skip_bad: bool = False, sysctls=(), cpus: int | None = None,
                 max_detail: int = 20, end_at: str | None = None, limit: int | None = None,
                 sample_every: int = 20000, progress=None, replay_start: ReplayStart | None = None,
                 untraced_compaction: str = "auto") -> dict:
    """Replay ``trace``; the result dict (see :func:`format_result` for what it holds).

    :param progress: called now and then with (lines read, events per second).
    :param untraced_compaction: exact mode's reading of a free of a page it has free:
        "auto", "yes" or "no" (see replay_exact).
    :param replay_start: a start built beforehand (:func:`build_start`), else built here.
    """
    from .replay_exact import ExactReplay
    from .replay_policy import PolicyReplay
    t_start = time.perf_counter()
    st = replay_start or build_start(trace, start=start, at=at, zoneinfo=zoneinfo, mode=mode,
                                     cpus=cpus, skip_bad=skip_bad, limit=limit)
    m = st.machine
    for s in sysctls:
        m.write_sysctl_assignment(s)
    t_built = time.perf_counter()
    if mode == "exact":
        rp = ExactReplay(m, sync_tag=st.sync_tag, max_detail=max_detail, path=trace,
                         untraced_compaction=untraced_compaction)
        if st.folder is not None:
            for p in st.folder.glob("buddyinfo.*.txt"):
                tag = p.name[len("buddyinfo."):-len(".txt")]
                if tag != st.tag:
                    rp.real_buddyinfo[tag] = {f"{k[0]}:{k[1]}": v for k, v in
                                              parse_buddyinfo(p.read_text(), str(p)).items()}
    else:
        rp = PolicyReplay(m)
    outdir = Path(out) if out is not None else None
    metrics = None
    if outdir is not None:
        (outdir / "views").mkdir(parents=True, exist_ok=True)
        metrics = _Metrics(outdir / "metrics.csv", m, sample_every)
        if mode == "exact":
            def snap(tag: str, line: int) -> None:
                (outdir / "views" / f"buddyinfo.{tag}.model.txt").write_text(m.show("buddyinfo"))
            rp.on_snapshot = snap
    eb = EventBlocks(trace, skip_bad=skip_bad, limit=limit)
    t0 = time.perf_counter()
    last_report = t0
    try:
        for batch in eb:
            rp.feed(batch)
            if metrics is not None:
                metrics.sample(rp)
            if progress is not None:
                now = time.perf_counter()
                if now - last_report > 2.0:
                    last_report = now
                    progress(eb.lines, rp.events / (now - t0))
        if metrics is not None:
            metrics.sample(rp, force=True)
    finally:
        if metrics is not None:
            metrics.close()
    t1 = time.perf_counter()
    res: dict = {"trace": str(trace), "mode": mode,
                 "start": {"kind": st.kind, "folder": str(st.folder) if st.folder else None,
                           "tag": st.tag, "notes": st.notes},
                 "lines": eb.lines, "bad_lines": eb.bad_lines,
                 "first_bad": ({"line": eb.first_bad[0], "message": eb.first_bad[1]}
                               if eb.first_bad else None),
                 "lost_events": eb.lost_events, "events_dropped": dict(eb.other)}
    res.update(rp.finish())
    res["seconds"] = round(t1 - t0, 3)
    res["setup_seconds"] = round(t_built - t_start, 3)
    res["events_per_s"] = round(res["events"] / (t1 - t0), 1) if t1 > t0 else None
    res["end_buddyinfo"] = {f"{k[0]}:{k[1]}": v for k, v in model_buddyinfo(m).items()}
    _compare_end(res, st, m, rp, end_at)
    if outdir is not None:
        for v in END_VIEWS:
            try:
                (outdir / "views" / f"{v}.end.txt").write_text(m.show(v))
            except PageAllocError:
                pass
        (outdir / "replay.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
        (outdir / "compare.txt").write_text(format_compare(res))
    res["machine"] = m
    return res


# --------------------------------------------------------------------------------------------
# text

def format_compare(res: dict) -> str:
    """The end-state comparison, order by order, as text."""
    lines = []
    cmp = res.get("compare", {})

    def table(zones: dict) -> None:
        for zk, z in zones.items():
            lines.append(f"  {zk:<12} order " + " ".join(f"{o:>6}" for o in range(MAX_ORDER))
                         + "     pages")
            lines.append(f"  {'model':>12}       " + " ".join(f"{v:>6}" for v in z["model"])
                         + f" {z['model_pages']:>9}")
            lines.append(f"  {'real':>12}       " + " ".join(f"{v:>6}" for v in z["real"])
                         + f" {z['real_pages']:>9}")
            lines.append(f"  {'diff':>12}       " + " ".join(f"{v:>+6}" for v in z["diff"])
                         + f" {z['diff_pages']:>+9}")
    for tag, c in cmp.items():
        if tag in ("kpageflags", "prediction", "migrations", "completed"):
            continue
        lines.append(f"buddyinfo: model at {c['model_at']} vs real {c['real']}")
        table(c["zones"])
        w = c.get("window")
        if w is not None and w["best_line"] != w["first_line"]:
            lines.append(f"  closest in the snapshot's window (lines {w['first_line']}.."
                         f"{w['last_line']}, where the dump was read): line {w['best_line']}, "
                         f"{w['best_diff']} blocks apart (at the marker {w['diff_at_marker']})")
            table(w["zones"])
    kp = cmp.get("kpageflags")
    if kp:
        lines.append(f"free pages: model at {kp['model_at']} vs KPF_BUDDY of {kp['real']}")
        for zk, z in kp["zones"].items():
            lines.append(f"  {zk:<12} real {z['real_buddy_pages']}, model {z['model_free_pages']}"
                         f": both {z['both']}, model only {z['model_only']}, real only "
                         f"{z['real_only']} (of them {z['real_only_on_model_pcp']} on a pcp "
                         f"and {z['real_only_unknown_in_model']} unknown in the model)")
    mig = cmp.get("migrations")
    if mig:
        lines.append(f"pages compaction migrated (pgmigrate_success, {mig['from']} to "
                     f"{mig['to']}): {mig['pgmigrate_success']}")
    pred = cmp.get("prediction")
    if pred:
        lines.append("partial start: end free pages = model free + start free pages no event "
                     "revealed")
        for zk, p in pred.items():
            lines.append(f"  {zk:<12} start {p['start_free_pages']}, revealed "
                         f"{p['revealed_free_pages']}, untouched {p['untouched_free_pages']}; "
                         f"predicted {p['predicted_end_free_pages']}, real "
                         f"{p['real_end_free_pages']} ({p['prediction_error_pages']:+d})")
    comp = cmp.get("completed")
    if comp:
        lines.append("partial start: the end buddyinfo with the untouched free pages as the "
                     "largest unknown aligned blocks (an estimate)")
        for zk, c in comp.items():
            lines.append(f"  {zk:<12} order " + " ".join(f"{o:>6}" for o in range(MAX_ORDER)))
            for name in ("completed", "real", "diff"):
                fmt = "{:>+6}" if name == "diff" else "{:>6}"
                lines.append(f"  {name:>12}       " + " ".join(fmt.format(v) for v in c[name])
                             + (f" {c['diff_pages']:>+9}" if name == "diff" else ""))
    return "\n".join(lines) + ("\n" if lines else "")


def format_result(res: dict) -> str:
    """A short human-readable summary of a replay."""
    s = res["start"]
    lines = [f"pagealloc replay ({res['mode']}): {res['trace']}: {res['lines']:,} lines, "
             f"{res['events']:,} events in {res['seconds']:.1f} s "
             f"({(res['events_per_s'] or 0):,.0f} events/s); start: {s['kind']}"
             + (f" {s['folder']} at {s['tag']}" if s["folder"] else "")]
    for n in s["notes"]:
        lines.append(f"  note: {n}")
    if res["bad_lines"]:
        lines.append(f"  {res['bad_lines']} malformed lines skipped (first: line "
                     f"{res['first_bad']['line']}: {res['first_bad']['message']})")
    if res["lost_events"]:
        lines.append(f"  the trace lost {res['lost_events']} events")
    if res["mode"] == "exact":
        lines.append(f"  impossible moves: {res['impossible']}"
                     + (f" ({', '.join(f'{k} {v}' for k, v in res['impossible_by_kind'].items())})"
                        if res["impossible"] else ""))
        for d in res["impossible_first"]:
            lines.append(f"    line {d['line']}: {d['kind']}: {d['message']}")
        if res["explained_by_kind"]:
            lines.append("  explained: " + ", ".join(f"{k} {v}" for k, v in
                                                     res["explained_by_kind"].items()))
        st = res["stats"]
        keys = ("revealed_free_pages", "revealed_allocated_pages", "revealed_pcp_pages",
                "bulk_alloc", "pcp_to_buddy", "implicit_split", "structure", "sync_skipped",
                "compaction_isolated_pages", "fallbacks", "alloc_failed")
        lines.append("  " + ", ".join(f"{k} {st[k]}" for k in keys if st.get(k)))
        lines.append(f"  unknown pages left: {res['unknown_pages_left']}")
        n = res["explained_by_kind"].get("untraced_compaction", 0)
        if n and not res["compaction_traced"]:
            lines.append(f"  note: the trace has no compaction events; {n} frees of pages the "
                         "model had free are taken as compaction's free scanner (untraced "
                         "here), not checked: trace compaction to check them")
    else:
        lines.append(f"  requests {res['requests']:,}: model failed {res['model_failures']:,}, "
                     f"kernel failed {res['kernel_failures']:,}; fallbacks model "
                     f"{res['fallbacks']['model']:,}, kernel {res['fallbacks']['kernel']:,}")
        st = res["stats"]
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in st.items() if not k.endswith("first")))
    for zk, v in res["end_buddyinfo"].items():
        lines.append(f"  end buddyinfo {zk:<10} " + " ".join(f"{c:>5}" for c in v))
    txt = format_compare(res)
    if txt:
        lines.append(txt.rstrip("\n"))
    return "\n".join(lines) + "\n"
