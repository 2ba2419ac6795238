"""Exact free-list captures (fl-* and fl2-*): load a dump into a machine, run the script.

Not a kernel file: reads the output of the oracle's fldump.c / fldump2.c
modules (format in shared/reference/oracle/README.md and fl2-tools/README.md):

    FLD TAG Z|F|C|P|B|M ...     the allocator's state at a checkpoint TAG
    FLD script A|F ...          alloc_pages / __free_pages calls and the kernel's pfn
    FLD phase X / ev / end      phase marks, event counters, end of capture

One loader for both kinds. A capture that contradicts itself (a pfn on two
lists, an unaligned block, a count that disagrees with its list, a missing
checkpoint, a truncated dump) is refused with file:line.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..mm.gfp import parse_gfp
from ..mm.page_alloc import empty_zone_lists, install_free_block
from ..mm.memmap import PG_absent, PG_head, PG_lru, PG_pcp
from ..mm.mmzone import (MAX_ORDER, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE,
                         MIGRATE_TYPES,
                         NR_LOWORDER_PCP_LISTS, NR_PCP_LISTS, MIGRATE_PCPTYPES,
                         model_migratetype, pageblock_nr_pages, pageblock_order,
                         pindex_to_order)

__all__ = ["FlDump", "Checkpoint", "ScriptOp", "parse_fldump", "load_fldump", "apply_checkpoint",
           "compare_checkpoint"]


@dataclass
class ZoneState:
    """One zone of one checkpoint."""
    node: int
    zone: str
    line: int = 0
    free: list[list[list[int]]] = field(default_factory=lambda: [[[] for _ in range(MIGRATE_TYPES)]
                                                                 for _ in range(MAX_ORDER)])
    pcp_hdr: dict[int, dict[str, int]] = field(default_factory=dict)
    pcp: dict[int, list[list[int]]] = field(default_factory=dict)
    blocks: dict[int, int] = field(default_factory=dict)
    movable: dict[int, int] = field(default_factory=dict)
    z: dict[str, object] | None = None


@dataclass
class Checkpoint:
    tag: str
    zones: dict[tuple[int, str], ZoneState] = field(default_factory=dict)
    first_line: int = 0

    def zone(self, node: int, name: str, line: int) -> ZoneState:
        key = (node, name)
        zs = self.zones.get(key)
        if zs is None:
            zs = self.zones[key] = ZoneState(node, name, line)
        return zs


@dataclass
class ScriptOp:
    line: int
    kind: str          # "A" or "F"
    index: int
    order: int
    pfn: int
    gfp: int = 0
    gfp_name: str = ""
    cpu: int = 0
    phase: str = "a"


@dataclass
class FlDump:
    path: str
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)   # checkpoint tags in file order
    script: list[ScriptOp] = field(default_factory=list)
    # checkpoint tag -> number of script ops executed before it
    checkpoint_at: dict[str, int] = field(default_factory=dict)
    phases: list[str] = field(default_factory=list)
    ended: bool = False
    kind: str = "fl"


def open_text(path: str):
    """Open a text file that may be compressed (.xz, .gz)."""
    if path.endswith(".xz"):
        import lzma
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    if path.endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _int(tok: str, path: str, ln: int, what: str) -> int:
    try:
        if tok[:2] == "0x":
            return int(tok, 16)
        return int(tok)
    except ValueError:
        raise InputError(path, ln, f"bad {what} {tok!r}") from None


def _kv(tok: str, path: str, ln: int) -> tuple[str, str]:
    if "=" not in tok:
        raise InputError(path, ln, f"expected key=value, got {tok!r}")
    k, v = tok.split("=", 1)
    return k, v


def parse_fldump(path: str, cma: bool = False) -> FlDump:
    """Parse a capture; raises InputError naming file:line on any inconsistency."""
    d = FlDump(path)
    phase = "a"
    seen_alloc: set[int] = set()
    gfp_cache: dict[str, int] = {}
    try:
        fh = open_text(path)
    except OSError as e:
        raise InputError(path, 0, f"cannot read: {e.strerror}") from None
    with fh:
        for ln, raw in enumerate(fh, 1):
            if not raw.startswith("FLD "):
                continue   # a dmesg around the capture is fine
            t = raw.split()
            if len(t) < 2:
                raise InputError(path, ln, "truncated FLD line")
            tag = t[1]
            try:
                if tag == "script":
                    kind = t[2]
                    if kind == "A":
                        if len(t) < 8 or not t[7].startswith("cpu="):
                            raise InputError(path, ln, "script A needs: index gfp order pfn cpu=N")
                        idx = _int(t[3], path, ln, "index")
                        g = gfp_cache.get(t[4])
                        if g is None:
                            try:
                                g = gfp_cache[t[4]] = parse_gfp(t[4])
                            except ValueError as e:
                                raise InputError(path, ln, f"bad gfp {t[4]!r}: {e}") from None
                        if idx in seen_alloc:
                            raise InputError(path, ln, f"allocation index {idx} appears twice")
                        seen_alloc.add(idx)
                        d.script.append(ScriptOp(ln, "A", idx, _int(t[5], path, ln, "order"),
                                                 _int(t[6], path, ln, "pfn"), g, t[4],
                                                 _int(t[7][4:], path, ln, "cpu"), phase))
                    elif kind == "F":
                        if len(t) < 6:
                            raise InputError(path, ln, "script F needs: index order pfn")
                        d.script.append(ScriptOp(ln, "F", _int(t[3], path, ln, "index"),
                                                 _int(t[4], path, ln, "order"),
                                                 _int(t[5], path, ln, "pfn"), phase=phase))
                    else:
                        raise InputError(path, ln, f"unknown script op {kind!r}")
                    continue
                if tag == "phase":
                    phase = t[2]
                    d.phases.append(phase)
                    d.kind = "fl2"
                    continue
                if tag in ("ev",):
                    continue
                if tag == "end":
                    d.ended = True
                    continue
                cp = d.checkpoints.get(tag)
                if cp is None:
                    cp = d.checkpoints[tag] = Checkpoint(tag, first_line=ln)
                    d.order.append(tag)
                    d.checkpoint_at[tag] = len(d.script)
                rec = t[2]
                node = _int(t[3], path, ln, "node")
                zname = t[4]
                zs = cp.zone(node, zname, ln)
                if rec == "F":
                    order = _int(t[5], path, ln, "order")
                    mt = model_migratetype(_int(t[6], path, ln, "migratetype"), cma)
                    if not 0 <= order < MAX_ORDER:
                        raise InputError(path, ln, f"order {order} out of range")
                    zs.free[order][mt].append(_int(t[7], path, ln, "pfn"))
                elif rec == "C":
                    cpu = _int(t[5], path, ln, "cpu")
                    zs.pcp_hdr[cpu] = {k: int(v) for k, v in (_kv(x, path, ln) for x in t[6:])}
                    zs.pcp_hdr[cpu]["_line"] = ln
                elif rec == "P":
                    cpu = _int(t[5], path, ln, "cpu")
                    pindex = _int(t[6], path, ln, "pindex")
                    if not 0 <= pindex < NR_PCP_LISTS:
                        raise InputError(path, ln, f"pcp list index {pindex} out of range")
                    zs.pcp.setdefault(cpu, [[] for _ in range(NR_PCP_LISTS)])[pindex].append(
                        _int(t[7], path, ln, "pfn"))
                elif rec == "B":
                    zs.blocks[_int(t[5], path, ln, "pfn")] = model_migratetype(
                        _int(t[6], path, ln, "migratetype"), cma)
                elif rec == "M":
                    zs.movable[_int(t[5], path, ln, "pfn")] = _int(t[6], path, ln, "count")
                elif rec == "Z":
                    z: dict[str, object] = {"_line": ln}
                    for x in t[5:]:
                        k, v = _kv(x, path, ln)
                        if k in ("protection", "nr_free"):
                            z[k] = [int(y) for y in v.split(",")]
                        else:
                            z[k] = int(v, 0)
                    zs.z = z
                else:
                    raise InputError(path, ln, f"unknown record {rec!r}")
            except IndexError:
                raise InputError(path, ln, "truncated FLD line") from None
    if not d.checkpoints:
        raise InputError(path, 0, "no FLD dump found (is this an fldump capture?)")
    if "before" not in d.checkpoints:
        raise InputError(path, 0, "the capture has no 'before' dump")
    if d.kind == "fl2":
        for tag in ("pree", "mid", "after"):
            if tag not in d.checkpoints:
                raise InputError(path, 0, f"checkpoint {tag!r} is missing (truncated capture?)")
        if not d.ended:
            raise InputError(path, 0, "no 'FLD end' line: the capture is truncated")
    for cp in d.checkpoints.values():
        _validate_checkpoint(path, cp)
    return d


def _validate_checkpoint(path: str, cp: Checkpoint) -> None:
    """Refuse a dump that contradicts itself."""
    owner: dict[int, int] = {}
    for zs in cp.zones.values():
        counts = [0] * MAX_ORDER
        for order in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                for pfn in zs.free[order][mt]:
                    if pfn & ((1 << order) - 1):
                        raise InputError(path, zs.line, f"[{cp.tag}] free block {pfn:#x} of node "
                                                        f"{zs.node} {zs.zone} is not aligned to order {order}")
                    if pfn in owner:
                        raise InputError(path, zs.line, f"[{cp.tag}] pfn {pfn:#x} is on two free lists")
                    owner[pfn] = order
                    counts[order] += 1
        if zs.z is not None:
            nf = zs.z.get("nr_free")
            if nf is not None and list(nf) != counts:
                raise InputError(path, int(zs.z["_line"]),
                                 f"[{cp.tag}] node {zs.node} {zs.zone}: nr_free {nf} disagrees with "
                                 f"the free lists {counts}")
        for cpu, hdr in zs.pcp_hdr.items():
            lists = zs.pcp.get(cpu, [[] for _ in range(NR_PCP_LISTS)])
            total = sum(len(lst) << pindex_to_order(i) for i, lst in enumerate(lists))
            if total != hdr.get("count", 0):
                raise InputError(path, hdr["_line"], f"[{cp.tag}] node {zs.node} {zs.zone} cpu {cpu}: "
                                                     f"count={hdr.get('count')} but its lists hold {total} pages")
            for i, lst in enumerate(lists):
                for pfn in lst:
                    if pfn in owner:
                        raise InputError(path, hdr["_line"],
                                         f"[{cp.tag}] pfn {pfn:#x} is on a pcp list and a free list")
                    owner[pfn] = -1 - i
    # overlapping blocks
    spans = sorted((pfn, (1 << o) if o >= 0 else (1 << pindex_to_order(-1 - o))) for pfn, o in owner.items())
    for (a, n), (b, _m) in zip(spans, spans[1:]):
        if a + n > b:
            raise InputError(path, cp.first_line, f"[{cp.tag}] blocks {a:#x} and {b:#x} overlap")


def _zone_by_name(mm, node: int, name: str, path: str, line: int):
    if node >= len(mm.nodes):
        raise InputError(path, line, f"node {node} is not in the machine (zoneinfo has {len(mm.nodes)})")
    for z in mm.nodes[node].node_zones:
        if z.name == name:
            return z
    raise InputError(path, line, f"zone {name!r} is not in the machine")


def apply_checkpoint(machine, dump: FlDump, tag: str = "before") -> None:
    """Set the machine's free lists, pcp lists, pageblocks and counters to a checkpoint.

    Everything in a populated zone that is neither free nor on a pcp list
    becomes allocated (order-0 blocks); M lines mark that many of a block's
    allocated pages PageLRU, so move_freepages counts what the kernel counted.
    """
    mm = machine.mm
    mem = mm.mem
    cp = dump.checkpoints.get(tag)
    if cp is None:
        raise InputError(dump.path, 0, f"the capture has no {tag!r} dump (has: {', '.join(dump.order)})")
    path = dump.path
    for z in mm.zones:
        if not z.present_pages:
            continue
        s, e = z.zone_start_pfn, z.zone_end_pfn
        f = mem.a_flags[s:e]
        present = (f & PG_absent) == 0
        f[present] = PG_head
        mem.a_order[s:e] = -1
        mem.a_order[s:e][present] = 0
        empty_zone_lists(mm, z)
    for (node, zname), zs in cp.zones.items():
        z = _zone_by_name(mm, node, zname, path, zs.line)
        for pfn, mt in zs.blocks.items():
            mem.pageblock[pfn >> pageblock_order] = mt
        free_pages = 0
        for order in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                for pfn in zs.free[order][mt]:
                    if not z.spans(pfn):
                        raise InputError(path, zs.line, f"[{tag}] free pfn {pfn:#x} is outside node "
                                                        f"{node} {zname}")
                    install_free_block(mm, z, pfn, order, mt)
                    if mt != MIGRATE_ISOLATE:
                        free_pages += 1 << order
        for cpu, lists in zs.pcp.items():
            if cpu >= len(z.pcp):
                raise InputError(path, zs.line, f"[{tag}] cpu {cpu} has no pageset in the machine")
            pcp = z.pcp[cpu]
            for pindex, pfns in enumerate(lists):
                order = pindex_to_order(pindex)
                if pindex < NR_LOWORDER_PCP_LISTS:
                    lmt = pindex % MIGRATE_PCPTYPES
                else:
                    lmt = MIGRATE_MOVABLE if pindex == NR_LOWORDER_PCP_LISTS + 1 else 0
                for pfn in pfns:        # head to tail: the deque's right end is the head
                    pcp.lists[pindex].appendleft(pfn)
                    n = 1 << order
                    mem.a_flags[pfn:pfn + n] = 0
                    mem.a_order[pfn:pfn + n] = -1
                    mem.flags[pfn] = PG_pcp
                    mem.order[pfn] = order
                    mt = lmt
                    if lmt == MIGRATE_MOVABLE and mem.pageblock[pfn >> pageblock_order] & 7 == MIGRATE_HIGHATOMIC:
                        mt = MIGRATE_HIGHATOMIC
                    mem.mt[pfn] = mt
                    pcp.count += n
        for cpu, hdr in zs.pcp_hdr.items():
            pcp = z.pcp[cpu]
            pcp.high = hdr.get("high", pcp.high)
            pcp.batch = hdr.get("batch", pcp.batch)
            pcp.free_factor = hdr.get("free_factor", 0)
            pcp.expire = hdr.get("expire", 0)
        # PageLRU pages: the kernel's movable count per pageblock (fl2 M lines)
        for pb, count in zs.movable.items():
            start = max(pb, z.zone_start_pfn)
            end = min(pb + pageblock_nr_pages, z.zone_end_pfn)
            left = count
            for p in range(start, end):
                if not left:
                    break
                if mem.flags[p] == PG_head:
                    mem.flags[p] = PG_head | PG_lru
                    left -= 1
            if left:
                raise InputError(path, zs.line, f"[{tag}] M line for block {pb:#x}: {count} movable "
                                                f"pages but only {count - left} allocated pages there")
        if zs.z is not None:
            zz = zs.z
            z.vm_free = int(zz["free"])
            z.vm_stat_diff = [0] * mm.nr_cpu_ids
            z.vm_stat_diff[0] = int(zz.get("cpu0_diff", 0))
            if "cpu0_thresh" in zz:
                z.stat_threshold = int(zz["cpu0_thresh"])
            z.watermark_boost = int(zz.get("boost", 0))
            z.nr_reserved_highatomic = int(zz.get("highatomic", 0))
            z._watermark[0] = int(zz["wmark_min"])
            z._watermark[1] = int(zz["low"])
            z._watermark[2] = int(zz["high"])
            z.flags = int(zz.get("flags", 0))
            z.managed_pages = int(zz["managed"])
            prot = list(zz["protection"])
            z.lowmem_reserve[:len(prot)] = prot
            if z.vm_free + z.vm_stat_diff[0] != free_pages:
                raise InputError(path, int(zz["_line"]),
                                 f"[{tag}] node {node} {zname}: free={z.vm_free} cpu0_diff="
                                 f"{z.vm_stat_diff[0]} but the free lists hold {free_pages} pages")
        else:
            z.vm_free = free_pages
            z.nr_reserved_highatomic = sum(1 for mt in zs.blocks.values()
                                           if mt == MIGRATE_HIGHATOMIC) * pageblock_nr_pages
    mm.update_pb_zone()


def load_fldump(machine, path: str, tag: str = "before") -> FlDump:
    """Parse a capture and load one of its dumps into the machine."""
    dump = parse_fldump(path, machine.mm.cma_enabled)
    apply_checkpoint(machine, dump, tag)
    machine.fldump = dump
    return dump


def snapshot_state(machine, dump: FlDump, tag: str):
    """The model's state for the zones a checkpoint covers, in the capture's terms."""
    mm = machine.mm
    mem = mm.mem
    out = {}
    for (node, zname), zs in dump.checkpoints[tag].zones.items():
        z = _zone_by_name(mm, node, zname, dump.path, zs.line)
        free = [[list(mem.iter_list(z.list_base + o * MIGRATE_TYPES + mt)) for mt in range(MIGRATE_TYPES)]
                for o in range(MAX_ORDER)]
        pcp = {c: [list(reversed(lst)) for lst in z.pcp[c].lists] for c in zs.pcp_hdr}
        hdr = {c: {"count": z.pcp[c].count, "high": z.pcp[c].high, "batch": z.pcp[c].batch,
                   "free_factor": z.pcp[c].free_factor} for c in zs.pcp_hdr}
        blocks = {pfn: mem.pageblock[pfn >> pageblock_order] & 7 for pfn in zs.blocks}
        zc = {"free": z.vm_free, "cpu0_diff": z.vm_stat_diff[0] if z.vm_stat_diff else 0,
              "boost": z.watermark_boost, "highatomic": z.nr_reserved_highatomic,
              "nr_free": list(z.nr_free)}
        out[(node, zname)] = (free, pcp, hdr, blocks, zc)
    return out


def compare_checkpoint(machine, dump: FlDump, tag: str) -> list[str]:
    """Differences between the model and a checkpoint (empty when equal).

    The free counter is compared as free + cpu0_diff; a different split alone
    is reported with a "split:" prefix (the vmstat worker may fold at any time).
    """
    diffs: list[str] = []
    state = snapshot_state(machine, dump, tag)
    for key, zs in dump.checkpoints[tag].zones.items():
        free, pcp, hdr, blocks, zc = state[key]
        where = f"[{tag}] node {key[0]} {key[1]}"
        for o in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                if free[o][mt] != zs.free[o][mt]:
                    a, b = free[o][mt], zs.free[o][mt]
                    i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
                    diffs.append(f"{where} free list order {o} mt {mt}: model has {len(a)} entries, "
                                 f"kernel {len(b)}; first difference at position {i} (model "
                                 f"{a[i] if i < len(a) else None!s}, kernel {b[i] if i < len(b) else None!s})")
        for cpu, khdr in zs.pcp_hdr.items():
            for k in ("count", "high", "batch", "free_factor"):
                if k in khdr and hdr[cpu][k] != khdr[k]:
                    diffs.append(f"{where} cpu {cpu} pcp {k}: model {hdr[cpu][k]}, kernel {khdr[k]}")
            klists = zs.pcp.get(cpu, [[] for _ in range(NR_PCP_LISTS)])
            for i in range(NR_PCP_LISTS):
                if pcp[cpu][i] != klists[i]:
                    diffs.append(f"{where} cpu {cpu} pcp list {i}: model {len(pcp[cpu][i])} entries, "
                                 f"kernel {len(klists[i])} (first model {pcp[cpu][i][:3]}, kernel {klists[i][:3]})")
        nb = sum(1 for pfn, mt in zs.blocks.items() if blocks[pfn] != mt)
        if nb:
            first = next(pfn for pfn, mt in zs.blocks.items() if blocks[pfn] != mt)
            diffs.append(f"{where} {nb} pageblock types differ (first {first:#x}: model "
                         f"{blocks[first]}, kernel {zs.blocks[first]})")
        if zs.z is not None:
            kz = zs.z
            if zc["free"] + zc["cpu0_diff"] != int(kz["free"]) + int(kz.get("cpu0_diff", 0)):
                diffs.append(f"{where} NR_FREE_PAGES: model {zc['free']}+{zc['cpu0_diff']}, kernel "
                             f"{kz['free']}+{kz.get('cpu0_diff', 0)}")
            elif zc["free"] != int(kz["free"]):
                diffs.append(f"split: {where} NR_FREE_PAGES split differs: model {zc['free']}+"
                             f"{zc['cpu0_diff']}, kernel {kz['free']}+{kz.get('cpu0_diff', 0)} (same sum)")
            for k in ("boost", "highatomic"):
                if zc[k] != int(kz.get(k, 0)):
                    diffs.append(f"{where} {k}: model {zc[k]}, kernel {kz[k]}")
            if "nr_free" in kz and zc["nr_free"] != list(kz["nr_free"]):
                diffs.append(f"{where} nr_free: model {zc['nr_free']}, kernel {kz['nr_free']}")
    return diffs
