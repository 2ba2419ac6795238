"""Machine: the object a user holds — CPUs, memory, sysctls, views, alloc and free.

Not a kernel file: the facade over the model in pagealloc.mm. It builds a
machine from a size, an e820 map or a real zoneinfo, applies sysctl writes
through the kernel's handlers, renders the /proc views and exposes
alloc_pages/free_pages with an explicit CPU.
"""
from __future__ import annotations

from typing import Iterable

from .errors import PageAllocError
from .sizes import parse_size
from .mm import page_alloc as pa
from .machine_api import AllocAPI
from .mm.page_alloc import __alloc_pages_bulk as _alloc_pages_bulk
from .mm.core import MM
from .mm.memmap import PG_buddy, PG_head, PG_pcp
from .mm.mm_init import MachineSpec, boot
from .mm.mmzone import MAX_ORDER, PAGE_SIZE, Zone

from .machine_debug import DebugMixin  # noqa: E402
from .machine_hotplug import HotplugMixin  # noqa: E402
from .machine_reclaim import ReclaimMixin  # noqa: E402

__all__ = ["Machine", "parse_size"]

class Machine(AllocAPI, DebugMixin, HotplugMixin, ReclaimMixin):
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
