"""/proc/sys/vm: reading and writing the vm sysctls through the kernel's handlers.

Models kernel/sysctl.c's vm_table (limits in extra1/extra2), the parsers
proc_dointvec_minmax / proc_doulongvec_minmax / proc_dointvec_jiffies /
proc_dostring (kernel/sysctl.c: __do_proc_dointvec, proc_get_long), and the
handlers that re-run allocator code on a write (mm/page_alloc.c:
min_free_kbytes_sysctl_handler, watermark_scale_factor_sysctl_handler,
lowmem_reserve_ratio_sysctl_handler, percpu_pagelist_high_fraction_sysctl_handler,
sysctl_min_unmapped_ratio_sysctl_handler, sysctl_min_slab_ratio_sysctl_handler,
numa_zonelist_order_handler; mm/compaction.c: compaction_proactiveness_sysctl_handler,
sysctl_compaction_handler; mm/vmstat.c: sysctl_vm_numa_stat_handler, vmstat_refresh;
mm/page-writeback.c: the dirty_* handlers; fs/drop_caches.c). Owns no state: every
value lives in the machine's ``mm``.

Kernel quirks kept on purpose: reading lowmem_reserve_ratio (or min_unmapped_ratio,
min_slab_ratio) re-runs its setup function, because those handlers do not check
``write``; values after the first (or after the table's length) are ignored; a
write of numa_zonelist_order changes nothing. Where the kernel would accept a
malformed lowmem_reserve_ratio write silently (its handler ignores the parse
error), the model applies what the kernel applies and then raises, so that a
typo is not lost.

Names are accepted as "vm.NAME", "vm/NAME", "/proc/sys/vm/NAME" or "NAME".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import PageAllocError
from .mm import watermarks as wm

__all__ = ["write_sysctl", "read_sysctl", "sysctl_names", "set_transparent_hugepage",
           "normalize_sysctl_name", "HZ"]

HZ = 250                                   # Debian 12 amd64: CONFIG_HZ_250
INT_MAX = (1 << 31) - 1
ULONG_MAX = (1 << 64) - 1
TMPBUFLEN = 22
MIN_PERCPU_PAGELIST_HIGH_FRACTION = 8
PAGE_SIZE = 4096


@dataclass
class _Entry:
    """One /proc/sys/vm file: where its value lives, its parser and limits, its handler."""
    name: str
    kind: str                      # "int", "ulong", "jiffies", "string", "none"
    attr: str | None = None        # MM attribute (else mm.sysctl_vm[name])
    default: Any = 0
    minv: int | None = None
    maxv: int | None = None
    length: int = 1                # ints in the table (lowmem_reserve_ratio: MAX_NR_ZONES)
    mode: int = 0o644
    handler: Callable | None = None    # handler(mm, old, new, write) after a parse
    read_hook: Callable | None = None  # run on every read (handlers without a write check)


def _mm(machine):
    return getattr(machine, "mm", machine)


def normalize_sysctl_name(name: str) -> str:
    """"vm.min_free_kbytes", "vm/min_free_kbytes", "/proc/sys/vm/min_free_kbytes" -> NAME."""
    n = name.strip()
    for prefix in ("/proc/sys/", "proc/sys/"):
        if n.startswith(prefix):
            n = n[len(prefix):]
    n = n.replace("/", ".")
    if n.startswith("vm."):
        n = n[3:]
    if "." in n:
        raise PageAllocError(f"sysctl {name!r}: only /proc/sys/vm is modelled")
    return n


# --- handlers ---------------------------------------------------------------------------

def _h_min_free_kbytes(mm, old, new, write):
    if write:
        mm.user_min_free_kbytes = mm.min_free_kbytes
        wm.setup_per_zone_wmarks(mm)


def _h_setup_wmarks(mm, old, new, write):
    if write:
        wm.setup_per_zone_wmarks(mm)


def _h_lowmem_reserve(mm, old, new, write):
    r = mm.lowmem_reserve_ratio
    for i, v in enumerate(r):
        if v < 1:
            r[i] = 0
    wm.setup_per_zone_lowmem_reserve(mm)


def _h_min_unmapped(mm, old, new, write):
    wm.setup_min_unmapped_ratio(mm)


def _h_min_slab(mm, old, new, write):
    wm.setup_min_slab_ratio(mm)


def _h_percpu_pagelist(mm, old, new, write):
    if not write:
        return
    v = mm.percpu_pagelist_high_fraction
    if v and v < MIN_PERCPU_PAGELIST_HIGH_FRACTION:
        mm.percpu_pagelist_high_fraction = old
        raise PageAllocError(f"vm.percpu_pagelist_high_fraction: {v} is invalid: 0 or at least "
                             f"{MIN_PERCPU_PAGELIST_HIGH_FRACTION} (the kernel returns EINVAL)")
    if v == old:
        return
    for z in mm.zones:
        if z.node.online and z.present_pages:        # for_each_populated_zone
            wm.zone_set_pageset_high_and_batch(mm, z, 0)


def _h_compaction_proactiveness(mm, old, new, write):
    if write and mm.compaction_proactiveness:
        comp = getattr(mm, "compaction", None)
        if comp is not None and hasattr(comp, "proactive_tick"):
            for node in mm.nodes:
                if node.online:
                    comp.proactive_tick(node)        # kcompactd woken with proactive_compact_trigger


def _h_compact_memory(mm, old, new, write):
    if write:
        from .mm.compaction import compact_memory
        compact_memory(mm)


def _h_drop_caches(mm, old, new, write):
    if not write:
        return
    from .mm.vmstat import ev_index
    v = mm.sysctl_vm["drop_caches"]
    if v & 1:
        mm.events[ev_index("drop_pagecache")] += 1
    if v & 2:
        mm.events[ev_index("drop_slab")] += 1
    mm.printk(f"pagealloc (1): drop_caches: {v}")


def _h_numa_stat(mm, old, new, write):
    if not write or old == mm.sysctl_vm["numa_stat"]:
        return
    if mm.sysctl_vm["numa_stat"]:
        # the model counted while the kernel would not have: start again from 0
        for z in mm.zones:
            z.numa_events = [0] * len(z.numa_events)
        mm.printk("enable numa statistics")
    else:
        for z in mm.zones:                            # invalid_numa_statistics
            z.numa_events = [0] * len(z.numa_events)
        mm.printk("disable numa statistics, and clear numa counters")


def _h_dirty_background_ratio(mm, old, new, write):
    if write:
        _set(mm, _TABLE["dirty_background_bytes"], 0)


def _h_dirty_background_bytes(mm, old, new, write):
    if write:
        _set(mm, _TABLE["dirty_background_ratio"], 0)


def _h_dirty_ratio(mm, old, new, write):
    if write and old != new:
        _set(mm, _TABLE["dirty_bytes"], 0)


def _h_dirty_bytes(mm, old, new, write):
    if write and old != new:
        _set(mm, _TABLE["dirty_ratio"], 0)


def _h_no_hugetlb(mm, old, new, write):
    if write and new:
        mm.sysctl_vm["nr_hugepages"] = mm.sysctl_vm["nr_hugepages_mempolicy"] = 0
        raise PageAllocError(f"vm.nr_hugepages: {new}: hugetlb pages are not modelled (only 0)")


def _h_stat_refresh(mm, old, new, write):
    for z in mm.zones:                                # refresh_vm_stats on every CPU
        if z.vm_stat_diff:
            z.vm_free += sum(z.vm_stat_diff)
            z.vm_stat_diff = [0] * len(z.vm_stat_diff)


def _E(name, kind="int", **kw) -> _Entry:
    return _Entry(name, kind, **kw)


_ENTRIES = [
    _E("admin_reserve_kbytes", "ulong", default=8192),
    _E("compact_memory", "none", mode=0o200, handler=_h_compact_memory),
    _E("compact_unevictable_allowed", default=1, minv=0, maxv=1),
    _E("compaction_proactiveness", attr="compaction_proactiveness", minv=0, maxv=100,
       handler=_h_compaction_proactiveness),
    _E("dirty_background_bytes", "ulong", attr="dirty_background_bytes", minv=1,
       handler=_h_dirty_background_bytes),
    _E("dirty_background_ratio", attr="dirty_background_ratio", default=10, minv=0, maxv=100,
       handler=_h_dirty_background_ratio),
    _E("dirty_bytes", "ulong", attr="dirty_bytes", minv=2 * PAGE_SIZE, handler=_h_dirty_bytes),
    _E("dirty_expire_centisecs", default=3000, minv=0),
    _E("dirty_ratio", attr="dirty_ratio", default=20, minv=0, maxv=100, handler=_h_dirty_ratio),
    _E("dirty_writeback_centisecs", default=500),
    _E("dirtytime_expire_seconds", default=43200, minv=0),
    _E("drop_caches", mode=0o200, minv=1, maxv=4, handler=_h_drop_caches),
    _E("extfrag_threshold", attr="extfrag_threshold", minv=0, maxv=1000),
    _E("hugetlb_optimize_vmemmap", default=0, minv=0, maxv=1),
    _E("hugetlb_shm_group", default=0),
    _E("laptop_mode", "jiffies", default=0),
    _E("legacy_va_layout", default=0, minv=0),
    _E("lowmem_reserve_ratio", attr="lowmem_reserve_ratio", length=-1,
       handler=_h_lowmem_reserve, read_hook=_h_lowmem_reserve),
    _E("max_map_count", default=65530, minv=0),
    _E("memory_failure_early_kill", default=0, minv=0, maxv=1),
    _E("memory_failure_recovery", default=1, minv=0, maxv=1),
    _E("min_free_kbytes", attr="min_free_kbytes", minv=0, handler=_h_min_free_kbytes),
    _E("min_slab_ratio", attr="min_slab_ratio", minv=0, maxv=100, handler=_h_min_slab,
       read_hook=_h_min_slab),
    _E("min_unmapped_ratio", attr="min_unmapped_ratio", minv=0, maxv=100,
       handler=_h_min_unmapped, read_hook=_h_min_unmapped),
    _E("mmap_min_addr", "ulong", default=65536),
    _E("mmap_rnd_bits", default=28, minv=28, maxv=32),
    _E("mmap_rnd_compat_bits", default=8, minv=8, maxv=16),
    _E("nr_hugepages", "ulong", default=0, handler=_h_no_hugetlb),
    _E("nr_hugepages_mempolicy", "ulong", default=0, handler=_h_no_hugetlb),
    _E("nr_overcommit_hugepages", "ulong", default=0),
    _E("numa_stat", default=1, minv=0, maxv=1, handler=_h_numa_stat),
    _E("numa_zonelist_order", "string", default="Node"),
    _E("oom_dump_tasks", default=1),
    _E("oom_kill_allocating_task", default=0),
    _E("overcommit_kbytes", "ulong", attr="overcommit_kbytes"),
    _E("overcommit_memory", default=0, minv=0, maxv=2),
    _E("overcommit_ratio", attr="overcommit_ratio", default=50),
    _E("page-cluster", default=3, minv=0),
    _E("page_lock_unfairness", default=5, minv=0),
    _E("panic_on_oom", default=0, minv=0, maxv=2),
    _E("percpu_pagelist_high_fraction", attr="percpu_pagelist_high_fraction", minv=0,
       handler=_h_percpu_pagelist),
    _E("stat_interval", "jiffies", attr="stat_interval"),
    _E("stat_refresh", "none", mode=0o600, handler=_h_stat_refresh, read_hook=_h_stat_refresh),
    _E("swappiness", default=60, minv=0, maxv=200),
    _E("unprivileged_userfaultfd", default=0, minv=0, maxv=1),
    _E("user_reserve_kbytes", "ulong", default=131072),
    _E("vfs_cache_pressure", default=100, minv=0),
    _E("watermark_boost_factor", attr="watermark_boost_factor", minv=0),
    _E("watermark_scale_factor", attr="watermark_scale_factor", minv=1, maxv=3000,
       handler=_h_setup_wmarks),
    _E("zone_reclaim_mode", attr="zone_reclaim_mode", minv=0),
]
_TABLE = {e.name: e for e in _ENTRIES}


def sysctl_names() -> list[str]:
    """The /proc/sys/vm files the model has, sorted as ls lists them."""
    return sorted(_TABLE)


def _entry(name: str) -> _Entry:
    n = normalize_sysctl_name(name)
    e = _TABLE.get(n)
    if e is None:
        raise PageAllocError(f"sysctl vm.{n}: no such file in /proc/sys/vm "
                             f"(the model has: {', '.join(sysctl_names())})")
    return e


def _get(mm, e: _Entry):
    if e.attr is not None and hasattr(mm, e.attr):
        return getattr(mm, e.attr)
    if e.name not in mm.sysctl_vm:
        mm.sysctl_vm[e.name] = list(e.default) if isinstance(e.default, list) else e.default
    return mm.sysctl_vm[e.name]


def _set(mm, e: _Entry, value) -> None:
    if e.attr is not None and hasattr(mm, e.attr):
        setattr(mm, e.attr, value)
    else:
        mm.sysctl_vm[e.name] = value


# --- the parsers of kernel/sysctl.c ------------------------------------------------------

def _proc_get_long(s: str, pos: int) -> tuple[int, bool, int] | None:
    """proc_get_long(): (value, negative, new position) or None (-EINVAL)."""
    rest = s[pos:]
    tmp = rest[:TMPBUFLEN - 1]
    neg = False
    i = 0
    if tmp.startswith("-") and len(rest) > 1:
        neg = True
        i = 1
    if i >= len(tmp) or not tmp[i].isdigit():
        return None
    m = re.match(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", tmp[i:])
    if not m:
        return None
    digits = m.group(0)
    if digits[:2].lower() == "0x":
        val = int(digits, 16)
    elif digits.startswith("0") and len(digits) > 1:
        val = int(digits, 8)
    else:
        val = int(digits)
    if val > ULONG_MAX:
        return None
    length = i + len(digits)
    if length == TMPBUFLEN - 1:
        return None
    if length < len(rest) and rest[length] not in " \t\n":
        return None
    return val, neg, pos + length


def _parse_ints(e: _Entry, text: str, count: int) -> tuple[list[int], str | None]:
    """__do_proc_dointvec / __do_proc_doulongvec_minmax for a write: values and the error."""
    values: list[int] = []
    pos = 0
    n = len(text)
    err = None
    while len(values) < count:
        while pos < n and text[pos] in " \t\n":
            pos += 1
        if pos >= n:
            break
        got = _proc_get_long(text, pos)
        if got is None:
            err = f"{text[pos:].split()[0]!r} is not a number the kernel reads"
            break
        val, neg, pos = got
        if e.kind == "ulong":
            if neg:
                err = f"-{val} is negative"
                break
            v = val
        else:
            if neg:
                if val > INT_MAX + 1:
                    err = f"-{val} does not fit an int"
                    break
                v = -val
            else:
                if val > INT_MAX:
                    err = f"{val} does not fit an int"
                    break
                v = val
            if e.kind == "jiffies":
                if abs(v) > INT_MAX // HZ:
                    err = f"{v} seconds do not fit in jiffies"
                    break
        if (e.minv is not None and v < e.minv) or (e.maxv is not None and v > e.maxv):
            lo = "" if e.minv is None else e.minv
            hi = "" if e.maxv is None else e.maxv
            err = f"{v} is out of range {lo}..{hi}"
            break
        values.append(v)
    if not values and err is None:
        err = "no value given"
    return values, err


def _format(e: _Entry, value) -> str:
    if e.kind == "string":
        return f"{value}\n"
    if e.kind == "none":
        return ""
    vals = value if isinstance(value, list) else [value]
    return "\t".join(str(v) for v in vals) + "\n"


# --- the API -------------------------------------------------------------------------------

def read_sysctl(machine, name: str) -> str:
    """The content of /proc/sys/vm/NAME as the kernel prints it (runs read-side handlers)."""
    mm = _mm(machine)
    e = _entry(name)
    if not e.mode & 0o400:
        raise PageAllocError(f"vm.{e.name}: Permission denied (mode {e.mode:04o}, write-only)")
    if e.read_hook is not None:
        e.read_hook(mm, None, None, False)
    return _format(e, _get(mm, e))


def write_sysctl(machine, name: str, value) -> None:
    """Write /proc/sys/vm/NAME as `echo VALUE > /proc/sys/vm/NAME` would, through its handler.

    A value the kernel refuses (EINVAL: out of the table's range, not a
    number, percpu_pagelist_high_fraction 1..7) raises PageAllocError and
    leaves the machine as the kernel would leave it.
    """
    mm = _mm(machine)
    e = _entry(name)
    if not e.mode & 0o200:
        raise PageAllocError(f"vm.{e.name}: Permission denied (read-only)")
    text = " ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    if e.kind == "none":
        if e.handler is not None:
            e.handler(mm, None, None, True)
        return
    if e.kind == "string":
        s = text.lstrip()
        if not s or s[0] not in "dDnN":
            mm.printk(f"Ignoring unsupported numa_zonelist_order value:  {text}")
            raise PageAllocError(f"vm.{e.name}: {text!r} is not supported: only \"Node\" or "
                                 "\"Default\" (the kernel returns EINVAL)")
        return
    old = _get(mm, e)
    if isinstance(old, list):
        count = len(old)
        values, err = _parse_ints(e, text, count)
        new = list(old)
        new[:len(values)] = values
        if e.name == "lowmem_reserve_ratio":
            _set(mm, e, new)
            e.handler(mm, old, new, True)
            if err:
                raise PageAllocError(f"vm.lowmem_reserve_ratio: {err}; the kernel ignores the "
                                     f"error and applies the values before it ({values or 'none'})")
            return
        if err:
            raise PageAllocError(f"vm.{e.name}: {err} (the kernel returns EINVAL)")
        _set(mm, e, new)
        if e.handler is not None:
            e.handler(mm, old, new, True)
        return
    values, err = _parse_ints(e, text, 1)
    if err:
        raise PageAllocError(f"vm.{e.name}: {err} (the kernel returns EINVAL)")
    new = values[0]
    if e.name == "drop_caches":
        mm.sysctl_vm["drop_caches"] = new
    _set(mm, e, new)
    if e.handler is not None:
        e.handler(mm, old, new, True)


def set_transparent_hugepage(machine, mode: str) -> None:
    """Write /sys/kernel/mm/transparent_hugepage/enabled: always, madvise or never.

    Models mm/huge_memory.c:enabled_store -> start_stop_khugepaged, which
    re-runs set_recommended_min_free_kbytes (or the square-root rule for never).
    """
    mm = _mm(machine)
    if mode not in ("always", "madvise", "never"):
        raise PageAllocError(f"transparent_hugepage/enabled: {mode!r}: expected always, "
                             "madvise or never (the kernel returns EINVAL)")
    mm.thp = mode
    wm.start_stop_khugepaged(mm)
