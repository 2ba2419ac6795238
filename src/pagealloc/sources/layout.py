"""Machine layouts: qemu q35 memory maps, NUMA nodes, CPUs and the kernel command line.

Not a kernel file: builds the MachineSpec that mm/mm_init.py boots. Memory
comes from an e820 table (qemu q35's for a size, or the BIOS-e820 lines of a
real dmesg, see e820.py), is split over NUMA nodes the way qemu's SRAT does
(-numa node, 8 MiB granularity auto split, RAM below 4 GiB first), and the
kernel command line is read the way the kernel reads the parameters the model
knows; the others are listed in ``spec.ignored_params``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from ..errors import PageAllocError
from ..mm.memblock import DEFAULT_INITRD_PAGES
from ..mm.mm_init import LOCAL_DISTANCE, REMOTE_DISTANCE, MachineSpec, NodeSpec
from .e820 import (E820_PRAM, E820_RAM, E820_RESERVED, E820_ACPI, E820Table, parse_e820,
                   q35_e820)

__all__ = ["spec_from_args", "q35_e820", "parse_cmdline", "KernelParams", "memparse",
           "qemu_numa_split"]

PAGE_SHIFT = 12
_4G = 1 << 32
_NUMA_GRANULARITY = 1 << 23           # qemu numa_default_auto_split_ram: 8 MiB
THP_MODES = ("always", "madvise", "never")


def memparse(text: str) -> int:
    """lib/cmdline.c:memparse(): a number (0x.. and 0.. accepted) with K/M/G/T/P/E."""
    m = re.fullmatch(r"\s*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)", text)
    if not m:
        raise ValueError(text)
    v = int(m.group(1), 0)
    shift = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}[m.group(2).lower()]
    return v << shift


def _strtobool(text: str) -> bool:
    """kstrtobool(): y/Y/1/on true, n/N/0/off false."""
    t = text.lower()
    if t in ("y", "1", "on", "yes", "true"):
        return True
    if t in ("n", "0", "off", "no", "false"):
        return False
    raise ValueError(text)


@dataclass
class KernelParams:
    """The boot parameters the model understands, read from a kernel command line."""
    mem: int | None = None                                  # mem= (bytes, an address limit)
    memmap: list[tuple[str, int, int]] = field(default_factory=list)   # (op, size, start)
    movablecore_pages: int = 0
    movablecore_percent: int = 0
    kernelcore_pages: int = 0
    kernelcore_percent: int = 0
    movable_node: bool = False
    shuffle: bool | None = None
    thp: str | None = None
    numa_off: bool = False
    crashkernel: tuple[int, int | None, bool] | None = None
    log_buf_len: int = 0
    cma_pages: int = 0
    page_owner: bool = False
    page_poison: bool = False
    page_reporting_order: int | None = None
    recognised: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _split_cmdline(text: str) -> list[str]:
    """lib/cmdline.c:next_arg(): spaces separate, double quotes group (and are dropped)."""
    out = []
    cur = []
    quoted = False
    have = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            have = True
            continue
        if ch.isspace() and not quoted:
            if have:
                out.append("".join(cur))
                cur = []
                have = False
            continue
        cur.append(ch)
        have = True
    if have:
        out.append("".join(cur))
    return out


def parse_cmdline(text: str) -> KernelParams:
    """Read a kernel command line: the parameters the model models, and the rest.

    Modelled: mem=, memmap= (nn@ss, nn#ss, nn$ss, nn!ss), movablecore=,
    kernelcore= (sizes or nn%), movable_node, page_alloc.shuffle=,
    transparent_hugepage=, numa=off, crashkernel= (size, size@base,
    size,high), log_buf_len=; nokaslr is accepted (the model's kernel sits at
    16 MiB anyway). Everything else (console=, root=, quiet, ...) is listed
    in ``ignored``; so is everything after "--" (passed to init). A value
    the model cannot read raises PageAllocError naming the parameter.
    """
    kp = KernelParams()
    args = _split_cmdline(text or "")
    for i, arg in enumerate(args):
        if arg == "--":
            kp.ignored.extend(args[i + 1:])
            break
        key, eq, val = arg.partition("=")
        try:
            if key == "mem" and eq:
                if val == "nopentium":
                    kp.ignored.append(arg)
                    continue
                kp.mem = memparse(val)
            elif key == "memmap" and eq:
                if val == "exactmap":
                    kp.ignored.append(arg)
                    continue
                for part in val.split(","):
                    m = re.fullmatch(r"([^@#$!]+)([@#$!])(.+)", part)
                    if m:
                        kp.memmap.append((m.group(2), memparse(m.group(1)), memparse(m.group(3))))
                    else:
                        kp.mem = memparse(part)
            elif key in ("movablecore", "kernelcore") and eq:
                if key == "kernelcore" and val == "mirror":
                    kp.ignored.append(f"{arg} (no mirrored memory in the model)")
                    continue
                m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)%", val)
                if m:
                    pct = int(m.group(1), 0)
                    if key == "movablecore":
                        kp.movablecore_percent, kp.movablecore_pages = pct, 0
                    else:
                        kp.kernelcore_percent, kp.kernelcore_pages = pct, 0
                else:
                    pages = memparse(val) >> PAGE_SHIFT
                    if key == "movablecore":
                        kp.movablecore_pages, kp.movablecore_percent = pages, 0
                    else:
                        kp.kernelcore_pages, kp.kernelcore_percent = pages, 0
            elif key == "movable_node" and not eq:
                kp.movable_node = True
            elif key == "page_alloc.shuffle" and eq:
                kp.shuffle = _strtobool(val)
            elif key == "transparent_hugepage" and eq:
                if val not in THP_MODES:
                    raise ValueError(val)
                kp.thp = val
            elif key == "numa" and eq and val == "off":
                kp.numa_off = True
            elif key == "crashkernel" and eq:
                m = re.fullmatch(r"([^@,]+)(?:@(.+)|,(high|low))?", val)
                if not m:
                    raise ValueError(val)
                size = memparse(m.group(1)) >> PAGE_SHIFT
                base = memparse(m.group(2)) >> PAGE_SHIFT if m.group(2) else None
                kp.crashkernel = (size, base, m.group(3) == "high")
            elif key == "log_buf_len" and eq:
                kp.log_buf_len = memparse(val)
            elif key == "cma" and eq:
                kp.cma_pages = memparse(val) >> PAGE_SHIFT
            elif key == "page_owner" and eq:
                kp.page_owner = val == "on"
            elif key == "page_poison" and eq:
                kp.page_poison = _strtobool(val)
            elif key == "page_reporting.page_reporting_order" and eq:
                kp.page_reporting_order = int(val, 0)
            elif key == "nokaslr" and not eq:
                pass
            else:
                kp.ignored.append(arg)
                continue
        except ValueError:
            raise PageAllocError(f"--cmdline: cannot read {arg!r}") from None
        kp.recognised.append(arg)
    return kp


def _apply_memmap_params(table: E820Table, kp: KernelParams) -> None:
    """parse_memopt / parse_memmap_one: the e820 edits of mem= and memmap=."""
    if kp.mem is not None:
        table.range_remove(kp.mem, 1 << 64, E820_RAM)
    for op, size, start in kp.memmap:
        t = {"@": E820_RAM, "#": E820_ACPI, "$": E820_RESERVED, "!": E820_PRAM}[op]
        table.range_add(start, start + size, t)


def qemu_numa_split(table: E820Table, node_mem: list[int],
                    below_4g: int, above_start: int) -> list[list[tuple[int, int]]]:
    """The SRAT memory ranges (pfns) of each node, as qemu's build_srat lays them out.

    Each node takes its share of RAM in address order; the 640K-1M hole
    and the PCI hole below 4 GiB are cut out (RAM resumes at
    ``above_start``). The ranges are then intersected with the e820 RAM.
    """
    srat: list[list[tuple[int, int]]] = [[] for _ in node_mem]
    next_base = 0
    for i, size in enumerate(node_mem):
        mem_base = next_base
        mem_len = size
        next_base = mem_base + mem_len
        if mem_base <= 0xA0000 < next_base:
            if 0xA0000 - mem_base > 0:
                srat[i].append((mem_base, 0xA0000))
            if next_base <= 0x100000:
                next_base = 0x100000
                continue
            mem_base = 0x100000
            mem_len = next_base - 0x100000
        if mem_base <= below_4g < next_base:
            if below_4g - mem_base > 0:
                srat[i].append((mem_base, below_4g))
            mem_base = above_start
            mem_len = next_base - below_4g
            next_base = mem_base + mem_len
        if mem_len > 0:
            srat[i].append((mem_base, mem_base + mem_len))
    ram = table.ram_pfn_ranges()
    out: list[list[tuple[int, int]]] = []
    for ranges in srat:
        mine = []
        for bs, be in ranges:
            ps, pe = bs >> PAGE_SHIFT, be >> PAGE_SHIFT
            for rs, re_ in ram:
                s, e = max(ps, rs), min(pe, re_)
                if e > s:
                    mine.append((s, e))
        out.append(sorted(mine))
    return out


def _srat_split(ram: list[tuple[int, int]], srat: list[tuple[int, int, int]],
                nodes: int) -> list[list[tuple[int, int]]]:
    """memblock_set_node over the SRAT's ranges (numa_register_memblks)."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(nodes)]
    for nid, bs, be in srat:
        ps, pe = bs >> PAGE_SHIFT, be >> PAGE_SHIFT
        for rs, re_ in ram:
            s, e = max(ps, rs), min(pe, re_)
            if e > s:
                out[nid].append((s, e))
    for lst in out:
        lst.sort()
    return out


def spec_from_args(*, mem="4G", cpus: int = 1, nodes: int = 1,
                   cpu_nodes: Iterable[int] | None = None, thp: str = "always",
                   cmdline: str = "", e820: str | None = None, seed: int = 0,
                   profile: str = "x86_64", node_mem: Iterable[str | int] | None = None,
                   distance: list[list[int]] | None = None,
                   kernel_base: int | None = None) -> MachineSpec:
    """A MachineSpec from the `pagealloc boot` arguments.

    Memory is qemu q35's for ``mem`` or, with ``e820``, the BIOS-e820 map of
    a dmesg (whose RAMDISK line then sizes the initrd). ``nodes`` splits it
    like qemu's -numa node (``node_mem`` gives each node's size; a 0 makes
    a memoryless node; with an e820 file the RAM is split evenly). CPUs go
    to nodes in equal contiguous blocks unless ``cpu_nodes`` names each
    CPU's node. ``distance`` is the SLIT (default 10 local, 20 remote).
    """
    from ..machine import parse_size
    if cpus < 1:
        raise PageAllocError(f"--cpus {cpus}: at least one CPU is needed")
    if nodes < 1:
        raise PageAllocError(f"--nodes {nodes}: at least one node is needed")
    if nodes > 64:
        raise PageAllocError(f"--nodes {nodes}: the kernel has at most 64 nodes (NODES_SHIFT 6)")
    if thp not in THP_MODES:
        raise PageAllocError(f"--thp {thp}: expected always, madvise or never")
    kp = parse_cmdline(cmdline)
    if kp.thp:
        thp = kp.thp
    initrd_pages = DEFAULT_INITRD_PAGES
    initrd_end = None
    if e820:
        table = parse_e820(e820)
        if table.initrd:
            s, t = table.initrd
            initrd_end = t >> PAGE_SHIFT
            initrd_pages = initrd_end - (s >> PAGE_SHIFT)
        below_4g, above_start, above_size = table.qemu_ram_layout()
        ram_size = below_4g + above_size
    else:
        size = parse_size(mem)
        if size < (16 << 20):
            raise PageAllocError(f"--mem {mem}: at least 16M is needed")
        table = q35_e820(size)
        lowmem = 0x80000000 if size >= 0xB0000000 else 0xB0000000
        below_4g = min(size, lowmem)
        above = [e for e in table.entries if e.type == E820_RAM and e.start >= _4G]
        above_start = above[0].start if above else _4G
        ram_size = size
    table = table.copy()
    _apply_memmap_params(table, kp)
    table.setup_arch_trims()
    ram = table.ram_pfn_ranges()
    if not ram:
        raise PageAllocError("the memory map has no usable RAM left (mem=/memmap= removed it all)")
    srat = table.srat if not kp.numa_off else []
    if srat:
        srat_nodes = max(n for n, _s, _e in srat) + 1
        srat_nodes = max([srat_nodes] + [n + 1 for n in table.srat_cpus.values()])
        if nodes not in (1, srat_nodes):
            raise PageAllocError(f"--nodes {nodes}: the dmesg's SRAT describes {srat_nodes} nodes")
        nodes = srat_nodes
        if cpu_nodes is None and table.srat_cpus:
            cpu_nodes = [table.srat_cpus.get(c, 0) for c in range(cpus)]
    if kp.numa_off:
        nodes = 1
        cpu_nodes = None
    cn = list(cpu_nodes) if cpu_nodes is not None else [c * nodes // cpus for c in range(cpus)]
    if len(cn) != cpus:
        raise PageAllocError(f"--cpu-nodes lists {len(cn)} CPUs, --cpus says {cpus}")
    bad = [n for n in cn if not 0 <= n < nodes]
    if bad:
        raise PageAllocError(f"--cpu-nodes names node {bad[0]}, but there are {nodes} nodes")
    # memory per node
    if nodes == 1:
        per_node = [ram]
    elif srat:
        per_node = _srat_split(ram, srat, nodes)
    elif node_mem is not None:
        sizes = [parse_size(x) for x in node_mem]
        if len(sizes) != nodes:
            raise PageAllocError(f"node_mem lists {len(sizes)} sizes for {nodes} nodes")
        if sum(sizes) != ram_size:
            raise PageAllocError(f"node_mem adds up to {sum(sizes)} bytes, the machine has {ram_size}")
        per_node = qemu_numa_split(table, sizes, below_4g, above_start)
    else:
        share = ram_size // nodes // _NUMA_GRANULARITY * _NUMA_GRANULARITY
        sizes = [share] * (nodes - 1) + [ram_size - share * (nodes - 1)]
        per_node = qemu_numa_split(table, sizes, below_4g, above_start)
    node_specs = [NodeSpec(n, per_node[n], [c for c in range(cpus) if cn[c] == n])
                  for n in range(nodes)]
    if kp.movable_node:
        # Firmware that marks memory hotpluggable marks whole nodes; the kernel then keeps
        # the node holding the kernel image (node 0 here) unhotpluggable.
        for ns in node_specs[1:]:
            ns.hotpluggable = True
    if distance is not None:
        if len(distance) != nodes or any(len(row) != nodes for row in distance):
            raise PageAllocError(f"the distance table must be {nodes}x{nodes}")
    dist = distance or [[LOCAL_DISTANCE if i == j else REMOTE_DISTANCE for j in range(nodes)]
                        for i in range(nodes)]
    device = []
    for s, e in table.pmem_pfn_ranges():
        nid = 0
        for ns in node_specs:
            if any(r[0] <= s for r in ns.ranges):
                nid = ns.nid
        device.append((nid, s, e))
    shuffle = bool(kp.shuffle)
    spec = MachineSpec(nodes=node_specs, device=device, distance=dist, nr_cpus=cpus, thp=thp,
                       seed=seed, profile=profile, movablecore_pages=kp.movablecore_pages,
                       movablecore_percent=kp.movablecore_percent,
                       kernelcore_pages=kp.kernelcore_pages,
                       kernelcore_percent=kp.kernelcore_percent, movable_node=kp.movable_node,
                       shuffle=shuffle, initrd_pages=initrd_pages, initrd_end=initrd_end,
                       crashkernel=kp.crashkernel, log_buf_len=kp.log_buf_len,
                       cmdline=cmdline, ignored_params=list(kp.ignored), e820=table,
                       page_owner=kp.page_owner, page_poison=kp.page_poison,
                       cma=bool(kp.cma_pages), cma_pages=kp.cma_pages,
                       page_reporting_order=kp.page_reporting_order)
    if kernel_base is not None:
        spec.kernel_base = kernel_base
    return spec
