"""Streaming reader of kmem page events from ftrace, trace-cmd and perf text output.

Not a kernel file: this is the way in for real traces. It reads what
include/trace/events/kmem.h prints (mm_page_alloc, mm_page_free,
mm_page_free_batched, mm_page_alloc_zone_locked, mm_page_pcpu_drain,
mm_page_alloc_extfrag) as rendered by

* tracefs ``trace`` / ``trace_pipe`` (kernel/trace/trace_output.c, any of the
  irq-info, record-tgid options)::

      <comm>-<pid> [<cpu>] <flags> <secs>.<usecs>: <event>: <fields>

* ``trace-cmd report`` (the same columns, event names padded, ``version =`` /
  ``cpus=`` header lines),
* ``perf script`` (``<comm> <tid> [<cpu>] <secs>.<usecs>: kmem:<event>: <fields>``,
  callchain lines skipped).

Every other event (compaction, migration, vmscan, ``tracing_mark_write``
markers, ...) is passed through as a generic :class:`TraceEvent` with its
fields as strings. Files may be plain or compressed (xz, gzip, bzip2, found
by their magic bytes); ``-`` reads standard input (``cat trace_pipe | ...``).

Reading is a generator over blocks of 256 KiB, so memory stays bounded
whatever the length of the trace; decompression runs in a helper thread
(lzma, zlib and bz2 release the GIL) so it overlaps with parsing. Lines are
bytes and split, never matched with a regex, on the hot path; the columns
before the timestamp and the fields after ``pfn=`` repeat a lot, so their
parse is cached. The slow, general :func:`parse_line` takes what the split
cannot (a comm with ": " in it) and words the errors.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Final, Iterator, Mapping, NamedTuple

from ..errors import InputError
from ..mm.gfp import parse_gfp
from .blocks import BLOCK_SIZE, compression, iter_line_blocks, iter_text_blocks  # noqa: F401

__all__ = [
    "TraceEvent", "TraceReader", "BadLines", "read_events", "detect_format", "parse_line", "parse_fields",
    "iter_line_blocks", "iter_text_blocks", "compression", "KMEM_EVENTS", "FORMATS",
]

#: The kmem page events this reader types (pfn, order, migratetype, gfp).
KMEM_EVENTS = ("mm_page_alloc", "mm_page_free", "mm_page_free_batched",
               "mm_page_alloc_zone_locked", "mm_page_pcpu_drain", "mm_page_alloc_extfrag")

#: What :func:`detect_format` can answer.
FORMATS = ("ftrace", "trace-cmd", "perf")

_TAIL_CACHE_MAX: Final = 1 << 16          # distinct "order=... migratetype=... gfp_flags=..." tails
_WHO_CACHE_MAX: Final = 1 << 16           # distinct "comm-pid" columns

# event codes used internally (and by the stat fast path)
ALLOC: Final = 1
FREE: Final = 2
BATCHED: Final = 3
ZONE_LOCKED: Final = 4
DRAIN: Final = 5
EXTFRAG: Final = 6
OTHER: Final = 7
_CODES = dict(zip(KMEM_EVENTS, (ALLOC, FREE, BATCHED, ZONE_LOCKED, DRAIN, EXTFRAG)))


class TraceEvent(NamedTuple):
    """One event line of a trace.

    ``pfn``, ``order``, ``migratetype`` and ``gfp`` are ints for the kmem page
    events and None where the event has no such field. ``pfn`` is -1 for a
    failed allocation (the kernel prints ``page=0000000000000000 pfn=0x0``).
    ``migratetype`` is the number the kernel printed (CMA off: 3 HighAtomic,
    4 Isolate); mm.mmzone.model_migratetype maps it to the model's numbering.
    For mm_page_alloc_extfrag, ``order``/``migratetype`` are the alloc ones.

    ``extra`` holds the other fields, read-only: ``percpu_refill`` for
    mm_page_alloc_zone_locked; ``fallback_order``, ``pageblock_order``,
    ``alloc_migratetype``, ``fallback_migratetype``, ``fragmenting``,
    ``change_ownership`` for mm_page_alloc_extfrag (ints); ``start_pfn``,
    ``end_pfn``, ``nr_scanned``, ``nr_taken`` (ints) for
    mm_compaction_isolate_freepages/migratepages (``pfn`` is then start_pfn);
    ``message`` for tracing_mark_write; the printed fields as strings for any
    other event (``text`` when they are not ``name=value`` pairs). Empty, never None,
    for the other kmem events.
    """
    line: int
    ts: float
    cpu: int
    comm: str
    pid: int
    name: str
    pfn: int | None
    order: int | None
    migratetype: int | None
    gfp: int | None
    extra: Mapping[str, object] | None
    flags: str

    @property
    def failed(self) -> bool:
        """True for an mm_page_alloc that returned no page."""
        return self.pfn == -1 and self.name == "mm_page_alloc"


_new_event = tuple.__new__
_EMPTY: Mapping[str, object] = MappingProxyType({})


# --------------------------------------------------------------------------------------------
# Pieces of a line.

def _is_ident(b: bytes) -> bool:
    return bool(b) and (b[0] == 95 or 65 <= b[0] <= 90 or 97 <= b[0] <= 122) and \
        b.replace(b"_", b"").isalnum() and b.isascii()


def normalize_event(raw: bytes) -> str | None:
    """The event name in an event column: strips padding, a perf period and ``kmem:``.

    None when the column is not an event name (e.g. a comm that contains ": ").
    """
    toks = raw.split()
    if not toks:
        return None
    name = toks[-1].rpartition(b":")[2]
    if len(toks) > 2 or not _is_ident(name):
        return None
    if len(toks) == 2 and not toks[0].isdigit():      # perf may print a period first
        return None
    return name.decode()


def parse_who(raw: bytes) -> tuple[str, int] | None:
    """(comm, pid) from the task column: ``comm-pid``, ``comm-pid (tgid)``, ``comm pid[/tid]``."""
    w = raw.strip()
    if w.endswith(b")"):                     # record-tgid: "comm-pid (  tgid)"
        k = w.rfind(b"(")
        if k < 0:
            return None
        w = w[:k].rstrip()
    comm, sep, pid = w.rpartition(b"-")
    if sep and pid.isdigit() and comm:
        return comm.strip().decode("utf-8", "replace"), int(pid)
    comm, sep, pid = w.rpartition(b" ")        # perf script: "comm tid" or "comm pid/tid"
    if sep:
        pid = pid.rpartition(b"/")[2]
        if pid.isdigit() and comm.strip():
            return comm.strip().decode("utf-8", "replace"), int(pid)
    return None


def parse_head(head: bytes) -> tuple[str, int, int, str, float] | None:
    """(comm, pid, cpu, flags, ts) from everything before ``: <event>``; None if malformed."""
    i = head.rfind(b"[")
    if i < 0:
        return None
    j = head.find(b"]", i)
    if j < 0 or not head[i + 1:j].isdigit():
        return None
    who = parse_who(head[:i])
    if who is None:
        return None
    right = head[j + 1:].split()
    if not right or len(right) > 2:
        return None
    try:
        ts = float(right[-1])
    except ValueError:
        return None
    flags = right[0].decode("ascii", "replace") if len(right) == 2 else ""
    return who[0], who[1], int(head[i + 1:j]), flags, ts


def parse_fields(text: str) -> dict[str, str] | None:
    """``name=value`` pairs of a trace line's field text, values as printed.

    A value may hold spaces (``range=(0x3fc00 ~ 0x3fe00)``): words without ``=`` join the
    value before them; a trailing comma (``zone_end=0x1000, mode=sync``) is dropped.
    None when the text does not start with ``name=``.
    """
    out: dict[str, str] = {}
    last = None
    for tok in text.split():
        k, eq, v = tok.partition("=")
        if eq and k and k.replace("_", "a").isalnum():
            out[k] = v
            last = k
        elif last is not None:
            out[last] = f"{out[last]} {tok}"
        else:
            return None
    for k, v in out.items():
        if v.endswith(","):
            out[k] = v[:-1]
    return out


def _int(s: str) -> int:
    return int(s, 0) if s[:2] in ("0x", "0X") else int(s)


_GFP_CACHE: dict[str, int] = {}       # gfp_flags text -> mask (parse_gfp is not cheap)


def _kmem_values(code: int, f: dict[str, str]) -> tuple:
    """(order, migratetype, gfp, extra) for a kmem event from its fields; raises ValueError."""
    if code == ALLOC:
        text = f["gfp_flags"]
        g = _GFP_CACHE.get(text)
        if g is None:
            try:
                g = parse_gfp(text)
            except ValueError as e:
                raise ValueError(f"gfp_flags: {e}") from None
            if len(_GFP_CACHE) < 4096:
                _GFP_CACHE[text] = g
        return _int(f["order"]), _int(f["migratetype"]), g, _EMPTY
    if code in (FREE, BATCHED):
        return _int(f["order"]), None, None, _EMPTY
    if code == ZONE_LOCKED:
        return (_int(f["order"]), _int(f["migratetype"]), None,
                MappingProxyType({"percpu_refill": _int(f["percpu_refill"])}))
    if code == DRAIN:
        return _int(f["order"]), _int(f["migratetype"]), None, _EMPTY
    if code == EXTFRAG:
        ex = {k: _int(f[k]) for k in ("fallback_order", "pageblock_order", "alloc_migratetype",
                                      "fallback_migratetype", "fragmenting", "change_ownership")}
        return _int(f["alloc_order"]), ex["alloc_migratetype"], None, MappingProxyType(ex)
    raise AssertionError(code)


_TAIL_FIELDS = {ALLOC: ("order", "migratetype", "gfp_flags"), FREE: ("order",),
                BATCHED: ("order",), ZONE_LOCKED: ("order", "migratetype", "percpu_refill"),
                DRAIN: ("order", "migratetype"),
                EXTFRAG: ("alloc_order", "fallback_order", "pageblock_order",
                          "alloc_migratetype", "fallback_migratetype", "fragmenting",
                          "change_ownership")}


def parse_kmem_tail(code: int, tail: bytes) -> tuple:
    """Parse the fields after ``pfn=`` of a kmem event: (order, migratetype, gfp, extra).

    :raises ValueError: naming the field that is missing or malformed.
    """
    f = parse_fields(tail.decode("utf-8", "replace"))
    if f is None:
        raise ValueError(f"expected name=value fields, got {tail[:60].decode(errors='replace')!r}")
    for k in _TAIL_FIELDS[code]:
        if k not in f:
            raise ValueError(f"missing field {k}=")
    try:
        return _kmem_values(code, f)
    except ValueError as e:
        raise ValueError(f"bad field value: {e}") from None


def is_noise(line: bytes) -> bool:
    """Lines that carry no event and are not errors: blanks, ``#`` headers, trace-cmd's
    ``version = N``, ``cpus=N`` and ``CPU N is empty``, ftrace's ``CPU:N [LOST M EVENTS]``
    and stack traces (``<stack trace>``, `` => func``), perf script's callchain frames."""
    s = line.strip()
    if not s or s[:1] == b"#":
        return True
    if s[:3] == b"=> " or s.endswith((b": <stack trace>", b": <user stack trace>")):
        return True                          # ftrace's stacktrace option
    if s[:1] == b"v" or s[:1] == b"c" or s[:1] == b"C":
        if s.startswith((b"version = ", b"cpus=")) or \
                (s.startswith(b"CPU ") and s.endswith(b" is empty")) or \
                (s.startswith(b"CPU:") and (b"[LOST " in s or b"EVENTS DROPPED]" in s)):
            return True
    if line[:1] in (b" ", b"\t") and b": " not in line:
        # perf script callchain frame: "\t    ffffffff8123abcd func+0x1f (/path)"
        tok = s.split(None, 1)[0]
        try:
            int(tok, 16)
            return True
        except ValueError:
            return False
    return False


def lost_events(line: bytes) -> int:
    """The count in a ``CPU:N [LOST M EVENTS]`` line (ftrace), else 0."""
    if line.startswith(b"CPU:") and b"[LOST " in line:
        try:
            return int(line.split(b"[LOST ", 1)[1].split()[0])
        except (ValueError, IndexError):
            return 0
    return 0


# --------------------------------------------------------------------------------------------
# The reader.

class BadLines:
    """Malformed-line policy shared by the trace readers: raise, or count and go on."""

    path: str
    skip_bad: bool
    lines: int
    bad_lines: int
    first_bad: tuple[int, str] | None
    lost_events: int

    def _init_bad(self, path: str, skip_bad: bool) -> None:
        self.path = str(path)
        self.skip_bad = skip_bad
        self.lines = 0
        self.bad_lines = 0
        self.first_bad: tuple[int, str] | None = None
        self.lost_events = 0

    def _bad(self, n: int, msg: str) -> None:
        """A malformed line n: InputError(file:line) unless skip_bad, then counted."""
        if self.first_bad is None:
            self.first_bad = (n, msg)
        if not self.skip_bad:
            raise InputError(self.path, n, msg)
        self.bad_lines += 1


class TraceReader(BadLines):
    """Iterate over the events of a trace file; counts what it skipped.

    :param path: the trace (plain, .xz, .gz, .bz2; ``-`` for stdin)
    :param skip_bad: count malformed lines in :attr:`bad_lines` instead of raising
        :class:`~pagealloc.errors.InputError`
    :param events: if given, only events with these names are parsed and yielded (others
        are still counted in :attr:`lines`)

    After iteration: :attr:`lines` (lines read), :attr:`bad_lines`, :attr:`first_bad`
    ((line, message) of the first malformed line, or None), :attr:`lost_events` (the
    ``[LOST N EVENTS]`` notes of ftrace), :attr:`format` (see :func:`detect_format`).
    """

    def __init__(self, path: str, *, skip_bad: bool = False,
                 events: set[str] | frozenset[str] | None = None) -> None:
        self._init_bad(path, skip_bad)
        self.events = frozenset(events) if events is not None else None
        self._fmt_votes: dict[str, int] = {}

    def __iter__(self) -> Iterator[TraceEvent]:
        path = self.path
        want = self.events
        codes: dict[bytes, int] = {}        # raw event column -> code (0: not an event)
        names: dict[bytes, str] = {}
        heads: dict[bytes, tuple[str, int, int, str]] = {}   # (comm, pid, cpu, flags)
        tails: list[dict[bytes, tuple]] = [{} for _ in range(OTHER)]
        new = _new_event
        n = 0
        slow = self._slow_line
        for block in iter_line_blocks(path):
            for line in block:
                n += 1
                p = line.split(b": ", 2)
                if len(p) != 3:
                    ev = slow(n, line)
                    if ev is not None and (want is None or ev.name in want):
                        yield ev
                    continue
                raw_ev = p[1]
                code = codes.get(raw_ev)
                if code is None:
                    name = normalize_event(raw_ev)
                    if name is None:
                        code = 0
                    else:
                        code = _CODES.get(name, OTHER)
                        names[raw_ev] = name
                        self._vote(p)
                    codes[raw_ev] = code
                if code == 0 or (want is not None and names[raw_ev] not in want):
                    if code == 0:
                        ev = slow(n, line)
                        if ev is not None and (want is None or ev.name in want):
                            yield ev
                    continue
                # head: "comm-pid [cpu] flags" (cached) and the timestamp
                head = p[0]
                k = head.rfind(b" ")
                hk = head[:k]
                hv = heads.get(hk)
                if hv is None:
                    hv = self._head(n, hk)
                    if hv is None:
                        continue
                    if len(heads) > _WHO_CACHE_MAX:
                        heads.clear()
                    heads[hk] = hv
                try:
                    ts = float(head[k + 1:])
                except ValueError:
                    self._bad(n, "cannot read the timestamp column")
                    continue
                if code == OTHER:
                    ev = self._generic(n, ts, hv[2], hv, names[raw_ev], p[2], hv[3])
                    if ev is not None:
                        yield ev
                    continue
                # kmem: page=P pfn=F <tail>
                t = p[2].split(None, 2)
                if len(t) == 3 and t[1][:4] == b"pfn=" and t[0][:5] == b"page=":
                    tail = t[2]
                    pf = t[1]
                    try:
                        pfn = int(pf[6:], 16) if pf[4:6] == b"0x" else int(pf[4:])
                    except ValueError:
                        self._bad(n, f"{names[raw_ev]}: bad pfn {pf[4:][:30]!r}")
                        continue
                else:
                    f = parse_fields(p[2].decode("utf-8", "replace"))
                    if f is None or "pfn" not in f:
                        self._bad(n, f"{names[raw_ev]}: missing pfn= field")
                        continue
                    try:
                        pfn = _int(f["pfn"])
                    except ValueError:
                        self._bad(n, f"{names[raw_ev]}: bad pfn {f['pfn'][:30]!r}")
                        continue
                    tail = " ".join(f"{a}={b}" for a, b in f.items()
                                    if a not in ("page", "pfn")).encode()
                tc = tails[code]
                vals = tc.get(tail)
                if vals is None:
                    try:
                        vals = parse_kmem_tail(code, tail)
                    except ValueError as e:
                        self._bad(n, f"{names[raw_ev]}: {e}")
                        continue
                    if len(tc) > _TAIL_CACHE_MAX:
                        tc.clear()
                    tc[tail] = vals
                if pfn == 0 and code == ALLOC:
                    pfn = -1
                yield new(TraceEvent, (n, ts, hv[2], hv[0], hv[1], names[raw_ev], pfn,
                                       vals[0], vals[1], vals[2], vals[3], hv[3]))
            self.lines = n
        self.lines = n

    # ---- slow paths ----------------------------------------------------------------------
    def _head(self, n: int, hk: bytes) -> tuple[str, int, int, str] | None:
        """(comm, pid, cpu, flags) from the head of a line without its timestamp."""
        i = hk.rfind(b"[")
        j = hk.find(b"]", i)
        who = parse_who(hk[:i]) if i > 0 else None
        if who is None:
            self._bad(n, "cannot read the task column (comm-pid)")
            return None
        if j < 0 or not hk[i + 1:j].isdigit():
            self._bad(n, "cannot read the cpu column")
            return None
        flags = hk[j + 1:].strip().decode("ascii", "replace")
        if len(flags) > 8 or " " in flags:
            self._bad(n, "cannot read the flags column")
            return None
        return who[0], who[1], int(hk[i + 1:j]), flags

    def _slow_line(self, n: int, line: bytes) -> TraceEvent | None:
        """A line the fast split could not take: noise, a comm with ': ' in it, or bad."""
        if is_noise(line):
            if line.startswith(b"# tracer:"):
                self._fmt_votes["ftrace"] = self._fmt_votes.get("ftrace", 0) + 100
            elif line.startswith((b"version =", b"cpus=")):
                self._fmt_votes["trace-cmd"] = self._fmt_votes.get("trace-cmd", 0) + 100
            self.lost_events += lost_events(line)
            return None
        ev = parse_line(line, n)
        if ev is None:
            self._bad(n, "not a trace event line")
            return None
        if isinstance(ev, str):
            self._bad(n, ev)
            return None
        return ev

    def _generic(self, n: int, ts: float, cpu: int, who: tuple, name: str,
                 body: bytes, flags: str) -> TraceEvent | None:
        text = body.decode("utf-8", "replace").strip()
        try:
            ev = generic_event(n, ts, cpu, (who[0], who[1]), name, text, flags)
        except ValueError as e:
            self._bad(n, f"{name}: {e}")
            return None
        return ev

    # ---- format ----------------------------------------------------------------------------
    def _vote(self, parts: list[bytes]) -> None:
        fmt = line_format(parts)
        self._fmt_votes[fmt] = self._fmt_votes.get(fmt, 0) + 1

    @property
    def format(self) -> str:
        """The tool that wrote the lines read so far (see :func:`detect_format`)."""
        if not self._fmt_votes:
            return "ftrace"
        return max(self._fmt_votes.items(), key=lambda kv: kv[1])[0]


def line_format(parts: list[bytes]) -> str:
    """Which tool printed an event line split as [head, event column, fields]."""
    head, raw_ev, body = parts
    i = head.rfind(b"[")
    w = head[:i].strip()
    if b":" in raw_ev or (w and w.rpartition(b" ")[2].replace(b"/", b"").isdigit()
                          and not w.rpartition(b"-")[2].isdigit()):
        return "perf"
    if body[:1] == b" ":
        return "trace-cmd"
    return "ftrace"


def generic_event(n: int, ts: float, cpu: int, who: tuple[str, int], name: str, text: str,
                  flags: str) -> TraceEvent:
    """A non-kmem event: markers keep their message, compaction ranges are typed."""
    pfn = None
    if name == "tracing_mark_write" or name == "print":
        if name == "print":                       # trace-cmd: "print: tracing_mark_write: msg"
            a, sep, b = text.partition(": ")
            if sep and a.strip().endswith("tracing_mark_write"):
                name, text = "tracing_mark_write", b
        extra: Mapping[str, object] = MappingProxyType({"message": text})
    else:
        f = parse_fields(text)
        if name in ("mm_compaction_isolate_freepages", "mm_compaction_isolate_migratepages"):
            # their ranges are used: fields that cannot be read are a malformed line
            fd = f or {}
            rng = fd.get("range", "").strip("()").split("~")
            try:
                start, end = (_int(x.strip()) for x in rng)
                ex = {"start_pfn": start, "end_pfn": end,
                      "nr_scanned": _int(fd["nr_scanned"]), "nr_taken": _int(fd["nr_taken"])}
            except (ValueError, KeyError):
                raise ValueError("expected range=(start ~ end) nr_scanned= nr_taken=") from None
            pfn = start
            extra = MappingProxyType(ex)
        elif f is None:
            extra = MappingProxyType({"text": text})
        else:
            extra = MappingProxyType(f)
    return _new_event(TraceEvent, (n, ts, cpu, who[0], who[1], name, pfn, None, None, None,
                                   extra, flags))


HEAD_ERROR = "cannot read the columns before the event (comm-pid [cpu] flags timestamp)"


def parse_line(line: bytes, n: int = 0) -> TraceEvent | str | None:
    """Parse one event line however its columns fall (the slow, general path).

    Returns the event, an error message for an event line with bad fields, or None when
    the line is not an event line at all.
    """
    # the event column is the first ": <ident>: " (or ": <ident>:" at the end) whose head
    # parses; trying each ": " copes with comms that contain one
    start = 0
    seen_event = False
    while True:
        a = line.find(b": ", start)
        b = line.find(b": ", a + 2) if a >= 0 else -1
        if b < 0 and a >= 0 and line.endswith(b":") and line.rfind(b":") > a + 1:
            b = len(line) - 1
        if b < 0:
            return HEAD_ERROR if seen_event else None
        name = normalize_event(line[a + 2:b])
        head = parse_head(line[:a]) if name is not None else None
        if head is not None:
            break
        seen_event = seen_event or (name is not None and b"[" in line[:a])
        start = a + 2
    assert name is not None
    comm, pid, cpu, flags, ts = head
    body = line[b + 2:]
    code = _CODES.get(name)
    if code is None:
        try:
            return generic_event(n, ts, cpu, (comm, pid), name,
                                 body.decode("utf-8", "replace").strip(), flags)
        except ValueError as e:
            return f"{name}: {e}"
    f = parse_fields(body.decode("utf-8", "replace"))
    if f is None or "pfn" not in f:
        return f"{name}: missing pfn= field"
    try:
        pfn = _int(f["pfn"])
    except ValueError:
        return f"{name}: bad pfn {f['pfn'][:30]!r}"
    tail = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("page", "pfn")).encode()
    try:
        order, mt, g, extra = parse_kmem_tail(code, tail)
    except ValueError as e:
        return f"{name}: {e}"
    if code == ALLOC and pfn == 0:
        pfn = -1
    return _new_event(TraceEvent, (n, ts, cpu, comm, pid, name, pfn, order, mt, g, extra,
                                   flags))


def read_events(path: str, *, skip_bad: bool = False,
                events: set[str] | frozenset[str] | None = None) -> Iterator[TraceEvent]:
    """Yield the events of a trace file, in file order (see :class:`TraceReader`)."""
    return iter(TraceReader(path, skip_bad=skip_bad, events=events))


def detect_format(path: str, max_lines: int = 2000) -> str:
    """Name the tool that wrote ``path``: "ftrace" (tracefs trace or trace_pipe),
    "trace-cmd" (``trace-cmd report``) or "perf" (``perf script``), from its first lines."""
    votes: dict[str, int] = {}
    n = 0
    for block in iter_line_blocks(path, 1 << 16):
        for line in block:
            n += 1
            if line.startswith(b"# tracer:"):
                return "ftrace"
            if line.startswith((b"version =", b"cpus=")):
                return "trace-cmd"
            p = line.split(b": ", 2)
            if len(p) == 3 and normalize_event(p[1]) is not None and b"[" in p[0]:
                fmt = line_format(p)
                votes[fmt] = votes.get(fmt, 0) + 1
                if votes[fmt] >= 20:
                    return fmt
            if n >= max_lines:
                break
        if n >= max_lines:
            break
    return max(votes.items(), key=lambda kv: kv[1])[0] if votes else "ftrace"

