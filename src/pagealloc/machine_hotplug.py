"""Machine methods: memory hotplug, contiguous ranges, cpu hotplug, interrupts and threads.

Not a kernel file: part of the facade (machine.py), kept in its own module so each
block of the Machine class stays small; Machine inherits it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import PageAllocError
from .sizes import parse_size

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

__all__ = ["HotplugMixin"]


class HotplugMixin:
    """Machine methods; ``self.mm`` is the machine's mm state (see machine.Machine)."""

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
