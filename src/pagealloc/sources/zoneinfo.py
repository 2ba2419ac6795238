"""Cloning a real machine from its /proc/zoneinfo.

Not a kernel file: reads mm/vmstat.c:zoneinfo_show_print's output and builds
a machine with the same nodes, zones, spans, present and managed pages, and
then keeps the file's watermarks (min/low/high less the boost, and the
boost), protection, pcp high/batch and vmstat thresholds as live state: the
kernel computed its boot watermarks before it freed its init memory, so they
do not follow from the final managed counts, but every later sysctl write
recomputes them from those counts exactly as the real kernel does.

What a zoneinfo does not say, and what the clone chooses:

* holes: taken from a dmesg beside the file (its BIOS-e820 map) when there
  is one and it agrees with the spans; else qemu's layout is assumed (DMA's
  legacy hole at pfn 0x9f..0xff, every other zone's holes at its end);
* reserved pages (present - managed): the lowest present pages of the zone
  (in DMA that is the first MiB, as on the real machine);
* pcp pages: each CPU's ``count`` order-0 pages on its MOVABLE list, taken
  just below the free pages;
* free pages: ``pages free`` pages at the top of the zone, released like
  memblock_free_all (naturally aligned blocks, order 10 where alignment
  allows, all MOVABLE, in ascending order at the list tails);
* everything else managed is allocated as order-0 pages (PG_head), so any
  page can be freed on its own;
* which CPUs are on which node: a nodes.txt beside the file, else inferred
  from pcp high (= low watermark / CPUs of the node), else equal blocks;
* the sysctls: arguments first, then the folder's sysctl-vm-all.txt /
  sysctl.NAME.txt when the file is the folder's boot-time state (untagged,
  or tagged boot/before/start/end/pressure/after); min_free_kbytes otherwise
  follows the boot rule from the file's managed counts;
* vm events, meminfo and THP mode from vmstat.TAG.txt, meminfo.TAG.txt and
  thp.enabled.txt beside it, when present.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, PageAllocError
from ..mm.core import MM, PROFILE_ZONES
from ..mm.internal import MAX_RECLAIM_RETRIES
from ..mm.memmap import LISTS_PER_ZONE, MemMap, PG_absent, PG_head, PG_pcp, PG_reserved
from ..mm.mm_init import (LOCAL_DISTANCE, REMOTE_DISTANCE, MachineSpec, NodeSpec,
                          __free_pages_memory, build_all_zonelists, init_node_states,
                          refresh_cpu_vm_stats)
from ..mm.mmzone import (MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, ZONE_NAMES, PgData, Zone,
                         order_to_pindex, pageblock_nr_pages)
from ..mm.page_alloc import FPI_SKIP_KASAN_POISON, FPI_TO_TAIL
from ..mm.pcp import PerCpuPages
from ..mm.vmstat import NUMA_STAT_ITEMS, THP_NODE_ITEMS, VM_EVENT_ITEMS
from ..mm.watermarks import (calculate_totalreserve_pages, default_lowmem_reserve_ratio,
                             hugepage_flags_enabled,
                             setup_min_slab_ratio, setup_min_unmapped_ratio)

__all__ = ["ZoneinfoZone", "Zoneinfo", "parse_zoneinfo", "machine_from_zoneinfo"]

_ZONE_HDR = re.compile(r"^Node (\d+), zone\s+(\S+)\s*$")
_KV = re.compile(r"^\s+([A-Za-z_][\w()-]*)\s+(-?\d+)\s*$")
_WMARK_KEYS = ("boost", "min", "low", "high", "spanned", "present", "managed", "cma")
_PCP_KEYS = ("count", "high", "batch")
_BOOT_TAGS = {None, "boot", "before", "start", "end", "pressure", "after"}


@dataclass
class ZoneinfoZone:
    """One "Node N, zone NAME" block of a zoneinfo file."""
    nid: int
    name: str
    line: int
    free: int = 0
    fields: dict[str, int] = field(default_factory=dict)       # boost..cma
    protection: list[int] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)        # zone vmstat and numa items
    pcp: dict[int, dict[str, int]] = field(default_factory=dict)   # cpu -> count/high/batch/threshold
    node_unreclaimable: int = 0
    start_pfn: int | None = None

    @property
    def populated(self) -> bool:
        return self.fields.get("present", 0) > 0


@dataclass
class Zoneinfo:
    """A parsed /proc/zoneinfo: zones in file order and each node's per-node stats."""
    path: str
    zones: list[ZoneinfoZone] = field(default_factory=list)
    node_stats: dict[int, dict[str, int]] = field(default_factory=dict)

    def nodes(self) -> list[int]:
        return sorted({z.nid for z in self.zones})

    def cpus(self) -> list[int]:
        cpus: set[int] = set()
        for z in self.zones:
            cpus.update(z.pcp)
        return sorted(cpus)


def parse_zoneinfo(path: str | Path, text: str | None = None) -> Zoneinfo:
    """Read a /proc/zoneinfo; malformed content raises InputError with file:line."""
    path = str(path)
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise InputError(path, 0, f"cannot read: {e.strerror or e}") from None
    zi = Zoneinfo(path)
    z: ZoneinfoZone | None = None
    section = ""                 # "node", "zone", "stats", "pagesets"
    cpu: int | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _ZONE_HDR.match(raw)
        if m:
            z = ZoneinfoZone(int(m.group(1)), m.group(2), no)
            zi.zones.append(z)
            section, cpu = "zone", None
            continue
        if z is None:
            raise InputError(path, no, f"expected a \"Node N, zone NAME\" line, got {raw.strip()!r}")
        s = raw.strip()
        try:
            if s == "per-node stats":
                if z.nid in zi.node_stats:
                    raise InputError(path, no, f"node {z.nid} has per-node stats twice")
                zi.node_stats[z.nid] = {}
                section = "node"
                continue
            if s.startswith("pages free"):
                z.free = int(s.split()[2])
                section = "zone"
                continue
            if s.startswith("protection:"):
                inner = re.fullmatch(r"protection: \(([-\d, ]*)\)", s)
                if not inner:
                    raise ValueError
                z.protection = [int(v) for v in inner.group(1).split(",")]
                section = "stats"
                continue
            if s == "pagesets":
                section = "pagesets"
                continue
            if s.startswith("cpu:"):
                if section != "pagesets":
                    raise ValueError
                cpu = int(s.split()[1])
                z.pcp[cpu] = {}
                continue
            if s.startswith("vm stats threshold:"):
                if cpu is None:
                    raise ValueError
                z.pcp[cpu]["threshold"] = int(s.split()[-1])
                continue
            if s.startswith("node_unreclaimable:"):
                z.node_unreclaimable = int(s.split()[1])
                continue
            if s.startswith("start_pfn:"):
                z.start_pfn = int(s.split()[1])
                continue
            if section == "pagesets":
                key, _, val = s.partition(":")
                if key not in _PCP_KEYS or cpu is None:
                    raise ValueError
                z.pcp[cpu][key] = int(val)
                continue
            m = _KV.match(raw)
            if not m:
                raise ValueError
            key, val = m.group(1), int(m.group(2))
            if section == "node":
                zi.node_stats[z.nid][key] = val
            elif section == "zone" and key in _WMARK_KEYS:
                z.fields[key] = val
            elif section == "stats":
                z.stats[key] = val
            else:
                raise ValueError
        except ValueError:
            raise InputError(path, no, f"unexpected line in a zoneinfo: {raw.strip()!r}") from None
    if not zi.zones:
        raise InputError(path, 0, "no \"Node N, zone NAME\" lines: not a /proc/zoneinfo")
    for z in zi.zones:
        for key in ("min", "low", "high", "spanned", "present", "managed"):
            if key not in z.fields:
                raise InputError(path, z.line, f"node {z.nid} zone {z.name}: no {key!r} line")
        if not z.protection:
            raise InputError(path, z.line, f"node {z.nid} zone {z.name}: no protection line")
        if z.populated:
            if z.start_pfn is None:
                raise InputError(path, z.line, f"node {z.nid} zone {z.name}: populated but no start_pfn")
            if not z.pcp:
                raise InputError(path, z.line, f"node {z.nid} zone {z.name}: populated but no pagesets")
            f = z.fields
            if not (f["managed"] <= f["present"] <= f["spanned"]) or z.free > f["managed"]:
                raise InputError(path, z.line, f"node {z.nid} zone {z.name}: free {z.free} managed "
                                 f"{f['managed']} present {f['present']} spanned {f['spanned']} "
                                 "are not in order")
    return zi


# --- the machine ------------------------------------------------------------------------------

def _tag(path: Path) -> str | None:
    m = re.fullmatch(r"zoneinfo(?:\.(.+))?\.txt", path.name)
    return m.group(1) if m else None


def _sibling(path: Path, base: str, tag: str | None) -> Path | None:
    for name in ([f"{base}.{tag}.txt"] if tag else []) + [f"{base}.txt"]:
        p = path.parent / name
        if p.is_file():
            return p
    return None


def _folder_sysctls(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    allf = path.parent / "sysctl-vm-all.txt"
    if allf.is_file():
        for line in allf.read_text().splitlines():
            k, sep, v = line.partition(" = ")
            if sep and "can't open" not in v and "Permission denied" not in v:
                out[k.strip()] = v.strip()
    for p in path.parent.glob("sysctl.*.txt"):
        name = p.name[len("sysctl."):-len(".txt")]
        if "." in name:          # sysctl.NAME.set.txt, .after-write: not the boot value
            continue
        out[name] = p.read_text().strip()
    return out


def _parse_cpulist(text: str) -> list[int]:
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def _hole_layout(zi: Zoneinfo, path: Path, use_folder: bool) -> dict[tuple[int, str], list[tuple[int, int]]]:
    """The present pfn ranges of every populated zone (see the module docstring)."""
    ranges: dict[tuple[int, str], list[tuple[int, int]]] = {}
    ram: list[tuple[int, int]] | None = None
    dm = None
    for name in ("dmesg.txt", "dmesg.before.txt") if use_folder else ():
        if (path.parent / name).is_file():
            dm = path.parent / name
            break
    if dm is not None:
        try:
            from .e820 import parse_e820
            t = parse_e820(dm)
            t.setup_arch_trims()
            ram = t.ram_pfn_ranges()
        except PageAllocError:
            ram = None
    for z in zi.zones:
        if not z.populated:
            continue
        s = z.start_pfn
        e = s + z.fields["spanned"]
        present = z.fields["present"]
        if ram is not None:
            mine = [(max(a, s), min(b, e)) for a, b in ram if min(b, e) > max(a, s)]
            if sum(b - a for a, b in mine) == present:
                ranges[(z.nid, z.name)] = mine
                continue
        holes = e - s - present
        if z.name == "DMA" and s <= 0x9F and holes >= 0x100 - 0x9F and e > 0x100:
            mine = [(s, 0x9F), (0x100, e - (holes - 0x61))]
        else:
            mine = [(s, e - holes)]
        ranges[(z.nid, z.name)] = [(a, b) for a, b in mine if b > a]
    return ranges


def _take(ranges: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """Remove the first ``n`` pfns from ``ranges`` (in place) and return them as ranges."""
    out = []
    while n > 0 and ranges:
        a, b = ranges[0]
        k = min(n, b - a)
        out.append((a, a + k))
        n -= k
        if a + k == b:
            ranges.pop(0)
        else:
            ranges[0] = (a + k, b)
    return out


def _infer_cpu_nodes(zi: Zoneinfo, ncpus: int, high_fraction: int) -> list[int]:
    """Each CPU's node, from pcp high = low / (CPUs of the node) (see zone_highsize).

    CPUs are numbered in contiguous blocks in node order. A memory node whose
    pcp is split over every CPU may be CPU-less (nr_split_cpus 0 falls back to
    num_online_cpus); CPUs no memory node accounts for sit on the memoryless
    nodes. When nothing fits, equal blocks over all nodes.
    """
    all_nodes = zi.nodes()
    mem_nodes = [n for n in all_nodes if any(z.populated for z in zi.zones if z.nid == n)]
    memless = [n for n in all_nodes if n not in mem_nodes]

    def blocks(counts: dict[int, int]) -> list[int]:
        return [n for n in sorted(counts) for _ in range(counts[n])]

    if len(all_nodes) <= 1:
        return [all_nodes[0] if all_nodes else 0] * ncpus
    known: dict[int, int] = {}
    for n in mem_nodes:
        for z in zi.zones:
            if z.nid != n or not z.populated:
                continue
            first = z.pcp[min(z.pcp)]
            high, batch = first.get("high", 0), first.get("batch", 1)
            if high <= batch * 4:
                continue
            total = z.fields["managed"] // high_fraction if high_fraction else z.fields["low"]
            cands = [k for k in range(1, ncpus + 1) if total // k == high]
            if cands:
                known[n] = cands[0]
                break
    if len(known) == len(mem_nodes):
        for cpuless in ([], [n for n, c in known.items() if c == ncpus]):
            counts = {n: c for n, c in known.items() if n not in cpuless}
            rest = ncpus - sum(counts.values())
            if rest == 0:
                return blocks(counts)
            if rest > 0 and memless:
                for i, n in enumerate(memless):
                    counts[n] = rest * (i + 1) // len(memless) - rest * i // len(memless)
                return blocks(counts)
    return [all_nodes[c * len(all_nodes) // ncpus] for c in range(ncpus)]


def _infer_min_free_kbytes(zi: Zoneinfo, thp_on: bool) -> int:
    """The boot rule (square root, then khugepaged's raise) from the file's managed counts."""
    lowmem = [z for z in zi.zones if z.name not in ("Movable", "Device", "HighMem")]
    managed = sum(z.fields["managed"] for z in lowmem)
    mfk = max(128, min(math.isqrt(managed * 4 * 16), 262144))
    if thp_on:
        nr = sum(1 for z in lowmem if z.populated)
        spare = sum(max(0, z.fields["managed"] - z.fields["high"]) for z in lowmem)
        rec = min(11 * 512 * nr, spare // 20) * 4
        mfk = max(mfk, rec)
    return mfk


def _profile(zi: Zoneinfo, path: Path) -> str:
    """The build profile whose zone list every node of the file shows."""
    names_by_node: dict[int, list[str]] = {}
    for z in zi.zones:
        names_by_node.setdefault(z.nid, []).append(z.name)
    for prof, types in PROFILE_ZONES.items():
        want = [ZONE_NAMES[t] for t in types]
        if all(v == want for v in names_by_node.values()):
            for z in zi.zones:
                if len(z.protection) != len(types):
                    raise InputError(str(path), z.line, f"node {z.nid} zone {z.name}: protection "
                                     f"has {len(z.protection)} values, expected {len(types)}")
            return prof
    first = zi.zones[0]
    raise InputError(str(path), first.line, "the zones of a node are "
                     f"{', '.join(names_by_node[first.nid])}; the model knows "
                     + " or ".join(", ".join(ZONE_NAMES[t] for t in ts) for ts in PROFILE_ZONES.values()))


def _setup_cpus(mm: MM, zi: Zoneinfo, path: Path, cpus: int | None, cpu_nodes: list[int] | None,
                use_folder: bool, high_fraction: int) -> None:
    file_cpus = zi.cpus()
    if not file_cpus:
        raise InputError(str(path), zi.zones[0].line, "no pagesets: cannot tell the CPUs")
    ncpus = cpus if cpus is not None else max(file_cpus) + 1
    if ncpus < 1:
        raise PageAllocError(f"cpus={ncpus}: at least one CPU is needed")
    mm.nr_cpu_ids = ncpus
    # CPUs missing from the file's pagesets were offline
    mm.cpu_online = [c in file_cpus for c in range(ncpus)] if cpus is None else [True] * ncpus
    if cpu_nodes is None and use_folder and (path.parent / "nodes.txt").is_file():
        cn = [0] * ncpus
        for line in (path.parent / "nodes.txt").read_text().splitlines():
            m = re.match(r"node(\d+) cpulist: ([\d,-]*)", line)
            if m:
                for c in _parse_cpulist(m.group(2)):
                    if c < ncpus:
                        cn[c] = int(m.group(1))
        cpu_nodes = cn
    if cpu_nodes is None:
        cpu_nodes = _infer_cpu_nodes(zi, sum(mm.cpu_online), high_fraction)
        cpu_nodes = (cpu_nodes + [cpu_nodes[-1]] * ncpus)[:ncpus]
    if len(cpu_nodes) != ncpus:
        raise PageAllocError(f"cpu_nodes lists {len(cpu_nodes)} CPUs, the machine has {ncpus}")
    mm.cpu_to_node = list(cpu_nodes)


def _build_zones(mm: MM, zi: Zoneinfo, ranges: dict) -> list[NodeSpec]:
    """Nodes and zones with the file's sizes, watermarks, protection, pagesets and stats."""
    nz = mm.MAX_NR_ZONES
    ncpus = mm.nr_cpu_ids
    nodes = zi.nodes()
    nnodes = max(nodes) + 1
    top = max((z.start_pfn + z.fields["spanned"] for z in zi.zones if z.populated), default=0)
    for z in zi.zones:                   # an unpopulated span (ZONE_DEVICE): after the memory
        if not z.populated and z.fields["spanned"]:
            z.start_pfn = top
            top += z.fields["spanned"]
    npfn = max(MAX_ORDER_NR_PAGES, -(-top // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES)
    mm.mem = MemMap(npfn, nnodes * nz)
    mem = mm.mem
    mem.a_flags[:] = PG_absent
    mem.a_pageblock[:] = 0
    by_key = {(z.nid, z.name): z for z in zi.zones}
    node_specs = []
    for nid in range(nnodes):
        node = PgData(nid)
        mm.nodes.append(node)
        node.online = nid in nodes
        node.cpus = [c for c in range(ncpus) if mm.cpu_to_node[c] == nid]
        node.vm_stat = {k: v * 512 if k in THP_NODE_ITEMS else v      # kept in pages
                        for k, v in zi.node_stats.get(nid, {}).items()}
        nranges: list[tuple[int, int]] = []
        for idx, zt in enumerate(mm.zone_types):
            z = Zone(node, idx, zt)
            z.gid = nid * nz + idx
            z.list_base = mem.npfn + z.gid * LISTS_PER_ZONE
            z.lowmem_reserve = [0] * nz
            z.vm_stat_diff = [0] * ncpus
            node.node_zones.append(z)
            mm.zones.append(z)
            f = by_key.get((nid, ZONE_NAMES[zt]))
            if f is None:
                continue
            fl = f.fields
            z.spanned_pages = fl["spanned"]
            z.present_pages = z.present_early_pages = fl["present"]
            z.managed_pages = fl["managed"]
            z.cma_pages = fl.get("cma", 0)
            z.zone_start_pfn = f.start_pfn if f.start_pfn is not None else 0
            z.zone_end_pfn = z.zone_start_pfn + z.spanned_pages
            z.lowmem_reserve = list(f.protection)
            boost = fl.get("boost", 0)
            z.watermark_boost = boost
            wmin, low, high = fl["min"] - boost, fl["low"] - boost, fl["high"] - boost
            z._watermark = [wmin, low, high, high + (high - low)]   # promo = high + gap
            z.initialized = z.spanned_pages > 0
            if z.spanned_pages:
                node.nr_zones = max(node.nr_zones, idx + 1)
            if f.node_unreclaimable:
                node.kswapd_failures = MAX_RECLAIM_RETRIES
            if not f.populated:
                if z.spanned_pages:
                    mem.a_flags[z.zone_start_pfn:z.zone_end_pfn] = PG_reserved
                continue
            zr = ranges[(nid, f.name)]
            nranges.extend(zr)
            for a, b in zr:
                mem.a_flags[a:b] = PG_reserved
                mem.a_pageblock[-(-a // pageblock_nr_pages):-(-b // pageblock_nr_pages)] = MIGRATE_MOVABLE
            z.vm_stat = {k: v for k, v in f.stats.items() if not k.startswith("numa_")
                         and k not in ("nr_free_pages", "nr_free_cma")}
            z.numa_events = [f.stats.get(k, 0) for k in NUMA_STAT_ITEMS]
            # pagesets: the file's values on its CPUs, the zone's on any others
            first_cpu = f.pcp[min(f.pcp)]
            z.pageset_high = first_cpu.get("high", 0)
            z.pageset_batch = first_cpu.get("batch", 1)
            z.stat_threshold = first_cpu.get("threshold", 0)
            z.pcp = [PerCpuPages(c) for c in range(ncpus)]
            for pcp in z.pcp:
                src = f.pcp.get(pcp.cpu, {})
                pcp.high = src.get("high", z.pageset_high)
                pcp.batch = src.get("batch", z.pageset_batch)
                pcp.stat_threshold = src.get("threshold", z.stat_threshold)
        spans = [(z.zone_start_pfn, z.zone_end_pfn) for z in node.node_zones if z.spanned_pages]
        ns = min((a for a, _b in spans), default=0)
        ne = max((b for _a, b in spans), default=0)
        node.node_start_pfn = ns
        node.node_spanned_pages = ne - ns
        node.node_present_pages = sum(z.present_pages for z in node.node_zones)
        node_specs.append(NodeSpec(nid, sorted(nranges), list(node.cpus)))
    return node_specs


def _place_pages(mm: MM, zi: Zoneinfo, ranges: dict, path: Path) -> None:
    """Reserved pages lowest, then allocated (order 0), pcp lists, and the free pages on top."""
    mem = mm.mem
    by_key = {(z.nid, z.name): z for z in zi.zones}
    pindex = order_to_pindex(MIGRATE_MOVABLE, 0)
    for z in mm.zones:
        f = by_key.get((z.nid, z.name))
        if f is None or not f.populated:
            continue
        zr = list(ranges[(z.nid, f.name)])
        pcp_total = sum(p.get("count", 0) for c, p in f.pcp.items() if c < mm.nr_cpu_ids)
        allocated = z.managed_pages - f.free - pcp_total
        if allocated < 0:
            raise InputError(str(path), f.line, f"node {z.nid} zone {z.name}: pages free {f.free} "
                             f"plus pcp counts {pcp_total} exceed managed {z.managed_pages}")
        _take(zr, z.present_pages - z.managed_pages)          # stay PG_reserved
        for a, b in _take(zr, allocated):
            mem.a_flags[a:b] = PG_head
            mem.a_order[a:b] = 0
            mem.a_mt[a:b] = MIGRATE_MOVABLE
        for pcp in z.pcp:
            cnt = f.pcp.get(pcp.cpu, {}).get("count", 0)
            for a, b in _take(zr, cnt):
                for p in range(a, b):
                    pcp.lists[pindex].appendleft(p)
                    mem.flags[p] = PG_pcp
                    mem.order[p] = 0
                    mem.mt[p] = MIGRATE_MOVABLE
            pcp.count = cnt
        for a, b in zr:                                       # released like memblock_free_all
            __free_pages_memory(mm, z, a, b, FPI_TO_TAIL | FPI_SKIP_KASAN_POISON)
        z.managed_pages = f.fields["managed"]
        z.vm_free += sum(z.vm_stat_diff)
        z.vm_stat_diff = [0] * mm.nr_cpu_ids
        if z.vm_free != f.free:
            raise InputError(str(path), f.line, f"node {z.nid} zone {z.name}: could not place "
                             f"{f.free} free pages (placed {z.vm_free})")
        max_drift = sum(mm.cpu_online) * z.stat_threshold     # refresh_zone_stat_thresholds
        if max_drift > z.low_wmark_pages() - z.min_wmark_pages():
            z.percpu_drift_mark = z.high_wmark_pages() + max_drift
    mm.events = [0] * len(VM_EVENT_ITEMS)


def _distances(path: Path, nnodes: int, use_folder: bool) -> list[list[int]]:
    dist = [[LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nnodes)]
            for i in range(nnodes)]
    nf = path.parent / "nodes.txt"
    if use_folder and nf.is_file():
        for line in nf.read_text().splitlines():
            m = re.match(r"node(\d+) cpulist: [\d,-]* distance: ([\d ]+)", line)
            if m and int(m.group(1)) < nnodes:
                row = [int(v) for v in m.group(2).split()]
                if len(row) == nnodes:
                    dist[int(m.group(1))] = row
    return dist


def _apply_sysctls(mm: MM, zi: Zoneinfo, vals: dict[str, object], thp_given: bool) -> None:
    """The machine's sysctl state, set directly (the file's watermarks already follow from it)."""
    def num(v) -> int:
        return int(str(v).split()[0])

    totalram = sum(z.managed_pages for z in mm.zones)
    if hugepage_flags_enabled(mm) and totalram < (512 << 8) and not thp_given:
        mm.thp = "never"                         # hugepage_init: THP off below 512 MiB
    mm.khugepaged_running = hugepage_flags_enabled(mm)
    mm.min_free_kbytes = (num(vals["min_free_kbytes"]) if "min_free_kbytes" in vals
                          else _infer_min_free_kbytes(zi, mm.khugepaged_running))
    for name in ("watermark_scale_factor", "watermark_boost_factor", "percpu_pagelist_high_fraction",
                 "extfrag_threshold", "compaction_proactiveness", "zone_reclaim_mode",
                 "min_unmapped_ratio", "min_slab_ratio", "stat_interval", "dirty_ratio",
                 "dirty_background_ratio", "dirty_bytes", "dirty_background_bytes",
                 "overcommit_ratio", "overcommit_kbytes"):
        if name in vals and hasattr(mm, name):
            setattr(mm, name, num(vals[name]))
    if "lowmem_reserve_ratio" in vals:
        v = vals["lowmem_reserve_ratio"]
        r = [int(x) for x in (v.split() if isinstance(v, str) else v)]
        mm.lowmem_reserve_ratio = (r + [0] * mm.MAX_NR_ZONES)[:mm.MAX_NR_ZONES]
    for name, v in vals.items():                 # the passive ones (sysctl.py reads them here)
        if re.fullmatch(r"-?\d+", str(v).strip()) and not hasattr(mm, name):
            mm.sysctl_vm[name] = int(str(v).strip())
    calculate_totalreserve_pages(mm)
    setup_min_unmapped_ratio(mm)
    setup_min_slab_ratio(mm)


def _load_events_and_meminfo(mm: MM, path: Path, tag: str | None) -> None:
    """vmstat.TAG.txt's event counters and meminfo.TAG.txt's fields, when beside the file."""
    vs = _sibling(path, "vmstat", tag) if tag else None
    if vs is not None:
        idx = {n: i for i, n in enumerate(VM_EVENT_ITEMS)}
        for line in vs.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in idx and parts[1].isdigit():
                mm.events[idx[parts[0]]] = int(parts[1])
    mi = _sibling(path, "meminfo", tag) if tag else None
    if mi is not None:
        for line in mi.read_text().splitlines():
            m = re.match(r"([\w()]+):\s+(\d+)", line)
            if m:
                mm.meminfo_extra[m.group(1)] = int(m.group(2))


def machine_from_zoneinfo(path: str | Path, cpus: int | None = None, thp: str | None = None,
                          min_free_kbytes: int | None = None,
                          sysctls: dict[str, str | int] | None = None,
                          cpu_nodes: list[int] | None = None, use_folder: bool = True):
    """Build a Machine that is the machine a /proc/zoneinfo was read from.

    :param path: the zoneinfo file.
    :param cpus: CPU count (default: the file's "cpu:" entries; CPUs it skips were offline).
    :param thp: "always", "madvise" or "never" (default: thp.enabled.txt beside the
        file, else "always", and "never" below 512 MiB as hugepage_init decides).
    :param min_free_kbytes: the machine's vm.min_free_kbytes (default: the folder's
        sysctl files, else the boot rule from the file's managed counts).
    :param sysctls: other vm sysctl values to set as the machine's state (no handler runs).
    :param cpu_nodes: the node of each CPU (default: nodes.txt, else inferred).
    :param use_folder: read dmesg/sysctl/nodes/thp/vmstat/meminfo files beside the zoneinfo.
    :returns: a :class:`pagealloc.machine.Machine` whose ``spec`` describes its layout.
    """
    from ..machine import Machine
    from ..sysctl import normalize_sysctl_name

    path = Path(path)
    zi = parse_zoneinfo(path)
    tag = _tag(path)
    profile = _profile(zi, path)
    vals: dict[str, object] = dict(_folder_sysctls(path)) if use_folder and tag in _BOOT_TAGS else {}
    if sysctls:
        vals.update({normalize_sysctl_name(k): v for k, v in sysctls.items()})
    if min_free_kbytes is not None:
        vals["min_free_kbytes"] = min_free_kbytes
    thp_given = thp is not None
    if thp is None:
        thp = "always"
        thp_file = _sibling(path, "thp.enabled", None) if use_folder else None
        m = re.search(r"\[(\w+)\]", thp_file.read_text()) if thp_file is not None else None
        if m:
            thp, thp_given = m.group(1), True
    if thp not in ("always", "madvise", "never"):
        raise PageAllocError(f"thp={thp!r}: expected always, madvise or never")
    mm = MM(profile=profile)
    mm.lowmem_reserve_ratio = default_lowmem_reserve_ratio(mm)
    mm.thp = thp
    _setup_cpus(mm, zi, path, cpus, cpu_nodes, use_folder,
                int(str(vals.get("percpu_pagelist_high_fraction", 0)).split()[0]))
    ranges = _hole_layout(zi, path, use_folder)
    node_specs = _build_zones(mm, zi, ranges)
    _place_pages(mm, zi, ranges, path)
    dist = _distances(path, len(mm.nodes), use_folder)
    spec = MachineSpec(nodes=node_specs, distance=dist, nr_cpus=mm.nr_cpu_ids, profile=profile,
                       thp=thp, boot_reservations=False)
    build_all_zonelists(mm, dist)
    mm.log.clear()
    init_node_states(mm, spec)
    _apply_sysctls(mm, zi, vals, thp_given)
    if use_folder:
        _load_events_and_meminfo(mm, path, tag)
    refresh_cpu_vm_stats(mm)
    return Machine(mm, spec)
