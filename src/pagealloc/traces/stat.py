"""``pagealloc stat``: a summary of a kmem trace, like ``perf kmem --page stat``.

Not a kernel file. :func:`stat_trace` returns the JSON object that
INTERFACES.md pins (``events``, ``allocations``, ``frees``, ``pcp_vs_buddy``,
``fallbacks``, ``callers``) plus a few keys of ours (``format``, ``lines``,
``bad_lines``, ``lost_events``, ``duration_s``, ``compaction``);
:func:`render_stat` prints it as tables.

Speed: the scan builds no event per line. In each block of lines, the regex
engine drops the ``page=`` and ``pfn=`` fields and, for raw ftrace, slicing
at the fixed columns drops flags and timestamp (another regex does it for
trace-cmd and perf layouts); what is left of a kmem line repeats ("<comm>-<pid>
[<cpu>] <event>: <fields after pfn>"), so the block is counted by key in C and
only each distinct key is parsed and checked, once per process. A malformed
line is reported at its line number. Lines the keys do not explain go through
the reader's general parser one by one. Large plain files are cut at line
starts into one byte range per process. The stat checks what it uses (task,
cpu, event, pfn, the fields after it); the reader checks every column.

Estimates, from event order on each CPU: an allocation of an order the pcp
lists serve (0..PAGE_ALLOC_COSTLY_ORDER, and pageblock_order with THP:
mm/page_alloc.c:pcp_allowed_order) counts as a pcp *refill* when
mm_page_alloc_zone_locked events ran on its CPU since that CPU's previous
allocation (rmqueue_bulk under zone->lock), else as a pcp *hit*; larger
orders count as *buddy*. The tracepoint's own ``percpu_refill`` field is
derived from order and migratetype, not from the caller ([6.1]
__rmqueue_smallest), so it cannot tell the two apart.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import re
import threading
from collections import Counter
from itertools import repeat
from operator import itemgetter

from ..errors import InputError
from ..mm.gfp import format_gfp
from ..mm.mmzone import migratetype_names, pageblock_order
from .reader import (_CODES, ALLOC, BATCHED, DRAIN, EXTFRAG, FREE, KMEM_EVENTS, ZONE_LOCKED,
                     TraceEvent, _int, _kmem_values, compression, is_noise, iter_text_blocks,
                     line_format, lost_events, normalize_event, parse_fields, parse_head,
                     parse_line, parse_who)

__all__ = ["stat_trace", "render_stat", "pcp_allowed_order", "migratetype_name"]

PAGE_ALLOC_COSTLY_ORDER = 3
_ISOLATE_FREE, _ISOLATE_MIGRATE = 8, 9
_ISOLATE_NAMES = {"mm_compaction_isolate_freepages": _ISOLATE_FREE,
                  "mm_compaction_isolate_migratepages": _ISOLATE_MIGRATE}

_KMEM_CODES = frozenset(_CODES.values())
_CACHE_MAX = 1 << 17

# The per-line transform, run by the regex engine over a whole block: drop the flags and
# timestamp columns, and the page= and pfn= fields (unless pfn is 0: a failed allocation).
# What is left of a kmem line repeats: "<comm>-<pid> [<cpu>] <event>: <fields after pfn>".
_R_TS = re.compile(rb"\] [^:\n]*: ")
_R_PFN = re.compile(rb"page=[^ \n]+ pfn=(?!0x0 |0 )(?:0x[0-9a-fA-F]+|[0-9]+) ")


def _parse_key(k: bytes) -> tuple | str:
    """Parse a transformed line.

    Returns (code, comm, cpu, order, migratetype, gfp text, extra items, failed) for a kmem
    event, the event name for another event, or a string starting with "?" when the
    original line must be parsed on its own (isolate ranges, odd layouts, errors).
    """
    a = k.find(b": ")
    if a < 0:
        return "?"
    head = k[:a]
    j = head.rfind(b"]")
    name = normalize_event(head[j + 1:]) if j > 0 else None
    if name is None:
        return "?"
    i = head.rfind(b"[", 0, j)
    if i < 0 or not head[i + 1:j].isdigit():
        return "?"
    who = parse_who(head[:i])
    if who is None:
        return "?"
    code = _CODES.get(name)
    if code is None:
        return "?" if name in _ISOLATE_NAMES or name == "print" else name
    f = parse_fields(k[a + 2:].decode("utf-8", "replace"))
    if f is None:
        return "?"
    failed = False
    try:
        if "pfn" in f:          # kept: a failed allocation, or a pfn the transform refused
            pfn = _int(f.pop("pfn"))
            failed = code == ALLOC and pfn == 0
        f.pop("page", None)
        order, mt, g, extra = _kmem_values(code, f)
    except (ValueError, KeyError):
        return "?"
    return (code, who[0], int(head[i + 1:j]), order, mt,
            format_gfp(g) if g is not None else None, tuple(extra.items()), failed)


def pcp_allowed_order(order: int, thp: bool = True) -> bool:
    """Whether the pcp lists serve ``order``.

    Models mm/page_alloc.c:pcp_allowed_order (6.1, CONFIG_TRANSPARENT_HUGEPAGE).
    """
    return order <= PAGE_ALLOC_COSTLY_ORDER or (thp and order == pageblock_order)


def migratetype_name(mt: int, cma: bool = False) -> str:
    """The kernel's name (mm/page_alloc.c:migratetype_names) for a printed migratetype.

    Without CONFIG_CMA the kernel's 4 is MIGRATE_ISOLATE.
    """
    names = migratetype_names if cma else tuple(n for n in migratetype_names if n != "CMA")
    return names[mt] if 0 <= mt < len(names) else str(mt)


class _BlockScanner:
    """Summarises blocks of whole lines; keeps, per process, what each distinct key means.

    :meth:`scan` returns a plain dict (it may cross a process boundary): counts by record,
    other events by name, isolate sums, the per-CPU allocation sequence, errors by line
    index within the block.
    """

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        # key -> (record or None, cpu, kind): kind 0 nothing, 1 zone_locked, 2 pcp-order
        # allocation, 3 other allocation (failed, or an order the pcp lists do not serve);
        # one cache per key form (sliced, regex)
        self.caches: dict[bool, dict[bytes, tuple]] = {True: {}, False: {}}
        self.width = 0
        self._tables: dict[int, tuple[bytes, bytes]] = {}

    def scan(self, block: bytes) -> dict:
        t = _R_PFN.sub(b"", block)
        layout = _ftrace_layout(block)
        if layout is None:
            keys = _R_TS.sub(b"] ", t).split(b"\n")
        else:
            # raw ftrace: the columns before the timestamp have fixed widths, so slicing
            # drops flags and timestamp; the ": " kept at w lets each key be checked
            w, c = layout
            self.width = w
            lines = t.split(b"\n")
            # line[:w] + line[c:], with the loop in C
            keys = list(map(b"".join, zip(map(itemgetter(slice(0, w)), lines),
                                          map(itemgetter(slice(c, None)), lines))))
        keys.pop()
        sliced = layout is not None
        counts = Counter(keys)          # counted in C
        out = {"n": len(keys), "agg": {}, "other": {}, "isolate": None, "lost": 0,
               "bad": 0, "error": None, "seq": {}, "fmt": None, "hint": None,
               "first_ts": None, "last_ts": None}
        agg = out["agg"]
        cache = self.caches[sliced]
        seq: dict[bytes, tuple[int, int]] = {}
        raw: list[bytes] | None = None
        for k, cnt in counts.items():
            known = cache.get(k)
            if known is None:
                if raw is None:
                    raw = block.split(b"\n")
                known = self._new_key(k, cnt, keys, raw, out, cache, sliced)
                if out["error"] is not None:
                    return out
                if known is None:
                    continue
            rec, cpu, kind = known
            if rec is not None:
                agg[rec] = agg.get(rec, 0) + cnt
                if kind:
                    seq[k] = (cpu, kind)
        if seq:
            self._sequence(keys, seq, out["seq"])
        out["first_ts"] = _edge_ts(block.split(b"\n", 16)[:16])
        out["last_ts"] = _edge_ts(block.rsplit(b"\n", 17)[-2:0:-1])
        if len(cache) > _CACHE_MAX:
            cache.clear()
        return out

    def _new_key(self, k: bytes, cnt: int, keys: list[bytes], raw: list[bytes],
                 out: dict, cache: dict[bytes, tuple], sliced: bool) -> tuple | None:
        """Classify a key not seen before; cache it when it can repeat."""
        if is_noise(k):
            i = keys.index(k)
            line = raw[i]
            if line.startswith(b"# tracer:"):
                out["hint"] = out["hint"] or "ftrace"
            elif line.startswith((b"version =", b"cpus=")):
                out["hint"] = out["hint"] or "trace-cmd"
            if line.startswith(b"CPU:"):
                for j in _positions(keys, k, cnt):
                    out["lost"] += lost_events(raw[j])
                return None
            c = (None, 0, 0)
            if cnt > 1 or len(cache) < _CACHE_MAX // 2:
                cache[k] = c
            return c
        if not sliced:
            v = _parse_key(k)
        elif k[self.width - 2:self.width + 2] == b"] : ":
            v = _parse_key(k[:self.width] + k[self.width + 2:])
        else:
            # a line off the block's columns (a timestamp that grew a digit): the regex form
            # of its first line stands for all its lines, which differ only before ": "
            v = _parse_key(_R_TS.sub(b"] ", _R_PFN.sub(b"", raw[keys.index(k)])))
        if isinstance(v, tuple):
            code, comm, cpu, order, mt, g, extra, failed = v
            if out["fmt"] is None:
                out["fmt"] = line_format(raw[keys.index(k)].split(b": ", 2))
            kind = 0
            if code == ZONE_LOCKED:
                kind = 1
            elif code == ALLOC:
                kind = 2 if not failed and pcp_allowed_order(order) else 3
            c = ((code, comm, order, mt, g, extra, failed), cpu, kind)
            cache[k] = c
            return c
        if not v.startswith("?"):               # another event: only its name counts
            if out["fmt"] is None:
                out["fmt"] = line_format(raw[keys.index(k)].split(b": ", 2))
            out["other"][v] = out["other"].get(v, 0) + cnt
            return None
        # isolate ranges (fields per line), odd layouts, errors: line by line
        for j in _positions(keys, k, cnt):
            self._line(j, raw[j], out)
            if out["error"] is not None:
                return None
        return None

    def _line(self, j: int, line: bytes, out: dict) -> None:
        """Count one line through the reader's general parser."""
        ev = parse_line(line, j + 1)
        if not isinstance(ev, TraceEvent):
            msg = ev or "not a trace event line"
            if not self.skip_bad:
                out["error"] = (j, msg)
            else:
                out["bad"] += 1
            return
        if out["fmt"] is None and line.count(b": ") >= 2:
            out["fmt"] = line_format(line.split(b": ", 2))
        code = _CODES.get(ev.name)
        if code is None:
            out["other"][ev.name] = out["other"].get(ev.name, 0) + 1
            c2 = _ISOLATE_NAMES.get(ev.name)
            if c2 is not None:
                iso = out["isolate"]
                if iso is None:
                    iso = out["isolate"] = {_ISOLATE_FREE: [0, 0, 0],
                                            _ISOLATE_MIGRATE: [0, 0, 0]}
                acc = iso[c2]
                acc[0] += 1
                acc[1] += ev.extra["nr_scanned"]
                acc[2] += ev.extra["nr_taken"]
            return
        rec = (code, ev.comm, ev.order, ev.migratetype,
               format_gfp(ev.gfp) if ev.gfp is not None else None,
               tuple(ev.extra.items()) if ev.extra else (), ev.pfn == -1)
        out["agg"][rec] = out["agg"].get(rec, 0) + 1
        # odd lines take no part in the per-CPU sequence (an estimate anyway)

    def _sequence(self, keys: list[bytes], seq: dict[bytes, tuple[int, int]],
                  res: dict[int, tuple]) -> None:
        """Per CPU: allocations of pcp orders, those right after zone_locked events, and
        the first and last mark, so that blocks can be stitched.

        The block becomes one byte per line (84 CPUs per pass); ``bytes.translate`` keeps
        one CPU's marks: Z zone_locked, A pcp-order allocation, B other allocation.
        """
        groups: dict[int, dict[bytes, int]] = {}
        for k, (cpu, kind) in seq.items():
            g, c = divmod(cpu, 84)
            groups.setdefault(g, {})[k] = 3 * c + kind
        for g, d in groups.items():
            marks = bytes(map(d.get, keys, repeat(0)))
            for c in sorted({(v - 1) // 3 for v in d.values()}):
                cpu = 84 * g + c
                tbl = self._tables.get(c)
                if tbl is None:
                    z, a, b = 3 * c + 1, 3 * c + 2, 3 * c + 3
                    t = bytearray(256)
                    t[z], t[a], t[b] = 90, 65, 66      # Z A B
                    tbl = self._tables[c] = (bytes(t), bytes(x for x in range(256)
                                                              if x not in (z, a, b)))
                s = marks.translate(tbl[0], tbl[1])
                if s:
                    res[cpu] = (s.count(b"A"), s.count(b"ZA"), s[:1], s[-1:])


def _positions(keys: list[bytes], k: bytes, cnt: int) -> list[int]:
    """The ``cnt`` indexes of ``k`` in ``keys`` (list.index runs in C)."""
    out = []
    j = -1
    for _ in range(cnt):
        j = keys.index(k, j + 1)
        out.append(j)
    return out


def _ftrace_layout(block: bytes) -> tuple[int, int] | None:
    """(end of "] ", position of the ": " after the timestamp) when the block's first event
    line is raw ftrace text, whose columns up to there have fixed widths; else None."""
    for line in block.split(b"\n", 40)[:40]:
        if is_noise(line):
            continue
        p = line.split(b": ", 2)
        a = line.find(b"] ")
        if len(p) != 3 or a < 0 or len(p[0]) < a or parse_head(p[0]) is None \
                or normalize_event(p[1]) is None or line_format(p) != "ftrace":
            return None
        return a + 2, len(p[0])
    return None


def _edge_ts(lines: list[bytes]) -> float | None:
    """Timestamp of the first event line among ``lines``."""
    for line in lines:
        if is_noise(line):
            continue
        p = line.split(b": ", 2)
        head = parse_head(p[0]) if len(p) == 3 else None
        if head is not None:
            return head[4]
        ev = parse_line(line)
        if isinstance(ev, TraceEvent):
            return ev.ts
    return None


class _Merge:
    """Sums block results in file order; stitches the per-CPU sequences.

    :meth:`result` gives the sum in the shape of one block's result, so that the sums of
    consecutive ranges (one per process) merge the same way.
    """

    def __init__(self, path: str, skip_bad: bool) -> None:
        self.path = path
        self.skip_bad = skip_bad
        self.lines = 0
        self.bad = 0
        self.lost = 0
        self.agg: dict[tuple, int] = {}
        self.other: dict[str, int] = {}
        self.isolate = {_ISOLATE_FREE: [0, 0, 0], _ISOLATE_MIGRATE: [0, 0, 0]}
        self.fmt: str | None = None
        self.hint: str | None = None
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        # cpu -> [pcp-order allocations, of which right after zone_locked, first mark, last]
        self.seq: dict[int, list] = {}
        self.error: tuple[int, str] | None = None

    def add(self, r: dict, raise_errors: bool = True) -> bool:
        """Add the next block's (or range's) result; False once an error stops the scan."""
        if r["error"] is not None:
            j, msg = r["error"]
            if raise_errors:
                raise InputError(self.path, self.lines + j + 1, msg)
            self.error = (self.lines + j, msg)
            return False
        self.lines += r["n"]
        self.bad += r["bad"]
        self.lost += r["lost"]
        agg = self.agg
        for rec, cnt in r["agg"].items():
            agg[rec] = agg.get(rec, 0) + cnt
        for name, cnt in r["other"].items():
            self.other[name] = self.other.get(name, 0) + cnt
        if r["isolate"]:
            for code, acc in r["isolate"].items():
                mine = self.isolate[code]
                for i in range(3):
                    mine[i] += acc[i]
        self.fmt = self.fmt or r["fmt"]
        self.hint = self.hint or r["hint"]
        if self.first_ts is None:
            self.first_ts = r["first_ts"]
        if r["last_ts"] is not None:
            self.last_ts = r["last_ts"]
        seq = self.seq
        for cpu, (n_a, n_za, first, last) in r["seq"].items():
            mine = seq.get(cpu)
            if mine is None:
                seq[cpu] = [n_a, n_za, first, last]
            else:
                mine[0] += n_a
                mine[1] += n_za + (first == b"A" and mine[3] == b"Z")
                mine[3] = last
        return True

    def result(self) -> dict:
        return {"n": self.lines, "agg": self.agg, "other": self.other,
                "isolate": self.isolate, "lost": self.lost, "bad": self.bad,
                "error": self.error, "seq": {c: tuple(v) for c, v in self.seq.items()},
                "fmt": self.fmt, "hint": self.hint, "first_ts": self.first_ts,
                "last_ts": self.last_ts}


def _scan_range(path: str, skip_bad: bool, start: int = 0, end: int | None = None,
                raise_errors: bool = True) -> _Merge:
    """Scan the whole trace, or a byte range of a plain file, in one process."""
    merge = _Merge(path, skip_bad)
    scanner = _BlockScanner(skip_bad)
    for block in iter_text_blocks(path, start=start, end=end):
        if not merge.add(scanner.scan(block), raise_errors):
            break
    return merge


def _worker(args: tuple) -> dict:
    path, skip_bad, start, end = args
    return _scan_range(path, skip_bad, start, end, raise_errors=False).result()


def _split_ranges(path: str, jobs: int) -> list[tuple[int, int]]:
    """Byte ranges of a plain file, one per job, cut at line starts."""
    size = os.path.getsize(path)
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, jobs):
            f.seek(max(size * i // jobs, cuts[-1]))
            f.readline()
            cuts.append(min(f.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _default_jobs(path: str) -> int:
    """Processes worth using: for a plain file of more than 64 MiB (about 500 000 lines),
    one per CPU that other work leaves idle (load average), at most four; else one (a
    compressed file has its decompression thread)."""
    if path == "-" or compression(path):
        return 1
    try:
        size = os.path.getsize(path)
    except OSError:
        return 1
    if size < (64 << 20):
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    try:
        idle = cpus - os.getloadavg()[0]
    except OSError:
        idle = cpus
    return max(1, min(4, cpus, math.ceil(idle)))


def _scan(path: str, skip_bad: bool, jobs: int) -> _Merge:
    if jobs <= 1 or path == "-" or compression(path):
        return _scan_range(path, skip_bad)
    ranges = _split_ranges(path, jobs)
    if len(ranges) <= 1:
        return _scan_range(path, skip_bad)
    # fork is cheap, and safe while this process has no other thread
    method = "fork" if threading.active_count() == 1 and "fork" in \
        multiprocessing.get_all_start_methods() else "forkserver"
    with multiprocessing.get_context(method).Pool(len(ranges)) as pool:
        results = pool.map(_worker, [(path, skip_bad, a, b) for a, b in ranges])
    merge = _Merge(path, skip_bad)
    for r in results:
        merge.add(r)
    return merge


class _Scan:
    """The figures of a scanned trace, turned into the JSON object."""

    def __init__(self, merge: _Merge, cma: bool) -> None:
        self.m = merge
        self.cma = cma

    # ---- the result ------------------------------------------------------------------------
    def result(self) -> dict:
        mtn = lambda mt: migratetype_name(mt, self.cma)  # noqa: E731
        events: dict[str, int] = {name: 0 for name in KMEM_EVENTS}
        a_total = a_pages = a_failed = 0
        a_order: dict[int, int] = {}
        a_mt: dict[str, int] = {}
        a_gfp: dict[str, int] = {}
        a_om: dict[int, dict[str, int]] = {}
        f_total = f_batched = f_pages = 0
        f_order: dict[int, int] = {}
        buddy = free_pcp = free_buddy = 0
        zl_n = zl_pages = zl_refill = dr_n = dr_pages = 0
        fb = {"total": 0, "fragmenting": 0, "change_ownership": 0}
        fb_order: dict[int, int] = {}
        fb_pair: dict[str, dict[str, int]] = {}
        callers: dict[str, dict[str, int]] = {}

        def caller(comm: str) -> dict[str, int]:
            c = callers.get(comm)
            if c is None:
                c = callers[comm] = {"allocations": 0, "pages": 0, "failed": 0, "frees": 0,
                                     "free_pages": 0}
            return c

        m = self.m
        for (code, comm, order, mt, g, ex, failed), cnt in m.agg.items():
            events[KMEM_EVENTS[code - 1]] += cnt
            ex = dict(ex)
            if code == ALLOC:
                a_total += cnt
                a_order[order] = a_order.get(order, 0) + cnt
                a_mt[mtn(mt)] = a_mt.get(mtn(mt), 0) + cnt
                om = a_om.setdefault(order, {})
                om[mtn(mt)] = om.get(mtn(mt), 0) + cnt
                a_gfp[g] = a_gfp.get(g, 0) + cnt
                c = caller(comm)
                c["allocations"] += cnt
                if failed:
                    a_failed += cnt
                    c["failed"] += cnt
                    continue
                a_pages += cnt << order
                c["pages"] += cnt << order
                if not pcp_allowed_order(order):
                    buddy += cnt
            elif code == FREE:
                f_total += cnt
                f_order[order] = f_order.get(order, 0) + cnt
                f_pages += cnt << order
                c = caller(comm)
                c["frees"] += cnt
                c["free_pages"] += cnt << order
                if pcp_allowed_order(order):
                    free_pcp += cnt
                else:
                    free_buddy += cnt
            elif code == BATCHED:
                f_batched += cnt
            elif code == ZONE_LOCKED:
                zl_n += cnt
                zl_pages += cnt << order
                if ex.get("percpu_refill"):
                    zl_refill += cnt
            elif code == DRAIN:
                dr_n += cnt
                dr_pages += cnt << order
            elif code == EXTFRAG:
                frag, own = bool(ex["fragmenting"]), bool(ex["change_ownership"])
                fb["total"] += cnt
                fb["fragmenting"] += cnt * frag
                fb["change_ownership"] += cnt * own
                fo = ex["fallback_order"]
                fb_order[fo] = fb_order.get(fo, 0) + cnt
                pair = f"{mtn(ex['alloc_migratetype'])}/{mtn(ex['fallback_migratetype'])}"
                e = fb_pair.setdefault(pair, {"count": 0, "fragmenting": 0,
                                              "change_ownership": 0})
                e["count"] += cnt
                e["fragmenting"] += cnt * frag
                e["change_ownership"] += cnt * own

        for name in sorted(m.other):
            events[name] = events.get(name, 0) + m.other[name]

        def by_int(d: dict[int, int]) -> dict[str, int]:
            return {str(k): d[k] for k in sorted(d)}

        def by_count(d: dict[str, int]) -> dict[str, int]:
            return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))

        mt_rank = {migratetype_name(i, self.cma): i for i in range(6)}
        by_mt = lambda d: dict(sorted(d.items(), key=lambda kv: mt_rank.get(kv[0], 99)))  # noqa
        refill = sum(v[1] for v in m.seq.values())
        hit = sum(v[0] for v in m.seq.values()) - refill
        duration = None
        if m.first_ts is not None and m.last_ts is not None:
            duration = round(m.last_ts - m.first_ts, 6)
        iso = m.isolate
        return {
            "format": m.hint or m.fmt or "ftrace",
            "lines": m.lines,
            "bad_lines": m.bad,
            "lost_events": m.lost,
            "duration_s": duration,
            "events": events,
            "allocations": {
                "total": a_total,
                "by_order": by_int(a_order),
                "by_migratetype": by_mt(a_mt),
                "by_gfp": by_count(a_gfp),
                "pages": a_pages,
                "failed": a_failed,
                "by_order_migratetype": {str(o): by_mt(a_om[o]) for o in sorted(a_om)},
            },
            "frees": {"total": f_total, "batched": f_batched, "by_order": by_int(f_order),
                      "pages": f_pages},
            "pcp_vs_buddy": {
                "allocations": {"pcp_hit": hit, "pcp_refill": refill, "buddy": buddy},
                "pcp_hit_ratio": round(hit / (hit + refill), 4) if hit + refill else None,
                "frees": {"pcp": free_pcp, "buddy": free_buddy},
                "zone_locked": {"total": zl_n, "pages": zl_pages, "percpu_refill": zl_refill},
                "pcpu_drain": {"total": dr_n, "pages": dr_pages},
            },
            "fallbacks": {**fb, "by_fallback_order": by_int(fb_order),
                          "by_pair": dict(sorted(fb_pair.items(),
                                                 key=lambda kv: (-kv[1]["count"], kv[0])))},
            "callers": dict(sorted(callers.items(),
                                   key=lambda kv: (-kv[1]["pages"], -kv[1]["allocations"],
                                                   kv[0]))),
            "compaction": {
                "isolate_freepages": dict(zip(("events", "scanned", "taken"),
                                              iso[_ISOLATE_FREE])),
                "isolate_migratepages": dict(zip(("events", "scanned", "taken"),
                                                 iso[_ISOLATE_MIGRATE])),
            },
        }


def stat_trace(path: str, skip_bad: bool = False, *, cma: bool = False,
               jobs: int | None = None) -> dict:
    """Summarise the kmem events of a trace file (plain, .xz, .gz; raw ftrace,
    ``trace-cmd report`` or ``perf script``).

    :param skip_bad: count malformed lines in ``bad_lines`` instead of raising
    :param cma: the trace is from a CONFIG_CMA kernel (migratetype 4 is CMA, not Isolate)
    :param jobs: processes that share the parsing of a plain file (default: one, or for a
        file over 64 MiB one per idle CPU, at most four)
    :raises InputError: naming the file and first malformed line
    """
    path = str(path)
    if jobs is None:
        jobs = _default_jobs(path)
    return _Scan(_scan(path, skip_bad, jobs), cma).result()


# --------------------------------------------------------------------------------------------
# The human-readable tables.

def _n(x: int) -> str:
    return f"{x:,}"


def render_stat(s: dict, top: int = 10) -> str:
    """Tables of a :func:`stat_trace` result, in the manner of ``perf kmem --page stat``."""
    out: list[str] = []
    w = out.append
    a, f = s["allocations"], s["frees"]
    kb = lambda pages: f"[ {_n(pages * 4):>16} KB ]"  # noqa: E731
    w("SUMMARY (page allocator)")
    w("========================")
    w(f"Trace format                  : {s['format']:>16}   ({_n(s['lines'])} lines"
      + (f", {_n(s['bad_lines'])} bad skipped" if s["bad_lines"] else "")
      + (f", {_n(s['lost_events'])} events lost" if s["lost_events"] else "") + ")")
    if s.get("duration_s") is not None:
        w(f"Duration                      : {s['duration_s']:>16.6f} s")
    w(f"Total allocation requests     : {_n(a['total']):>16}   {kb(a['pages'])}")
    w(f"Total free requests           : {_n(f['total']):>16}   {kb(f['pages'])}")
    w(f"  of which batched            : {_n(f['batched']):>16}")
    w(f"Total allocation failures     : {_n(a['failed']):>16}")
    w("")

    # order x migratetype, as perf kmem prints it
    w("Allocations by order and migratetype")
    mts = list(a["by_migratetype"]) or ["Unmovable", "Movable", "Reclaimable"]
    cols = "".join(f"  {m:>12}" for m in mts)
    w(f"Order  {cols}  {'total':>12}")
    w("-----  " + "  ".join(["-" * 12] * (len(mts) + 1)))
    by_om = a.get("by_order_migratetype", {})
    for order, total in a["by_order"].items():
        row = by_om.get(order, {})
        cells = "".join(f"  {(_n(row[m]) if row.get(m) else '.'):>12}" for m in mts)
        w(f"{order:>5}  {cells}  {_n(total):>12}")
    mt_tot = "".join(f"  {_n(a['by_migratetype'].get(m, 0)):>12}" for m in mts)
    w(f"{'all':>5}  {mt_tot}  {_n(a['total']):>12}")
    w("")

    w("Allocations by gfp flags")
    w(f"{'requests':>12}  gfp_flags")
    for g, cnt in list(a["by_gfp"].items())[:top]:
        w(f"{_n(cnt):>12}  {g}")
    if len(a["by_gfp"]) > top:
        w(f"{'':>12}  ... {len(a['by_gfp']) - top} more")
    w("")

    if f["by_order"]:
        w("Frees by order")
        w(f"Order  {'frees':>12}  {'pages':>12}")
        for order, cnt in f["by_order"].items():
            w(f"{order:>5}  {_n(cnt):>12}  {_n(cnt << int(order)):>12}")
        w("")

    pb = s["pcp_vs_buddy"]
    pa = pb["allocations"]
    w("Per-CPU lists vs buddy (allocations estimated from event order per CPU)")
    w(f"  allocations served by pcp lists   : {_n(pa['pcp_hit'] + pa['pcp_refill']):>12}"
      f"   (hit {_n(pa['pcp_hit'])}, after a refill {_n(pa['pcp_refill'])}"
      + (f", hit ratio {pb['pcp_hit_ratio']:.1%}" if pb["pcp_hit_ratio"] is not None else "")
      + ")")
    w(f"  allocations from the buddy lists  : {_n(pa['buddy']):>12}")
    w(f"  frees to pcp / to buddy           : {_n(pb['frees']['pcp']):>12} / "
      f"{_n(pb['frees']['buddy'])}")
    w(f"  blocks taken under zone->lock     : {_n(pb['zone_locked']['total']):>12}"
      f"   ({_n(pb['zone_locked']['pages'])} pages)")
    w(f"  pages drained pcp -> buddy        : {_n(pb['pcpu_drain']['pages']):>12}")
    w("")

    fb = s["fallbacks"]
    w("Fallbacks (mm_page_alloc_extfrag)")
    w(f"  total {_n(fb['total'])}, fragmenting {_n(fb['fragmenting'])}, "
      f"change_ownership {_n(fb['change_ownership'])}")
    if fb["by_pair"]:
        w(f"  {'alloc/fallback':<26}{'count':>10}{'fragmenting':>13}{'change_owner':>14}")
        for pair, e in fb["by_pair"].items():
            w(f"  {pair:<26}{_n(e['count']):>10}{_n(e['fragmenting']):>13}"
              f"{_n(e['change_ownership']):>14}")
    w("")

    comp = s["compaction"]
    if comp["isolate_freepages"]["events"] or comp["isolate_migratepages"]["events"]:
        w("Compaction (mm_compaction_isolate_*)")
        for k in ("isolate_freepages", "isolate_migratepages"):
            c = comp[k]
            w(f"  {k:<22}{_n(c['events']):>10} ranges, {_n(c['scanned'])} pages scanned, "
              f"{_n(c['taken'])} taken")
        w("")

    if s["callers"]:
        w("Callers (by comm)")
        w(f"{'comm':>16}  {'allocs':>10}  {'pages':>10}  {'failed':>7}  {'frees':>10}  "
          f"{'free pages':>10}")
        items = list(s["callers"].items())
        for comm, c in items[:top]:
            w(f"{comm[:16]:>16}  {_n(c['allocations']):>10}  {_n(c['pages']):>10}  "
              f"{_n(c['failed']):>7}  {_n(c['frees']):>10}  {_n(c['free_pages']):>10}")
        if len(items) > top:
            w(f"{'...':>16}  {len(items) - top} more")
        w("")

    w("Events")
    for name, cnt in s["events"].items():
        if name in KMEM_EVENTS or cnt:
            w(f"  {name:<40}{_n(cnt):>12}")
    return "\n".join(out) + "\n"
