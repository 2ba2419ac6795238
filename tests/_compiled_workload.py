"""A deterministic workload whose every result is digested: run once pure, once compiled.

Not a test module (tests/test_compiled.py runs it in two subprocesses, one with the
mypyc-built modules first on the path, and compares the JSON it prints). Each part
hashes what the model produced: every pfn handed out (or failure), the trace lines,
and the /proc views at the end; a difference anywhere changes a digest.

    python tests/_compiled_workload.py [--quick]
"""
from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Digest:
    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.n = 0

    def add(self, *vals: object) -> None:
        self.h.update(repr(vals).encode())
        self.h.update(b"\n")
        self.n += 1

    def out(self) -> dict:
        return {"sha256": self.h.hexdigest(), "items": self.n}


def views(m, d: Digest) -> None:
    for v in ("buddyinfo", "pagetypeinfo", "zoneinfo", "vmstat", "meminfo"):
        d.add(v, m.show(v))


def random_workload(seed: int, ops: int) -> dict:
    """Orders 0..10, many gfp masks, 4 CPUs on 2 nodes, drains, bulk calls, sysctls, tracing."""
    from pagealloc import Machine, gfp
    from pagealloc.mm.page_alloc import drain_all_pages
    m = Machine.boot(mem="2G", nodes=2, cpus=4, seed=seed)
    rng = random.Random(seed)
    masks = [gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC, gfp.GFP_NOWAIT,
             gfp.GFP_KERNEL | gfp.__GFP_RECLAIMABLE, gfp.GFP_DMA32, gfp.GFP_DMA,
             gfp.GFP_KERNEL | gfp.__GFP_THISNODE, gfp.GFP_TRANSHUGE_LIGHT,
             gfp.GFP_ATOMIC | gfp.__GFP_COMP | gfp.__GFP_NOWARN]
    orders = [0] * 40 + [1] * 8 + [2] * 6 + [3] * 6 + [4, 5, 6, 7, 8, 10] + [9] * 4
    live: list[tuple[int, int, int]] = []
    d = Digest()
    lines: list[str] = []
    total = sum(z.managed_pages for z in m.zones)
    used = 0
    for i in range(ops):
        if i == ops // 3:
            m.write_sysctl("vm.min_free_kbytes", "45000")
            m.write_sysctl("vm.watermark_scale_factor", "200")
        if i == ops // 2:
            from pagealloc.mm.tracepoints import Tracer
            m.mm.trace = Tracer(lines)
        if i == (2 * ops) // 3:
            m.mm.trace = None
        r = rng.random()
        if r < 0.003:
            drain_all_pages(m.mm, None)
            d.add("drain")
        elif r < 0.006:
            got = m.alloc_pages_bulk(rng.choice(masks[:2]), rng.randrange(1, 40),
                                     cpu=rng.randrange(4))
            d.add("bulk", got)
            live.extend((p, 0, 0) for p in got)
            used += len(got)
        elif r < 0.009 and live:
            k = min(len(live), rng.randrange(1, 20))
            batch = [live.pop(rng.randrange(len(live))) for _ in range(k)]
            zero = [p for p, o, _ in batch if o == 0]
            m.free_pages_list(zero, cpu=rng.randrange(4))
            for p, o, c in batch:
                if o:
                    m.free_pages(p, o, cpu=c)
            used -= sum(1 << o for _, o, _ in batch)
            d.add("freelist", len(batch))
        elif used < total * 0.7 and (r < 0.55 or not live):
            order = rng.choice(orders)
            mask = rng.choice(masks)
            cpu = rng.randrange(4)
            nid = rng.choice((None, None, 0, 1))
            pfn = m.alloc_pages(mask, order, cpu=cpu, nid=nid)
            d.add("a", order, mask, cpu, nid, pfn)
            if pfn is not None:
                live.append((pfn, order, cpu))
                used += 1 << order
        elif live:
            p, o, c = live.pop(rng.randrange(len(live)))
            cpu = c if rng.random() < 0.7 else rng.randrange(4)
            d.add("f", p, o, cpu, m.free_pages(p, o, cpu=cpu))
            used -= 1 << o
    m.check()
    tr = Digest()
    for line in lines:
        tr.add(line)
    views(m, d)
    return {"ops": d.out(), "trace": tr.out(), "trace_lines": len(lines)}


def verify_captures() -> dict:
    from pagealloc.verify import verify_capture
    out = {}
    for cap in sorted((HERE / "data" / "captures").iterdir()):
        fl = cap / "fldump.txt.xz"
        if not fl.exists():
            continue
        r = verify_capture(str(fl), str(cap / "zoneinfo.before.txt"))
        out[cap.name] = r.to_json()
    return out


def pressure() -> dict:
    from pagealloc.benchmarks import bench_pressure
    r = bench_pressure(mem="1G", n=2, chunk=128, thp_every=4)
    return {k: v for k, v in r.items() if k not in ("ops_per_s", "seconds")}


def replay() -> dict | None:
    """Exact replay of the oracle's smallest whole-workload trace (when the oracle is here)."""
    from pagealloc.sources.reference import oracle_dir
    from pagealloc.traces.replay import replay_trace
    try:
        folder = oracle_dir() / "set2" / "m256-smp1"
    except Exception:
        return None
    traces = sorted(folder.glob("trace.txt*")) if folder.is_dir() else []
    if not traces:
        return None
    res = replay_trace(str(traces[0]), start=str(folder), mode="exact")
    d = Digest()
    for k in sorted(res):
        if "second" not in k and not k.endswith("_per_s"):
            d.add(k, res[k])
    return {"result": d.out(), "events": res.get("events"),
            "impossible": res.get("impossible_moves", res.get("impossible"))}


def main(argv: list[str]) -> None:
    from pagealloc.compiled import compiled_modules
    quick = "--quick" in argv
    res = {
        "compiled": compiled_modules(),
        "random": random_workload(7, 20_000 if quick else 60_000),
        "pressure": pressure(),
        "verify": {} if quick else verify_captures(),
        "replay": None if quick else replay(),
    }
    json.dump(res, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
