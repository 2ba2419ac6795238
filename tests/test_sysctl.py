"""/proc/sys/vm writes and reads: the kernel's limits, parser and handler side effects."""
from __future__ import annotations

import pytest

from pagealloc import Machine
from pagealloc.errors import PageAllocError
from pagealloc.mm.vmstat import ev_index
from pagealloc.mm.watermarks import init_per_zone_wmark_min
from pagealloc.sysctl import (normalize_sysctl_name, read_sysctl, set_transparent_hugepage,
                              sysctl_names, write_sysctl)


@pytest.fixture(scope="module")
def base():
    return Machine.boot(mem="1G", cpus=2)


@pytest.fixture
def m():
    return Machine.boot(mem="1G", cpus=2)


def test_names(base):
    for name in ("vm.min_free_kbytes", "vm/min_free_kbytes", "/proc/sys/vm/min_free_kbytes",
                 "min_free_kbytes", " vm.min_free_kbytes "):
        assert normalize_sysctl_name(name) == "min_free_kbytes"
    with pytest.raises(PageAllocError, match="only /proc/sys/vm"):
        read_sysctl(base, "kernel.pid_max")
    with pytest.raises(PageAllocError, match="no such file"):
        read_sysctl(base, "vm.no_such_thing")
    assert {"min_free_kbytes", "lowmem_reserve_ratio", "numa_zonelist_order", "stat_interval",
            "page-cluster", "zone_reclaim_mode"} <= set(sysctl_names())


def test_read_formats(base, oracle):
    """What `cat` shows, compared with a real machine's files (set2/m1g-smp2)."""
    real = {}
    for line in (oracle / "set2" / "m1g-smp2" / "sysctl-vm-all.txt").read_text().splitlines():
        k, _, v = line.partition(" = ")
        real[k] = v
    # sysctl-vm-all.txt turned tabs and newlines into spaces
    for name in ("lowmem_reserve_ratio", "watermark_scale_factor", "watermark_boost_factor",
                 "percpu_pagelist_high_fraction", "extfrag_threshold", "compaction_proactiveness",
                 "numa_zonelist_order", "stat_interval", "zone_reclaim_mode", "min_unmapped_ratio",
                 "min_slab_ratio", "swappiness", "page-cluster", "overcommit_ratio", "dirty_ratio",
                 "max_map_count", "numa_stat", "mmap_min_addr", "stat_refresh", "min_free_kbytes"):
        got = read_sysctl(base, name).replace("\t", " ").replace("\n", " ")
        assert got == real[name], name
    assert read_sysctl(base, "lowmem_reserve_ratio") == "256\t256\t32\t0\t0\n"
    for wo in ("compact_memory", "drop_caches"):
        with pytest.raises(PageAllocError, match="Permission denied"):
            read_sysctl(base, wo)


@pytest.mark.parametrize("name,value,why", [
    ("vm.watermark_scale_factor", "0", "out of range 1..3000"),
    ("vm.watermark_scale_factor", "3001", "out of range 1..3000"),
    ("vm.min_free_kbytes", "-1", "out of range 0.."),
    ("vm.min_free_kbytes", "20000kB", "'20000kB' is not a number"),
    ("vm.min_free_kbytes", "", "no value"),
    ("vm.min_free_kbytes", "2147483648", "does not fit an int"),
    ("vm.extfrag_threshold", "1001", "out of range 0..1000"),
    ("vm.compaction_proactiveness", "101", "out of range 0..100"),
    ("vm.watermark_boost_factor", "-5", "out of range 0.."),
    ("vm.zone_reclaim_mode", "-1", "out of range 0.."),
    ("vm.min_unmapped_ratio", "101", "out of range 0..100"),
    ("vm.swappiness", "201", "out of range 0..200"),
    ("vm.percpu_pagelist_high_fraction", "-1", "out of range 0.."),
    ("vm.numa_zonelist_order", "zone", "only \"Node\""),
    ("vm.drop_caches", "5", "out of range 1..4"),
])
def test_invalid_values_are_refused(m, name, value, why):
    before = read_sysctl(m, name) if "drop" not in name else None
    with pytest.raises(PageAllocError, match=why) as e:
        write_sysctl(m, name, value)
    assert name.split(".")[1] in str(e.value)
    if before is not None:
        assert read_sysctl(m, name) == before


@pytest.mark.parametrize("bad", ["1", "7"])
def test_percpu_pagelist_high_fraction_einval_keeps_old(m, bad):
    write_sysctl(m, "vm.percpu_pagelist_high_fraction", "16")
    highs = [z.pcp[0].high for z in m.zones if z.present_pages]
    with pytest.raises(PageAllocError, match="0 or at least 8"):
        write_sysctl(m, "vm.percpu_pagelist_high_fraction", bad)
    assert read_sysctl(m, "percpu_pagelist_high_fraction") == "16\n"
    assert [z.pcp[0].high for z in m.zones if z.present_pages] == highs


def test_parser_details(m):
    write_sysctl(m, "vm.min_free_kbytes", "0x4e20")          # base 0, as strtoul
    assert m.mm.min_free_kbytes == 20000
    write_sysctl(m, "vm.min_free_kbytes", "010\n")           # octal, trailing newline
    assert m.mm.min_free_kbytes == 8
    write_sysctl(m, "vm.min_free_kbytes", "30000 99999")     # values past the table are ignored
    assert m.mm.min_free_kbytes == 30000
    write_sysctl(m, "vm.min_free_kbytes", 25000)             # ints are fine too
    assert read_sysctl(m, "vm.min_free_kbytes") == "25000\n"
    write_sysctl(m, "vm.stat_interval", "-3")                # proc_dointvec_jiffies: negative is fine
    assert read_sysctl(m, "stat_interval") == "-3\n"


def test_min_free_kbytes_handler(m):
    mm = m.mm
    write_sysctl(m, "vm.min_free_kbytes", "20000")
    assert mm.user_min_free_kbytes == 20000
    dma, dma32 = m.zone("DMA"), m.zone("DMA32")
    lowmem = dma.managed_pages + dma32.managed_pages
    assert dma.min_wmark_pages() == 5000 * dma.managed_pages // lowmem
    # protection is not touched by this handler
    assert dma.lowmem_reserve[1] == 934
    # a later init_per_zone_wmark_min (memory hotplug) keeps the user's value
    init_per_zone_wmark_min(mm)
    assert mm.min_free_kbytes == 45056 and "user defined value 20000" in " ".join(mm.log)


def test_scale_factor_resets_boost_and_boost_factor_does_not(m):
    z = m.zone("DMA32")
    z.watermark_boost = 500
    low = z.low_wmark_pages()
    write_sysctl(m, "vm.watermark_boost_factor", "0")
    assert z.watermark_boost == 500 and z.low_wmark_pages() == low and m.mm.watermark_boost_factor == 0
    write_sysctl(m, "vm.watermark_scale_factor", "200")
    assert z.watermark_boost == 0
    assert z.low_wmark_pages() - z.min_wmark_pages() == max(z.min_wmark_pages() // 4,
                                                            z.managed_pages * 200 // 10000)


def test_lowmem_reserve_ratio_handler(m):
    write_sysctl(m, "vm.lowmem_reserve_ratio", "128 -5 0 0 0")
    assert read_sysctl(m, "vm.lowmem_reserve_ratio") == "128\t0\t0\t0\t0\n"   # < 1 becomes 0
    assert m.zone("DMA").lowmem_reserve[1] == m.zone("DMA32").managed_pages // 128
    write_sysctl(m, "vm.lowmem_reserve_ratio", "64")                          # only the first
    assert read_sysctl(m, "vm.lowmem_reserve_ratio") == "64\t0\t0\t0\t0\n"
    # garbage: the kernel's handler ignores the parse error and re-runs the setup with the
    # values parsed before it; the model does the same, then says so
    with pytest.raises(PageAllocError, match="ignores the error"):
        write_sysctl(m, "vm.lowmem_reserve_ratio", "32 x 1")
    assert read_sysctl(m, "vm.lowmem_reserve_ratio") == "32\t0\t0\t0\t0\n"
    assert m.zone("DMA").lowmem_reserve[1] == m.zone("DMA32").managed_pages // 32


def test_percpu_pagelist_high_fraction_handler(m):
    write_sysctl(m, "vm.percpu_pagelist_high_fraction", "8")
    z = m.zone("DMA32")
    assert z.pcp[1].high == z.managed_pages // 8 // 2
    write_sysctl(m, "vm.percpu_pagelist_high_fraction", "0")
    assert z.pcp[1].high == z.low_wmark_pages() // 2


def test_ratio_handlers_and_numa_stat(m):
    mm = m.mm
    write_sysctl(m, "vm.min_unmapped_ratio", "10")
    write_sysctl(m, "vm.min_slab_ratio", "20")
    node = mm.nodes[0]
    assert node.min_unmapped_pages == sum(z.managed_pages * 10 // 100 for z in node.node_zones)
    assert node.min_slab_pages == sum(z.managed_pages * 20 // 100 for z in node.node_zones)
    m.zone("DMA32").numa_events[0] = 99
    write_sysctl(m, "vm.numa_stat", "0")
    assert m.zone("DMA32").numa_events[0] == 0 and "clear numa counters" in mm.log[-1]


def test_other_handlers(m):
    mm = m.mm
    write_sysctl(m, "vm.numa_zonelist_order", "Node")        # accepted, changes nothing
    assert read_sysctl(m, "vm.numa_zonelist_order") == "Node\n"
    write_sysctl(m, "vm.dirty_bytes", str(1 << 20))
    assert read_sysctl(m, "vm.dirty_ratio") == "0\n"
    write_sysctl(m, "vm.dirty_ratio", "30")
    assert read_sysctl(m, "vm.dirty_bytes") == "0\n"
    with pytest.raises(PageAllocError, match="out of range 8192"):
        write_sysctl(m, "vm.dirty_bytes", "4096")
    d = mm.events[ev_index("drop_pagecache")]
    write_sysctl(m, "vm.drop_caches", "3")
    assert mm.events[ev_index("drop_pagecache")] == d + 1
    write_sysctl(m, "vm.compact_memory", "1")                # runs compaction over every zone
    m.check()
    z = m.zone("DMA32")
    z.vm_stat_diff[1] += 5
    z.vm_free -= 5
    assert read_sysctl(m, "vm.stat_refresh") == ""           # folds every CPU's diffs
    assert z.vm_stat_diff == [0, 0]
    with pytest.raises(PageAllocError, match="not modelled"):
        write_sysctl(m, "vm.nr_hugepages", "10")


def test_machine_api_and_thp_switch(m):
    m.write_sysctl_assignment("vm.extfrag_threshold=250")
    assert m.read_sysctl("vm.extfrag_threshold") == "250\n" and m.mm.extfrag_threshold == 250
    mm = m.mm
    set_transparent_hugepage(m, "never")
    assert not mm.khugepaged_running and mm.min_free_kbytes < 45056
    set_transparent_hugepage(m, "madvise")
    assert mm.khugepaged_running and mm.min_free_kbytes == 45056
    with pytest.raises(PageAllocError):
        set_transparent_hugepage(m, "sometimes")


def test_numa_stat_off_stops_counting_and_on_starts_from_zero():
    from pagealloc import Machine, gfp
    m = Machine.boot(mem="1G")

    def hits():
        return int([l for l in m.show("vmstat").splitlines() if l.startswith("numa_hit ")][0].split()[1])

    for _ in range(10):
        m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert hits() == 10
    m.write_sysctl("vm.numa_stat", "0")
    for _ in range(10):
        m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert hits() == 0
    m.write_sysctl("vm.numa_stat", "1")
    for _ in range(3):
        m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert hits() == 3
