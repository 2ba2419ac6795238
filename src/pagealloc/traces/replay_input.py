"""The events a replay needs, read in blocks: kmem page events, compaction ranges, markers.

Not a kernel file. :class:`EventBlocks` turns a trace (plain or compressed;
raw ftrace, trace-cmd report or perf script, as :mod:`.reader` reads them)
into lists of small tuples, one list per block of lines, so that the replay's
loop pays for no object per line::

    (line, code, cpu, pfn, order, a, b, when)

    ALLOC        a = gfp, b = migratetype (the kernel's number); pfn -1 when it failed
    FREE         (mm_page_free), BATCHED (mm_page_free_batched): a = b = 0
    ZONE_LOCKED  a = migratetype, b = percpu_refill
    DRAIN        a = migratetype (mm_page_pcpu_drain)
    EXTFRAG      order = alloc_order, a = the other fields (a dict), b = 0
    ISOLATE_FREE pfn = start_pfn, order = nr_scanned, a = end_pfn, b = nr_taken
                 (mm_compaction_isolate_freepages)
    COMPACTION   any other compaction or migration event: a = its name, b = its fields
    MARK         tracing_mark_write: a = the message
    LOST         ftrace's "CPU:N [LOST M EVENTS]": b = M

``when`` is the bytes of the columns before the event in raw ftrace's layout
(``comm-pid [cpu] flags timestamp``: the flags at 31..36, made so when the line
had another layout): :func:`ts_of` reads the timestamp where a replay needs the
time (metrics, markers, policy mode's clock), the replay reads the flags. Other
events (vmscan ...) are counted in :attr:`EventBlocks.other` and dropped.

Three readers, fastest first, each passing what it cannot take to the next:

* :func:`.rawscan.scan_block` reads the kmem page events of raw ftrace text a block
  at a time with numpy (columns at fixed offsets); per line there remains a dict
  lookup of the fields after ``pfn=`` and the tuple;
* the per-line reader splits a line at ``": "`` and caches what repeats (the event
  column, the cpu column, the fields after ``pfn=``): trace-cmd report and perf
  script output, and raw lines in an odd layout;
* the reader's general parser (:func:`.reader.parse_line`), so malformed lines are
  reported with the reader's messages and the same line numbers.

All three give the same tuple for a line (tests/traces/test_rawscan.py).
"""
from __future__ import annotations

from typing import Any, Final, Iterator, Mapping

from .blocks import iter_text_blocks
from .rawscan import EVENT_PREFIXES, scan_block
from .reader import (BadLines, _CODES, ALLOC, BATCHED, DRAIN, EXTFRAG, FREE, ZONE_LOCKED, TraceEvent,
                     is_noise, lost_events, normalize_event,
                     parse_kmem_tail, parse_line)

__all__ = ["EventBlocks", "ts_of", "ALLOC", "FREE", "BATCHED", "ZONE_LOCKED", "DRAIN", "EXTFRAG",
           "ISOLATE_FREE", "COMPACTION", "MARK", "LOST", "prescan"]

ISOLATE_FREE: Final = 11
COMPACTION: Final = 12
MARK: Final = 13
LOST: Final = 14
_SKIP: Final = 15                       # an event the replay does not use

_COMPACTION_PREFIXES = ("mm_compaction_", "mm_migrate_pages")


def _when(cpu: int, flags: bytes | str, ts) -> bytes:
    """A ``when`` in raw ftrace's layout (flags at 31..36, the timestamp last), for the
    events whose line had another layout: the replay reads the flags there."""
    if isinstance(flags, str):
        flags = flags.encode()
    if isinstance(ts, float):
        ts = b"%.6f" % ts
    return b"%16s-%-7d [%03d] %-5.5s %s" % (b"", 0, cpu, (flags or b".....")[:5], ts)


def ts_of(when) -> float:
    """The timestamp (seconds) of an event tuple's ``when``; nan if it cannot be read."""
    if type(when) is float:
        return when
    try:
        return float(when[when.rfind(b" ") + 1:])
    except (ValueError, TypeError):
        return float("nan")


_NAME_OF: Final = {code: p.split(b":")[0].decode() for p, code in EVENT_PREFIXES}


def _code_of(name: str) -> int:
    code = _CODES.get(name)
    if code is not None:
        return code
    if name == "mm_compaction_isolate_freepages":
        return ISOLATE_FREE
    if name.startswith(_COMPACTION_PREFIXES):
        return COMPACTION
    if name in ("tracing_mark_write", "print"):
        return MARK
    return _SKIP


def _event_tuple(ev: TraceEvent) -> tuple | None:
    """The replay tuple of an event the general parser produced."""
    code = _code_of(ev.name)
    w = _when(ev.cpu, ev.flags, ev.ts)
    ex: Mapping[str, Any] = ev.extra if ev.extra is not None else {}
    if code == ALLOC:
        return (ev.line, code, ev.cpu, ev.pfn, ev.order, ev.gfp, ev.migratetype, w)
    if code in (FREE, BATCHED):
        return (ev.line, code, ev.cpu, ev.pfn, ev.order, 0, 0, w)
    if code == ZONE_LOCKED:
        return (ev.line, code, ev.cpu, ev.pfn, ev.order, ev.migratetype,
                int(ex["percpu_refill"]), w)
    if code == DRAIN:
        return (ev.line, code, ev.cpu, ev.pfn, ev.order, ev.migratetype, 0, w)
    if code == EXTFRAG:
        return (ev.line, code, ev.cpu, ev.pfn, ev.order, dict(ex), 0, w)
    if code == ISOLATE_FREE:
        return (ev.line, code, ev.cpu, ex["start_pfn"], ex["nr_scanned"], ex["end_pfn"],
                ex["nr_taken"], w)
    if code == COMPACTION:
        return (ev.line, code, ev.cpu, -1, 0, ev.name, ev.extra, w)
    if code == MARK:
        return (ev.line, code, ev.cpu, -1, 0, str(ex.get("message", "")), 0, w)
    return None


class EventBlocks(BadLines):
    """Iterate over a trace as lists of replay tuples (see the module docstring).

    :param skip_bad: count malformed lines in :attr:`bad_lines` instead of raising
        :class:`~pagealloc.errors.InputError` (file:line).
    :param limit: stop after this many lines.
    :param scan: read raw ftrace lines a block at a time with numpy (:mod:`.rawscan`);
        False reads every line on its own (the same tuples, slower).

    After (or during) iteration: :attr:`lines`, :attr:`bad_lines`, :attr:`first_bad`,
    :attr:`lost_events`, :attr:`other` ({event name: count} of dropped events).
    """

    def __init__(self, path: str, *, skip_bad: bool = False, limit: int | None = None,
                 scan: bool = True) -> None:
        self._init_bad(path, skip_bad)
        self.limit = limit
        self.scan = scan
        self.other: dict[str, int] = {}
        # the per-line reader's caches: raw event column -> (code, cache of the fields
        # after pfn= -> (order, a, b)), code 0 for the slow path; its event names; the
        # cpu column
        self._codes: dict[bytes, tuple[int, dict[bytes, tuple]]] = {}
        self._names: dict[bytes, str] = {}
        self._cpus: dict[bytes, int] = {}
        self._whens: dict[tuple[int, bytes], bytes] = {}     # (cpu, flags) -> when's prefix
        # the block scan's caches of the fields after pfn=, per event code
        self._tcs: list[dict[bytes, tuple]] = [{} for _ in range(EXTFRAG + 1)]

    def _slow(self, n: int, line: bytes, out: list) -> None:
        """A line the fast split could not take."""
        if is_noise(line):
            k = lost_events(line)
            if k:
                self.lost_events += k
                out.append((n, LOST, 0, -1, 0, 0, k, _when(0, b".....", b"0.0")))
            return
        ev = parse_line(line, n)
        if ev is None:
            self._bad(n, "not a trace event line")
            return
        if isinstance(ev, str):
            self._bad(n, ev)
            return
        t = _event_tuple(ev)
        if t is None:
            self.other[ev.name] = self.other.get(ev.name, 0) + 1
        else:
            out.append(t)

    def _generic(self, n: int, line: bytes, name: str, out: list) -> None:
        """A compaction event or a marker, through the reader's parser (few lines)."""
        ev = parse_line(line, n)
        if ev is None or isinstance(ev, str):
            self._bad(n, ev if isinstance(ev, str) else f"{name}: cannot read the line")
            return
        t = _event_tuple(ev)
        if t is not None:
            out.append(t)

    def __iter__(self) -> Iterator[list[tuple]]:
        n = 0
        limit = self.limit
        tcs = self._tcs
        slow_lines = self._lines
        i: int
        c: int
        ln: int
        pfn: int
        s: int
        e: int
        inf: int
        for text in iter_text_blocks(self.path):
            out: list[tuple] = []
            sb = scan_block(text) if self.scan else None
            if sb is None:
                lines = text.split(b"\n")
                lines.pop()
                if limit is not None and n + len(lines) > limit:
                    lines = lines[:max(0, limit - n)]
                n = slow_lines(lines, n, out)
            else:
                append = out.append
                ends = sb.end
                infos = sb.info
                m = sb.n if limit is None or n + sb.n <= limit else max(0, limit - n)
                s = 0
                for i in range(m):
                    e = ends[i]
                    inf = infos[i]
                    c = inf & 7
                    if c == 0:
                        slow_lines([text[s:e]], n + i, out)
                        s = e + 1
                        continue
                    ln = n + i + 1
                    tc = tcs[c]
                    t = text[s + ((inf >> 20) & 255):e]
                    v = tc.get(t)
                    if v is None:
                        v = self._tail(ln, c, _NAME_OF[c], t, tc)
                        if v is None:
                            s = e + 1
                            continue
                    pfn = inf >> 28
                    if pfn == 0 and c == ALLOC:
                        pfn = -1
                    append((ln, c, (inf >> 3) & 1023, pfn, v[0], v[1], v[2],
                            text[s:s + ((inf >> 13) & 127)]))
                    s = e + 1
                n += m
            self.lines = n
            if out:
                yield out
            if limit is not None and n >= limit:
                return

    def _lines(self, block: list[bytes], n: int, out: list) -> int:
        """Read lines one by one (those the block scan did not take): the split at
        ``": "``, with caches of what repeats. ``n`` is the line number before the
        first; returns the last one's."""
        codes = self._codes
        names = self._names
        cpus = self._cpus
        whens = self._whens
        line: bytes
        p: list[bytes]
        t: list[bytes]
        head: bytes
        code: int
        cpu: int | None
        pfn: int
        other = self.other
        slow = self._slow
        append = out.append
        for n, line in enumerate(block, n + 1):
            p = line.split(b": ", 2)
            if len(p) != 3:
                slow(n, line, out)
                continue
            raw = p[1]
            ent = codes.get(raw)
            if ent is None:
                name = normalize_event(raw)
                ent = codes[raw] = (0 if name is None else _code_of(name), {})
                if name is not None:
                    names[raw] = name
            code, tc = ent
            if code > EXTFRAG or code == 0:
                if code == 0:
                    slow(n, line, out)
                elif code == _SKIP:
                    nm = names[raw]
                    other[nm] = other.get(nm, 0) + 1
                else:
                    self._generic(n, line, names[raw], out)
                continue
            head = p[0]
            # raw ftrace pads comm to 16 and pid to 7: "[ccc]" sits at 25..30
            cpu = cpus.get(head[25:30])
            if cpu is None:
                k = head.rfind(b"]")
                i = head.rfind(b"[", 0, k)
                key = head[i + 1:k]
                if i < 0 or not key.isdigit():
                    slow(n, line, out)
                    continue
                cpu = int(key)
                if i == 25 and k == 29 and head[30:31] == b" ":
                    cpus[head[25:30]] = cpu
                else:
                    # another layout (trace-cmd pads the pid to 5, perf prints no flags):
                    # the same columns rebuilt in raw ftrace's, the prefix cached
                    rest = head[k + 1:].split()
                    flags = rest[0] if len(rest) > 1 else b"....."
                    pre = whens.get((cpu, flags))
                    if pre is None:
                        pre = whens[(cpu, flags)] = _when(cpu, flags, b"")
                    head = pre + head[head.rfind(b" ") + 1:]
            # trace-cmd pads the event column: blanks before page=
            t = p[2].split(None, 2)
            if len(t) != 3 or t[1][:4] != b"pfn=":
                slow(n, line, out)
                continue
            pf = t[1]
            try:
                pfn = int(pf[6:], 16) if pf[4:6] == b"0x" else int(pf[4:])
            except ValueError:
                self._bad(n, f"{names[raw]}: bad pfn {pf[4:][:30]!r}")
                continue
            tail = t[2]
            v = tc.get(tail)
            if v is None:
                v = self._tail(n, code, names[raw], tail, tc)
                if v is None:
                    continue
            if pfn == 0 and code == ALLOC:
                pfn = -1
            append((n, code, cpu, pfn, v[0], v[1], v[2], head))
        return n

    def _tail(self, n: int, code: int, name: str, tail: bytes,
              cache: dict[bytes, tuple]) -> tuple | None:
        """(order, a, b) of the fields after pfn= (see the module docstring), cached."""
        try:
            order, mt, gfp, extra = parse_kmem_tail(code, tail)
        except ValueError as e:
            self._bad(n, f"{name}: {e}")
            return None
        if code == ALLOC:
            v = (order, gfp, mt)
        elif code == ZONE_LOCKED:
            v = (order, mt, int(extra["percpu_refill"]))
        elif code == DRAIN:
            v = (order, mt, 0)
        elif code == EXTFRAG:
            v = (order, dict(extra), 0)
        else:
            v = (order, 0, 0)
        if len(cache) > 65536:
            cache.clear()
        cache[tail] = v
        return v


def prescan(path: str, *, skip_bad: bool = False, limit: int | None = None) -> dict:
    """One quick pass: the highest pfn and CPU a trace names, and whether it has compaction
    events (for a replay without a start, which needs the smallest machine that holds it)."""
    eb = EventBlocks(path, skip_bad=skip_bad, limit=limit)
    max_pfn = -1
    max_cpu = 0
    compaction = False
    for batch in eb:
        for ev in batch:
            code = ev[1]
            if code == ISOLATE_FREE:
                compaction = True
                if ev[5] - 1 > max_pfn:
                    max_pfn = ev[5] - 1
            elif code == COMPACTION:
                compaction = True
            elif code <= EXTFRAG:
                o = ev[4] if code != EXTFRAG else ev[5]["fallback_order"]
                top = ev[3] + (1 << o) - 1
                if top > max_pfn:
                    max_pfn = top
            if ev[2] > max_cpu:
                max_cpu = ev[2]
    return {"max_pfn": max_pfn, "max_cpu": max_cpu, "compaction": compaction,
            "lines": eb.lines, "bad_lines": eb.bad_lines}
