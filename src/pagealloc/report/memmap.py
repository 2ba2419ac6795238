"""A picture of physical memory: one cell per pageblock, coloured by migratetype and fill.

Not a kernel file. Each cell is a 2 MiB pageblock in pfn order, left to right
and top to bottom; its hue is the pageblock's migratetype (the bits
/proc/pagetypeinfo counts), its depth how full the block is (pale: free, deep:
every page allocated), a dark dot marks a block holding a page of another
mobility than its label (what fragments memory for good), grey cells have no
managed memory (holes, memblock reservations). Zone starts are marked on the
left edge.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..mm.mmzone import (MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE,
                         MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, pageblock_nr_pages)
from .metrics import BlockPicture

__all__ = ["MT_COLOURS", "render_memmap", "grid_shape", "memmap_rgb"]

# base colours (RGB 0..1), chosen to stay apart for colour-blind readers
MT_COLOURS = {
    MIGRATE_UNMOVABLE: (0.80, 0.20, 0.15),     # red
    MIGRATE_MOVABLE: (0.15, 0.45, 0.80),       # blue
    MIGRATE_RECLAIMABLE: (0.90, 0.60, 0.05),   # amber
    MIGRATE_HIGHATOMIC: (0.55, 0.25, 0.70),    # purple
    MIGRATE_CMA: (0.10, 0.60, 0.45),           # teal
    MIGRATE_ISOLATE: (0.35, 0.35, 0.35),       # dark grey
}
_NAMES = {MIGRATE_UNMOVABLE: "Unmovable", MIGRATE_MOVABLE: "Movable",
          MIGRATE_RECLAIMABLE: "Reclaimable", MIGRATE_HIGHATOMIC: "HighAtomic",
          MIGRATE_CMA: "CMA", MIGRATE_ISOLATE: "Isolate"}
_HOLE = (0.88, 0.88, 0.88)


def grid_shape(nblocks: int) -> tuple[int, int]:
    """(rows, columns) for nblocks cells: a power-of-two width near 2:1."""
    cols = 1 << max(4, int(math.ceil(math.log2(math.sqrt(max(nblocks, 1) * 2)))))
    rows = (nblocks + cols - 1) // cols
    return rows, cols


def memmap_rgb(pic: BlockPicture) -> np.ndarray:
    """An (rows, cols, 3) float image of the picture (holes grey, fill as depth)."""
    n = pic.mt.size
    rows, cols = grid_shape(n)
    base = np.zeros((n, 3))
    for mt, rgb in MT_COLOURS.items():
        base[pic.mt == mt] = rgb
    # depth: a free block is the colour mixed 75% with white, a full one the colour itself
    depth = 0.25 + 0.75 * np.clip(pic.used, 0.0, 1.0)
    img = 1.0 - depth[:, None] * (1.0 - base)
    img[pic.absent] = _HOLE
    full = np.ones((rows * cols, 3))
    full[:n] = img
    return full.reshape(rows, cols, 3)


def render_memmap(pic: BlockPicture, path: str | Path, *, title: str | None = None) -> Path:
    """Write the picture as a PNG; returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = pic.mt.size
    rows, cols = grid_shape(n)
    img = memmap_rgb(pic)
    height = max(2.5, min(9.0, rows / cols * 11 + 1.2))
    fig, ax = plt.subplots(figsize=(11, height), dpi=100)
    ax.imshow(img, interpolation="nearest", aspect="auto",
              extent=(0, cols, rows, 0))
    idx = np.flatnonzero(pic.mixed & ~pic.absent)
    if idx.size:
        ax.scatter(idx % cols + 0.5, idx // cols + 0.5, s=2.0, c="black", marker=".",
                   linewidths=0, label="mixed")
    by_row: dict[int, list[str]] = {}
    for first, name in pic.zone_marks:
        r, c = divmod(first, cols)
        ax.plot([c, c], [r, r + 1], color="black", lw=1.5)
        by_row.setdefault(r, []).append(name)
    for r, names in by_row.items():
        ax.annotate(", ".join(names), xy=(0, r + 0.5), xytext=(-4, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=7)
    gib_per_row = cols * pageblock_nr_pages * 4096 / 2**30
    ax.set_xticks([])
    step = max(1, rows // 8)
    ax.set_yticks([r + 0.5 for r in range(0, rows, step)])
    ax.set_yticklabels([f"{r * gib_per_row:g} GiB" for r in range(0, rows, step)], fontsize=7)
    ax.yaxis.tick_right()
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    present = sorted(set(np.unique(pic.mt[~pic.absent]).tolist()))
    handles = [Patch(color=MT_COLOURS[m], label=_NAMES[m]) for m in present if m in MT_COLOURS]
    handles.append(Patch(color=_HOLE, label="no managed memory"))
    if idx.size:
        handles.append(Patch(color="black", label=f"mixed ({idx.size} blocks)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=6,
              fontsize=8, frameon=False)
    ax.set_title(title or f"Physical memory at {pic.label}: one cell per 2 MiB pageblock "
                          "(pale = free, deep = allocated)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
