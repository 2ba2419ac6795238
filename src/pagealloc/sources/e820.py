"""The BIOS-e820 memory map: reading it from a dmesg, building qemu q35's, and editing it.

Not a kernel file, but it follows arch/x86/kernel/e820.c for what the kernel
does with the table: e820__update_table's overlap rule (the higher type wins
where entries overlap), mem= and memmap= (parse_memopt, parse_memmap_one),
the boot-time trims of setup_arch (page 0 becomes reserved, 640K-1M is
removed), e820__end_of_ram_pfn, and the page rounding memblock applies to
usable RAM. qemu's q35 layout (hw/i386/pc.c, pc_q35.c, acpi-build.c of qemu
7.2) gives the tables of ``--mem`` machines, as the oracle's dmesgs show them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, PageAllocError

__all__ = ["E820_RAM", "E820_RESERVED", "E820_ACPI", "E820_NVS", "E820_UNUSABLE", "E820_PMEM",
           "E820_PRAM", "E820_SOFT_RESERVED", "E820Entry", "E820Table", "parse_e820",
           "q35_e820", "e820_type_name"]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
E820_RAM = 1
E820_RESERVED = 2
E820_ACPI = 3
E820_NVS = 4
E820_UNUSABLE = 5
E820_PMEM = 7
E820_PRAM = 12
E820_SOFT_RESERVED = 0xEFFFFFFF
E820_RESERVED_KERN = 128
_4G = 1 << 32
AMD_HT_START = 0xFD00000000
AMD_ABOVE_1TB_START = 1 << 40
Q35_PCI_HOLE64_SIZE = 1 << 35
_NAMES = {E820_RAM: "usable", E820_RESERVED: "reserved", E820_SOFT_RESERVED: "soft reserved",
          E820_ACPI: "ACPI data", E820_NVS: "ACPI NVS", E820_UNUSABLE: "unusable"}
_LINE = re.compile(r"BIOS-e820: \[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\] (.+?)\s*$")
_RAMDISK = re.compile(r"RAMDISK: \[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]")
_ALLOWING = re.compile(r"smpboot: Allowing (\d+) CPUs")
_SRAT_MEM = re.compile(r"ACPI: SRAT: Node (\d+) PXM \d+ \[mem (0x[0-9a-fA-F]+)-(0x[0-9a-fA-F]+)\]")
_SRAT_CPU = re.compile(r"SRAT: PXM \d+ -> APIC (0x[0-9a-fA-F]+) -> Node (\d+)")


def e820_type_name(t: int) -> str:
    """e820_print_type()."""
    if t in (E820_PMEM, E820_PRAM):
        return f"persistent (type {t})"
    return _NAMES.get(t, f"type {t}")


def _type_from_name(text: str) -> int | None:
    for t, n in _NAMES.items():
        if text == n:
            return t
    m = re.fullmatch(r"(?:persistent \(type|type) (\d+)\)?", text)
    if m:
        return int(m.group(1))
    return None


@dataclass
class E820Entry:
    """One e820 entry: [start, end) in bytes and its type."""
    start: int
    end: int
    type: int

    def __str__(self) -> str:
        return f"[mem {self.start:#018x}-{self.end - 1:#018x}] {e820_type_name(self.type)}"


@dataclass
class E820Table:
    """An e820 table, with what else a dmesg said about the boot (initrd, CPUs)."""
    entries: list[E820Entry]
    source: str = ""
    initrd: tuple[int, int] | None = None     # bytes [start, end) from "RAMDISK:"
    cpus: int | None = None                   # "smpboot: Allowing N CPUs"
    srat: list[tuple[int, int, int]] = field(default_factory=list)   # (node, start, end) bytes
    srat_cpus: dict[int, int] = field(default_factory=dict)          # APIC id -> node

    def lines(self) -> list[str]:
        """The "BIOS-e820:" lines as the kernel prints them."""
        return [f"BIOS-e820: {e}" for e in self.entries]

    # --- edits (arch/x86/kernel/e820.c) --------------------------------------------------
    def update_table(self) -> None:
        """e820__update_table(): sort, resolve overlaps (higher type wins), merge neighbours."""
        points = sorted({e.start for e in self.entries} | {e.end for e in self.entries})
        out: list[E820Entry] = []
        for a, b in zip(points, points[1:]):
            types = [e.type for e in self.entries if e.start <= a and b <= e.end]
            if not types:
                continue
            t = max(types)
            if out and out[-1].end == a and out[-1].type == t:
                out[-1].end = b
            else:
                out.append(E820Entry(a, b, t))
        self.entries = out

    def range_remove(self, start: int, end: int, old_type: int | None) -> None:
        """e820__range_remove(): cut [start, end) out of entries (of ``old_type``)."""
        out = []
        for e in self.entries:
            if (old_type is not None and e.type != old_type) or e.end <= start or e.start >= end:
                out.append(e)
                continue
            if e.start < start:
                out.append(E820Entry(e.start, start, e.type))
            if e.end > end:
                out.append(E820Entry(end, e.end, e.type))
        self.entries = out

    def range_update(self, start: int, end: int, old_type: int, new_type: int) -> None:
        """e820__range_update(): retype the part of ``old_type`` entries inside [start, end)."""
        out = []
        for e in self.entries:
            if e.type != old_type or e.end <= start or e.start >= end:
                out.append(e)
                continue
            if e.start < start:
                out.append(E820Entry(e.start, start, e.type))
            out.append(E820Entry(max(e.start, start), min(e.end, end), new_type))
            if e.end > end:
                out.append(E820Entry(end, e.end, e.type))
        self.entries = sorted(out, key=lambda x: x.start)

    def range_add(self, start: int, end: int, t: int) -> None:
        """e820__range_add() followed by e820__update_table()."""
        self.entries.append(E820Entry(start, end, t))
        self.update_table()

    def copy(self) -> "E820Table":
        return E820Table([E820Entry(e.start, e.end, e.type) for e in self.entries], self.source,
                         self.initrd, self.cpus, list(self.srat), dict(self.srat_cpus))

    # --- what the kernel derives --------------------------------------------------------------
    def setup_arch_trims(self) -> None:
        """Page 0 becomes reserved, the BIOS area 640K-1M is removed from RAM (setup_arch)."""
        self.range_update(0, PAGE_SIZE, E820_RAM, E820_RESERVED)
        self.range_remove(0xA0000, 0x100000, E820_RAM)

    def end_of_ram_pfn(self) -> int:
        """e820__end_of_ram_pfn(): the highest RAM pfn + 1 (max_pfn)."""
        last = 0
        for e in self.entries:
            if e.type == E820_RAM:
                last = max(last, e.end >> PAGE_SHIFT)
        return last

    def ram_pfn_ranges(self) -> list[tuple[int, int]]:
        """Usable RAM as memblock sees it: [PFN_UP(start), PFN_DOWN(end)), non-empty."""
        out = []
        for e in sorted(self.entries, key=lambda x: x.start):
            if e.type not in (E820_RAM, E820_RESERVED_KERN):
                continue
            s = (e.start + PAGE_SIZE - 1) >> PAGE_SHIFT
            t = e.end >> PAGE_SHIFT
            if t > s:
                if out and out[-1][1] == s:
                    out[-1] = (out[-1][0], t)
                else:
                    out.append((s, t))
        return out

    def qemu_ram_layout(self) -> tuple[int, int, int]:
        """(below_4g_mem_size, above_4g_mem_start, above_4g_mem_size) of the qemu guest.

        Low RAM ends where the reserved entry that follows the last usable
        range below 4 GiB ends (SeaBIOS keeps that tail for ACPI).
        """
        below = 0
        for e in self.entries:
            if e.type == E820_RAM and e.end <= _4G:
                below = max(below, e.end)
        for e in self.entries:
            if e.start == below and e.type != E820_RAM and e.end <= 0xB0000000:
                below = e.end
        above = [e for e in self.entries if e.type == E820_RAM and e.start >= _4G]
        start = above[0].start if above else _4G
        return below, start, sum(e.end - e.start for e in above)

    def pmem_pfn_ranges(self) -> list[tuple[int, int]]:
        """Persistent memory (types 7 and 12) in pfns: ZONE_DEVICE candidates."""
        return [(e.start >> PAGE_SHIFT, e.end >> PAGE_SHIFT) for e in self.entries
                if e.type in (E820_PMEM, E820_PRAM) and e.end > e.start]


def parse_e820(path: str | Path) -> E820Table:
    """Read the BIOS-e820 lines of a dmesg (a whole dmesg is fine).

    Also picks up "RAMDISK: [mem ...]" (the initrd), "smpboot: Allowing
    N CPUs" and the SRAT's node ranges and CPU nodes ("ACPI: SRAT: Node N
    PXM P [mem ...]", "SRAT: PXM P -> APIC A -> Node N"). A BIOS-e820 line
    that does not parse is refused with its file:line; a file without any
    is refused too.
    """
    path = str(path)
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise InputError(path, 0, f"cannot read: {e.strerror or e}") from None
    entries: list[E820Entry] = []
    initrd = None
    cpus = None
    srat: list[tuple[int, int, int]] = []
    srat_cpus: dict[int, int] = {}
    for no, line in enumerate(text.splitlines(), 1):
        m = _SRAT_MEM.search(line)
        if m:
            srat.append((int(m.group(1)), int(m.group(2), 16), int(m.group(3), 16) + 1))
            continue
        m = _SRAT_CPU.search(line)
        if m:
            srat_cpus[int(m.group(1), 16)] = int(m.group(2))
            continue
        if "BIOS-e820:" in line:
            m = _LINE.search(line)
            if not m:
                raise InputError(path, no, f"malformed BIOS-e820 line: {line.strip()!r}")
            start, last = int(m.group(1), 16), int(m.group(2), 16)
            t = _type_from_name(m.group(3))
            if t is None:
                raise InputError(path, no, f"unknown e820 type {m.group(3)!r}")
            if last < start:
                raise InputError(path, no, f"e820 range ends before it starts: {line.strip()!r}")
            entries.append(E820Entry(start, last + 1, t))
            continue
        m = _RAMDISK.search(line)
        if m:
            initrd = (int(m.group(1), 16), int(m.group(2), 16) + 1)
            continue
        m = _ALLOWING.search(line)
        if m:
            cpus = int(m.group(1))
    if not entries:
        raise InputError(path, 0, "no BIOS-e820 lines (expected a dmesg with the firmware memory map)")
    if not any(e.type == E820_RAM for e in entries):
        raise InputError(path, 0, "the e820 map has no usable RAM")
    table = E820Table(entries, path, initrd, cpus, srat, srat_cpus)
    table.update_table()
    return table


def q35_e820(mem_bytes: int, initrd_bytes: int | None = None) -> E820Table:
    """The e820 table qemu 7.2's q35 machine (SeaBIOS) gives a guest with ``mem_bytes`` of RAM.

    RAM below 4 GiB stops at 2 GiB when the guest has at least 2.75 GiB
    (else at the full size), the rest sits above 4 GiB (above 1 TiB when it
    would reach AMD's HyperTransport hole, as qemu 7.2 relocates it for AMD
    vCPUs such as TCG's -cpu max); SeaBIOS keeps the top 132 KiB of low RAM
    for ACPI tables.
    """
    if mem_bytes < (1 << 20) * 2:
        raise PageAllocError(f"{mem_bytes} bytes of RAM: qemu needs at least 2 MiB")
    lowmem = 0x80000000 if mem_bytes >= 0xB0000000 else 0xB0000000
    below = min(mem_bytes, lowmem)
    above = mem_bytes - below
    above_start = _4G
    if above and _4G + above + Q35_PCI_HOLE64_SIZE - 1 >= AMD_HT_START:
        above_start = AMD_ABOVE_1TB_START
    e = [E820Entry(0, 0x9FC00, E820_RAM), E820Entry(0x9FC00, 0xA0000, E820_RESERVED),
         E820Entry(0xF0000, 0x100000, E820_RESERVED),
         E820Entry(0x100000, below - 0x21000, E820_RAM),
         E820Entry(below - 0x21000, below, E820_RESERVED),
         E820Entry(0xB0000000, 0xC0000000, E820_RESERVED),
         E820Entry(0xFED1C000, 0xFED20000, E820_RESERVED),
         E820Entry(0xFFFC0000, _4G, E820_RESERVED)]
    if above:
        e.append(E820Entry(above_start, above_start + above, E820_RAM))
    e.append(E820Entry(AMD_HT_START, AMD_ABOVE_1TB_START, E820_RESERVED))
    table = E820Table(sorted(e, key=lambda x: x.start), f"qemu q35 -m {mem_bytes >> 20}M")
    if initrd_bytes:
        end = ((below - 0x21000) >> 16) << 16
        table.initrd = (end - initrd_bytes, end)
    return table
