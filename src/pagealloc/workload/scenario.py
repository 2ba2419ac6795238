"""Scenario files: a machine, its sysctls and a workload as phases of actors, in TOML.

Not a kernel file. A scenario names the machine the way ``pagealloc boot`` takes
it (or a snapshot folder to clone), the sysctls to write after boot, how long
to run in simulated time, what to sample, and phases of actors (see actors.py
for what each kind does)::

    [scenario]
    name = "web server"
    duration = "5min"
    seed = 1

    [machine]
    mem = "16G"
    nodes = 2
    cpus = 16
    sysctls = ["vm.min_free_kbytes=90112"]

    [[phase]]
    name = "steady"
    start = "0s"

    [[phase.actor]]
    kind = "page_cache"
    rate = "48M/s"
    file_size = { dist = "lognormal", median = "1M", sigma = 1.5 }

Every error names the file, the line and the key (``default.toml:42:
phase[1].actor[0].rate: ...``). tomllib gives no line numbers for keys, so
:class:`~.tomlkeys.KeyLines` finds them by scanning the text.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from .distributions import (Dist, DistError, UnitError, parse_count, parse_dist,
                            parse_duration, parse_rate, parse_size)
from .tomlkeys import KeyLines, format_key

__all__ = ["Scenario", "MachineConf", "ReportConf", "ProbeConf", "PhaseConf", "ActorConf",
           "ScenarioError", "load_scenario", "loads_scenario", "default_scenario_text",
           "ACTOR_KINDS", "DEFAULT_SCENARIO"]

DEFAULT_SCENARIO = "default.toml"


class ScenarioError(InputError):
    """A scenario file that does not validate: file, line and key in the message."""

    def __init__(self, path: str, line: int, key: str, message: str) -> None:
        self.key = key
        super().__init__(path, line, f"{key}: {message}" if key else message)


# --------------------------------------------------------------------------------------
# the parsed scenario


@dataclass
class MachineConf:
    mem: str = "4G"
    nodes: int = 1
    cpus: int = 1
    cpu_nodes: list[int] | None = None
    thp: str = "always"
    cmdline: str = ""
    e820: str | None = None
    snapshot: str | None = None
    snapshot_tag: str | None = None  # which moment of the snapshot (before, after ...)
    sysctls: list[str] = field(default_factory=list)
    thp_defrag: str = "madvise"     # /sys/kernel/mm/transparent_hugepage/defrag
    swap: float = 0.0               # bytes of swap (page users' reclaim of anon pages)
    page_reporting: bool = False    # a virtio-balloon free page reporting device
    hotplug_room: str | None = None  # memmap room above RAM for hot-added memory
    thp_explicit: bool = False      # thp given in the file (a snapshot's own mode otherwise)


@dataclass
class ReportConf:
    sample_every: float = 5.0
    views: list[str] = field(default_factory=lambda: ["buddyinfo", "pagetypeinfo", "zoneinfo",
                                                      "vmstat"])
    memmap_at: list[float | str] = field(default_factory=lambda: [0.0, "end"])
    track_orders: list[int] = field(default_factory=lambda: [3, 9, 10])


@dataclass
class ProbeConf:
    """Periodic test allocations of the tracked orders, freed at once."""
    every: float = 0.0              # 0: no probes
    orders: list[int] = field(default_factory=lambda: [3, 9, 10])
    gfp: dict[int, str] = field(default_factory=dict)
    cpu: int = 0


@dataclass
class ActorConf:
    kind: str
    name: str
    params: dict[str, Any]
    cpus: list[int] | None = None
    node: int | None = None
    on_end: str = "keep"
    key: str = ""                   # "phase[0].actor[1]", for messages


@dataclass
class PhaseConf:
    name: str
    start: float
    end: float
    actors: list[ActorConf] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    description: str
    path: str
    seed: int
    duration: float
    tick: float
    machine: MachineConf
    report: ReportConf
    probe: ProbeConf
    phases: list[PhaseConf]
    text: str = ""

    def with_overrides(self, *, seed: int | None = None, duration: float | None = None,
                       sysctls: list[str] | None = None, machine: dict | None = None) -> "Scenario":
        """A copy with another seed, duration, extra sysctls or machine keys (for sweeps)."""
        import copy
        s = copy.deepcopy(self)
        if seed is not None:
            s.seed = seed
        if duration is not None:
            s.duration = duration
            for ph in s.phases:
                ph.end = min(ph.end, duration)
        if sysctls:
            s.machine.sysctls = list(s.machine.sysctls) + list(sysctls)
        for k, v in (machine or {}).items():
            if not hasattr(s.machine, k):
                raise ValueError(f"unknown machine key {k!r}")
            setattr(s.machine, k, v)
        return s


# --------------------------------------------------------------------------------------
# validation helpers


class _V:
    """Validation context: the file, its key lines, and error construction."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.keys = KeyLines(text)

    def err(self, path: tuple, message: str) -> ScenarioError:
        return ScenarioError(self.path, self.keys.line(path), format_key(path), message)

    def table(self, obj, path: tuple) -> dict:
        if not isinstance(obj, dict):
            raise self.err(path, f"expected a table, got {_tname(obj)}")
        return obj

    def check_keys(self, tbl: dict, path: tuple, allowed) -> None:
        for k in tbl:
            if k not in allowed:
                close = difflib.get_close_matches(k, list(allowed), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else \
                    f" (expected one of: {', '.join(sorted(allowed))})"
                raise self.err(path + (k,), f"unknown key{hint}")

    def get(self, tbl: dict, key: str, path: tuple, parse: Callable, default=None,
            required: bool = False):
        if key not in tbl:
            if required:
                raise self.err(path, f"missing required key {key!r}")
            return default
        try:
            return parse(tbl[key])
        except DistError as e:
            sub = path + (key,) + ((e.subkey,) if e.subkey else ())
            raise self.err(sub, str(e)) from None
        except (UnitError, ValueError, TypeError) as e:
            raise self.err(path + (key,), str(e)) from None


def _tname(v) -> str:
    return {dict: "a table", list: "an array", str: "a string", int: "an integer",
            float: "a number", bool: "a boolean"}.get(type(v), type(v).__name__)


def _int(lo: int | None = None, hi: int | None = None) -> Callable:
    def p(v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"expected an integer, got {_tname(v)} {v!r}")
        if lo is not None and v < lo:
            raise ValueError(f"expected at least {lo}, got {v}")
        if hi is not None and v > hi:
            raise ValueError(f"expected at most {hi}, got {v}")
        return v
    return p


def _str(choices=None) -> Callable:
    def p(v):
        if not isinstance(v, str):
            raise ValueError(f"expected a string, got {_tname(v)} {v!r}")
        if choices is not None and v not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {v!r}")
        return v
    return p


def _bool(v):
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return v


def _fraction(v):
    x = parse_count(v)
    if x > 1:
        raise ValueError(f"expected a fraction between 0 and 1, got {v!r}")
    return x


def _int_list(v):
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool)
                                          and x >= 0 for x in v):
        raise ValueError(f"expected an array of non-negative integers, got {v!r}")
    return list(v)


def _gfp(v):
    from ..mm.gfp import parse_gfp
    if not isinstance(v, str):
        raise ValueError(f"expected a gfp mask like \"GFP_KERNEL|__GFP_NOWARN\", got {v!r}")
    parse_gfp(v)
    return v


def _size_dist(v) -> Dist:
    return parse_dist(v, parse_size)


def _dur_dist(v) -> Dist:
    return parse_dist(v, parse_duration)


def _count_dist(v) -> Dist:
    return parse_dist(v, parse_count, integer=True)


def _byte_rate(v) -> float:
    return parse_rate(v, bytes_=True)


def _event_rate(v) -> float:
    return parse_rate(v)


# --------------------------------------------------------------------------------------
# actor kinds: key -> (parser, default); None default with required=True below

_COMMON = {"kind", "name", "cpus", "node", "on_end"}

ACTOR_KINDS: dict[str, dict[str, tuple[Callable, Any]]] = {
    # page cache: files read (readahead) or written at a byte rate
    "page_cache": {
        "mode": (_str(("read", "write")), "read"),
        "rate": (_byte_rate, None),
        "fs": (_str(("ext4", "xfs")), "ext4"),
        "files": (_int(0), 2000),
        "file_size": (_size_dist, Dist("lognormal", {"median": 256 << 10, "sigma": 1.5},
                                       hi=float(1 << 30))),
        "popularity": (_str(("zipf", "uniform", "stream")), "zipf"),
        "zipf_s": (parse_count, 1.0),
        "delete_after": (_dur_dist, None),
        "readahead": (parse_size, float(128 << 10)),
    },
    # anonymous memory of long-running processes, THP faults where enabled
    "anon": {
        "procs": (_int(0), 1),
        "spawn_rate": (_event_rate, 0.0),
        "size": (_size_dist, None),
        "fault_rate": (_byte_rate, float(256 << 20)),
        "lifetime": (_dur_dist, None),
        "madvise": (_bool, False),
        "churn": (_byte_rate, 0.0),
    },
    # slab pages of one kind of cache
    "slab": {
        "reclaimable": (_bool, False),
        "rate": (_byte_rate, None),
        "order": (_count_dist, Dist("choice", {"values": [0.0, 1.0, 2.0, 3.0],
                                               "weights": [55.0, 15.0, 10.0, 20.0]},
                                    integer=True)),
        "lifetime": (_dur_dist, Dist("exp", {"mean": 30.0})),
        "cache": (_str(), "kmalloc"),
        "shrinkable": (_fraction, 0.6),
    },
    # fork/exit storms: kernel stacks, page tables, a little private anon
    "fork": {
        "rate": (_event_rate, None),
        "lifetime": (_dur_dist, Dist("exp", {"mean": 0.5})),
        "rss": (_size_dist, Dist("lognormal", {"median": 384 << 10, "sigma": 0.8},
                                 hi=float(64 << 20))),
        "page_tables": (_count_dist, Dist("uniform", {"min": 4.0, "max": 12.0}, integer=True)),
        "threads": (_count_dist, Dist("const", {"value": 1.0}, integer=True)),
    },
    # network receive bursts: GFP_ATOMIC high-order frag pages from interrupts
    "net": {
        "burst_rate": (_event_rate, None),
        "burst_size": (_count_dist, Dist("lognormal", {"median": 64.0, "sigma": 0.7},
                                         integer=True)),
        "order": (_int(0, 10), 3),
        "lifetime": (_dur_dist, Dist("exp", {"mean": 0.004})),
        "fallback_order0": (_bool, True),
    },
    # a virtio-balloon driver following a target size over time
    "balloon": {
        "schedule": (None, None),
        "rate": (_byte_rate, float(256 << 20)),
    },
    # memory hotplug events
    "hotplug": {
        "events": (None, None),
    },
    # sysctl writes at a moment (compact_memory, drop_caches, tunables)
    "sysctl": {
        "at": (parse_duration, 0.0),
        "set": (None, None),
    },
}
_REQUIRED = {"page_cache": ("rate",), "anon": ("size",), "slab": ("rate",), "fork": ("rate",),
             "net": ("burst_rate",), "balloon": ("schedule",), "hotplug": ("events",),
             "sysctl": ("set",)}


# --------------------------------------------------------------------------------------
# loading


def default_scenario_text() -> str:
    """The embedded default scenario (package data pagealloc/data/default.toml)."""
    return resources.files("pagealloc").joinpath("data", DEFAULT_SCENARIO).read_text()


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (None: the embedded default)."""
    if path is None:
        return loads_scenario(default_scenario_text(), f"<embedded {DEFAULT_SCENARIO}>")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(str(path), 0, f"cannot read scenario: {e.strerror}") from None
    return loads_scenario(text, str(path), base=p.parent)


def loads_scenario(text: str, path: str = "<scenario>", base: Path | None = None) -> Scenario:
    """Validate scenario text; errors name ``path``, the line and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else 0
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ScenarioError(path, line, "", f"not valid TOML: {msg}") from None
    v = _V(path, text)
    v.check_keys(doc, (), {"scenario", "machine", "report", "probe", "phase"})

    sc = v.table(doc.get("scenario", {}), ("scenario",))
    v.check_keys(sc, ("scenario",), {"name", "description", "seed", "duration", "tick"})
    name = v.get(sc, "name", ("scenario",), _str(), Path(path).stem)
    desc = v.get(sc, "description", ("scenario",), _str(), "")
    seed = v.get(sc, "seed", ("scenario",), _int(0), 0)
    duration = v.get(sc, "duration", ("scenario",), parse_duration, required=True)
    if duration <= 0:
        raise v.err(("scenario", "duration"), "must be positive")
    tick = v.get(sc, "tick", ("scenario",), parse_duration, 0.01)
    if not 0.0001 <= tick <= 10:
        raise v.err(("scenario", "tick"), "expected a tick between 100us and 10s")

    machine = _machine(v, doc.get("machine", {}), base)
    report = _report(v, doc.get("report", {}), duration)
    probe = _probe(v, doc.get("probe", {}), machine)
    phases = _phases(v, doc.get("phase", []), duration, machine)
    return Scenario(name=name, description=desc, path=path, seed=seed, duration=duration,
                    tick=tick, machine=machine, report=report, probe=probe, phases=phases,
                    text=text)


def _machine(v: _V, tbl, base: Path | None) -> MachineConf:
    P = ("machine",)
    tbl = v.table(tbl, P)
    v.check_keys(tbl, P, {"mem", "nodes", "cpus", "cpu_nodes", "thp", "cmdline", "e820",
                          "snapshot", "at", "sysctls", "thp_defrag", "swap", "page_reporting",
                          "hotplug_room"})
    mc = MachineConf()
    mc.mem = v.get(tbl, "mem", P, lambda x: _check_mem(x), mc.mem)
    mc.nodes = v.get(tbl, "nodes", P, _int(1, 64), 1)
    mc.cpus = v.get(tbl, "cpus", P, _int(1, 1024), 1)
    mc.cpu_nodes = v.get(tbl, "cpu_nodes", P, _int_list, None)
    if mc.cpu_nodes is not None:
        if len(mc.cpu_nodes) != mc.cpus:
            raise v.err(P + ("cpu_nodes",), f"lists {len(mc.cpu_nodes)} CPUs, cpus = {mc.cpus}")
        if max(mc.cpu_nodes) >= mc.nodes:
            raise v.err(P + ("cpu_nodes",), f"names node {max(mc.cpu_nodes)}, nodes = {mc.nodes}")
    mc.thp = v.get(tbl, "thp", P, _str(("always", "madvise", "never")), "always")
    mc.thp_explicit = "thp" in tbl
    mc.cmdline = v.get(tbl, "cmdline", P, _str(), "")
    mc.e820 = v.get(tbl, "e820", P, _str(), None)
    mc.thp_defrag = v.get(tbl, "thp_defrag", P, _str(("always", "defer", "defer+madvise",
                                                      "madvise", "never")), "madvise")
    mc.swap = v.get(tbl, "swap", P, parse_size, 0.0)
    mc.page_reporting = v.get(tbl, "page_reporting", P, _bool, False)
    mc.hotplug_room = v.get(tbl, "hotplug_room", P, _check_mem, None)
    snap = v.get(tbl, "snapshot", P, _str(), None)
    if snap is not None:
        sp = Path(snap)
        if not sp.is_absolute() and base is not None:
            sp = base / sp
        if not sp.is_dir():
            raise v.err(P + ("snapshot",), f"no snapshot folder {str(sp)!r}")
        if not list(sp.glob("zoneinfo*.txt")):
            raise v.err(P + ("snapshot",), f"{str(sp)!r} has no zoneinfo[.TAG].txt")
        mc.snapshot = str(sp)
    mc.snapshot_tag = v.get(tbl, "at", P, _str(), None)
    if mc.snapshot_tag is not None and snap is None:
        raise v.err(P + ("at",), "names a moment of a snapshot, but there is no snapshot key")
    raw = tbl.get("sysctls", [])
    if isinstance(raw, dict):
        items = [f"{k}={val}" for k, val in raw.items()]
        keys = [P + ("sysctls", k) for k in raw]
    elif isinstance(raw, list):
        items = raw
        keys = [P + ("sysctls",)] * len(raw)
    else:
        raise v.err(P + ("sysctls",), "expected an array of \"vm.NAME=VALUE\" or a table")
    for s, key in zip(items, keys):
        if not isinstance(s, str) or "=" not in s or not s.split("=", 1)[0].strip():
            raise v.err(key, f"expected \"vm.NAME=VALUE\", got {s!r}")
        if isinstance(s, str) and isinstance(raw, dict) and isinstance(raw[key[-1]], bool):
            raise v.err(key, "expected a number or a string")
        mc.sysctls.append(s)
    return mc


def _check_mem(x):
    from ..machine import parse_size as machine_size
    from ..errors import PageAllocError
    if not isinstance(x, (str, int)) or isinstance(x, bool):
        raise ValueError(f"expected a size like \"16G\", got {x!r}")
    try:
        n = machine_size(x)
    except PageAllocError as e:
        raise ValueError(str(e)) from None
    if n < (16 << 20):
        raise ValueError("at least 16M is needed")
    return x


def _report(v: _V, tbl, duration: float) -> ReportConf:
    from ..cli import VIEWS
    P = ("report",)
    tbl = v.table(tbl, P)
    v.check_keys(tbl, P, {"sample_every", "views", "memmap_at", "track_orders"})
    rc = ReportConf()
    rc.sample_every = v.get(tbl, "sample_every", P, parse_duration, rc.sample_every)
    if rc.sample_every <= 0:
        raise v.err(P + ("sample_every",), "must be positive")

    def views(x):
        if not isinstance(x, list) or not all(isinstance(s, str) for s in x):
            raise ValueError("expected an array of view names")
        for s in x:
            if s not in VIEWS:
                raise ValueError(f"unknown view {s!r} (known: {', '.join(VIEWS)})")
        return list(x)
    rc.views = v.get(tbl, "views", P, views, rc.views)

    def moments(x):
        if not isinstance(x, list):
            raise ValueError("expected an array of times (or \"end\")")
        out: list[float | str] = []
        for t in x:
            if t == "end":
                out.append("end")
            else:
                s = parse_duration(t)
                if s > duration:
                    raise ValueError(f"{t!r} is after the end of the scenario ({duration:g}s)")
                out.append(s)
        return out
    rc.memmap_at = v.get(tbl, "memmap_at", P, moments, rc.memmap_at)

    def orders(x):
        lst = _int_list(x)
        if any(o > 10 for o in lst):
            raise ValueError("orders are 0..10")
        return sorted(set(lst))
    rc.track_orders = v.get(tbl, "track_orders", P, orders, rc.track_orders)
    return rc


def _probe(v: _V, tbl, mc: MachineConf) -> ProbeConf:
    P = ("probe",)
    tbl = v.table(tbl, P)
    v.check_keys(tbl, P, {"every", "orders", "gfp", "cpu"})
    pc = ProbeConf()
    pc.every = v.get(tbl, "every", P, parse_duration, 0.0)
    pc.orders = v.get(tbl, "orders", P, _int_list, pc.orders)
    if any(o > 10 for o in pc.orders):
        raise v.err(P + ("orders",), "orders are 0..10")
    g = tbl.get("gfp", {})
    if not isinstance(g, dict):
        raise v.err(P + ("gfp",), "expected a table of order = \"GFP mask\"")
    for k, mask in g.items():
        if not k.isdigit() or int(k) not in pc.orders:
            raise v.err(P + ("gfp", k), f"expected one of the probe orders {pc.orders}")
        pc.gfp[int(k)] = v.get(g, k, P + ("gfp",), _gfp)
    pc.cpu = v.get(tbl, "cpu", P, _int(0), 0)
    if pc.cpu >= mc.cpus:
        raise v.err(P + ("cpu",), f"the machine has {mc.cpus} CPUs")
    return pc


def _phases(v: _V, arr, duration: float, mc: MachineConf) -> list[PhaseConf]:
    if not isinstance(arr, list):
        raise v.err(("phase",), "expected [[phase]] tables")
    if not arr:
        raise v.err(("phase",), "a scenario needs at least one [[phase]]")
    out: list[PhaseConf] = []
    prev_end = 0.0
    for i, ph in enumerate(arr):
        P = ("phase", i)
        ph = v.table(ph, P)
        v.check_keys(ph, P, {"name", "start", "duration", "end", "actor"})
        name = v.get(ph, "name", P, _str(), f"phase{i}")
        start = v.get(ph, "start", P, parse_duration, prev_end)
        if "duration" in ph and "end" in ph:
            raise v.err(P + ("end",), "give duration or end, not both")
        if "duration" in ph:
            end = start + v.get(ph, "duration", P, parse_duration)
        else:
            end = v.get(ph, "end", P, parse_duration, duration)
        if start >= duration:
            raise v.err(P + ("start",), f"starts at or after the end of the scenario ({duration:g}s)")
        if end <= start:
            raise v.err(P + ("end" if "end" in ph else "duration",), "the phase ends before it starts")
        end = min(end, duration)
        prev_end = end
        actors = []
        arr2 = ph.get("actor", [])
        if not isinstance(arr2, list):
            raise v.err(P + ("actor",), "expected [[phase.actor]] tables")
        for j, a in enumerate(arr2):
            actors.append(_actor(v, a, P + ("actor", j), mc, i, j))
        out.append(PhaseConf(name, start, end, actors))
    return out


def _actor(v: _V, a, P: tuple, mc: MachineConf, i: int, j: int) -> ActorConf:
    a = v.table(a, P)
    kind = v.get(a, "kind", P, _str(tuple(ACTOR_KINDS)), required=True)
    schema = ACTOR_KINDS[kind]
    v.check_keys(a, P, _COMMON | set(schema))
    name = v.get(a, "name", P, _str(), f"{kind}{i}.{j}")
    cpus = v.get(a, "cpus", P, _int_list, None)
    if cpus is not None:
        if not cpus:
            raise v.err(P + ("cpus",), "an empty CPU list")
        if max(cpus) >= mc.cpus:
            raise v.err(P + ("cpus",), f"names CPU {max(cpus)}, the machine has {mc.cpus}")
    node = v.get(a, "node", P, _int(0), None)
    if node is not None and node >= mc.nodes:
        raise v.err(P + ("node",), f"the machine has {mc.nodes} node(s)")
    on_end = v.get(a, "on_end", P, _str(("keep", "free")), "keep")
    params: dict[str, Any] = {}
    for key, (parse, default) in schema.items():
        if parse is None:
            continue
        params[key] = v.get(a, key, P, parse, default, required=key in _REQUIRED[kind])
    if kind == "balloon":
        params["schedule"] = _schedule(v, a, P)
    elif kind == "hotplug":
        params["events"] = _hotplug_events(v, a, P)
    elif kind == "sysctl":
        params["set"] = _sysctl_set(v, a, P)
    if kind == "net" and params["order"] == 0:
        params["fallback_order0"] = False
    return ActorConf(kind=kind, name=name, params=params, cpus=cpus, node=node, on_end=on_end,
                     key=format_key(P))


def _schedule(v: _V, a: dict, P: tuple) -> list[tuple[float, float]]:
    if "schedule" not in a:
        raise v.err(P, "missing required key 'schedule'")
    raw = a["schedule"]
    if not isinstance(raw, list) or not raw:
        raise v.err(P + ("schedule",), "expected an array of [time, size] pairs, e.g. "
                                       "[[\"10s\", \"1G\"], [\"60s\", \"0\"]]")
    out = []
    for k, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2:
            raise v.err(P + ("schedule",), f"item {k}: expected [time, size], got {item!r}")
        try:
            out.append((parse_duration(item[0]), parse_size(item[1])))
        except UnitError as e:
            raise v.err(P + ("schedule",), f"item {k}: {e}") from None
    if any(b[0] < a_[0] for a_, b in zip(out, out[1:])):
        raise v.err(P + ("schedule",), "times must not go backwards")
    return out


def _hotplug_events(v: _V, a: dict, P: tuple) -> list[dict]:
    if "events" not in a:
        raise v.err(P, "missing required key 'events'")
    raw = a["events"]
    if not isinstance(raw, list) or not raw:
        raise v.err(P + ("events",), "expected an array of {at, action, ...} tables")
    out = []
    for k, ev in enumerate(raw):
        EP = P + ("events",)
        if not isinstance(ev, dict):
            raise v.err(EP, f"item {k}: expected a table, got {ev!r}")
        allowed = {"at", "action", "node", "size", "start", "zone"}
        for key in ev:
            if key not in allowed:
                raise v.err(EP, f"item {k}: unknown key {key!r} (expected: "
                                f"{', '.join(sorted(allowed))})")
        try:
            e = {"at": parse_duration(ev.get("at", 0)),
                 "action": _str(("online", "offline", "add", "remove"))(ev.get("action", "")),
                 "node": _int(0)(ev.get("node", 0)),
                 "size": parse_size(ev.get("size", "128M")),
                 "start": parse_size(ev["start"]) if "start" in ev else None,
                 "zone": _str(("auto", "movable", "normal", "kernel"))(ev.get("zone", "auto"))}
        except (UnitError, ValueError) as err:
            raise v.err(EP, f"item {k}: {err}") from None
        if e["action"] in ("add", "remove") and e["start"] is None:
            raise v.err(EP, f"item {k}: {e['action']} needs start (a physical address, e.g. "
                            f"\"20G\")")
        out.append(e)
    return out


def _sysctl_set(v: _V, a: dict, P: tuple) -> list[str]:
    if "set" not in a:
        raise v.err(P, "missing required key 'set'")
    raw = a["set"]
    if isinstance(raw, dict):
        items = []
        for k, val in raw.items():
            if isinstance(val, bool) or not isinstance(val, (int, str, float)):
                raise v.err(P + ("set", k), "expected a number or a string")
            items.append(f"{k}={val}")
        return items
    if isinstance(raw, list) and all(isinstance(s, str) and "=" in s for s in raw):
        return list(raw)
    raise v.err(P + ("set",), "expected a table { \"vm.NAME\" = VALUE } or [\"vm.NAME=VALUE\"]")
