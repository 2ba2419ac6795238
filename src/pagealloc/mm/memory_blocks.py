"""Memory block devices: /sys/devices/system/memory/memoryN and their size.

Models drivers/base/memory.c (struct memory_block, its ``state`` file with
memory_block_online / memory_block_offline / memory_block_change_state,
``valid_zones``, early_node_zone_for_memory_block for boot memory) and
x86's probe_memory_block_size (arch/x86/mm/init_64.c). The memory
hotplug machinery they drive (online_pages, offline_pages,
zone_for_pfn_range, sections) is in memory_hotplug.py.

Deliberate differences: no memory groups, no memmap_on_memory
(nr_vmemmap_pages is always 0).
"""
from __future__ import annotations

import enum
import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .mmzone import PAGE_SHIFT, Zone

if TYPE_CHECKING:  # pragma: no cover
    from .core import MM

__all__ = ["MIN_MEMORY_BLOCK_SIZE", "MAX_BLOCK_SIZE", "MEM_SIZE_FOR_LARGE_BLOCK",
           "MEM_ONLINE", "MEM_GOING_OFFLINE", "MEM_OFFLINE", "OnlineType", "MMOP_OFFLINE",
           "MMOP_ONLINE", "MMOP_ONLINE_KERNEL", "MMOP_ONLINE_MOVABLE",
           "mhp_online_type_from_str", "MemoryBlock", "probe_memory_block_size",
           "memory_block_size_bytes", "early_node_zone_for_memory_block",
           "memory_block_online", "memory_block_offline", "memory_block_state_store",
           "valid_zones"]

SECTION_SIZE_BITS = 27                              # arch/x86/include/asm/sparsemem.h (64-bit)
MIN_MEMORY_BLOCK_SIZE = 1 << SECTION_SIZE_BITS      # 128 MiB
MAX_BLOCK_SIZE = 2 << 30                            # arch/x86/mm/init_64.c
MEM_SIZE_FOR_LARGE_BLOCK = 64 << 30

# memory block states (include/linux/memory.h)
MEM_ONLINE = 1 << 0
MEM_GOING_OFFLINE = 1 << 1
MEM_OFFLINE = 1 << 2
_STATE_NAMES = {MEM_ONLINE: "online", MEM_GOING_OFFLINE: "going-offline", MEM_OFFLINE: "offline"}


class OnlineType(enum.IntEnum):
    """enum mmop (include/linux/memory_hotplug.h): what ``echo X > memoryN/state`` asks."""
    OFFLINE = 0
    ONLINE = 1
    ONLINE_KERNEL = 2
    ONLINE_MOVABLE = 3


MMOP_OFFLINE = OnlineType.OFFLINE
MMOP_ONLINE = OnlineType.ONLINE
MMOP_ONLINE_KERNEL = OnlineType.ONLINE_KERNEL
MMOP_ONLINE_MOVABLE = OnlineType.ONLINE_MOVABLE

_ONLINE_TYPE_STRINGS = {"offline": MMOP_OFFLINE, "online": MMOP_ONLINE,
                        "online_kernel": MMOP_ONLINE_KERNEL, "online_movable": MMOP_ONLINE_MOVABLE}


def mhp_online_type_from_str(text: str) -> int:
    """The MMOP_* for a sysfs string, or -EINVAL (drivers/base/memory.c)."""
    return _ONLINE_TYPE_STRINGS.get(str(text).strip(), -errno.EINVAL)


@dataclass
class MemoryBlock:
    """struct memory_block: /sys/devices/system/memory/memoryN."""
    id: int
    start_pfn: int
    nr_pages: int
    state: int
    nid: int
    zone: Zone | None
    online_type: int = MMOP_OFFLINE
    early: bool = False

    @property
    def name(self) -> str:
        return f"memory{self.id}"

    @property
    def state_name(self) -> str:
        return _STATE_NAMES[self.state]

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.nr_pages

    def __repr__(self) -> str:
        z = self.zone.name if self.zone is not None else "-"
        return (f"<memory{self.id} pfn {self.start_pfn:#x}+{self.nr_pages:#x} {self.state_name} "
                f"node {self.nid} zone {z}>")


def probe_memory_block_size(max_pfn: int, hypervisor: bool = True, set_size: int = 0) -> int:
    """The memory block size in bytes, as x86_64 picks it at boot.

    Models arch/x86/mm/init_64.c:probe_memory_block_size: 128 MiB below
    64 GiB of boot RAM; 2 GiB on bare metal above; on a hypervisor the
    largest power of two up to 2 GiB that divides the end of boot RAM.
    """
    if set_size:
        if set_size > MEM_SIZE_FOR_LARGE_BLOCK or set_size < MIN_MEMORY_BLOCK_SIZE \
                or set_size & (set_size - 1):
            raise ValueError(f"memory block size {set_size:#x} is not a power of two "
                             f"in [{MIN_MEMORY_BLOCK_SIZE:#x}, {MEM_SIZE_FOR_LARGE_BLOCK:#x}]")
        return set_size
    boot_mem_end = max_pfn << PAGE_SHIFT
    if boot_mem_end < MEM_SIZE_FOR_LARGE_BLOCK:
        return MIN_MEMORY_BLOCK_SIZE
    if not hypervisor:
        return MAX_BLOCK_SIZE
    bz = MAX_BLOCK_SIZE
    while bz > MIN_MEMORY_BLOCK_SIZE:
        if boot_mem_end % bz == 0:
            break
        bz >>= 1
    return bz


def memory_block_size_bytes(mm: "MM") -> int:
    """memory_block_size_bytes() (drivers/base/memory.c)."""
    from .memory_hotplug import memory_hotplug
    return memory_hotplug(mm).block_size_bytes


def early_node_zone_for_memory_block(mm: "MM", nid: int, start: int, nr: int) -> Zone | None:
    """The single populated zone of node nid a boot memory block intersects, else None."""
    from .memory_hotplug import _zone_intersects
    match = None
    for z in mm.nodes[nid].node_zones:
        if not z.present_pages or not _zone_intersects(z, start, nr):
            continue
        if match is not None:
            return None
        match = z
    return match


# --------------------------------------------------------------------------------------
# the sysfs files


def memory_block_online(mm: "MM", blk: MemoryBlock) -> int:
    """memory_block_online(): pick the zone, online_pages, remember the zone."""
    from .memory_hotplug import _fixup_pb_zone, online_pages, zone_for_pfn_range
    zone = zone_for_pfn_range(mm, blk.online_type, blk.nid, blk.start_pfn, blk.nr_pages)
    ret = online_pages(mm, blk.start_pfn, blk.nr_pages, zone)
    if not ret:
        blk.zone = zone
        _fixup_pb_zone(mm)
    return ret


def memory_block_offline(mm: "MM", blk: MemoryBlock) -> int:
    """memory_block_offline(): -EINVAL for a block spanning several zones."""
    from .memory_hotplug import offline_pages
    if blk.zone is None:
        return -errno.EINVAL
    ret = offline_pages(mm, blk.start_pfn, blk.nr_pages, blk.zone)
    if not ret:
        blk.zone = None
    return ret


def _memory_block_change_state(mm: "MM", blk: MemoryBlock, to_state: int,
                               from_state_req: int) -> int:
    if blk.state != from_state_req:
        return -errno.EINVAL
    if to_state == MEM_OFFLINE:
        blk.state = MEM_GOING_OFFLINE
    if to_state == MEM_ONLINE:
        ret = memory_block_online(mm, blk)
    else:
        ret = memory_block_offline(mm, blk)
    blk.state = from_state_req if ret else to_state
    return ret


def _device_online(mm: "MM", blk: MemoryBlock) -> int:
    """device_online() -> memory_subsys_online(); 1 when already online."""
    if blk.state == MEM_ONLINE:
        return 1
    if blk.online_type == MMOP_OFFLINE:
        blk.online_type = MMOP_ONLINE
    ret = _memory_block_change_state(mm, blk, MEM_ONLINE, MEM_OFFLINE)
    blk.online_type = MMOP_OFFLINE
    return ret


def _device_offline(mm: "MM", blk: MemoryBlock) -> int:
    """device_offline() -> memory_subsys_offline(); 1 when already offline."""
    if blk.state == MEM_OFFLINE:
        return 1
    return _memory_block_change_state(mm, blk, MEM_OFFLINE, MEM_ONLINE)


def memory_block_state_store(mm: "MM", block_id: int, text: str) -> int:
    """``echo TEXT > /sys/devices/system/memory/memoryN/state``: 0 or -errno.

    Models drivers/base/memory.c:state_store ("online", "online_kernel",
    "online_movable", "offline"; onlining an online block is -EINVAL).
    """
    from .memory_hotplug import memory_hotplug
    hp = memory_hotplug(mm)
    blk = hp.blocks.get(block_id)
    if blk is None:
        return -errno.ENODEV
    online_type = mhp_online_type_from_str(text)
    if online_type < 0:
        return -errno.EINVAL
    if online_type == MMOP_OFFLINE:
        ret = _device_offline(mm, blk)
    else:
        blk.online_type = online_type
        ret = _device_online(mm, blk)
    if ret < 0:
        return ret
    return -errno.EINVAL if ret else 0


def valid_zones(mm: "MM", blk: MemoryBlock) -> str:
    """The ``valid_zones`` file of a memory block (drivers/base/memory.c:valid_zones_show)."""
    from .memory_hotplug import zone_for_pfn_range
    if blk.state == MEM_ONLINE:
        return blk.zone.name if blk.zone is not None else "none"
    default = zone_for_pfn_range(mm, MMOP_ONLINE, blk.nid, blk.start_pfn, blk.nr_pages)
    out = default.name
    for t in (MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE):
        z = zone_for_pfn_range(mm, t, blk.nid, blk.start_pfn, blk.nr_pages)
        if z is not default:
            out += " " + z.name
    return out
