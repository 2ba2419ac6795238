"""Named benchmarks behind `pagealloc bench NAME` (and the scripts in bench/).

Not a kernel file. Each returns a dict with at least ``name`` and
``ops_per_s`` (pairs per second for pair benchmarks); ``boot`` adds
``seconds`` and ``peak_rss_bytes``. Figures go in the README's Performance
section with the commit they were taken at; tests never assert on time.
"""
from __future__ import annotations

import random
import resource
import time

__all__ = ["BENCHMARKS", "run_benchmark"]


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_pcp(n: int = 1_000_000, mem: str = "1G") -> dict:
    """order-0 alloc+free pairs on the pcp fast path, every counter kept, tracing off."""
    from . import Machine, gfp
    m = Machine.boot(mem=mem, cpus=1)
    alloc = m.alloc_pages
    free = m.free_pages
    g = gfp.GFP_KERNEL
    for _ in range(1000):
        free(alloc(g, 0, 0), 0, 0)
    t = time.perf_counter()
    for _ in range(n):
        free(alloc(g, 0, 0), 0, 0)
    dt = time.perf_counter() - t
    m.check()
    return {"name": "pcp", "ops_per_s": n / dt, "seconds": dt, "pairs": n, "mem": mem,
            "bytes_per_page": m.mm.mem.nbytes() / m.mm.mem.npfn}


def bench_buddy_worst(n: int = 200_000, mem: str = "1G") -> dict:
    """order-0 pairs through the buddy (pcp bypassed: high 0) that split and merge ten times."""
    from . import Machine, gfp
    from .mm.page_alloc import __alloc_pages as alloc_pages, __free_pages as free_pages
    m = Machine.boot(mem=mem, cpus=1)
    mm = m.mm
    for z in mm.zones:      # zone_pcp_disable(): high 0, batch 1 -> every free goes to the buddy
        for pcp in z.pcp:
            pcp.high = 0
            pcp.batch = 1
            pcp.locked = True   # a held pcp: allocation takes rmqueue_buddy, free free_one_page
    g = gfp.GFP_HIGHUSER_MOVABLE
    pfn = alloc_pages(mm, g, 0, 0)
    free_pages(mm, pfn, 0)
    t = time.perf_counter()
    for _ in range(n):
        free_pages(mm, alloc_pages(mm, g, 0, 0), 0)
    dt = time.perf_counter() - t
    for z in mm.zones:
        for pcp in z.pcp:
            pcp.locked = False
    m.check()
    return {"name": "buddy-worst", "ops_per_s": n / dt, "seconds": dt, "pairs": n, "mem": mem}


def bench_mixed(n: int = 400_000, mem: str = "1G", seed: int = 1) -> dict:
    """orders 0..3 and 9, random frees at 50% occupancy, fallbacks happening."""
    from . import Machine, gfp
    from .mm.pcp import alloc_pages_fast as alloc_pages, free_pages_fast as free_pages
    m = Machine.boot(mem=mem, cpus=1)
    mm = m.mm
    rng = random.Random(seed)
    total = sum(z.managed_pages for z in mm.zones)
    target = total // 2
    orders = rng.choices([0, 1, 2, 3, 9], weights=[70, 12, 8, 6, 4], k=n)
    gfps = rng.choices([gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE,
                        gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE], weights=[3, 6, 1], k=n)
    picks = [rng.random() for _ in range(n)]
    live: list[tuple[int, int]] = []
    used = 0
    ops = 0
    t = time.perf_counter()
    for i in range(n):
        if used > target and live:
            j = int(picks[i] * len(live))
            pfn, o = live[j]
            live[j] = live[-1]
            live.pop()
            free_pages(mm, pfn, o)
            used -= 1 << o
        else:
            o = orders[i]
            pfn = alloc_pages(mm, gfps[i], o, 0)
            if pfn >= 0:
                live.append((pfn, o))
                used += 1 << o
        ops += 1
    dt = time.perf_counter() - t
    m.check()
    return {"name": "mixed", "ops_per_s": ops / dt, "seconds": dt, "ops": ops, "mem": mem,
            "live_blocks": len(live), "boost_pages": sum(z.watermark_boost for z in mm.zones)}


def bench_boot(mem: str = "64G") -> dict:
    """Boot a machine; seconds and peak RSS of the process."""
    from . import Machine
    t = time.perf_counter()
    m = Machine.boot(mem=mem, cpus=4)
    dt = time.perf_counter() - t
    return {"name": "boot", "ops_per_s": 1 / dt, "seconds": dt, "mem": mem,
            "peak_rss_bytes": _peak_rss(), "bytes_per_page": m.mm.mem.nbytes() / m.mm.mem.npfn}


def bench_verify(capture: str = "fl2-m1g-smp1") -> dict:
    """`pagealloc verify` on an oracle capture: seconds and peak RSS."""
    from .sources.reference import oracle_dir
    from .verify import verify_capture
    base = oracle_dir() / capture
    t = time.perf_counter()
    r = verify_capture(str(base / "fldump.txt"), str(base / "zoneinfo.before.txt"))
    dt = time.perf_counter() - t
    return {"name": "verify", "ops_per_s": r.allocations_total / dt, "seconds": dt,
            "capture": capture, "ok": r.ok, "peak_rss_bytes": _peak_rss()}


def bench_pressure(mem: str = "4G", n: int = 3, chunk: int = 256, thp_every: int = 16,
                   seed: int = 1) -> dict:
    """Page cache of n x RAM streamed through a machine with THP faults mixed in.

    A reader task reads files in ``chunk``-page pieces (GFP_HIGHUSER_MOVABLE
    page cache, reclaimed by kswapd and direct reclaim as memory runs short)
    while an anonymous task takes a THP fault every ``thp_every`` chunks and
    keeps a working set of them. ops = pages allocated (THP counted once).
    """
    from . import Machine
    from .mm.vmstat import ev_index
    m = Machine.boot(mem=mem, cpus=2)
    m.enable_reclaim(swap=0, thp_defrag="madvise")
    reader = m.spawn("reader")
    anon = m.spawn("anon")
    ram = sum(z.managed_pages for z in m.zones)
    target = n * ram
    rng = random.Random(seed)
    done = 0
    ops = 0
    thps: list[int] = []
    t = time.perf_counter()
    i = 0
    while done < target:
        got = m.alloc_user("file", chunk, owner=reader, cpu=i & 1)
        done += len(got)
        ops += len(got)
        i += 1
        if i % thp_every == 0 and anon.alive:     # (the OOM killer may have chosen it)
            thp = m.alloc_user("thp", 1, owner=anon, madvised=True, cpu=rng.randrange(2))
            ops += 1
            thps.extend(thp)
            if len(thps) > 64:
                victim = thps.pop(0)
                if m.page_user(victim)[1] is not anon:
                    # compaction migrated it: take the task's THPs as they are now
                    thps = m.pages_of(anon, "thp")
                    victim = thps.pop(0) if thps else -1
                if victim >= 0:
                    m.free_user([victim])
        if not got:
            break
    dt = time.perf_counter() - t
    ev = m.mm.events
    m.check()
    return {"name": "pressure", "ops_per_s": ops / dt, "seconds": dt, "mem": mem,
            "pages_streamed": done, "ram_pages": ram,
            "pgscan_kswapd": ev[ev_index("pgscan_kswapd")],
            "pgsteal_kswapd": ev[ev_index("pgsteal_kswapd")],
            "pgsteal_direct": ev[ev_index("pgsteal_direct")],
            "allocstall": sum(ev[ev_index(f"allocstall_{z}")] for z in ("dma", "dma32", "normal", "movable")),
            "thp_fault_alloc": ev[ev_index("thp_fault_alloc")],
            "thp_fault_fallback": ev[ev_index("thp_fault_fallback")],
            "compact_stall": ev[ev_index("compact_stall")]}


def bench_stat(n: int = 1_000_000, path: str | None = None, jobs: int | None = 2) -> dict:
    """`pagealloc stat` throughput: lines per second on a synthetic trace of real lines.

    ``jobs``: the processes sharing the scan, 2 as the benchmark is defined (stat_trace's
    own default follows the load average and would fall to 1 on a busy machine); None
    lets stat_trace choose."""
    import importlib.util
    from pathlib import Path
    script = Path(__file__).resolve().parents[2] / "bench" / "bench_stat.py"
    spec = importlib.util.spec_from_file_location("bench_stat", script)
    if not script.is_file() or spec is None or spec.loader is None:
        from .errors import PageAllocError
        raise PageAllocError(f"benchmark script {script} not found (run from a checkout)")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(path=path, lines=n, jobs=jobs)
    r.setdefault("name", "stat")
    return r


def bench_replay(n: int = 0, capture: str = "set2/m1g-smp2") -> dict:
    """`pagealloc replay` in exact mode on a real trace: events per second and peak RSS."""
    from .sources.reference import oracle_dir
    from .traces.replay import replay_trace
    base = oracle_dir() / capture
    start = str(base) if (base / "kpageflags.before.bin.xz").exists() else None
    t = time.perf_counter()
    r = replay_trace(str(base / "trace.txt.xz"), start=start, at="before" if start else None)
    dt = time.perf_counter() - t
    events = r.get("events", 0) if isinstance(r, dict) else getattr(r, "events", 0)
    return {"name": "replay", "ops_per_s": events / dt if dt else 0.0, "seconds": dt,
            "capture": capture, "events": events, "peak_rss_bytes": _peak_rss()}


BENCHMARKS = {"pcp": bench_pcp, "buddy-worst": bench_buddy_worst, "mixed": bench_mixed,
              "boot": bench_boot, "verify": bench_verify, "pressure": bench_pressure,
              "stat": bench_stat, "replay": bench_replay}


def run_benchmark(name: str, **kw) -> dict:
    if name not in BENCHMARKS:
        from .errors import PageAllocError
        raise PageAllocError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    from .compiled import compiled_modules
    r = BENCHMARKS[name](**kw)
    # which build ran: the mypyc-compiled modules (pagealloc compile) or pure Python
    r["compiled"] = compiled_modules()
    return r
