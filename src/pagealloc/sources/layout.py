"""Machine layouts: a qemu q35-like memory map from a size, CPUs and nodes.

Not a kernel file: builds the MachineSpec that mm_init boots, the way qemu's
q35 machine and its firmware lay memory out (RAM below the PCI hole, the rest
above 4 GiB) and the way Debian's kernel reserves memory at boot.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import PageAllocError
from ..mm.mm_init import MachineSpec, NodeSpec

__all__ = ["spec_from_args", "q35_e820"]

PAGE_SHIFT = 12
_4G = 1 << 32


def q35_e820(mem_bytes: int) -> list[tuple[int, int]]:
    """Usable RAM ranges (pfn start, pfn end) of qemu q35 with ``mem_bytes`` of RAM."""
    low = mem_bytes if mem_bytes < 0xB0000000 else 0x80000000
    high = mem_bytes - low
    ranges = [(1, 0x9F), (0x100, (low - 0x21000) >> PAGE_SHIFT)]
    if high:
        ranges.append((_4G >> PAGE_SHIFT, (_4G + high) >> PAGE_SHIFT))
    return ranges


def _default_reserved(ranges: list[tuple[int, int]], nr_cpus: int) -> list[tuple[int, int]]:
    # Debian 6.1's image (~46 MiB with bss) loaded at 16 MiB.
    res = [(0x1000, 0x1000 + (46 << 20 >> PAGE_SHIFT))]
    # vmemmap: 64 bytes per page, at the top of memory
    total = sum(e - s for s, e in ranges)
    memmap = total * 64 >> PAGE_SHIFT
    top = ranges[-1][1]
    res.append((top - memmap, top))
    return res


def spec_from_args(*, mem="4G", cpus: int = 1, nodes: int = 1,
                   cpu_nodes: Iterable[int] | None = None, thp: str = "always",
                   cmdline: str = "", e820: str | None = None, seed: int = 0,
                   profile: str = "x86_64") -> MachineSpec:
    """A MachineSpec from the `pagealloc boot` arguments."""
    from ..machine import parse_size
    size = parse_size(mem)
    if size < (16 << 20):
        raise PageAllocError(f"--mem {mem}: at least 16M is needed")
    if cpus < 1:
        raise PageAllocError(f"--cpus {cpus}: at least one CPU is needed")
    if nodes < 1:
        raise PageAllocError(f"--nodes {nodes}: at least one node is needed")
    if thp not in ("always", "madvise", "never"):
        raise PageAllocError(f"--thp {thp}: expected always, madvise or never")
    ranges = q35_e820(size)
    cn = list(cpu_nodes) if cpu_nodes is not None else [c * nodes // cpus for c in range(cpus)]
    if len(cn) != cpus:
        raise PageAllocError(f"--cpu-nodes lists {len(cn)} CPUs, --cpus says {cpus}")
    total = sum(e - s for s, e in ranges)
    per_node = total // nodes
    node_specs = [NodeSpec(n, [], [c for c in range(cpus) if cn[c] == n]) for n in range(nodes)]
    # split memory evenly across nodes, in address order
    n = 0
    acc = 0
    for s, e in ranges:
        while s < e:
            room = per_node - acc if n < nodes - 1 else e - s
            take = min(room, e - s)
            node_specs[n].ranges.append((s, s + take))
            s += take
            acc += take
            if acc >= per_node and n < nodes - 1:
                n += 1
                acc = 0
    spec = MachineSpec(nodes=node_specs, nr_cpus=cpus, thp=thp, seed=seed, profile=profile)
    spec.reserved = _default_reserved(ranges, cpus)
    return spec
