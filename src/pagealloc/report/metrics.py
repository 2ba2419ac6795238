"""Sampling a running machine: free pages by order, fragmentation indexes, pageblock mixing.

Not a kernel file. A :class:`Recorder` is the observer of a
:class:`~pagealloc.workload.Simulation`: every ``sample`` it reads each
populated zone (the buddyinfo counts, the watermarks, the unusable free space
index and the fragmentation index of every order with the kernel's formulas
from :mod:`pagealloc.mm.vmstat`, pageblocks per migratetype and how many of
them hold a page of another mobility, as page_owner's "mixed" count would),
the machine-wide counters, and optionally writes the /proc views; at chosen
``moment`` s it keeps a picture of every pageblock for the memory map.

Outputs (``write_csv``): ``metrics.csv`` one row per sample and zone,
``timeline.csv`` one row per sample for the whole machine, ``highorder.csv``
the tracked high-order attempts per sample interval, order and caller.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..mm.memmap import PG_absent, PG_buddy, PG_pcp, PG_reserved
from ..mm.mmzone import (MAX_ORDER, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE,
                         MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, WMARK_HIGH, WMARK_LOW,
                         WMARK_MIN, pageblock_nr_pages, pageblock_order)
from ..mm.vmstat import VM_EVENT_ITEMS, fragmentation_index, unusable_free_index

__all__ = ["Recorder", "BlockPicture", "pageblock_picture", "mixed_pageblocks", "MT_COLUMNS",
           "zone_pageblocks",
           "TIMELINE_EVENTS"]

# pageblock labels reported (model numbering; CMA is off by default and left out)
MT_COLUMNS = (("unmovable", MIGRATE_UNMOVABLE), ("movable", MIGRATE_MOVABLE),
              ("reclaimable", MIGRATE_RECLAIMABLE), ("highatomic", MIGRATE_HIGHATOMIC),
              ("isolate", MIGRATE_ISOLATE))

# vm events carried in timeline.csv (cumulative, as /proc/vmstat shows them)
TIMELINE_EVENTS = ("pgfree", "pgfault", "thp_fault_alloc", "thp_fault_fallback",
                   "compact_stall", "compact_success", "compact_fail", "compact_daemon_wake",
                   "compact_migrate_scanned", "compact_free_scanned", "pgscan_kswapd",
                   "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "pageoutrun",
                   "allocstall_normal", "allocstall_movable", "kswapd_low_wmark_hit_quickly",
                   "kswapd_high_wmark_hit_quickly", "oom_kill", "balloon_inflate",
                   "balloon_deflate", "pgmigrate_success")
_EV_INDEX = {n: i for i, n in enumerate(VM_EVENT_ITEMS)}
_HIGHORDER_FIELDS = ["t_s", "order", "caller", "attempts", "successes", "steps_sum", "steps_max",
                     "stalls"]

# the mobility a page user kind stands for, when the workload did not record the request
_KIND_MT = np.zeros(256, dtype=np.uint8)
for _k in (1, 2, 3, 8):                     # anon, file, shmem, THP
    _KIND_MT[_k] = MIGRATE_MOVABLE
_KIND_MT[4] = MIGRATE_RECLAIMABLE           # reclaimable slab


def _held_heads(sim) -> tuple[np.ndarray, np.ndarray]:
    """Head pfns of the blocks the workload holds and the migratetype each was asked for."""
    pages = sim.pages
    wk = pages.a_wkind
    if pages.mode == "users":
        kinds = pages.a_kind
        heads = np.flatnonzero((wk != 0) | (kinds != 0))
        mts = np.where(wk[heads] != 0, pages.a_reqmt[heads], _KIND_MT[kinds[heads]])
    else:
        heads = np.flatnonzero(wk)
        mts = pages.a_reqmt[heads]
    return heads, mts


def mixed_pageblocks(sim) -> np.ndarray:
    """Per pageblock: True if it holds a block allocated for another mobility than its label.

    Like mm/page_owner.c:pagetypeinfo_showmixedcount_print with the workload's record of
    each request standing in for page_owner.
    """
    mem = sim.machine.mm.mem
    nblocks = mem.a_pageblock.size
    heads, mts = _held_heads(sim)
    present = np.zeros(nblocks, dtype=np.uint8)
    if heads.size:
        orders = mem.a_order[heads].astype(np.int64)
        blocks = heads >> pageblock_order
        for mt in np.unique(mts).tolist():
            sel = mts == mt
            present[np.unique(blocks[sel])] |= np.uint8(1 << mt)
            big = sel & (orders > pageblock_order)
            for h, o in zip(heads[big].tolist(), orders[big].tolist()):
                b = h >> pageblock_order
                present[b:b + (1 << (o - pageblock_order))] |= np.uint8(1 << mt)
    label = (mem.a_pageblock & 7).astype(np.uint8)
    return (present & ~(np.uint8(1) << label)) != 0


@dataclass
class BlockPicture:
    """One moment of physical memory, a value per pageblock."""
    t: float
    label: str
    mt: np.ndarray            # pageblock migratetype (model numbering)
    used: np.ndarray          # fraction of the block's present pages that are not free
    absent: np.ndarray        # no managed memory in the block (hole or reserved)
    mixed: np.ndarray         # holds a page of another mobility
    zone_marks: list = field(default_factory=list)   # (first block, "node N Zone")


def pageblock_picture(sim, t: float, label: str) -> BlockPicture:
    """The memory map at this moment: type, fill and mixing of every pageblock."""
    mm = sim.machine.mm
    mem = mm.mem
    npfn = mem.npfn
    nblocks = mem.a_pageblock.size
    flags = mem.a_flags
    free = np.zeros(nblocks, dtype=np.float64)
    heads = np.flatnonzero(flags & (PG_buddy | PG_pcp))
    if heads.size:
        orders = mem.a_order[heads].astype(np.int64)
        small = orders < pageblock_order
        free += np.bincount(heads[small] >> pageblock_order, weights=(1 << orders[small]),
                            minlength=nblocks)[:nblocks]
        for h, o in zip(heads[~small].tolist(), orders[~small].tolist()):
            b = h >> pageblock_order
            free[b:b + (1 << (o - pageblock_order))] += pageblock_nr_pages
    pad = nblocks * pageblock_nr_pages - npfn
    f = flags if not pad else np.concatenate([flags, np.full(pad, PG_absent, np.uint8)])
    unmanaged = ((f & (PG_absent | PG_reserved)) != 0).reshape(nblocks, pageblock_nr_pages)
    managed = pageblock_nr_pages - unmanaged.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        used = np.where(managed > 0, 1.0 - np.minimum(free, managed) / np.maximum(managed, 1), 0.0)
    marks = []
    for z in mm.zones:
        if z.present_pages:
            marks.append((z.zone_start_pfn >> pageblock_order, f"node {z.nid} {z.name}"))
    marks.sort()
    return BlockPicture(t=t, label=label, mt=(mem.a_pageblock & 7).copy(), used=used,
                        absent=managed == 0, mixed=mixed_pageblocks(sim), zone_marks=marks)


def zone_pageblocks(mm, zone) -> np.ndarray:
    """Indexes of the pageblocks /proc/pagetypeinfo counts for a zone.

    As mm/vmstat.c:pagetypeinfo_showblockcount_print: one pfn every pageblock_nr_pages
    from zone_start_pfn (not aligned), skipped where there is no memmap (a hole).
    """
    mem = mm.mem
    end = min(zone.zone_start_pfn + zone.spanned_pages, mem.npfn)
    pfns = np.arange(zone.zone_start_pfn, end, pageblock_nr_pages, dtype=np.int64)
    pfns = pfns[(mem.a_flags[pfns] & PG_absent) == 0]
    return pfns >> pageblock_order


class Recorder:
    """Samples a simulation; keeps rows in memory for plots and writes CSV and views."""

    def __init__(self, out_dir: str | Path | None = None, views=(), write_views: bool = True,
                 keep_pictures: bool = True) -> None:
        self.out = Path(out_dir) if out_dir is not None else None
        self.views = list(views)
        self.write_views = write_views and self.out is not None and bool(self.views)
        self.keep_pictures = keep_pictures
        self.zone_rows: list[dict] = []
        self.timeline: list[dict] = []
        self.pictures: list[BlockPicture] = []
        self.view_files: list[str] = []
        self.last_sample_t: float | None = None
        self._ho_seen = 0
        self.highorder_rows: list[dict] = []
        self.final_views: dict[str, str] = {}
        if self.write_views:
            (self.out / "views").mkdir(parents=True, exist_ok=True)

    # --- the observer interface ---------------------------------------------------------
    def sample(self, sim, t: float) -> None:
        mm = sim.machine.mm
        self.last_sample_t = t
        mixed = mixed_pageblocks(sim)
        labels = mm.mem.a_pageblock & 7
        for z in mm.zones:
            if not z.present_pages:
                continue
            nr_free = list(z.nr_free)
            row = {"t_s": round(t, 6), "node": z.nid, "zone": z.name,
                   "free_pages": max(z.vm_free, 0), "managed_pages": z.managed_pages,
                   "wmark_min": z._watermark[WMARK_MIN], "wmark_low": z._watermark[WMARK_LOW],
                   "wmark_high": z._watermark[WMARK_HIGH], "boost": z.watermark_boost,
                   "highatomic_reserved": z.nr_reserved_highatomic}
            for o in range(MAX_ORDER):
                row[f"free_o{o}"] = nr_free[o]
            for o in range(MAX_ORDER):
                row[f"unusable_o{o}"] = unusable_free_index(nr_free, o) / 1000
            for o in range(MAX_ORDER):
                fi = fragmentation_index(nr_free, o)
                row[f"extfrag_o{o}"] = fi / 1000
            blocks = zone_pageblocks(mm, z)
            zl = labels[blocks]
            zm = mixed[blocks]
            counts = np.bincount(zl, minlength=8)
            mcounts = np.bincount(zl[zm], minlength=8)
            for name, mt in MT_COLUMNS:
                row[f"blocks_{name}"] = int(counts[mt])
            for name, mt in MT_COLUMNS:
                row[f"mixed_{name}"] = int(mcounts[mt])
            self.zone_rows.append(row)
        self._timeline_row(sim, t, int(mixed.sum()))
        self._highorder_bin(sim, t)
        if self.write_views:
            for v in self.views:
                try:
                    text = sim.machine.show(v)
                except Exception as e:          # a view still being written elsewhere
                    sim.note(f"view {v}: {type(e).__name__}: {e}")
                    continue
                name = f"{v}.t{t:08.2f}s.txt"
                (self.out / "views" / name).write_text(text)
                self.view_files.append(name)
                self.final_views[v] = text

    def moment(self, sim, t: float, label: str | None = None) -> None:
        if self.keep_pictures:
            self.pictures.append(pageblock_picture(sim, t, label or f"t={t:g}s"))

    # --- rows -----------------------------------------------------------------------------
    def _timeline_row(self, sim, t: float, mixed_total: int) -> None:
        mm = sim.machine.mm
        ev = mm.events
        p = sim.pages
        row = {"t_s": round(t, 6), "free_pages": sum(max(z.vm_free, 0) for z in mm.zones),
               "pcp_pages": sum(pcp.count for z in mm.zones for pcp in z.pcp),
               "mixed_blocks": mixed_total,
               "alloc_attempts": sum(p.attempts), "alloc_failures": sum(p.failures),
               "kswapd_wakeups": mm.kswapd_wakeups}
        for item in ("nr_file_pages", "nr_anon_pages", "nr_anon_transparent_hugepages",
                     "nr_slab_reclaimable", "nr_slab_unreclaimable", "nr_page_table_pages",
                     "nr_kernel_stack"):
            row[item] = sum(n.vm_stat.get(item, 0) for n in mm.nodes)
        for name in TIMELINE_EVENTS:
            row[name] = ev[_EV_INDEX[name]]
        self.timeline.append(row)

    def _highorder_bin(self, sim, t: float) -> None:
        from ..workload.pages import KIND_LABELS
        recs = sim.pages.highorder
        new = recs[self._ho_seen:]
        self._ho_seen = len(recs)
        bins: dict[tuple[int, int], list] = {}
        for (_, order, kind, ok, steps, stalled) in new:
            b = bins.get((order, kind))
            if b is None:
                b = bins[(order, kind)] = [0, 0, 0, 0, 0]
            b[0] += 1
            if ok:
                b[1] += 1
                b[2] += steps
            if steps > b[3]:
                b[3] = steps
            b[4] += stalled
        for (order, kind), (n, ok, steps, mx, stalls) in sorted(bins.items()):
            self.highorder_rows.append({"t_s": round(t, 6), "order": order,
                                        "caller": KIND_LABELS.get(kind, str(kind)),
                                        "attempts": n, "successes": ok,
                                        "steps_sum": steps, "steps_max": mx, "stalls": stalls})

    # --- output ---------------------------------------------------------------------------
    def write_csv(self, out: str | Path | None = None) -> list[str]:
        out = Path(out) if out is not None else self.out
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, rows in (("metrics.csv", self.zone_rows), ("timeline.csv", self.timeline),
                           ("highorder.csv", self.highorder_rows)):
            path = out / name
            fields = list(rows[0].keys()) if rows else (
                _HIGHORDER_FIELDS if name == "highorder.csv" else ["t_s"])
            with path.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=fields)
                w.writeheader()
                w.writerows(rows)
            written.append(name)
        return written
