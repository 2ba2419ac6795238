"""Snapshots of a live machine: save one (``pagealloc snapshot``), load one into a Machine.

Not a kernel file. A snapshot folder holds what a clone needs, named as the
kernel names it, with an optional tag (INTERFACES.md, "Snapshot folder")::

    zoneinfo[.TAG].txt buddyinfo[.TAG].txt pagetypeinfo[.TAG].txt vmstat[.TAG].txt
    meminfo[.TAG].txt kpageflags[.TAG].bin.xz kpagecount[.TAG].bin.xz
    sysctl-vm-all.txt nproc.txt cpus.online.txt thp.enabled.txt nodes.txt

The oracle's set2 folders are such folders (tags boot, before, pressure, after).

Loading (:func:`load_snapshot`) clones the machine from the zoneinfo
(sources/zoneinfo.py: zones, spans, watermarks, CPUs, THP mode, sysctls) and,
when kpageflags of the same tag is there, rebuilds the exact free blocks at
the same pfns (:func:`apply_kpageflags`):

* fs/proc/page.c:stable_page_flags sets KPF_BUDDY on every page of a free
  buddy block (the head by PageBuddy, the others by is_free_buddy_page). A run
  of such pages splits into the maximal naturally aligned blocks: two free
  buddies of one order always merge in __free_one_page, so any other split of
  a fully free aligned block would leave a free pair unmerged. The one
  exception (9 -> 10 across pageblocks of unmergeable types) is reported when
  buddyinfo shows it.
* Which free list a block is on is not in kpageflags. The pageblock types are
  chosen to match pagetypeinfo's "Number of blocks type" counts, ranking the
  pageblocks by what their allocated pages are (:func:`_pageblock_types`);
  then each block goes on its pageblock's list while pagetypeinfo's count for
  that (order, type) lasts, else on a type whose count is not used up.
* /proc/kpagecount is page_mapcount(), not the reference count (0 for slab,
  for buddy pages and for any unmapped page), so a free page on a pcp list
  cannot be told from an unmapped kernel page: both have no flags and count
  0. ``flagless="clone"`` (the default, for simulations) makes them
  allocated and fills each CPU's pcp with as many of them as zoneinfo's
  ``count`` says (ascending pfns, order-0 entries on their pageblock's list);
  ``flagless="unknown"`` (replay) marks them PG_unknown so events reveal them.
* Every other page is allocated: a KPF_COMPOUND_HEAD followed by 2^n - 1
  KPF_COMPOUND_TAIL pages is one order-n block; PG_lru is set where
  KPF_LRU is (move_freepages counts those); KPF_RESERVED pages stay reserved.

Saving (:func:`save_snapshot`) reads the files above from /proc and /sys,
/proc/kpageflags and /proc/kpagecount streamed through xz (only the pfn range
the kernel exports: it stops at max_pfn rounded to a section), and skips,
with a warning, what it cannot read.
"""
from __future__ import annotations

import enum
import errno
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError, PageAllocError
from ..mm.page_alloc import empty_zone_lists, install_free_block
from ..mm.memmap import PG_absent, PG_head, PG_lru, PG_pcp, PG_reserved, PG_unknown
from ..mm.mmzone import (MAX_ORDER, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE,
                         MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE,
                         migratetype_names, order_to_pindex, pageblock_nr_pages, pageblock_order)

__all__ = ["KPF", "SnapshotFiles", "snapshot_file", "default_tag", "model_buddyinfo", "save_snapshot", "load_snapshot",
           "apply_kpageflags", "read_kpage_array", "parse_buddyinfo", "parse_pagetypeinfo",
           "compare_buddyinfo", "compare_pagetypeinfo", "snapshot_tags"]


class KPF(enum.IntFlag):
    """/proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h, kernel-page-flags.h)."""
    LOCKED = 1 << 0
    ERROR = 1 << 1
    REFERENCED = 1 << 2
    UPTODATE = 1 << 3
    DIRTY = 1 << 4
    LRU = 1 << 5
    ACTIVE = 1 << 6
    SLAB = 1 << 7
    WRITEBACK = 1 << 8
    RECLAIM = 1 << 9
    BUDDY = 1 << 10
    MMAP = 1 << 11
    ANON = 1 << 12
    SWAPCACHE = 1 << 13
    SWAPBACKED = 1 << 14
    COMPOUND_HEAD = 1 << 15
    COMPOUND_TAIL = 1 << 16
    HUGE = 1 << 17
    UNEVICTABLE = 1 << 18
    HWPOISON = 1 << 19
    NOPAGE = 1 << 20
    KSM = 1 << 21
    THP = 1 << 22
    OFFLINE = 1 << 23
    ZERO_PAGE = 1 << 24
    IDLE = 1 << 25
    PGTABLE = 1 << 26
    RESERVED = 1 << 32
    MLOCKED = 1 << 33
    MAPPEDTODISK = 1 << 34
    PRIVATE = 1 << 35
    PRIVATE_2 = 1 << 36
    OWNER_PRIVATE = 1 << 37
    ARCH = 1 << 38
    UNCACHED = 1 << 39
    SOFTDIRTY = 1 << 40
    ARCH_2 = 1 << 41


# page flags that say "user memory an LRU holds" (movable) or "kernel memory" (not)
_MOVABLE_HINTS = int(KPF.LRU | KPF.ANON | KPF.MMAP | KPF.SWAPBACKED | KPF.THP)
_KERNEL_HINTS = int(KPF.SLAB | KPF.PGTABLE)

_TAGGED = ("zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "meminfo")
_PREFERRED_TAGS = ("before", "start", "boot", "after", "end")


# --------------------------------------------------------------------------------------------
# Finding files in a folder.

def snapshot_file(folder: str | Path, base: str, tag: str | None,
                  exts: tuple[str, ...] = (".txt",)) -> Path | None:
    """``base.TAG.ext`` (or ``base.ext`` when there is no tag) in ``folder``, if it exists."""
    folder = Path(folder)
    for ext in exts:
        p = folder / (f"{base}.{tag}{ext}" if tag else f"{base}{ext}")
        if p.is_file():
            return p
    return None


def snapshot_tags(folder: str | Path) -> list[str]:
    """The tags a folder has a zoneinfo or buddyinfo for ("" for an untagged one)."""
    tags = set()
    for p in Path(folder).iterdir():
        m = re.fullmatch(r"(?:zoneinfo|buddyinfo)(?:\.(.+))?\.txt", p.name)
        if m:
            tags.add(m.group(1) or "")
    return sorted(tags)


def default_tag(folder: str | Path) -> str | None:
    """None when the folder has untagged files, else its first moment with kpageflags
    (before, start, boot, after, end in that order of preference), else with a buddyinfo,
    else with a zoneinfo, else the first of its tags."""
    folder = Path(folder)
    if (folder / "zoneinfo.txt").is_file():
        return None
    for base, exts in (("kpageflags", (".bin.xz", ".bin")), ("buddyinfo", (".txt",)),
                       ("zoneinfo", (".txt",))):
        for t in _PREFERRED_TAGS:
            if snapshot_file(folder, base, t, exts) is not None:
                return t
    tags = [t for t in snapshot_tags(folder) if t]
    return tags[0] if tags else None


@dataclass
class SnapshotFiles:
    """The files of one moment (tag) of a snapshot folder; None where missing."""
    folder: Path
    tag: str | None
    zoneinfo: Path | None = None
    zoneinfo_exact: bool = True          # False: another tag's zoneinfo gives the layout
    buddyinfo: Path | None = None
    pagetypeinfo: Path | None = None
    kpageflags: Path | None = None
    kpagecount: Path | None = None

    @classmethod
    def find(cls, folder: str | Path, tag: str | None) -> "SnapshotFiles":
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(str(folder), 0, "not a snapshot folder (no such directory)")
        f = cls(folder, tag)
        f.zoneinfo = snapshot_file(folder, "zoneinfo", tag)
        if f.zoneinfo is None:
            # the layout (spans, present, managed, watermarks) is the same in any zoneinfo of
            # one boot: take another moment's (set-1 folders have none at "start")
            f.zoneinfo_exact = False
            for t in (None, *_PREFERRED_TAGS):
                f.zoneinfo = snapshot_file(folder, "zoneinfo", t)
                if f.zoneinfo is not None:
                    break
            else:
                found = sorted(folder.glob("zoneinfo*.txt"))
                f.zoneinfo = found[0] if found else None
        if f.zoneinfo is None:
            raise InputError(str(folder), 0, "no zoneinfo*.txt: not a snapshot folder")
        f.buddyinfo = snapshot_file(folder, "buddyinfo", tag)
        f.pagetypeinfo = snapshot_file(folder, "pagetypeinfo", tag)
        f.kpageflags = snapshot_file(folder, "kpageflags", tag, (".bin.xz", ".bin"))
        f.kpagecount = snapshot_file(folder, "kpagecount", tag, (".bin.xz", ".bin"))
        if tag and not (f.zoneinfo_exact or f.buddyinfo or f.kpageflags):
            raise InputError(str(folder), 0, f"no file of moment {tag!r} (tags here: "
                             f"{', '.join(t or '(none)' for t in snapshot_tags(folder))})")
        return f


# --------------------------------------------------------------------------------------------
# Parsing the views.

def parse_buddyinfo(text: str, path: str = "buddyinfo") -> dict[tuple[int, str], list[int]]:
    """{(node, zone): [nr_free per order]} from /proc/buddyinfo text."""
    out: dict[tuple[int, str], list[int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = re.match(r"Node (\d+), zone\s+(\S+)((?:\s+\d+)+)\s*$", line)
        if not m:
            raise InputError(path, n, "not a /proc/buddyinfo line")
        out[(int(m.group(1)), m.group(2))] = [int(x) for x in m.group(3).split()]
    return out


def parse_pagetypeinfo(text: str, path: str = "pagetypeinfo"):
    """(free, blocks) from /proc/pagetypeinfo text.

    ``free``: {(node, zone, type name): [count per order]}; ``blocks``:
    {(node, zone): {type name: pageblocks}}.
    """
    free: dict[tuple[int, str, str], list[int]] = {}
    blocks: dict[tuple[int, str], dict[str, int]] = {}
    names: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"Node\s+(\d+), zone\s+(\S+), type\s+(\S+)((?:\s+\d+)+)\s*$", line)
        if m:
            free[(int(m.group(1)), m.group(2), m.group(3))] = [int(x) for x in m.group(4).split()]
            continue
        if line.startswith("Number of blocks type"):
            names = line.split()[4:]
            continue
        m = re.match(r"Node (\d+), zone\s+(\S+)((?:\s+\d+)+)\s*$", line)
        if m and names:
            vals = [int(x) for x in m.group(3).split()]
            blocks[(int(m.group(1)), m.group(2))] = dict(zip(names, vals))
    if not free and not blocks:
        raise InputError(path, 0, "no free counts or block counts: not a /proc/pagetypeinfo")
    return free, blocks


def _read_text(p: Path | None) -> str | None:
    return p.read_text(errors="replace") if p is not None else None


def compare_buddyinfo(model: dict, real: dict) -> dict[str, dict]:
    """Per zone: model and real counts per order, their difference (model - real) and pages."""
    out: dict[str, dict] = {}
    for key in sorted(set(model) | set(real)):
        a = model.get(key, [0] * MAX_ORDER)
        b = real.get(key, [0] * MAX_ORDER)
        diff = [x - y for x, y in zip(a, b)]
        out[f"{key[0]}:{key[1]}"] = {
            "model": list(a), "real": list(b), "diff": diff,
            "model_pages": sum(c << o for o, c in enumerate(a)),
            "real_pages": sum(c << o for o, c in enumerate(b)),
            "diff_pages": sum(c << o for o, c in enumerate(diff)),
        }
    return out


def compare_pagetypeinfo(model_text: str, real_text: str) -> dict:
    """How far a model's pagetypeinfo is from a real one.

    ``free_abs_diff``: sum over zone, type and order of |model - real| free blocks (and
    ``free_blocks_real``, the real total, to scale it); ``blocks_abs_diff``: the same for
    the pageblock type counts; ``zones``: per zone and type the two rows.
    """
    mf, mb = parse_pagetypeinfo(model_text, "model pagetypeinfo")
    rf, rb = parse_pagetypeinfo(real_text, "pagetypeinfo")
    free_diff = 0
    total = 0
    rows = {}
    for key in sorted(set(mf) | set(rf)):
        a = mf.get(key, [0] * MAX_ORDER)
        b = rf.get(key, [0] * MAX_ORDER)
        free_diff += sum(abs(x - y) for x, y in zip(a, b))
        total += sum(b)
        rows[f"{key[0]}:{key[1]}:{key[2]}"] = {"model": a, "real": b}
    blk_diff = 0
    blocks = {}
    for key in sorted(set(mb) | set(rb)):
        a = mb.get(key, {})
        b = rb.get(key, {})
        blk_diff += sum(abs(a.get(k, 0) - b.get(k, 0)) for k in set(a) | set(b))
        blocks[f"{key[0]}:{key[1]}"] = {"model": a, "real": b}
    return {"free_abs_diff": free_diff, "free_blocks_real": total, "blocks_abs_diff": blk_diff,
            "free": rows, "blocks": blocks}


def model_buddyinfo(machine) -> dict[tuple[int, str], list[int]]:
    """{(node, zone): nr_free per order} of the machine's populated zones."""
    return {(z.nid, z.name): list(z.nr_free) for z in machine.mm.zones if z.present_pages}


# --------------------------------------------------------------------------------------------
# kpageflags / kpagecount

def read_kpage_array(path: str | Path) -> np.ndarray:
    """A /proc/kpageflags or /proc/kpagecount dump (plain or xz) as uint64 per pfn."""
    path = Path(path)
    try:
        if path.name.endswith(".xz"):
            with lzma.open(path) as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, lzma.LZMAError, EOFError) as e:
        raise InputError(str(path), 0, f"cannot read: {e}") from None
    if len(data) % 8:
        raise InputError(str(path), 0, f"{len(data)} bytes is not a whole number of 8-byte entries")
    return np.frombuffer(data, dtype="<u8")


def _buddy_blocks(start: int, end: int, limit_order: int = MAX_ORDER - 1):
    """The maximal naturally aligned blocks that tile [start, end), as (pfn, order)."""
    p = start
    while p < end:
        o = (p & -p).bit_length() - 1 if p else limit_order
        if o > limit_order:
            o = limit_order
        while p + (1 << o) > end:
            o -= 1
        yield p, o
        p += 1 << o


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where a boolean array is True."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.view(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))


_MT_BY_NAME = {name: i for i, name in enumerate(migratetype_names)}


def _pageblock_types(zone, kf: np.ndarray, base: int, buddy: np.ndarray, flagless: np.ndarray,
                     want: dict[str, int] | None) -> tuple[np.ndarray, list[str]]:
    """The migratetype of each pageblock of a zone (indexed from the zone's first block).

    Boot makes every pageblock MOVABLE; only fallback steals (and highatomic
    reserves) turn one into another type, and they do so where kernel memory
    landed. So the pageblocks are ranked by their kernel pages (slab, page
    tables, flagless pages) less their user pages (LRU, anon, mapped), and the
    top ones take the non-movable types in the numbers pagetypeinfo gives:
    RECLAIMABLE to those whose kernel pages are most slab (reclaimable slab is
    dentries and inodes), HIGHATOMIC next, UNMOVABLE to the rest. Without
    pagetypeinfo every block is MOVABLE unless its kernel pages outnumber its
    user and free pages.
    """
    notes: list[str] = []
    first = base >> pageblock_order
    nblocks = ((zone.zone_end_pfn - 1) >> pageblock_order) - first + 1
    idx = ((np.arange(base, base + len(kf)) >> pageblock_order) - first).astype(np.int64)
    kern = ((kf & _KERNEL_HINTS) != 0) | flagless
    slab = (kf & int(KPF.SLAB)) != 0
    user = ((kf & _MOVABLE_HINTS) != 0) & ~buddy
    n_kern = np.bincount(idx, weights=kern, minlength=nblocks)
    n_slab = np.bincount(idx, weights=slab, minlength=nblocks)
    n_user = np.bincount(idx, weights=user, minlength=nblocks)
    n_free = np.bincount(idx, weights=buddy, minlength=nblocks)
    types = np.full(nblocks, MIGRATE_MOVABLE, dtype=np.uint8)
    if not want:
        types[n_kern > n_user + n_free] = MIGRATE_UNMOVABLE
        return types, notes
    n_unmov = want.get("Unmovable", 0)
    n_recl = want.get("Reclaimable", 0)
    n_high = want.get("HighAtomic", 0)
    n_iso = want.get("Isolate", 0)
    nonmov = n_unmov + n_recl + n_high + n_iso
    if nonmov > nblocks:
        notes.append(f"pagetypeinfo counts {nonmov} non-movable pageblocks, the zone has {nblocks}")
        nonmov = nblocks
    score = n_kern - n_user
    order = np.lexsort((n_free, -score))          # most kernel-heavy first, fewer free first
    chosen = order[:nonmov]
    slab_share = n_slab[chosen] / np.maximum(n_kern[chosen], 1)
    by_slab = chosen[np.argsort(-slab_share, kind="stable")]
    recl = by_slab[:n_recl]
    rest = [b for b in chosen.tolist() if b not in set(recl.tolist())]
    types[recl] = MIGRATE_RECLAIMABLE
    for b in rest[:n_high]:
        types[b] = MIGRATE_HIGHATOMIC
    for b in rest[n_high:n_high + n_iso]:
        types[b] = MIGRATE_ISOLATE
    for b in rest[n_high + n_iso:]:
        types[b] = MIGRATE_UNMOVABLE
    return types, notes


def apply_kpageflags(machine, kflags: np.ndarray, kcount: np.ndarray | None = None, *,
                     pagetypeinfo: str | None = None, buddyinfo: str | None = None,
                     zoneinfo=None, flagless: str = "clone", path: str = "kpageflags") -> dict:
    """Set the machine's free blocks, pageblocks and allocated pages from a kpageflags dump.

    See the module docstring for the rules. ``zoneinfo`` (a parsed Zoneinfo of the same
    moment) gives the pcp counts that ``flagless="clone"`` fills; ``path`` names the dump
    in the report. Returns a report: per
    zone the buddy pages, flagless pages, compound blocks, pcp pages placed, and how the
    free blocks per order compare with ``buddyinfo``.
    """
    if flagless not in ("clone", "unknown"):
        raise PageAllocError(f"flagless={flagless!r}: expected 'clone' or 'unknown'")
    mm = machine.mm
    mem = mm.mem
    ptypes_free, ptypes_blocks = (parse_pagetypeinfo(pagetypeinfo) if pagetypeinfo else ({}, {}))
    binfo = parse_buddyinfo(buddyinfo) if buddyinfo else {}
    zi_pcp = {}
    if zoneinfo is not None:
        zi_pcp = {(z.nid, z.name): z.pcp for z in zoneinfo.zones}
    report: dict = {"source": path, "zones": {}, "notes": [], "pfns": int(len(kflags))}
    if kcount is not None and len(kcount) != len(kflags):
        report["notes"].append(f"kpagecount has {len(kcount)} entries, kpageflags {len(kflags)}")
    n = len(kflags)
    for z in mm.zones:
        if not z.present_pages:
            continue
        key = (z.nid, z.name)
        s, e = z.zone_start_pfn, min(z.zone_end_pfn, n)
        zr = {"buddy_pages": 0, "flagless_pages": 0, "compound_blocks": 0, "pcp_pages": 0,
              "unknown_pages": 0, "reserved_pages": 0, "allocated_pages": 0}
        report["zones"][f"{z.nid}:{z.name}"] = zr
        # empty the zone's lists and pcps
        empty_zone_lists(mm, z)
        z.vm_free = 0
        if e <= s:
            report["notes"].append(f"kpageflags ends at pfn {n:#x}, before node {z.nid} {z.name}")
            continue
        kf = kflags[s:e]
        fl = mem.a_flags[s:e]
        present = (fl & PG_absent) == 0
        nopage = (kf & int(KPF.NOPAGE)) != 0
        buddy = ((kf & int(KPF.BUDDY)) != 0) & present & ~nopage
        reserved = (((kf & int(KPF.RESERVED)) != 0) | nopage) & present & ~buddy
        noflags = (kf == 0) & present
        if kcount is not None and len(kcount) >= e:
            noflags &= kcount[s:e] == 0
        alloc = present & ~buddy & ~reserved & ~noflags
        zr["buddy_pages"] = int(buddy.sum())
        zr["flagless_pages"] = int(noflags.sum())
        zr["reserved_pages"] = int(reserved.sum())
        mem.a_order[s:e] = -1
        mem.a_mt[s:e] = 0
        fl[reserved] = PG_reserved
        fl[buddy] = 0
        lru = ((kf & _MOVABLE_HINTS) != 0)
        fl[alloc] = PG_head
        fl[alloc & lru] = PG_head | PG_lru
        mem.a_order[s:e][alloc] = 0
        # compound pages: a head and 2^n - 1 tails make one order-n block
        head = np.flatnonzero(alloc & ((kf & int(KPF.COMPOUND_HEAD)) != 0))
        if head.size:
            tail = alloc & ((kf & int(KPF.COMPOUND_TAIL)) != 0)
            not_tail = np.append(np.flatnonzero(~tail), len(kf))
            size = not_tail[np.searchsorted(not_tail, head, side="right")] - head
            for h, sz in zip(head.tolist(), size.tolist()):
                o = sz.bit_length() - 1
                if sz & (sz - 1) or o >= MAX_ORDER or (s + h) & (sz - 1) or sz == 1:
                    continue
                mem.a_order[s + h + 1:s + h + sz] = -1
                hf = int(fl[h])
                fl[h + 1:h + sz] = hf & PG_lru
                mem.order[s + h] = o
                zr["compound_blocks"] += 1
        # pageblock types
        want = ptypes_blocks.get(key)
        types, notes = _pageblock_types(z, kf, s, buddy, noflags, want)
        report["notes"] += [f"node {z.nid} {z.name}: {t}" for t in notes]
        first = s >> pageblock_order
        for i, t in enumerate(types.tolist()):
            mem.pageblock[first + i] = (mem.pageblock[first + i] & ~0x07 & 0xFF) | t
        # the free blocks and their lists
        blocks: list[tuple[int, int]] = []
        for a, b in _runs(buddy):
            blocks.extend(_buddy_blocks(s + a, s + b))
        by_order: list[list[int]] = [[] for _ in range(MAX_ORDER)]
        for pfn, o in blocks:
            by_order[o].append(pfn)
        counts = [len(x) for x in by_order]
        real = binfo.get(key)
        zr["blocks_per_order"] = counts
        if real is not None:
            zr["buddyinfo"] = list(real)
            zr["buddyinfo_diff"] = [a - b for a, b in zip(counts, real)]
            if len(real) > 9 and real[9] > counts[9] and real[10] < counts[10] and want and (
                    want.get("HighAtomic", 0) or want.get("Isolate", 0)):
                report["notes"].append(f"node {z.nid} {z.name}: buddyinfo has more order-9 "
                                       "blocks: some pairs did not merge across unmergeable "
                                       "pageblock types (not modelled)")
        zfree = {mt: list(ptypes_free.get((z.nid, z.name, name), []))
                 for mt, name in enumerate(migratetype_names)}
        free_pages = 0
        pb = mem.pageblock
        for o in range(MAX_ORDER):
            left = {mt: (c[o] if len(c) > o else 0) for mt, c in zfree.items() if c}
            lists: list[int] = []
            for pfn in by_order[o]:
                t = pb[pfn >> pageblock_order] & 0x07
                if left and left.get(t, 0) > 0:
                    left[t] -= 1
                    lists.append(t)
                else:
                    lists.append(-1)
            for i, pfn in enumerate(by_order[o]):
                mt = lists[i]
                if mt < 0:
                    spare = [m for m, c in left.items() if c > 0]
                    if spare:
                        mt = max(spare, key=lambda m: left[m])
                        left[mt] -= 1
                    else:
                        mt = pb[pfn >> pageblock_order] & 0x07
                install_free_block(mm, z, pfn, o, mt)
                if mt != MIGRATE_ISOLATE:
                    free_pages += 1 << o
        z.vm_free = free_pages
        z.nr_reserved_highatomic = int((types == MIGRATE_HIGHATOMIC).sum()) * pageblock_nr_pages
        # the flagless pages
        nl = np.flatnonzero(noflags)
        if flagless == "unknown":
            fl[noflags] = PG_unknown
            zr["unknown_pages"] = int(nl.size)
        else:
            fl[noflags] = PG_head
            mem.a_order[s:e][noflags] = 0
            pos = 0
            cpu_pcp = zi_pcp.get(key, {})
            for pcp in z.pcp:
                want_n = int(cpu_pcp.get(pcp.cpu, {}).get("count", 0))
                take = nl[pos:pos + want_n].tolist()
                pos += len(take)
                for off in take:
                    p = s + off
                    t = pb[p >> pageblock_order] & 0x07
                    lmt = t if t < MIGRATE_PCPTYPES else MIGRATE_MOVABLE
                    pcp.lists[order_to_pindex(lmt, 0)].appendleft(p)
                    mem.flags[p] = PG_pcp
                    mem.order[p] = 0
                    mem.mt[p] = lmt
                pcp.count += len(take)
                zr["pcp_pages"] += len(take)
            if pos < sum(int(c.get("count", 0)) for c in cpu_pcp.values()):
                report["notes"].append(f"node {z.nid} {z.name}: fewer flagless pages ({nl.size}) "
                                       "than zoneinfo's pcp counts")
        zr["allocated_pages"] = int(((mem.a_flags[s:e] & PG_head) != 0).sum())
    mm.update_pb_zone()
    return report


def _zoneinfo_for_model(path: Path, workdir: Path) -> tuple[Path, list[str]]:
    """A copy of a folder's zoneinfo without the lines kernels after 6.1 added.

    6.7+ prints a ``promo`` watermark and pcp ``high_min``/``high_max``; the 6.1
    parser refuses them. The copy sits in ``workdir`` beside links to the folder's
    other files, so the clone still finds its siblings.
    """
    lines = path.read_text(errors="replace").splitlines(True)
    keep = [ln for ln in lines if not re.match(r"\s+(promo\s+\d+|high_min:|high_max:)", ln)]
    dropped = len(lines) - len(keep)
    for p in path.parent.iterdir():
        if p.name != path.name and p.is_file():
            try:
                (workdir / p.name).symlink_to(p.resolve())
            except OSError:
                shutil.copy(p, workdir / p.name)
    out = workdir / path.name
    out.write_text("".join(keep))
    return out, ([f"{path.name}: dropped {dropped} lines a 6.1 kernel does not print "
                  "(promo watermark, pcp high_min/high_max)"] if dropped else [])


def _folder_sysctls(folder: Path) -> dict[str, str]:
    """The vm sysctls of a folder's sysctl-vm-all.txt ("name = value") and sysctl.NAME.txt."""
    out: dict[str, str] = {}
    allf = folder / "sysctl-vm-all.txt"
    if allf.is_file():
        for line in allf.read_text(errors="replace").splitlines():
            k, sep, v = line.partition(" = ")
            k = k.strip()
            if k.startswith("vm."):
                k = k[3:]
            if sep and "can't open" not in v and "Permission denied" not in v and v.strip():
                out[k] = v.strip()
    for p in folder.glob("sysctl.*.txt"):
        name = p.name[len("sysctl."):-len(".txt")]
        if "." not in name:
            out[name] = p.read_text(errors="replace").strip()
    return out


_CLONE_SYSCTLS = ("min_free_kbytes", "watermark_scale_factor", "watermark_boost_factor",
                  "percpu_pagelist_high_fraction", "lowmem_reserve_ratio", "extfrag_threshold",
                  "compaction_proactiveness", "zone_reclaim_mode")


def load_snapshot(folder: str | Path, tag: str | None = None, *, cpus: int | None = None,
                  thp: str | None = None, sysctls=(), flagless: str = "clone",
                  use_kpageflags: bool = True):
    """Clone the machine a snapshot folder was taken on, at moment ``tag``.

    :param folder: a snapshot folder (made by ``pagealloc snapshot``, or an oracle folder).
    :param tag: the moment (``before``, ``after`` ...); None: the untagged files, or when
        there are none the first moment of :func:`default_tag`. When the folder has no
        zoneinfo of that moment, another one gives the layout.
    :param flagless: what pages without flags become (see the module docstring).
    :param use_kpageflags: rebuild the exact free blocks when kpageflags is there.
    :returns: a Machine; ``machine.snapshot`` is a dict with the folder, tag, the files
        used and, with kpageflags, the report of :func:`apply_kpageflags` plus how the
        loaded pagetypeinfo and buddyinfo compare with the real ones.
    """
    from .zoneinfo import machine_from_zoneinfo, parse_zoneinfo
    if tag is None:
        tag = default_tag(folder)
    files = SnapshotFiles.find(folder, tag)
    notes: list[str] = []
    vals = _folder_sysctls(files.folder)
    sysv = {k: v for k, v in vals.items() if k in _CLONE_SYSCTLS}
    zpath = files.zoneinfo
    tmp = None
    try:
        try:
            zi = parse_zoneinfo(zpath)
        except InputError as e:
            if "unexpected line" not in str(e):
                raise
            tmp = tempfile.TemporaryDirectory(prefix="pagealloc-snap-")
            zpath, more = _zoneinfo_for_model(files.zoneinfo, Path(tmp.name))
            notes += more
            zi = parse_zoneinfo(zpath)
        if not files.zoneinfo_exact:
            notes.append(f"no zoneinfo.{tag}.txt: the layout comes from {files.zoneinfo.name}")
        m = machine_from_zoneinfo(zpath, cpus=cpus, thp=thp,
                                  min_free_kbytes=int(sysv["min_free_kbytes"])
                                  if "min_free_kbytes" in sysv else None,
                                  sysctls={k: v for k, v in sysv.items() if k != "min_free_kbytes"})
    finally:
        if tmp is not None:
            tmp.cleanup()
    info: dict = {"folder": str(files.folder), "tag": tag, "zoneinfo": files.zoneinfo.name,
                  "kpageflags": None, "notes": notes}
    if use_kpageflags and files.kpageflags is not None:
        kf = read_kpage_array(files.kpageflags)
        kc = read_kpage_array(files.kpagecount) if files.kpagecount is not None else None
        pti = _read_text(files.pagetypeinfo)
        bi = _read_text(files.buddyinfo)
        rep = apply_kpageflags(m, kf, kc, pagetypeinfo=pti, buddyinfo=bi,
                               zoneinfo=zi if files.zoneinfo_exact else None,
                               flagless=flagless, path=str(files.kpageflags))
        info["kpageflags"] = files.kpageflags.name
        info["load"] = rep
        info["notes"] += rep["notes"]
        if bi is not None:
            info["buddyinfo"] = compare_buddyinfo(model_buddyinfo(m), parse_buddyinfo(bi))
        if pti is not None:
            c = compare_pagetypeinfo(m.show("pagetypeinfo"), pti)
            info["pagetypeinfo"] = {k: c[k] for k in ("free_abs_diff", "free_blocks_real",
                                                      "blocks_abs_diff")}
    elif files.kpageflags is None:
        info["notes"].append("no kpageflags: free pages placed from zoneinfo's counts "
                             "(sources/zoneinfo.py)")
    for s in sysctls:
        m.write_sysctl_assignment(s)
    m.snapshot = info
    return m


# --------------------------------------------------------------------------------------------
# Saving a snapshot of the machine we run on.

@dataclass
class SaveReport:
    folder: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (file, why)


def _why(e: OSError) -> str:
    return e.strerror or str(e) or errno.errorcode.get(e.errno or 0, "error")


def _copy_text(src: Path, dst: Path, rep: SaveReport) -> bool:
    try:
        data = src.read_bytes()
    except OSError as e:
        rep.skipped.append((dst.name, f"{src}: {_why(e)}"))
        return False
    dst.write_bytes(data)
    rep.written.append(dst.name)
    return True


def _xz_copy(src: Path, dst: Path, rep: SaveReport, chunk: int = 1 << 20) -> bool:
    """Stream a binary /proc file through xz (preset 1: fast, and these compress 100x)."""
    tmp = dst.with_name(dst.name + ".part")
    try:
        with open(src, "rb", buffering=0) as f, lzma.open(tmp, "wb", preset=1) as out:
            while True:
                b = f.read(chunk)
                if not b:
                    break
                out.write(b)
    except OSError as e:
        if tmp.exists():
            tmp.unlink()
        rep.skipped.append((dst.name, f"{src}: {_why(e)}"))
        return False
    tmp.replace(dst)
    rep.written.append(dst.name)
    return True


def _sysctl_lines(root: Path) -> list[str]:
    out = []
    d = root / "proc/sys/vm"
    for p in sorted(d.iterdir()) if d.is_dir() else ():
        if not p.is_file() or not os.access(p, os.R_OK):
            continue                       # write-only triggers: compact_memory, drop_caches
        try:
            v = p.read_text(errors="replace")
        except OSError:
            continue
        out.append(f"{p.name} = {' '.join(v.split())}\n")
    return out


def _nodes_text(root: Path) -> str:
    d = root / "sys/devices/system/node"
    lines = []
    for f in ("possible", "online", "has_normal_memory", "has_memory", "has_cpu"):
        p = d / f
        if p.is_file():
            lines.append(f"{f}: {p.read_text().strip()}")
    for n in sorted(d.glob("node[0-9]*"), key=lambda p: int(p.name[4:])):
        cl = (n / "cpulist").read_text().strip() if (n / "cpulist").is_file() else ""
        dist = (n / "distance").read_text().strip() if (n / "distance").is_file() else ""
        lines.append(f"{n.name} cpulist: {cl} distance: {dist}")
        mi = n / "meminfo"
        if mi.is_file():
            lines += mi.read_text().rstrip("\n").splitlines()
    return "\n".join(lines) + "\n" if lines else ""


def save_snapshot(out: str | Path, tag: str | None = None, *, root: str | Path = "/",
                  kpage: bool = True, mark: bool = False,
                  warn: Callable[[str], None] | None = None) -> SaveReport:
    """Save the running machine's allocator state into folder ``out`` (created if needed).

    :param tag: names the moment (``zoneinfo.TAG.txt`` ...); the machine-wide files
        (sysctls, CPUs, nodes, THP mode) are untagged.
    :param root: where /proc and /sys are (tests point it at a fake tree).
    :param kpage: also save /proc/kpageflags and /proc/kpagecount (xz).
    :param mark: write "KT snapshot TAG begin/end" into the ftrace marker, so that a
        trace recorded meanwhile can be replayed from this snapshot (replay syncs on it).
    :param warn: called with a message for each file that could not be read.
    """
    root = Path(root)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PageAllocError(f"{out}: cannot create the folder: {_why(e)}") from None
    if not (root / "proc/zoneinfo").is_file():
        raise PageAllocError(f"{root / 'proc/zoneinfo'} does not exist: not a Linux machine?")
    rep = SaveReport(out)
    t = f".{tag}" if tag else ""
    marker = root / "sys/kernel/tracing/trace_marker"

    def mark_line(what: str) -> None:
        if mark:
            try:
                marker.write_text(f"KT snapshot {tag or 'snapshot'} {what}\n")
            except OSError as e:
                rep.skipped.append(("trace_marker", _why(e)))
    mark_line("begin")
    # the moment: buddyinfo first (closest to the marker), kpageflags last (slowest)
    for name in ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo"):
        _copy_text(root / "proc" / name, out / f"{name}{t}.txt", rep)
    dbg = root / "sys/kernel/debug/extfrag"
    for name in ("unusable_index", "extfrag_index"):
        if (dbg / name).exists():
            _copy_text(dbg / name, out / f"extfrag.{name}{t}.txt", rep)
    if kpage:
        for name in ("kpageflags", "kpagecount"):
            _xz_copy(root / "proc" / name, out / f"{name}{t}.bin.xz", rep)
    mark_line("end")
    # the machine
    lines = _sysctl_lines(root)
    if lines:
        (out / "sysctl-vm-all.txt").write_text("".join(lines))
        rep.written.append("sysctl-vm-all.txt")
    cpu = root / "sys/devices/system/cpu"
    for src, dst in (("online", "cpus.online.txt"), ("possible", "cpus.possible.txt"),
                     ("online", "nproc.txt")):
        _copy_text(cpu / src, out / dst, rep)
    thp = root / "sys/kernel/mm/transparent_hugepage"
    for name in ("enabled", "defrag", "shmem_enabled"):
        if (thp / name).exists():
            _copy_text(thp / name, out / f"thp.{name}.txt", rep)
    nodes = _nodes_text(root)
    if nodes:
        (out / "nodes.txt").write_text(nodes)
        rep.written.append("nodes.txt")
    for src, dst in (("proc/version", "kernel-version.txt"), ("proc/cmdline", "cmdline.txt"),
                     ("proc/iomem", "iomem.txt")):
        _copy_text(root / src, out / dst, rep)
    if root == Path("/") and shutil.which("dmesg"):
        # the BIOS-e820 map tells the clone where the holes are
        try:
            r = subprocess.run(["dmesg"], capture_output=True, timeout=20)
            if r.returncode == 0 and r.stdout:
                (out / "dmesg.txt").write_bytes(r.stdout)
                rep.written.append("dmesg.txt")
            else:
                rep.skipped.append(("dmesg.txt", r.stderr.decode(errors="replace").strip()
                                    or f"dmesg exited {r.returncode}"))
        except (OSError, subprocess.SubprocessError) as e:
            rep.skipped.append(("dmesg.txt", str(e)))
    if warn is not None:
        for name, why in rep.skipped:
            warn(f"{name} not saved: {why}")
    return rep
