"""pagealloc: an executable model of the Linux 6.1 page allocator.

The public API: :class:`Machine` (boot, clone, alloc_pages/free_pages,
sysctls, views, check), the gfp module, and the errors.
"""
from __future__ import annotations

from .errors import InputError, InvariantError, PageAllocError
from .machine import Machine, parse_size
from .mm import gfp
from .mm.mm_init import MachineSpec, NodeSpec
from .mm.mmzone import MAX_ORDER, MigrateType, ZoneType, pageblock_nr_pages, pageblock_order
from .mm.page_reporting import PageReportingDevInfo, VirtioBalloonReporter
from .sources.snapshot import load_snapshot
from .sources.zoneinfo import machine_from_zoneinfo
from .traces.replay import replay_trace
from .traces.stat import stat_trace
from .verify import verify_capture
from .sysctl import read_sysctl, write_sysctl
from .threadsafe import ThreadSafeMachine

__all__ = ["Machine", "MachineSpec", "NodeSpec", "gfp", "PageAllocError", "InputError",
           "InvariantError", "MigrateType", "ZoneType", "MAX_ORDER", "pageblock_order",
           "pageblock_nr_pages", "parse_size", "machine_from_zoneinfo", "read_sysctl",
           "write_sysctl", "ThreadSafeMachine", "load_snapshot", "replay_trace", "stat_trace",
           "verify_capture", "VirtioBalloonReporter", "PageReportingDevInfo",
           "__version__"]

__version__ = "0.1.0"
