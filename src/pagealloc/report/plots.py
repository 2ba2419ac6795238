"""The run's plots as PNG files (matplotlib, Agg backend: no display needed).

Not a kernel file. Each function takes a :class:`~.metrics.Recorder` (and the
simulation for the high-order records) and writes one PNG:

free_by_order.png    free pages held in blocks of each order, over time, per node
unusable_index.png   unusable free space index per order over time (largest zone per node)
extfrag_index.png    fragmentation index per order over time (same zones)
highorder.png        tracked high-order allocations: success over time, latency in steps
migratetypes.png     pageblocks per migratetype and mixed pageblocks over time
pressure.png         free memory against the watermarks, what holds memory, reclaim/compaction
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..mm.mmzone import MAX_ORDER
from .memmap import MT_COLOURS
from .metrics import MT_COLUMNS

__all__ = ["render_all", "PLOTS"]

PAGE_MIB = 4096 / 2**20


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _times(rows) -> np.ndarray:
    return np.array(sorted({r["t_s"] for r in rows}), dtype=float)


def _main_zones(rec) -> list[tuple[int, str]]:
    """The largest zone of each node (what the fragmentation plots show)."""
    best: dict[int, tuple[int, str]] = {}
    for r in rec.zone_rows:
        nid = r["node"]
        if nid not in best or r["managed_pages"] > best[nid][0]:
            best[nid] = (r["managed_pages"], r["zone"])
    return [(nid, best[nid][1]) for nid in sorted(best)]


def _zone_series(rec, nid: int, zone: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in rec.zone_rows if r["node"] == nid and r["zone"] == zone]
    return np.array([r["t_s"] for r in rows]), np.array([r[key] for r in rows], dtype=float)


def plot_free_by_order(rec, path: Path) -> Path:
    plt = _plt()
    nodes = sorted({r["node"] for r in rec.zone_rows})
    fig, axes = plt.subplots(2, len(nodes), figsize=(11, 6.4), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    cmap = plt.get_cmap("viridis")
    for k, nid in enumerate(nodes):
        ax = axes[0][k]
        share = axes[1][k]
        ts = _times([r for r in rec.zone_rows if r["node"] == nid])
        series = np.zeros((MAX_ORDER, ts.size))
        index = {t: i for i, t in enumerate(ts.tolist())}
        for r in rec.zone_rows:
            if r["node"] != nid:
                continue
            i = index[r["t_s"]]
            for o in range(MAX_ORDER):
                series[o, i] += r[f"free_o{o}"] << o
        ax.stackplot(ts, series * PAGE_MIB / 1024,
                     colors=[cmap(o / (MAX_ORDER - 1)) for o in range(MAX_ORDER)],
                     labels=[f"order {o}" for o in range(MAX_ORDER)])
        ax.set_title(f"node {nid}: free memory by block order", fontsize=10)
        ax.grid(alpha=0.3)
        total = series.sum(axis=0)
        frac = np.divide(series, total, out=np.zeros_like(series), where=total > 0)
        share.stackplot(ts, frac * 100,
                        colors=[cmap(o / (MAX_ORDER - 1)) for o in range(MAX_ORDER)])
        share.set_ylim(0, 100)
        share.set_xlabel("simulated time (s)")
        share.grid(alpha=0.3)
    axes[0][0].set_ylabel("free (GiB)")
    axes[1][0].set_ylabel("share of free (%)")
    axes[0][-1].legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _index_heatmaps(rec, path: Path, prefix: str, title: str, vmin: float, note: str) -> Path:
    plt = _plt()
    zones = _main_zones(rec)
    fig, axes = plt.subplots(1, len(zones), figsize=(11, 3.6), squeeze=False)
    im = None
    for ax, (nid, zname) in zip(axes[0], zones):
        rows = [r for r in rec.zone_rows if r["node"] == nid and r["zone"] == zname]
        ts = np.array([r["t_s"] for r in rows])
        data = np.array([[r[f"{prefix}_o{o}"] for r in rows] for o in range(MAX_ORDER)])
        masked = np.ma.masked_less(data, -0.5) if prefix == "extfrag" else data
        cmap = plt.get_cmap("magma_r").with_extremes(bad="#d8ecd8")
        if ts.size > 1:
            edges = np.concatenate([ts, [ts[-1] + (ts[-1] - ts[-2])]])
        else:
            edges = np.array([ts[0] if ts.size else 0.0, (ts[0] if ts.size else 0.0) + 1])
        im = ax.pcolormesh(edges, np.arange(MAX_ORDER + 1) - 0.5, masked, cmap=cmap,
                           vmin=vmin, vmax=1.0, shading="flat")
        ax.set_yticks(range(MAX_ORDER))
        ax.set_title(f"node {nid} {zname}", fontsize=10)
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("order")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.9, pad=0.01)
    fig.suptitle(f"{title} ({note})", fontsize=10)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_unusable(rec, path: Path) -> Path:
    return _index_heatmaps(rec, path, "unusable", "Unusable free space index", 0.0,
                           "0: all free memory usable at that order, 1: none")


def plot_extfrag(rec, path: Path) -> Path:
    return _index_heatmaps(rec, path, "extfrag", "Fragmentation index", 0.0,
                           "green: a block of that order is free; towards 1: failure "
                           "from fragmentation, towards 0: from lack of memory")


def plot_highorder(sim, rec, path: Path) -> Path:
    plt = _plt()
    recs = sim.pages.highorder
    orders = sorted(sim.pages.tracked)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    period = sim.scenario.report.sample_every
    colours = plt.get_cmap("tab10")
    for k, order in enumerate(orders):
        rs = [r for r in recs if r[1] == order]
        if not rs:
            continue
        t = np.array([r[0] for r in rs])
        ok = np.array([r[3] for r in rs], dtype=float)
        steps = np.array([r[4] for r in rs], dtype=float)
        bins = np.arange(0.0, sim.scenario.duration + period, period)
        idx = np.clip(np.digitize(t, bins) - 1, 0, len(bins) - 1)
        n = np.bincount(idx, minlength=len(bins))
        s = np.bincount(idx, weights=ok, minlength=len(bins))
        have = n > 0
        ax1.plot(bins[have] + period / 2, 100 * s[have] / n[have], marker=".", lw=1.2,
                 color=colours(k), label=f"order {order} ({len(rs)} tries)")
        good = steps[ok > 0]
        if good.size:
            xs = np.sort(good)
            ax2.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color=colours(k),
                     label=f"order {order}: median {np.median(xs):g}, p99 "
                           f"{np.percentile(xs, 99):g}")
    ax1.set_ylim(-3, 103)
    ax1.set_ylabel("success (%)")
    ax1.set_xlabel("simulated time (s)")
    ax1.set_title("High-order allocations that succeeded", fontsize=10)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("latency (steps: 1 + pages scanned by direct compaction and reclaim)")
    ax2.set_ylabel("fraction of successes")
    ax2.set_title("Latency of the successful ones (CDF)", fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_migratetypes(rec, path: Path) -> Path:
    plt = _plt()
    ts = _times(rec.zone_rows)
    index = {t: i for i, t in enumerate(ts.tolist())}
    blocks = {name: np.zeros(ts.size) for name, _ in MT_COLUMNS}
    mixed = {name: np.zeros(ts.size) for name, _ in MT_COLUMNS}
    for r in rec.zone_rows:
        i = index[r["t_s"]]
        for name, _ in MT_COLUMNS:
            blocks[name][i] += r[f"blocks_{name}"]
            mixed[name][i] += r[f"mixed_{name}"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [n for n, _ in MT_COLUMNS if blocks[n].any()]
    ax1.stackplot(ts, [blocks[n] for n in names],
                  colors=[MT_COLOURS[mt] for n, mt in MT_COLUMNS if n in names],
                  labels=names)
    ax1.set_title("Pageblocks per migratetype", fontsize=10)
    ax1.set_xlabel("simulated time (s)")
    ax1.set_ylabel("pageblocks (2 MiB)")
    ax1.legend(fontsize=7, loc="lower left")
    ax1.grid(alpha=0.3)
    for n, mt in MT_COLUMNS:
        if mixed[n].any():
            ax2.plot(ts, mixed[n], color=MT_COLOURS[mt], label=f"{n} blocks, mixed")
    ax2.set_title("Mixed pageblocks: holding a page of another mobility", fontsize=10)
    ax2.set_xlabel("simulated time (s)")
    ax2.set_ylabel("pageblocks")
    ax2.grid(alpha=0.3)
    if ax2.lines:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_pressure(rec, path: Path) -> Path:
    plt = _plt()
    tl = rec.timeline
    t = np.array([r["t_s"] for r in tl])
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
    ts = _times(rec.zone_rows)
    index = {x: i for i, x in enumerate(ts.tolist())}
    wm = {k: np.zeros(ts.size) for k in ("wmark_min", "wmark_low", "wmark_high")}
    for r in rec.zone_rows:
        for k in wm:
            wm[k][index[r["t_s"]]] += r[k]
    gib = PAGE_MIB / 1024
    ax1.plot(t, np.array([r["free_pages"] for r in tl]) * gib, color="black", label="free")
    for k, style in (("wmark_min", ":"), ("wmark_low", "--"), ("wmark_high", "-.")):
        ax1.plot(ts, wm[k] * gib, style, color="grey", lw=1, label=k[6:] + " (sum)")
    ax1.set_yscale("symlog", linthresh=0.1)
    ax1.set_title("Free memory and watermarks", fontsize=10)
    ax1.set_ylabel("GiB")
    ax1.set_xlabel("simulated time (s)")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    users = (("nr_file_pages", "page cache"), ("nr_anon_pages", "anonymous"),
             ("nr_slab_reclaimable", "slab (reclaimable)"),
             ("nr_slab_unreclaimable", "slab (unreclaimable)"),
             ("nr_page_table_pages", "page tables"))
    have = [(k, lab) for k, lab in users if any(r[k] for r in tl)]
    if have:
        ax2.stackplot(t, [np.array([r[k] for r in tl]) * gib for k, _ in have],
                      labels=[lab for _, lab in have])
        ax2.legend(fontsize=7, loc="lower right")
    ax2.set_title("What holds memory", fontsize=10)
    ax2.set_xlabel("simulated time (s)")
    ax2.set_ylabel("GiB")
    ax2.grid(alpha=0.3)
    for key, lab in (("pgsteal_kswapd", "reclaimed by kswapd"),
                     ("pgsteal_direct", "reclaimed directly"),
                     ("compact_stall", "direct compactions"),
                     ("thp_fault_fallback", "THP fault fallbacks"),
                     ("alloc_failures", "failed allocations")):
        y = np.array([r[key] for r in tl], dtype=float)
        if y.any():
            ax3.plot(t, y, label=lab)
    ax3.set_yscale("symlog")
    ax3.set_title("Reclaim, compaction, failures (cumulative)", fontsize=10)
    ax3.set_xlabel("simulated time (s)")
    ax3.grid(alpha=0.3)
    if ax3.lines:
        ax3.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


PLOTS = (("free_by_order.png", "Free memory by block order",
          "Free pages per node, split by the order of the free block they sit in "
          "(buddyinfo counts times the block size)."),
         ("unusable_index.png", "Unusable free space index",
          "mm/vmstat.c:unusable_free_index per order: the share of free memory in blocks "
          "too small for an allocation of that order."),
         ("extfrag_index.png", "Fragmentation index",
          "mm/vmstat.c:__fragmentation_index per order: where an allocation would fail, "
          "whether it is for lack of memory (0) or fragmentation (1)."),
         ("highorder.png", "High-order allocations",
          "Success over time and latency in simulated steps of the tracked orders "
          "(the workload's own requests and the probes)."),
         ("migratetypes.png", "Pageblock migratetypes",
          "Pageblocks per migratetype and those holding pages of another mobility."),
         ("pressure.png", "Memory pressure",
          "Free memory against the watermarks, who holds memory, reclaim and compaction."))


def render_all(sim, rec, out: Path) -> list[str]:
    """Write every plot and the memory maps into ``out``; the file names."""
    from .memmap import render_memmap
    out.mkdir(parents=True, exist_ok=True)
    done = []
    plot_free_by_order(rec, out / "free_by_order.png")
    plot_unusable(rec, out / "unusable_index.png")
    plot_extfrag(rec, out / "extfrag_index.png")
    plot_highorder(sim, rec, out / "highorder.png")
    plot_migratetypes(rec, out / "migratetypes.png")
    plot_pressure(rec, out / "pressure.png")
    done += [name for name, _, _ in PLOTS]
    for pic in rec.pictures:
        name = f"memmap.t{pic.t:08.2f}s.png"
        render_memmap(pic, out / name)
        done.append(name)
    return done
