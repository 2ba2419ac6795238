"""Machine: the object a user holds — CPUs, memory, sysctls, views, alloc and free.

Not a kernel file: the facade over the model in pagealloc.mm. It builds a
machine from a size, an e820 map or a real zoneinfo, applies sysctl writes
through the kernel's handlers, renders the /proc views and exposes
alloc_pages/free_pages with an explicit CPU.
"""
from __future__ import annotations

from typing import Iterable

from .errors import PageAllocError
from .mm import page_alloc as pa
from .mm.page_alloc import __alloc_pages as _alloc_pages, alloc_pages_fast, free_pages_fast
from .mm.page_alloc import __alloc_pages_bulk as _alloc_pages_bulk
from .mm.core import MM
from .mm.memmap import PG_buddy, PG_head, PG_pcp
from .mm.mm_init import MachineSpec, NodeSpec, boot
from .mm.mmzone import MAX_ORDER, PAGE_SIZE, Zone

__all__ = ["Machine", "parse_size"]

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
          "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
          "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes from "4G", "512M", "1T", "1048576" (memparse-like, binary units)."""
    if isinstance(text, int):
        return text
    s = str(text).strip().upper()
    num = s.rstrip("BKMGTI")
    unit = s[len(num):]
    try:
        value = float(num)
    except ValueError:
        raise PageAllocError(f"invalid size {text!r}: expected a number with K, M, G or T") from None
    if unit not in _UNITS:
        raise PageAllocError(f"invalid size {text!r}: unknown unit {unit!r}")
    return int(value * _UNITS[unit])


class Machine:
    """A simulated machine running the Linux 6.1 page allocator."""

    def __init__(self, mm: MM, spec: MachineSpec | None = None) -> None:
        self.mm = mm
        self.spec = spec
        self.default_cpu = 0
        mm.update_pb_zone()
        # compaction and migration exist in every 6.1 kernel the model follows
        if mm.compaction is None:
            from .mm.compaction import Compaction
            mm.compaction = Compaction(mm)
        if mm.migrate is None:
            from .mm.migrate import Migrator
            mm.migrate = Migrator(mm)
        # warn_alloc prints the Mem-Info block through the procfs renderer
        from .procfs import show_free_areas
        mm.render_mem_info = lambda max_zone_idx: show_free_areas(self, max_zone_idx)

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: MachineSpec) -> "Machine":
        m = cls(boot(spec), spec)
        # boot options of the debug and reporting parts (page_owner=on, page_poison=1,
        # page_reporting.page_reporting_order=N: lost at device registration in 6.1)
        if getattr(spec, "page_owner", False):
            from .mm.page_owner import enable_page_owner
            enable_page_owner(m.mm)
        if getattr(spec, "page_poison", False):
            from .mm.debug import enable_page_poisoning
            enable_page_poisoning(m.mm)
        if getattr(spec, "page_reporting_order", None) is not None:
            from .mm.page_reporting import set_page_reporting_order
            set_page_reporting_order(m.mm, spec.page_reporting_order)
        return m

    @classmethod
    def boot(cls, mem: str | int = "4G", cpus: int = 1, nodes: int = 1,
             cpu_nodes: Iterable[int] | None = None, thp: str = "always",
             cmdline: str = "", e820: str | None = None, sysctls: Iterable[str] = (),
             seed: int = 0, profile: str = "x86_64", node_mem: Iterable[str | int] | None = None,
             distance: list[list[int]] | None = None,
             kernel_base: int | None = None) -> "Machine":
        """Boot a machine like qemu's q35 with ``mem`` of RAM (see sources/layout.py)."""
        from .sources.layout import spec_from_args
        spec = spec_from_args(mem=mem, cpus=cpus, nodes=nodes, cpu_nodes=cpu_nodes, thp=thp,
                              cmdline=cmdline, e820=e820, seed=seed, profile=profile,
                              node_mem=node_mem, distance=distance, kernel_base=kernel_base)
        m = cls.from_spec(spec)
        for s in sysctls:
            m.write_sysctl_assignment(s)
        return m

    @classmethod
    def from_zoneinfo(cls, path: str, cpus: int | None = None, thp: str | None = None,
                      sysctls: Iterable[str] = (), min_free_kbytes: int | None = None,
                      cpu_nodes: list[int] | None = None, use_folder: bool = True) -> "Machine":
        """Clone a real machine from its /proc/zoneinfo (see sources/zoneinfo.py).

        ``thp`` None takes the folder's thp.enabled (and the kernel's 512 MiB rule);
        ``use_folder`` reads sysctl/nproc/nodes files beside the zoneinfo.
        """
        from .sources.zoneinfo import machine_from_zoneinfo
        m = machine_from_zoneinfo(path, cpus=cpus, thp=thp, min_free_kbytes=min_free_kbytes,
                                  cpu_nodes=cpu_nodes, use_folder=use_folder)
        for s in sysctls:
            m.write_sysctl_assignment(s)
        return m

    # --- allocation API -----------------------------------------------------------------
    def _cpu(self, cpu: int | None) -> int:
        mm = self.mm
        c = self.default_cpu if cpu is None else cpu
        if not 0 <= c < mm.nr_cpu_ids or not mm.cpu_online[c]:
            raise PageAllocError(f"cpu {c} is not online (online: {mm.online_cpus()})")
        return c

    def alloc_pages(self, gfp: int, order: int = 0, cpu: int | None = None,
                    nid: int | None = None, nodemask: Iterable[int] | None = None) -> int | None:
        """alloc_pages(): the pfn of a 2^order block, or None on failure."""
        mm = self.mm
        c = self.default_cpu if cpu is None else cpu
        if c >= mm.nr_cpu_ids or c < 0 or not mm.cpu_online[c]:
            self._cpu(c)
        mm.cpu = c
        if order < 0 or order >= MAX_ORDER:
            raise PageAllocError(f"order {order} out of range 0..{MAX_ORDER - 1}")
        if nid is None:
            pref = mm.cpu_to_node[c]
        else:
            if not 0 <= nid < len(mm.nodes):
                raise PageAllocError(f"node {nid} does not exist (nodes 0..{len(mm.nodes) - 1})")
            pref = nid
        if nodemask is None:
            pfn = alloc_pages_fast(mm, gfp, order, pref)
        else:
            pfn = _alloc_pages(mm, int(gfp), order, pref, frozenset(nodemask))
        return None if pfn < 0 else pfn

    def free_pages(self, pfn: int, order: int = 0, cpu: int | None = None) -> bool:
        """__free_pages(): False (and a Bad page report) when the block is not allocated."""
        mm = self.mm
        c = self.default_cpu if cpu is None else cpu
        if c >= mm.nr_cpu_ids or c < 0 or not mm.cpu_online[c]:
            self._cpu(c)
        mm.cpu = c
        if pfn < 0 or pfn >= mm.mem.npfn:
            raise PageAllocError(f"pfn {pfn:#x} is outside the machine (0..{mm.mem.npfn - 1:#x})")
        before = mm.nr_bad_pages
        free_pages_fast(mm, pfn, order)
        return mm.nr_bad_pages == before

    def alloc_pages_bulk(self, gfp: int, nr_pages: int, cpu: int | None = None,
                         nid: int | None = None) -> list[int]:
        """alloc_pages_bulk(): up to nr_pages order-0 pfns (fewer if memory is short)."""
        mm = self.mm
        mm.cpu = self._cpu(cpu)
        pref = mm.cpu_to_node[mm.cpu] if nid is None else nid
        return _alloc_pages_bulk(mm, int(gfp), pref, None, nr_pages)

    def split_page(self, pfn: int, order: int) -> None:
        """split_page(): an allocated order-n block becomes 2^n order-0 allocations."""
        try:
            pa.split_page(self.mm, pfn, order)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def free_pages_list(self, pfns: Iterable[int], cpu: int | None = None) -> None:
        """free_unref_page_list(): free order-0 pages in one batch."""
        mm = self.mm
        mm.cpu = self._cpu(cpu)
        pa.free_unref_page_list(mm, list(pfns))

    def cma_alloc(self, count: int, align_order: int = 0) -> int | None:
        """cma_alloc(): ``count`` contiguous pages from the CMA area, or None."""
        from .mm.cma import cma_alloc
        pfn = cma_alloc(self.mm, count, align_order)
        return None if pfn < 0 else pfn

    def cma_release(self, pfn: int, count: int) -> bool:
        """cma_release(): give back pages from cma_alloc."""
        from .mm.cma import cma_release
        return cma_release(self.mm, pfn, count)

    def drain_all_pages(self) -> None:
        pa.drain_all_pages(self.mm, None)

    # --- sysctls and views --------------------------------------------------------------
    def write_sysctl(self, name: str, value: str) -> None:
        from .sysctl import write_sysctl
        write_sysctl(self, name, value)

    def read_sysctl(self, name: str) -> str:
        from .sysctl import read_sysctl
        return read_sysctl(self, name)

    def write_sysctl_assignment(self, text: str) -> None:
        if "=" not in text:
            raise PageAllocError(f"sysctl {text!r}: expected vm.NAME=VALUE")
        name, value = text.split("=", 1)
        self.write_sysctl(name.strip(), value.strip())

    def show(self, view: str) -> str:
        """Render a /proc or debugfs view in the kernel's format."""
        from .procfs import render
        return render(self, view)

    def check(self) -> None:
        """Raise InvariantError if any invariant of the model is broken (see invariants.py)."""
        from .invariants import check
        check(self.mm)

    # --- convenience --------------------------------------------------------------------
    @property
    def zones(self) -> list[Zone]:
        return self.mm.zones

    def zone(self, name: str, nid: int = 0) -> Zone:
        for z in self.mm.nodes[nid].node_zones:
            if z.name.lower() == name.lower():
                return z
        raise PageAllocError(f"no zone {name!r} on node {nid}")

    def page_state(self, pfn: int) -> str:
        f = self.mm.mem.flags[pfn]
        if f & PG_buddy:
            return "buddy"
        if f & PG_pcp:
            return "pcp"
        if f & PG_head:
            return "allocated"
        from .mm.debug import describe_page
        return describe_page(self.mm, pfn)

    def total_pages(self) -> int:
        return sum(z.present_pages for z in self.mm.zones)

    def __repr__(self) -> str:
        mm = self.mm
        return (f"<Machine {len(mm.nodes)} node(s), {mm.nr_cpu_ids} cpu(s), "
                f"{self.total_pages() * PAGE_SIZE >> 20} MiB present>")

    # =====================================================================================
    # Simulated time, free page reporting, page_owner and the debug checks.
    # Facades over mm/timers.py, mm/page_reporting.py, mm/page_owner.py and mm/debug.py;
    # kept together at the end of the class (their owner edits only this block).
    # =====================================================================================

    @property
    def clock_ns(self) -> int:
        """The simulated clock (ns since boot); it moves only through run_until/advance."""
        from .mm.timers import timer_base
        timer_base(self.mm)
        return self.mm.clock_ns

    def run_until(self, ns: int) -> int:
        """Advance the clock to ``ns``, running the delayed works that fall due; their count."""
        from .mm.timers import run_timers, timer_base
        timer_base(self.mm)
        if ns < self.mm.clock_ns:
            raise PageAllocError(f"run_until({ns}): the clock is already at "
                                 f"{self.mm.clock_ns} ns (time only moves forward)")
        return run_timers(self.mm, int(ns))

    def advance(self, seconds: float) -> int:
        """Advance the clock by ``seconds``, running the delayed works that fall due."""
        if seconds < 0:
            raise PageAllocError(f"advance({seconds}): time only moves forward")
        return self.run_until(self.clock_ns + round(seconds * 1_000_000_000))

    def pending_work(self) -> list:
        """The armed delayed works (timers.DelayedWork), earliest first."""
        from .mm.timers import timer_base
        return timer_base(self.mm).pending()

    # --- free page reporting (mm/page_reporting.c) -----------------------------------------
    def enable_page_reporting(self, reporter=None, order: int | None = None):
        """Register a free page reporting device (default: a virtio-balloon reporter).

        ``order`` is the device's minimal order (default pageblock_order).
        Returns the device; its first pass runs 2 simulated seconds later.
        """
        from .mm.page_reporting import VirtioBalloonReporter, page_reporting_register
        dev = reporter if reporter is not None else VirtioBalloonReporter()
        if order is not None:
            if not 0 <= order < MAX_ORDER:
                raise PageAllocError(f"page reporting order {order} out of range 0..{MAX_ORDER - 1}")
            dev.order = order
        if page_reporting_register(self.mm, dev):
            raise PageAllocError("page reporting: a device is already registered (-EBUSY)")
        return dev

    def disable_page_reporting(self) -> None:
        """Unregister the reporting device, if any (reported pages stay PG_reported)."""
        from .mm.page_reporting import page_reporting_unregister
        pr = self.mm.reporting
        if pr is not None and pr.prdev is not None:
            page_reporting_unregister(self.mm, pr.prdev)

    # --- page_owner (mm/page_owner.c) --------------------------------------------------------
    def enable_page_owner(self) -> None:
        """Turn page_owner on, as if booted with page_owner=on now (pages in use become early)."""
        from .mm.page_owner import enable_page_owner
        enable_page_owner(self.mm)

    def _page_owner(self):
        from .mm.page_owner import page_owner_of
        po = page_owner_of(self.mm)
        if po is None:
            raise PageAllocError("page_owner is off (Machine.enable_page_owner or page_owner=on)")
        return po

    def owner_context(self, caller=None, *, pid: int | None = None, tgid: int | None = None,
                      comm: str | None = None, free_caller=None):
        """``with m.owner_context(caller="do_anonymous_page", pid=812, comm="stress"):``

        Allocations and frees inside the block are recorded by page_owner with
        this caller tag (standing in for the stack) and task.
        """
        return self._page_owner().context(caller, pid=pid, tgid=tgid, comm=comm,
                                          free_caller=free_caller)

    def page_owner_dump(self) -> str:
        """/sys/kernel/debug/page_owner."""
        from .mm.page_owner import read_page_owner
        self._page_owner()
        return read_page_owner(self.mm)

    def page_owner_summary(self, by: str = "stacktrace") -> str:
        """page_owner_sort-like summary: by stacktrace, pid, comm, tgid, txt, migratetype or mixed."""
        from .mm.page_owner import page_owner_summary
        self._page_owner()
        try:
            return page_owner_summary(self.mm, by)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    # --- debug checks (mm/debug.py: bad pages, page poisoning, use after free) --------------
    def enable_poisoning(self) -> None:
        """Turn page poisoning on, as if booted with page_poison=1."""
        from .mm.debug import enable_page_poisoning
        enable_page_poisoning(self.mm)

    def _access(self, pfn: int, write: bool, data: bytes, offset: int, what: str) -> bool:
        from .mm.debug import page_access
        mm = self.mm
        if pfn < 0 or pfn >= mm.mem.npfn:
            raise PageAllocError(f"pfn {pfn:#x} is outside the machine (0..{mm.mem.npfn - 1:#x})")
        if not 0 <= offset or offset + len(data) > PAGE_SIZE:
            raise PageAllocError(f"access at offset {offset:#x} of {len(data)} bytes does not "
                                 f"fit in a page")
        try:
            return page_access(mm, pfn, write, data, offset, what)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def touch(self, pfn: int) -> bool:
        """Read a page through the API: False (and a use-after-free report) if it is free."""
        return self._access(pfn, False, b"", 0, "Machine.touch")

    def write(self, pfn: int, data: bytes = b"\0" * 8, offset: int = 0) -> bool:
        """Write to a page through the API: False (and a use-after-free report) if it is free.

        With poisoning on, a write to a free page also damages its poison,
        which its next allocation reports ("pagealloc: memory corruption").
        """
        return self._access(pfn, True, bytes(data), offset, "Machine.write")

    def debug_counts(self) -> dict[str, int]:
        """Counts of every debug report: bad_page (and suppressed), poison, use_after_free."""
        from .mm.debug import debug_counts
        return debug_counts(self.mm)

    # =====================================================================================
    # Memory hotplug, contiguous ranges, CPU hotplug, interrupts and threads.
    # Facades over mm/memory_hotplug.py, mm/memory_blocks.py, mm/contig.py, mm/cpus.py and
    # threadsafe.py; their owner edits only this block. Hotplug, contig and CPU calls return
    # the kernel's result: 0 or a negative errno (-EBUSY, -EINVAL, -EEXIST, -E2BIG, -EINTR).
    # =====================================================================================

    @classmethod
    def boot_hotpluggable(cls, mem: str | int = "4G", room: str | int = "4G",
                          movable_node: bool = False, **kw) -> "Machine":
        """Boot like :meth:`boot` with ``room`` bytes of memmap above RAM for add_memory."""
        from .sources.layout import spec_from_args
        sysctls = kw.pop("sysctls", ())
        spec = spec_from_args(mem=mem, **kw)
        spec.max_pfn_extra = parse_size(room) >> 12
        spec.movable_node = movable_node
        m = cls.from_spec(spec)
        for s in sysctls:
            m.write_sysctl_assignment(s)
        return m

    def _hotplug(self):
        from .mm.memory_hotplug import memory_hotplug_init
        spec = self.spec
        return memory_hotplug_init(self.mm, movable_node=bool(spec is not None
                                                              and spec.movable_node))

    def memory_block_size(self) -> int:
        """/sys/devices/system/memory/block_size_bytes (x86's probe_memory_block_size)."""
        return self._hotplug().block_size_bytes

    def memory_blocks(self) -> list:
        """The memory block devices (memory_blocks.MemoryBlock), by id."""
        hp = self._hotplug()
        return [hp.blocks[i] for i in sorted(hp.blocks)]

    def memory_block_valid_zones(self, block_id: int) -> str:
        """memoryN/valid_zones."""
        from .mm.memory_blocks import valid_zones
        hp = self._hotplug()
        if block_id not in hp.blocks:
            raise PageAllocError(f"no memory block {block_id}")
        return valid_zones(self.mm, hp.blocks[block_id])

    def memory_hotplug_config(self, *, online_policy: str | None = None,
                              auto_movable_ratio: int | None = None,
                              auto_movable_numa_aware: bool | None = None,
                              default_online_type: str | None = None) -> None:
        """Set memory_hotplug.online_policy / auto_movable_ratio / auto_movable_numa_aware
        and memhp_default_state ("offline", "online", "online_kernel", "online_movable")."""
        from .mm.memory_blocks import mhp_online_type_from_str
        from .mm.memory_hotplug import ONLINE_POLICIES
        hp = self._hotplug()
        if online_policy is not None:
            if online_policy not in ONLINE_POLICIES:
                raise PageAllocError(f"online_policy {online_policy!r}: expected one of "
                                     f"{', '.join(ONLINE_POLICIES)}")
            hp.online_policy = online_policy
        if auto_movable_ratio is not None:
            hp.auto_movable_ratio = int(auto_movable_ratio)
        if auto_movable_numa_aware is not None:
            hp.auto_movable_numa_aware = bool(auto_movable_numa_aware)
        if default_online_type is not None:
            t = mhp_online_type_from_str(default_online_type)
            if t < 0:
                raise PageAllocError(f"memhp_default_state {default_online_type!r} is invalid")
            hp.default_online_type = t

    def _hotplug_range(self, start: str | int, size: str | int) -> tuple[int, int]:
        return parse_size(start), parse_size(size)

    def add_memory(self, start: str | int, size: str | int, nid: int = 0,
                   online_type: str | None = None) -> int:
        """Hot-add RAM at ``start`` bytes (inside the memmap): 0 or -errno.

        ``online_type`` onlines the new blocks at once (default: memhp_default_state).
        """
        from .mm.memory_blocks import mhp_online_type_from_str
        from .mm.memory_hotplug import add_memory
        self._hotplug()
        ot = None
        if online_type is not None:
            ot = mhp_online_type_from_str(online_type)
            if ot < 0:
                raise PageAllocError(f"online type {online_type!r}: expected offline, online, "
                                     f"online_kernel or online_movable")
        s, n = self._hotplug_range(start, size)
        with self.mm.lock:
            return add_memory(self.mm, nid, s, n, ot)

    def _blocks_in(self, start: str | int, size: str | int) -> list[int]:
        hp = self._hotplug()
        s, n = self._hotplug_range(start, size)
        bs = hp.block_size_bytes
        if s % bs or n % bs or n <= 0:
            raise PageAllocError(f"range {s:#x}+{n:#x} is not aligned to the memory block size "
                                 f"{bs:#x}")
        ids = list(range(s // bs, (s + n) // bs))
        missing = [i for i in ids if i not in hp.blocks]
        if missing:
            raise PageAllocError(f"no memory block {missing[0]} (memory{missing[0]}) in "
                                 f"{s:#x}+{n:#x}")
        return ids

    def online_memory(self, start: str | int, size: str | int,
                      online_type: str = "online") -> int:
        """``echo online_type > memoryN/state`` for each block of the range; first error."""
        from .mm.memory_blocks import memory_block_state_store
        for bid in self._blocks_in(start, size):
            with self.mm.lock:
                ret = memory_block_state_store(self.mm, bid, online_type)
            if ret:
                return ret
        return 0

    def offline_memory(self, start: str | int, size: str | int) -> int:
        """``echo offline > memoryN/state`` for each block of the range; first error."""
        return self.online_memory(start, size, "offline")

    def remove_memory(self, start: str | int, size: str | int) -> int:
        """Remove offline memory (remove_memory): 0, -EBUSY while a block is online."""
        from .mm.memory_hotplug import remove_memory
        self._hotplug()
        s, n = self._hotplug_range(start, size)
        with self.mm.lock:
            return remove_memory(self.mm, s, n)

    def node_states(self) -> dict[str, list[int]]:
        """node_states[] by their sysfs names: possible, online, has_normal_memory,
        has_high_memory, has_memory, has_cpu."""
        self._hotplug()
        from .mm.memory_hotplug import node_states
        return {k: sorted(v) for k, v in node_states(self.mm).items()}

    # --- contiguous ranges (mm/contig.py) --------------------------------------------------
    def alloc_contig_range(self, start_pfn: int, end_pfn: int, migratetype: int | None = None,
                           gfp: int | None = None) -> int:
        """Allocate [start_pfn, end_pfn) as order-0 pages: 0 or -EBUSY / -EINVAL."""
        from .mm.contig import alloc_contig_range
        from .mm.gfp import GFP_KERNEL
        from .mm.mmzone import MIGRATE_MOVABLE
        self._hotplug()
        return alloc_contig_range(self.mm, start_pfn, end_pfn,
                                  MIGRATE_MOVABLE if migratetype is None else migratetype,
                                  GFP_KERNEL if gfp is None else gfp)

    def alloc_contig_pages(self, nr_pages: int, gfp: int | None = None, nid: int | None = None,
                           nodemask=None) -> int | None:
        """Find and allocate nr_pages contiguous pages: the first pfn, or None."""
        from .mm.contig import alloc_contig_pages
        from .mm.gfp import GFP_KERNEL
        self._hotplug()
        node = self.mm.cpu_to_node[self.default_cpu] if nid is None else nid
        with self.mm.lock:
            pfn = alloc_contig_pages(self.mm, nr_pages, GFP_KERNEL if gfp is None else gfp,
                                     node, nodemask)
        return None if pfn < 0 else pfn

    def free_contig_range(self, pfn: int, nr_pages: int) -> int:
        """Free pages taken by alloc_contig_*; returns how many were not in use."""
        from .mm.contig import free_contig_range
        with self.mm.lock:
            return free_contig_range(self.mm, pfn, nr_pages)

    # --- CPUs, interrupts, PREEMPT_RT, threads (mm/cpus.py) ---------------------------------
    def kernel_config(self, *, preempt_rt: bool | None = None, smp: bool | None = None) -> None:
        """Choose CONFIG_PREEMPT_RT and CONFIG_SMP (UP needs a one-CPU machine)."""
        from .mm.cpus import cpu_sched
        if preempt_rt is not None:
            self.mm.preempt_rt = bool(preempt_rt)
        try:
            cpu_sched(self.mm, smp=smp)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def cpu_down(self, cpu: int) -> int:
        """Take a CPU offline (its pcps drained, pcp high recomputed): 0 or -errno."""
        from .mm.cpus import cpu_down
        self._hotplug()
        ret = cpu_down(self.mm, cpu)
        if not ret and not self.mm.cpu_online[self.default_cpu]:
            self.default_cpu = self.mm.online_cpus()[0]
        return ret

    def cpu_up(self, cpu: int) -> int:
        """Bring a CPU online (pcp high recomputed with cpu_online=1): 0 or -errno."""
        from .mm.cpus import cpu_up
        self._hotplug()
        return cpu_up(self.mm, cpu)

    def alloc_from_irq(self, cpu: int, gfp: int | None = None, order: int = 0,
                       pcp_held: bool = True) -> int | None:
        """GFP_ATOMIC (by default) from an interrupt on ``cpu`` while a task there holds the pcp.

        Non-RT SMP: the interrupt finds the pcp locked and takes the zone path;
        PREEMPT_RT likewise (threaded handler); UP: IRQs are off while the pcp
        is held, so it runs afterwards from the pcp. See :meth:`trylock_fallbacks`.
        """
        from .mm.cpus import alloc_from_irq
        from .mm.gfp import GFP_ATOMIC
        self._cpu(cpu)
        self._hotplug()
        with self.mm.lock:
            w = alloc_from_irq(self.mm, cpu, GFP_ATOMIC if gfp is None else gfp, order,
                               pcp_held=pcp_held)
        return w.result

    def trylock_fallbacks(self) -> dict[str, int]:
        """pcp trylock failures of work run through mm/cpus.py: {"alloc": n, "free": n}."""
        from .mm.cpus import cpu_sched
        return dict(cpu_sched(self.mm).trylock_fallbacks)

    def threadsafe(self):
        """A view of this machine whose every method runs under mm.lock (threadsafe.py)."""
        from .threadsafe import ThreadSafeMachine
        self._hotplug()
        return ThreadSafeMachine(self)

    # =====================================================================================
    # Memory pressure: page users, the LRU, reclaim (kswapd, direct), OOM and migration.
    # Facades over mm/page_users.py, mm/swap.py, mm/vmscan.py, mm/oom_kill.py and
    # mm/migrate.py; kept together at the end of the class (their owner edits only this
    # block).
    # =====================================================================================

    def enable_reclaim(self, swap: str | int = 0, *, swappiness: int = 60,
                       thp_defrag: str = "madvise", kswapd: str = "eager") -> None:
        """Model what pages are and reclaim them: page users, LRUs, kswapd, OOM killer.

        ``swap`` is the swap size ("1G", bytes; default none: anonymous and shmem pages
        are then not reclaimable). ``thp_defrag`` is /sys/kernel/mm/transparent_hugepage/
        defrag (Debian's default "madvise"). ``kswapd`` is "eager" (kswapd runs right
        after the allocation that woke it) or "clock" (only as simulated time passes,
        Machine.advance / run_until, or on run_kswapd()).
        """
        from .mm.oom_kill import OOMKiller
        from .mm.page_users import PageUsers, vma_thp_gfp_mask
        from .mm.vmscan import Vmscan
        mm = self.mm
        if getattr(mm, "page_users", None) is not None:
            raise PageAllocError("reclaim is already enabled on this machine")
        vma_thp_gfp_mask(thp_defrag)          # validates the setting
        if not 0 <= swappiness <= 200:
            raise PageAllocError(f"swappiness {swappiness} outside 0..200")
        nbytes = parse_size(swap)
        pu = PageUsers(mm, swap_pages=nbytes // PAGE_SIZE, thp_defrag=thp_defrag,
                       swappiness=swappiness)
        mm.page_users = pu
        self._adopt_lru_pages()
        pu.sync_swap_meminfo(mm)
        if kswapd not in ("eager", "clock"):
            raise PageAllocError(f"kswapd mode {kswapd!r}: expected 'eager' or 'clock'")
        mm.vmscan = Vmscan(mm)
        mm.vmscan.mode = kswapd
        mm.oom = OOMKiller(mm)

    def _adopt_lru_pages(self) -> None:
        """Give LRU pages a machine already has (a snapshot or capture clone) a user.

        Clones mark in-use LRU pages PG_lru (the kernel's movable count) without
        knowing whose they are; with page users on, each becomes an unowned page-cache
        page on the inactive file list, and the LRU counters are recounted from the
        pages the model holds instead of the copied file values.
        """
        import numpy as np
        from .mm.memmap import PG_head, PG_lru
        from .mm.page_users import Kind, set_page_user
        mm = self.mm
        mem = mm.mem
        heads = np.flatnonzero((mem.a_flags & (PG_head | PG_lru)) == (PG_head | PG_lru))
        if not heads.size:
            return
        lru_items = ("nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
                     "nr_file_pages", "nr_anon_pages", "nr_shmem", "nr_mapped")
        for node in mm.nodes:
            for k in lru_items:
                node.vm_stat[k] = 0
            for z in node.node_zones:
                for k in ("nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
                          "nr_zone_active_file"):
                    z.vm_stat[k] = 0
        for pfn in heads.tolist():
            order = int(mem.a_order[pfn])
            mem.flags[pfn] = PG_head
            set_page_user(mm, pfn, order, Kind.FILE, None)

    @property
    def reclaim_enabled(self) -> bool:
        return getattr(self.mm, "page_users", None) is not None

    def _users(self):
        pu = getattr(self.mm, "page_users", None)
        if pu is None:
            raise PageAllocError("page users are off (Machine.enable_reclaim first)")
        return pu

    def spawn(self, name: str, *, oom_score_adj: int = 0, pid: int | None = None,
              kernel: bool = False, uid: int = 0):
        """A new task (or, with kernel=True, a kernel subsystem) to own pages."""
        try:
            return self._users().new_owner(name, is_task=not kernel, oom_score_adj=oom_score_adj,
                                           pid=pid, uid=uid)
        except ValueError as e:
            raise PageAllocError(str(e)) from None

    def _owner(self, owner):
        pu = self._users()
        if owner is None:
            return None
        if isinstance(owner, int):
            o = pu.get_owner(owner)
            if o is None:
                raise PageAllocError(f"no owner with id {owner}")
            return o
        return owner

    def exit(self, owner) -> int:
        """The task exits: its anon/THP/page tables/stacks are freed, its page cache stays."""
        from .mm.oom_kill import exit_owner
        o = self._owner(owner)
        if not o.alive:
            raise PageAllocError(f"{o.comm} (pid {o.pid}) has already exited")
        freed = exit_owner(self.mm, o)
        o.alive = False
        self._run_kswapd_if_pending()
        return freed

    def alloc_user(self, kind, nr: int = 1, *, order: int | None = None, owner=None,
                   cpu: int | None = None, nid: int | None = None, gfp: int | None = None,
                   dirty: bool = False, mapped: bool = False, madvised: bool = False,
                   fallback: bool = True) -> list[int]:
        """Allocate ``nr`` blocks of a kind of page for ``owner``; their head pfns.

        The gfp is the one the kernel uses for that kind (page_users.gfp_for_kind) unless
        given. Stops early when an allocation fails or the owner is OOM-killed (its pages,
        this one included, are then gone). A THP fault that fails counts
        thp_fault_fallback and, with ``fallback``, faults the 2 MiB range in 4 KiB anonymous
        pages instead; THP disabled (enabled=never, or madvise without ``madvised``) faults
        4 KiB pages directly.
        """
        from .mm.page_users import (HPAGE_PMD_ORDER, Kind, gfp_for_kind, kind_from_name,
                                    set_page_user)
        from .mm.vmstat import ev_index
        pu = self._users()
        mm = self.mm
        try:
            k = kind_from_name(kind)
        except ValueError as e:
            raise PageAllocError(str(e)) from None
        o = self._owner(owner)
        if o is not None and not o.alive:
            raise PageAllocError(f"{o.comm} (pid {o.pid}) is dead")
        if k == Kind.THP:
            thp_on = mm.thp == "always" or (mm.thp == "madvise" and madvised)
            if not thp_on:
                out: list[int] = []
                for _ in range(nr):
                    got = self.alloc_user(Kind.ANON, 1 << HPAGE_PMD_ORDER, owner=o, cpu=cpu,
                                          nid=nid, gfp=gfp)
                    out += got
                    if len(got) < 1 << HPAGE_PMD_ORDER:
                        break
                return out
            order = HPAGE_PMD_ORDER
        elif order is None:
            order = 0
        if gfp is None:
            gfp = gfp_for_kind(k, order, thp_defrag=pu.thp_defrag, madvised=madvised)
        out = []
        saved = getattr(mm, "current", None)
        ev = mm.events
        for _ in range(nr):
            mm.current = o
            try:
                pfn = self.alloc_pages(gfp, order, cpu=cpu, nid=nid)
            finally:
                mm.current = saved
            if o is not None and not o.alive:
                # OOM-killed while allocating: the task dies, this page with it
                if pfn is not None:
                    self.free_pages(pfn, order, cpu=cpu)
                break
            if pfn is None:
                if k == Kind.THP:
                    ev[ev_index("thp_fault_fallback")] += 1
                    if fallback:
                        got = self.alloc_user(Kind.ANON, 1 << order, owner=o, cpu=cpu, nid=nid)
                        out += got
                        if len(got) == 1 << order:
                            continue
                break
            if k == Kind.THP:
                ev[ev_index("thp_fault_alloc")] += 1
            set_page_user(mm, pfn, order, k, o, dirty=dirty, mapped=mapped)
            out.append(pfn)
            self._run_kswapd_if_pending()
        return out

    def free_user(self, pfns) -> int:
        """Release user pages (munmap, truncate, kfree of a slab page ...); pages freed."""
        from .mm.page_alloc import free_the_page, free_unref_page_list
        from .mm.page_users import clear_page_user
        mm = self.mm
        pu = self._users()
        if isinstance(pfns, int):
            pfns = [pfns]
        batch = []
        freed = 0
        for p in pfns:
            if not 0 <= p < mm.mem.npfn or not pu.kind[p]:
                raise PageAllocError(f"pfn {p:#x} holds no recorded user page")
            _kind, _oid, order = clear_page_user(mm, p)
            freed += 1 << order
            if order == 0:
                batch.append(p)
            else:
                free_the_page(mm, p, order)
        if batch:
            free_unref_page_list(mm, batch)
        self._run_kswapd_if_pending()
        return freed

    def mark_accessed(self, pfn: int) -> None:
        """folio_mark_accessed(): a read() or write() of a page cache page."""
        from .mm.swap import folio_mark_accessed
        if not self._users().kind[pfn]:
            raise PageAllocError(f"pfn {pfn:#x} holds no recorded user page")
        folio_mark_accessed(self.mm, pfn)

    def access_page(self, pfn: int) -> None:
        """A CPU access through a mapping: the pte becomes young (folio_referenced sees it)."""
        from .mm.page_users import PGU_MAPPED, PGU_YOUNG
        pu = self._users()
        if not pu.kind[pfn]:
            raise PageAllocError(f"pfn {pfn:#x} holds no recorded user page")
        pu.pflags[pfn] |= PGU_MAPPED | PGU_YOUNG

    def set_page_dirty(self, pfn: int) -> None:
        """Dirty a page cache page (a write): nr_dirty until the flusher writes it."""
        from .mm.page_users import PGU_DIRTY, Kind
        pu = self._users()
        if pu.kind[pfn] != Kind.FILE:
            raise PageAllocError(f"pfn {pfn:#x} is not a page cache page")
        if not pu.pflags[pfn] & PGU_DIRTY:
            pu.pflags[pfn] |= PGU_DIRTY
            pu.account_dirty(self.mm, pfn, self.mm.mem.order[pfn], 1)

    def sync(self) -> int:
        """Write back every dirty page cache page (sync(2)); the pages cleaned."""
        from .mm.vmscan import wakeup_flusher_threads
        self._users()
        return wakeup_flusher_threads(self.mm)

    def drop_caches(self, mode: int = 3) -> int:
        """echo MODE > /proc/sys/vm/drop_caches (1 page cache, 2 slab, 3 both); pages freed."""
        from .mm.vmscan import drop_pagecache, drop_slab
        self._users()
        if mode not in (1, 2, 3):
            raise PageAllocError(f"drop_caches: mode {mode} is not 1, 2 or 3")
        freed = 0
        if mode & 1:
            freed += drop_pagecache(self.mm)
        if mode & 2:
            freed += drop_slab(self.mm)
        return freed

    def _run_kswapd_if_pending(self) -> None:
        vs = getattr(self.mm, "vmscan", None)
        if vs is not None and vs.pending():
            vs.run_pending()

    def run_kswapd(self, *, expire_naps: bool = True, max_runs: int = 1000) -> int:
        """Let every kswapd run until it blocks; the balance_pgdat passes made.

        With ``expire_naps`` a kswapd napping after a pass finishes its HZ/10 nap now
        (full sleep if the node is still balanced, else another pass).
        """
        vs = getattr(self.mm, "vmscan", None)
        if vs is None:
            raise PageAllocError("reclaim is off (Machine.enable_reclaim first)")
        return vs.run_pending(expire_naps=expire_naps, max_runs=max_runs)

    def kswapd_state(self, nid: int = 0) -> str:
        """"sleeping", "napping" or "running"."""
        vs = getattr(self.mm, "vmscan", None)
        if vs is None:
            raise PageAllocError("reclaim is off (Machine.enable_reclaim first)")
        return vs.state(nid)

    @property
    def oom_kills(self) -> list:
        """The OOM killer's victims, in kill order."""
        oom = getattr(self.mm, "oom", None)
        return list(oom.kills) if oom is not None else []

    def pages_of(self, owner, kind=None) -> list[int]:
        """Head pfns of the blocks an owner holds now (migration moves them)."""
        from .mm.page_users import kind_from_name
        o = self._owner(owner)
        return self._users().pfns_of(o, None if kind is None else kind_from_name(kind))

    def page_user(self, pfn: int):
        """(kind, owner or None) of an allocated block's head pfn."""
        pu = self._users()
        return pu.kind_of(pfn), pu.owner_of(pfn)

    def migrate_pages(self, pfns, dst_gfp: int | None = None, *, reason: str = "syscall_or_cpuset",
                      nid: int | None = None) -> tuple[int, int]:
        """Migrate user pages to new pages from the allocator; (migrated, failed) pages.

        Models move_pages(2)-like use of migrate_pages with alloc_migration_target.
        """
        from .mm.gfp import GFP, GFP_HIGHUSER_MOVABLE
        from .mm.migrate import MigrateMode, MigrateReason, migrate_pages
        self._users()
        reasons = {str(r): r for r in MigrateReason}
        if reason not in reasons:
            raise PageAllocError(f"unknown migrate reason {reason!r} (known: {', '.join(reasons)})")
        gfp = GFP_HIGHUSER_MOVABLE if dst_gfp is None else dst_gfp

        def get_new_page(src: int, order: int) -> int:
            p = self.alloc_pages(gfp | (int(GFP.COMP) if order else 0), order, nid=nid)
            return -1 if p is None else p

        lst = [pfns] if isinstance(pfns, int) else list(pfns)
        return migrate_pages(self.mm, lst, get_new_page, None, MigrateMode.SYNC,
                             reasons[reason])

    def check_users(self) -> None:
        """Raise InvariantError unless the page users, LRU lists and PG_lru agree."""
        from .errors import InvariantError
        try:
            self._users().check(self.mm)
        except ValueError as e:
            raise InvariantError(str(e)) from None
