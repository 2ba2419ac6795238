"""One self-contained HTML report: every plot embedded as a base64 data URI.

Not a kernel file. The page needs nothing else: no stylesheet, script or image
outside it, so it can be mailed, attached to a bug or opened offline.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

from .plots import PLOTS

__all__ = ["write_report", "data_uri"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}
p.lead{color:#555;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}th{font-weight:600;color:#444}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:18px}
figure{margin:0 0 18px;background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px}
figure img{width:100%;height:auto;display:block}
figcaption{font-size:12.5px;color:#555;margin-top:6px}
pre{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:10px;overflow:auto;
font-size:11.5px;line-height:1.3}
details summary{cursor:pointer;color:#333;margin:6px 0}
.note{background:#fff8e1;border:1px solid #f0d98c;border-radius:6px;padding:8px 12px;margin:8px 0}
"""


def data_uri(path: Path) -> str:
    """A data: URI of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _kv_table(items) -> str:
    rows = []
    for k, v in items:
        cls = ' class="num"' if isinstance(v, (int, float)) else ""
        if isinstance(v, float):
            v = f"{v:,.2f}"
        elif isinstance(v, int):
            v = f"{v:,}"
        rows.append(f"<tr><th>{html.escape(str(k))}</th><td{cls}>{html.escape(str(v))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _figure(out: Path, name: str, title: str, caption: str) -> str:
    p = out / name
    if not p.is_file():
        return ""
    return (f'<figure><img alt="{html.escape(title)}" src="{data_uri(p)}">'
            f"<figcaption><b>{html.escape(title)}.</b> {html.escape(caption)}</figcaption>"
            "</figure>")


def write_report(sim, rec, summary: dict, out: Path, images: list[str],
                 path: Path | None = None) -> Path:
    """Write ``report.html`` into ``out`` (or ``path``) and return its path."""
    sc = sim.scenario
    mc = sc.machine
    m = sim.machine
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
             f"<title>pagealloc run: {html.escape(sc.name)}</title>",
             f"<style>{_CSS}</style></head><body><main>",
             f"<h1>pagealloc run: {html.escape(sc.name)}</h1>",
             f"<p class=\"lead\">{html.escape(sc.description or '')}</p>"]
    machine_items = [("memory", mc.mem if not mc.snapshot else f"clone of {mc.snapshot}"),
                     ("nodes", mc.nodes), ("CPUs", mc.cpus),
                     ("transparent_hugepage", f"{mc.thp} (defrag {mc.thp_defrag})"),
                     ("kernel command line", mc.cmdline or "-"),
                     ("sysctls", ", ".join(mc.sysctls) or "-"),
                     ("model parts installed", summary.get("models", "-")),
                     ("workload pages through", sim.mode),
                     ("simulated time", f"{sc.duration:g} s in ticks of {sc.tick * 1000:g} ms"),
                     ("seed", sc.seed), ("wall time", f"{summary.get('wall_s', 0):.1f} s")]
    parts.append("<h2>Machine and run</h2><div class=\"grid\"><div>" + _kv_table(machine_items)
                 + "</div><div>" + _summary_table(summary) + "</div></div>")
    for n in sim.notes:
        parts.append(f"<div class=\"note\">{html.escape(n)}</div>")
    parts.append("<h2>Fragmentation and allocation</h2>")
    for name, title, caption in PLOTS:
        if name in images:
            parts.append(_figure(out, name, title, caption))
    pics = [n for n in images if n.startswith("memmap.")]
    if pics:
        parts.append("<h2>Physical memory</h2><p>One cell per 2 MiB pageblock in pfn order; "
                     "hue: migratetype (red unmovable, blue movable, amber reclaimable, "
                     "purple highatomic); pale: free, deep: allocated; black dots: blocks "
                     "holding pages of another mobility.</p>")
        for pic, name in zip(rec.pictures, pics):
            parts.append(_figure(out, name, f"At {pic.label}",
                                 f"simulated t = {pic.t:g} s"))
    if sim.events_log:
        parts.append("<h2>Events</h2><table><tr><th>t (s)</th><th>event</th></tr>")
        for t, text in sim.events_log:
            parts.append(f"<tr><td class=\"num\">{t:g}</td><td>{html.escape(text)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Actors</h2><table><tr><th>phase</th><th>actor</th><th>kind</th>"
                 "<th>what happened</th></tr>")
    for a in sim.actors:
        stats = ", ".join(f"{k} {int(v):,}" for k, v in sorted(a.stats.items()))
        parts.append(f"<tr><td>{html.escape(a.phase.name)}</td><td>{html.escape(a.name)}</td>"
                     f"<td>{a.kind}</td><td>{html.escape(stats or '-')}</td></tr>")
    parts.append("</table>")
    if rec.final_views:
        parts.append("<h2>/proc at the end</h2>")
        for v, text in rec.final_views.items():
            parts.append(f"<details{' open' if v == 'buddyinfo' else ''}><summary>{v}</summary>"
                         f"<pre>{html.escape(text)}</pre></details>")
    if sc.text:
        parts.append("<h2>Scenario</h2><details><summary>"
                     f"{html.escape(sc.path)}</summary><pre>{html.escape(sc.text)}</pre></details>")
    parts.append("<p style=\"color:#888;font-size:12px;margin-top:30px\">Made by pagealloc, "
                 "a model of the Linux 6.1 page allocator. Files beside this report: "
                 "metrics.csv, timeline.csv, highorder.csv, views/.</p>")
    parts.append("</main></body></html>\n")
    path = path or out / "report.html"
    path.write_text("".join(parts))
    return path


def _summary_table(s: dict) -> str:
    gib = 4096 / 2**30
    items = [("free memory at the end", f"{s['free_pages'] * gib:.2f} GiB of "
                                         f"{s['managed_pages'] * gib:.2f} GiB managed"),
             ("allocations (failed)", f"{s['alloc_attempts']:,} ({s['alloc_failures']:,})")]
    for key in sorted(k for k in s if k.startswith("order") and k.endswith("_attempts")):
        o = key[5:-9]
        pct = s.get(f"order{o}_success_pct")
        items.append((f"order-{o} allocations", f"{s[key]:,} tries, "
                      + (f"{pct:g}% succeeded, mean {s.get(f'order{o}_mean_steps', 0):g} steps"
                         if pct is not None else "none")))
    if s.get("thp_success_pct") is not None:
        items.append(("THP faults", f"{s['thp_fault_alloc']:,} huge, "
                                    f"{s['thp_fault_fallback']:,} fell back "
                                    f"({s['thp_success_pct']:g}% huge)"))
    items += [("direct compaction", f"{s['compact_stall']:,} stalls, {s['compact_success']:,} "
                                    f"succeeded"),
              ("reclaim (kswapd / direct)", f"{s['pgsteal_kswapd']:,} / {s['pgsteal_direct']:,} "
                                            "pages"),
              ("OOM kills", s["oom_kill"])]
    return _kv_table(items)
