"""Boot benchmark: seconds and peak RSS to boot a machine of a given size.

Not a kernel file. ``run(size)`` boots one machine in this process and
returns the figures (INTERFACES.md: ``ops_per_s`` boots per second,
``seconds``, ``peak_rss_bytes``); run as a script it boots each size in a
fresh interpreter so that one size's peak does not hide the next's:

    PYTHONPATH=src python bench/bench_boot.py [64G 1T ...] [--json]
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

__all__ = ["run"]


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(size: str = "64G", cpus: int = 4) -> dict:
    """Boot a q35-like machine of ``size`` with ``cpus`` CPUs; return its figures."""
    from pagealloc import Machine
    rss0 = _peak_rss_bytes()
    t = time.perf_counter()
    m = Machine.boot(mem=size, cpus=cpus)
    dt = time.perf_counter() - t
    mm = m.mm
    return {"name": "boot", "ops_per_s": 1.0 / dt, "seconds": dt, "mem": size, "cpus": cpus,
            "peak_rss_bytes": _peak_rss_bytes(), "peak_rss_before_bytes": rss0,
            "memmap_bytes": mm.mem.nbytes(), "pfns": mm.mem.npfn,
            "bytes_per_page": mm.mem.nbytes() / mm.mem.npfn,
            "managed_pages": sum(z.managed_pages for z in mm.zones),
            "free_pages": sum(z.nr_free_pages() for z in mm.zones)}


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    sizes = [a for a in argv if not a.startswith("--")] or ["64G", "1T"]
    if len(sizes) == 1 and "--inprocess" in argv:
        r = run(sizes[0])
        print(json.dumps(r))
        return 0
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, size, "--inprocess"], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        if as_json:
            print(json.dumps(r))
        else:
            print(f"boot {size:>5}: {r['seconds']:.2f} s, peak RSS {r['peak_rss_bytes'] / 2**20:,.0f} MiB "
                  f"({r['pfns']:,} pfns, memmap {r['bytes_per_page']:.1f} bytes/pfn)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
