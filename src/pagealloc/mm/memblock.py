"""memblock: the boot-time memory map and the early reservations of an x86_64 kernel.

Models mm/memblock.c (memblock.memory / memblock.reserved, the top-down
range finder, node fallback, MEMBLOCK_HOTPLUG skipping under movable_node)
and the early allocations that Debian 12's 6.1 kernel makes before
memblock_free_all, in the order start_kernel makes them:

    setup_arch         first 1 MiB (arch/x86/realmode, setup_arch), the kernel image,
                       the initrd (early_reserve_initrd), crashkernel=
    numa_init          NODE_DATA of every node with memory (arch/x86/mm/numa.c:alloc_node_data)
    sparse_init        mem_section roots, section index pages, the vmemmap (2 MiB of
                       struct page per present 128 MiB section) and its page tables
    free_area_init     NODE_DATA of memoryless nodes (arch_alloc_nodedata)
    setup_log_buf      log_buf_len= and the per-CPU extra log buffer (kernel/printk)
    setup_per_cpu_areas  the percpu first chunk, 62 pages kept per CPU (mm/percpu.c)
    vfs_caches_init_early  dentry and inode hash tables (alloc_large_system_hash, single
                       memory node only: with several, hashdist puts them in vmalloc)
    mem_init           swiotlb bounce buffer when memory reaches above 4 GiB

Sizes are the kernel's where they follow from a formula (memmap, hash tables,
swiotlb, percpu units, log buffer) and measured from the oracle's memblock=debug
boots where they are properties of the Debian image (kernel image 13329 pages of
which 2011 are freed after init, NODE_DATA 43 pages, 6 pages of small
allocations). With them, present - reserved equals the "Memory: ... reserved"
line of every captured boot (see tests/test_boot.py).

Deliberate differences: page granularity (allocations smaller than a page are
folded into the 6 "small allocations" pages); the kernel image sits at
``kernel_base`` (16 MiB by default, where nokaslr puts it) rather than at a
KASLR-random address; direct-map page tables come from the image's brk.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PageAllocError

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM
    from .mm_init import MachineSpec

__all__ = ["Memblock", "MemRegion", "NUMA_NO_NODE", "SECTION_PAGES", "KERNEL_IMAGE_PAGES",
           "KERNEL_INIT_FREED", "NODE_DATA_PAGES", "PERCPU_UNIT_KEEP_PAGES",
           "SMALL_ALLOC_PAGES", "SWIOTLB_PAGES", "SWIOTLB_SLOTS_PAGES", "DEFAULT_INITRD_PAGES",
           "memmap_pages_per_section", "alloc_large_system_hash_pages", "log_buf_pages",
           "pcpu_unit_pages", "memblock_from_spec", "setup_arch_reserve",
           "numa_clear_kernel_node_hotplug", "memblock_find_dma_reserve", "sparse_init",
           "setup_per_cpu_areas", "reserve_before_zonelists", "reserve_hash_tables_and_swiotlb"]

NUMA_NO_NODE = -1
PAGE_SHIFT = 12
SECTION_SIZE_BITS = 27                       # x86_64 SPARSEMEM: 128 MiB sections
SECTION_PAGES = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT)
STRUCT_PAGE_SIZE = 64
SECTIONS_PER_ROOT = 4096 // 32               # PAGE_SIZE / sizeof(struct mem_section) with PAGE_EXTENSION
MEM_SECTION_ROOTS_PAGES = 512                # NR_SECTION_ROOTS * 8 bytes, 5-level paging (52 bits)
PMD_PAGES = 512                              # 2 MiB: vmemmap and percpu atom
MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT        # __pa(MAX_DMA_ADDRESS): vmemmap, percpu allocate above
MAX_DMA32_PFN = 1 << (32 - PAGE_SHIFT)

# Debian 12 linux-image-6.1.0-56-amd64, measured from the oracle's memblock=debug boots:
# _text.._end (with brk) = 0x3411000 bytes; freed after init: text/rodata gap 510 pages,
# rodata/data gap 277, initmem 706, bss_decrypted 509, SMP alternatives 9 (as offsets into
# the image, laid out like vmlinux.lds.S: text, rodata, data, init, bss).
KERNEL_IMAGE_PAGES = 0x3411000 >> PAGE_SHIFT
KERNEL_INIT_FREED = ((3586, 510, "text/rodata gap"), (6379, 277, "rodata/data gap"),
                     (7241, 706, "initmem"), (7947, 9, "SMP alternatives"),
                     (7956, 509, "unused decrypted"))
NODE_DATA_PAGES = 0x2b000 >> PAGE_SHIFT       # roundup(sizeof(pg_data_t), PAGE_SIZE)
PERCPU_UNIT_KEEP_PAGES = 62                  # "percpu: Embedded 62 pages/cpu"
PERCPU_MIN_UNIT_BYTES = 253952               # s217088 + r8192 + d28672
SMALL_ALLOC_PAGES = 6                        # e820 copies, ACPI, cpumasks, pcpu maps, fixmap tables
SWIOTLB_PAGES = (64 << 20) >> PAGE_SHIFT      # IO_TLB_DEFAULT_SIZE
SWIOTLB_SLOTS_PAGES = (32768 * 24) >> PAGE_SHIFT  # nslabs * sizeof(struct io_tlb_slot)
DEFAULT_INITRD_PAGES = 1012 * 1024 >> PAGE_SHIFT  # the oracle's busybox initramfs (RAMDISK: 1012K)
LOG_BUF_LEN_DEFAULT = 1 << 17                # CONFIG_LOG_BUF_SHIFT=17
LOG_CPU_MAX_BUF_LEN = 1 << 12                # CONFIG_LOG_CPU_MAX_BUF_SHIFT=12
PRB_AVGBITS = 5
PRB_DESC_INFO_BYTES = 24 + 88                # sizeof(struct prb_desc) + sizeof(struct printk_info)


@dataclass
class MemRegion:
    """One memblock.memory region (pfns, end exclusive) with its node and hotplug flag."""
    start: int
    end: int
    nid: int
    hotplug: bool = False


def _round_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


class Memblock:
    """memblock.memory and memblock.reserved at page granularity.

    Models mm/memblock.c: memblock_reserve, memblock_phys_free,
    memblock_alloc_range_nid (node-local first, then any node unless exact),
    __memblock_find_range_top_down, and should_skip_region's skipping of
    hotpluggable memory when movable_node is on.
    """

    def __init__(self, regions: list[MemRegion], movable_node: bool = False) -> None:
        self.memory = sorted(regions, key=lambda r: r.start)
        self.movable_node = movable_node
        self._rs: list[int] = []          # reserved starts, sorted, disjoint
        self._re: list[int] = []          # reserved ends
        self.late_free: list[tuple[int, int, str]] = []   # freed by free_reserved_area after init
        self.log: list[tuple[str, int, int]] = []         # (what, start, end) of every reservation

    # --- reserved set ---------------------------------------------------------------------
    def reserve(self, start: int, end: int, what: str = "") -> None:
        """memblock_reserve(): add [start, end) to the reserved set (merging)."""
        if end <= start:
            return
        self.log.append((what, start, end))
        rs, re_ = self._rs, self._re
        i = bisect.bisect_left(re_, start)        # first range ending at/after start
        j = i
        while j < len(rs) and rs[j] <= end:
            start = min(start, rs[j])
            end = max(end, re_[j])
            j += 1
        rs[i:j] = [start]
        re_[i:j] = [end]

    def phys_free(self, start: int, end: int) -> None:
        """memblock_phys_free(): remove [start, end) from the reserved set."""
        if end <= start:
            return
        out_s: list[int] = []
        out_e: list[int] = []
        for s, e in zip(self._rs, self._re):
            if e <= start or s >= end:
                out_s.append(s)
                out_e.append(e)
                continue
            if s < start:
                out_s.append(s)
                out_e.append(start)
            if e > end:
                out_s.append(end)
                out_e.append(e)
        self._rs, self._re = out_s, out_e

    @property
    def reserved(self) -> list[tuple[int, int]]:
        return list(zip(self._rs, self._re))

    def reserved_pages(self, start: int, end: int) -> int:
        """Reserved pages of memory inside [start, end)."""
        n = 0
        for r in self.memory:
            s0, e0 = max(r.start, start), min(r.end, end)
            if e0 <= s0:
                continue
            for s, e in zip(self._rs, self._re):
                a, b = max(s, s0), min(e, e0)
                if b > a:
                    n += b - a
        return n

    # --- iteration ---------------------------------------------------------------------------
    def free_ranges(self, nid: int = NUMA_NO_NODE, lo: int = 0, hi: int | None = None,
                    skip_hotplug: bool = False) -> list[tuple[int, int, int]]:
        """for_each_free_mem_range: memory minus reserved, ascending, as (start, end, nid)."""
        out = []
        rs, re_ = self._rs, self._re
        for r in self.memory:
            if nid != NUMA_NO_NODE and r.nid != nid:
                continue
            if skip_hotplug and r.hotplug:
                continue
            s, e = max(r.start, lo), r.end if hi is None else min(r.end, hi)
            if e <= s:
                continue
            i = bisect.bisect_right(re_, s)
            cur = s
            while i < len(rs) and rs[i] < e:
                if rs[i] > cur:
                    out.append((cur, rs[i], r.nid))
                cur = max(cur, re_[i])
                i += 1
            if cur < e:
                out.append((cur, e, r.nid))
        return out

    # --- allocation --------------------------------------------------------------------------
    def alloc(self, npages: int, *, align: int = 1, nid: int = NUMA_NO_NODE, lo: int = 1,
              hi: int | None = None, exact_nid: bool = False, what: str = "") -> int:
        """memblock_alloc_range_nid(): top-down, node-local first; the start pfn or -1."""
        if npages <= 0:
            return -1
        tries = [nid] if nid != NUMA_NO_NODE else [NUMA_NO_NODE]
        if nid != NUMA_NO_NODE and not exact_nid:
            tries.append(NUMA_NO_NODE)
        for t in tries:
            for s, e, _n in reversed(self.free_ranges(t, max(lo, 1), hi, self.movable_node)):
                if e - s < npages:
                    continue
                cand = (e - npages) // align * align
                if cand >= s:
                    self.reserve(cand, cand + npages, what)
                    return cand
        return -1

    def alloc_bottom_up(self, npages: int, *, lo: int, hi: int | None = None, what: str = "") -> int:
        """The lowest free fit at or above ``lo`` (used to place a fixed-size image)."""
        for s, e, _n in self.free_ranges(NUMA_NO_NODE, lo, hi):
            if e - s >= npages:
                self.reserve(s, s + npages, what)
                return s
        return -1


# --- sizes that follow from kernel formulas ---------------------------------------------------

def memmap_pages_per_section() -> int:
    """struct pages of one section, as PMD-mapped vmemmap: 32768 * 64 bytes = 512 pages."""
    return SECTION_PAGES * STRUCT_PAGE_SIZE >> PAGE_SHIFT


def alloc_large_system_hash_pages(nr_kernel_pages: int, nr_all_pages: int, scale: int,
                                  bucketsize: int = 8) -> int:
    """Pages of a boot hash table sized from nr_kernel_pages.

    Models mm/page_alloc.c:alloc_large_system_hash (numentries = 0,
    high_limit = 0: the adaptive scale above 64 GiB, one bucket per
    2^scale bytes, at least a page, power of two, at most 1/16 of memory).
    """
    numentries = nr_kernel_pages
    numentries = _round_up(numentries, (1 << 20) >> PAGE_SHIFT)
    adapt = (64 << 30) >> PAGE_SHIFT
    while adapt < numentries:
        scale += 1
        adapt <<= 2
    if scale > PAGE_SHIFT:
        numentries >>= scale - PAGE_SHIFT
    else:
        numentries <<= PAGE_SHIFT - scale
    if numentries * bucketsize < (1 << PAGE_SHIFT):
        numentries = (1 << PAGE_SHIFT) // bucketsize
    numentries = _roundup_pow_of_two(numentries)
    max_ = ((nr_all_pages << PAGE_SHIFT) >> 4) // bucketsize
    max_ = min(max_, 0x80000000)
    if numentries > max_:
        numentries = max_
    log2qty = numentries.bit_length() - 1
    size = bucketsize << log2qty
    return (size + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT


def log_buf_pages(log_buf_len: int, nr_cpus: int) -> int:
    """Pages memblock-allocated for the printk ring buffer (kernel/printk/printk.c:setup_log_buf).

    ``log_buf_len`` is the log_buf_len= value in bytes (0 when not given);
    without it, more than 17 CPUs grow the buffer (log_buf_add_cpu).
    """
    new_len = 0
    if log_buf_len:
        new_len = _roundup_pow_of_two(log_buf_len)
        if new_len <= LOG_BUF_LEN_DEFAULT:
            new_len = 0
    elif nr_cpus > 1:
        cpu_extra = (nr_cpus - 1) * LOG_CPU_MAX_BUF_LEN
        if cpu_extra > LOG_BUF_LEN_DEFAULT // 2:
            new_len = _roundup_pow_of_two(cpu_extra + LOG_BUF_LEN_DEFAULT)
    if not new_len:
        return 0
    descs = new_len >> PRB_AVGBITS
    nbytes = new_len + descs * PRB_DESC_INFO_BYTES
    return (nbytes + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT


def pcpu_unit_pages(group_cpus: list[int], possible: int) -> tuple[int, int]:
    """(unit pages, units per 2 MiB atom) of the percpu first chunk.

    Models mm/percpu.c:pcpu_build_alloc_info's choice of units per
    allocation: the smallest upa with the fewest allocations whose waste
    stays within a third of the possible CPUs.
    """
    min_unit = max(PERCPU_MIN_UNIT_BYTES, 32 << 10)
    alloc_size = PMD_PAGES << PAGE_SHIFT
    max_upa = alloc_size // min_unit
    last_allocs = 1 << 62
    best = 1
    for upa in range(max_upa, 0, -1):
        if alloc_size % upa or (alloc_size // upa) & ((1 << PAGE_SHIFT) - 1):
            continue
        allocs = wasted = 0
        for cnt in group_cpus:
            this = -(-cnt // upa)
            allocs += this
            wasted += this * upa - cnt
        if wasted > possible // 3:
            continue
        if allocs > last_allocs:
            break
        last_allocs = allocs
        best = upa
    return (alloc_size // best) >> PAGE_SHIFT, best


# --------------------------------------------------------------------------------------
# the early reservations of an x86_64 boot, in start_kernel's order


def memblock_from_spec(spec: "MachineSpec") -> Memblock:
    """memblock.memory from the spec's node ranges (e820__memblock_setup + memblock_set_node)."""
    regions = []
    for n in spec.nodes:
        for s, e in n.ranges:
            if e > s:
                hot = n.hotpluggable or any(hs <= s and e <= he for hs, he in spec.hotpluggable)
                regions.append(MemRegion(s, e, n.nid, hot))
    regions.sort(key=lambda r: r.start)
    for a, b in zip(regions, regions[1:]):
        if b.start < a.end:
            raise PageAllocError(f"memory ranges overlap: node {a.nid} [{a.start:#x}, {a.end:#x}) "
                                 f"and node {b.nid} [{b.start:#x}, {b.end:#x})")
    return Memblock(regions, movable_node=spec.movable_node)


def setup_arch_reserve(mm: "MM", spec: "MachineSpec", mb: Memblock) -> None:
    """setup_arch: the first 1 MiB, the kernel image, the initrd, crashkernel=."""
    mb.reserve(0, 0x100, "first 1 MiB (realmode, BIOS)")
    base = spec.kernel_base
    img = KERNEL_IMAGE_PAGES
    fits = any(s <= base and base + img <= e for s, e, _n in mb.free_ranges())
    if not fits:
        base = mb.alloc_bottom_up(img, lo=0x100, what="kernel image")
        if base < 0:
            mm.printk("pagealloc: the machine is too small for Debian's kernel image; "
                      "booting without it")
        else:
            mm.printk(f"pagealloc: kernel image placed at {base << PAGE_SHIFT:#x} "
                      f"(does not fit at {spec.kernel_base << PAGE_SHIFT:#x})")
    else:
        mb.reserve(base, base + img, "kernel image")
    if base >= 0:
        for off, n, what in KERNEL_INIT_FREED:
            mb.late_free.append((base + off, base + off + n, what))
    if spec.initrd_pages:
        end = spec.initrd_end
        if end is None:
            low = [r.end for r in mb.memory if r.start < MAX_DMA32_PFN]
            end = (min(max(low), MAX_DMA32_PFN) & ~15) if low else 0
        start = end - spec.initrd_pages
        if start > 0x100 and mb.reserved_pages(start, end) == 0:
            mb.reserve(start, end, "initrd")
            mb.late_free.append((start, end, "initrd"))
    if spec.crashkernel:
        pages, cbase, high = spec.crashkernel
        align = (16 << 20) >> PAGE_SHIFT
        if cbase is not None:
            if mb.reserved_pages(cbase, cbase + pages) == 0:
                mb.reserve(cbase, cbase + pages, "crashkernel")
        else:
            got = -1
            if not high:
                got = mb.alloc(pages, align=align, lo=align, hi=MAX_DMA32_PFN, what="crashkernel")
            if got < 0:
                got = mb.alloc(pages, align=align, lo=MAX_DMA32_PFN if high else align,
                               what="crashkernel")
            if got < 0:
                mm.printk("crashkernel reservation failed - No suitable area found.")


def numa_clear_kernel_node_hotplug(mb: Memblock) -> None:
    """arch/x86/mm/numa.c: a node holding early reservations (the kernel) is not hotpluggable."""
    nids = {r.nid for r in mb.memory for s, e in mb.reserved if r.start < e and s < r.end}
    for r in mb.memory:
        if r.nid in nids:
            r.hotplug = False


def memblock_find_dma_reserve(mb: Memblock) -> int:
    """arch/x86/kernel/e820.c:memblock_find_dma_reserve: reserved pages below 16 MiB."""
    return mb.reserved_pages(0, MAX_DMA_PFN)


def sparse_init(mm: "MM", mb: Memblock) -> None:
    """mm/sparse.c: section roots, index pages, vmemmap buffers and their page tables."""
    section_nid: dict[int, int] = {}
    for r in mb.memory:                                  # memblocks_present: first node wins
        for sec in range(r.start // SECTION_PAGES, (r.end - 1) // SECTION_PAGES + 1):
            section_nid.setdefault(sec, r.nid)
    if not section_nid:
        return
    mb.alloc(MEM_SECTION_ROOTS_PAGES, what="mem_section roots")
    roots: dict[int, int] = {}
    for sec in sorted(section_nid):
        roots.setdefault(sec // SECTIONS_PER_ROOT, section_nid[sec])
    for _root, nid in sorted(roots.items()):
        mb.alloc(1, nid=nid, what="sparse_index_alloc")
    per_sec = memmap_pages_per_section()
    by_node: dict[int, int] = {}
    for sec, nid in section_nid.items():
        by_node[nid] = by_node.get(nid, 0) + 1
    for nid in sorted(by_node)[1:]:      # usemaps: node 0's share a page with the small allocations
        mb.alloc(1, nid=nid, what=f"usemap node {nid}")
    tables: set[tuple[str, int]] = set()
    for nid in sorted(by_node):
        got = mb.alloc(by_node[nid] * per_sec, align=PMD_PAGES, nid=nid, lo=MAX_DMA_PFN,
                       exact_nid=True, what=f"memmap node {nid}")
        if got < 0:      # sparse_buffer_init failed: per-section vmemmap blocks, any node
            for _ in range(by_node[nid]):
                mb.alloc(per_sec, align=PMD_PAGES, nid=nid, lo=MAX_DMA_PFN, what=f"memmap node {nid}")
        # vmemmap page tables (5-level paging): a PMD table per 512 sections, a PUD table per
        # 262144, one P4D table.
        for sec in sorted(s for s, n in section_nid.items() if n == nid):
            for key in (("p4d", 0), ("pud", sec >> 18), ("pmd", sec >> 9)):
                if key not in tables:
                    tables.add(key)
                    mb.alloc(1, nid=nid, lo=MAX_DMA_PFN, what=f"vmemmap {key[0]}")


def setup_per_cpu_areas(mm: "MM", mb: Memblock) -> None:
    """mm/percpu.c:pcpu_embed_first_chunk: one group per node, 62 pages kept per CPU."""
    groups: dict[int, int] = {}
    for c in range(mm.nr_cpu_ids):
        groups[mm.cpu_to_node[c]] = groups.get(mm.cpu_to_node[c], 0) + 1
    unit, upa = pcpu_unit_pages(list(groups.values()), mm.nr_cpu_ids)
    for nid in sorted(groups):
        cnt = groups[nid]
        nunits = -(-cnt // upa) * upa
        base = mb.alloc(nunits * unit, align=PMD_PAGES, nid=nid, lo=MAX_DMA_PFN, what="percpu")
        if base < 0:
            continue
        for u in range(nunits):
            s = base + u * unit
            if u < cnt:
                mb.phys_free(s + PERCPU_UNIT_KEEP_PAGES, s + unit)
            else:
                mb.phys_free(s, s + unit)


def reserve_before_zonelists(mm: "MM", spec: "MachineSpec", mb: Memblock, facts: dict) -> None:
    """Memoryless nodes' pgdat (free_area_init), setup_log_buf, small allocations, percpu."""
    for node in mm.nodes:                     # free_area_init: memoryless nodes' pgdat
        if not node.node_present_pages and node.node_id in {n.nid for n in spec.nodes}:
            mb.alloc(NODE_DATA_PAGES, what=f"NODE_DATA({node.node_id}) memoryless")
    n = log_buf_pages(spec.log_buf_len, mm.nr_cpu_ids)
    if n:
        mb.alloc(n, what="log_buf")
    # small allocations: e820/ACPI copies, cpumasks, fixmap tables at the top of memory; the
    # percpu maps (pcpu_setup_first_chunk) beside the boot CPU's group
    mb.alloc(SMALL_ALLOC_PAGES - 1, what="small allocations")
    mb.alloc(1, nid=mm.cpu_to_node[0], what="percpu maps")
    setup_per_cpu_areas(mm, mb)


def reserve_hash_tables_and_swiotlb(mm: "MM", spec: "MachineSpec", mb: Memblock, facts: dict) -> None:
    """vfs_caches_init_early's dentry and inode hashes (one memory node only) and swiotlb."""
    if len(mm.node_states["has_memory"]) == 1:        # hashdist = 0: early tables from memblock
        for scale in (13, 14):                    # dentry, inode
            pages = alloc_large_system_hash_pages(facts["nr_kernel_pages"], facts["nr_all_pages"], scale)
            mb.alloc(pages, what="dentry hash" if scale == 13 else "inode hash")
    swiotlb = spec.swiotlb if spec.swiotlb is not None else facts["max_pfn"] > MAX_DMA32_PFN
    if swiotlb:
        mb.alloc(SWIOTLB_PAGES, hi=MAX_DMA32_PFN, what="swiotlb")
        mb.alloc(SWIOTLB_SLOTS_PAGES, what="swiotlb slots")
