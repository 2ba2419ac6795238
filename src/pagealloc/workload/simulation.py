"""A workload run: boot the scenario's machine, run its phases on the simulated clock.

Not a kernel file. :class:`Simulation` ties a :class:`~.scenario.Scenario` to a
:class:`~pagealloc.Machine`: it boots (or clones) the machine, installs the
parts of the model that handle memory pressure when the package has them
(page users, reclaim, compaction), writes the sysctls, and then runs the
clock: phases start and stop their actors, probes try the tracked high orders,
and an observer (the report's recorder) samples the machine at fixed
intervals and at chosen moments.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..errors import PageAllocError
from ..mm.gfp import parse_gfp
from .actors import Actor, make_actor
from .clock import SimClock
from .pages import K_PROBE, Pages
from .scenario import MachineConf, Scenario

__all__ = ["Simulation", "boot_machine", "install_pressure_models", "DEFAULT_PROBE_GFP"]

# What a probe of each tracked order stands for: a kmalloc of 32 KiB, a madvised THP
# fault, a driver's 4 MiB physically contiguous buffer.
DEFAULT_PROBE_GFP = {3: "GFP_KERNEL|__GFP_COMP",
                     9: "GFP_TRANSHUGE",
                     10: "GFP_KERNEL|__GFP_COMP|__GFP_RETRY_MAYFAIL|__GFP_NOWARN"}


def _snapshot_file(folder: Path, name: str) -> Path | None:
    for cand in (folder / f"{name}.txt", folder / f"{name}.before.txt"):
        if cand.is_file():
            return cand
    found = sorted(folder.glob(f"{name}.*.txt"))
    return found[0] if found else None


def boot_machine(mc: MachineConf, seed: int = 0):
    """A Machine as the scenario's [machine] table describes it (sysctls not yet written)."""
    from ..machine import Machine
    if mc.snapshot:
        folder = Path(mc.snapshot)
        try:
            from ..sources.snapshot import load_snapshot
        except ImportError:
            load_snapshot = None
        if load_snapshot is not None:
            # the snapshot loader: layout from zoneinfo, exact free blocks from kpageflags
            return load_snapshot(folder, mc.snapshot_tag, thp=mc.thp if mc.thp_explicit else None)
        zi = _snapshot_file(folder, "zoneinfo")
        if zi is None:
            raise PageAllocError(f"snapshot {folder}: no zoneinfo[.TAG].txt")
        cpus = None
        for nm in ("nproc.txt", "cpus.online.txt"):
            f = folder / nm
            if f.is_file():
                text = f.read_text().strip()
                if nm == "nproc.txt" and text.isdigit():
                    cpus = int(text)
                elif text:
                    cpus = _count_cpu_list(text)
                break
        thp = mc.thp
        f = folder / "thp.enabled.txt"
        if f.is_file():
            text = f.read_text()
            for mode in ("always", "madvise", "never"):
                if f"[{mode}]" in text:
                    thp = mode
        try:
            return Machine.from_zoneinfo(str(zi), cpus=cpus, thp=thp)
        except ImportError:
            raise PageAllocError("cloning a snapshot needs pagealloc.sources.zoneinfo, "
                                 "which this build does not have") from None
    kw: dict[str, Any] = dict(mem=mc.mem, cpus=mc.cpus, nodes=mc.nodes, cpu_nodes=mc.cpu_nodes,
                              thp=mc.thp, cmdline=mc.cmdline, e820=mc.e820, seed=seed)
    if mc.hotplug_room and hasattr(Machine, "boot_hotpluggable"):
        return Machine.boot_hotpluggable(room=mc.hotplug_room, **kw)
    return Machine.boot(**kw)


def _count_cpu_list(text: str) -> int:
    n = 0
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            n += int(b) - int(a) + 1
        elif part.strip():
            n += 1
    return max(n, 1)


def install_pressure_models(machine, *, thp_defrag: str = "madvise", swap_pages: int = 0) -> list[str]:
    """Install page users, reclaim and compaction on ``machine`` where the package has them.

    Returns the names of what is installed. Uses the Machine's own switch when it has
    one (``enable_reclaim``), else the mm/ classes directly.
    """
    mm = machine.mm
    got: list[str] = []
    enable = getattr(machine, "enable_reclaim", None)
    if enable is not None and getattr(mm, "page_users", None) is None:
        try:
            enable(swap=swap_pages * 4096, thp_defrag=thp_defrag)
        except TypeError:
            enable()
    if getattr(mm, "page_users", None) is None:
        try:
            from ..mm.page_users import PageUsers
            mm.page_users = PageUsers(mm, swap_pages=swap_pages, thp_defrag=thp_defrag)
        except ImportError:
            pass
    if getattr(mm, "page_users", None) is not None:
        got.append("page_users")
        if getattr(mm, "vmscan", None) is None:
            try:
                from ..mm.vmscan import Vmscan
                mm.vmscan = Vmscan(mm)
            except ImportError:
                pass
        if getattr(mm, "migrate", None) is None:
            try:
                from ..mm import migrate as _migrate
                cls = getattr(_migrate, "Migrate", None) or getattr(_migrate, "Migration", None)
                if cls is not None:
                    mm.migrate = cls(mm)
            except ImportError:
                pass
        if getattr(mm, "oom", None) is None:
            try:
                from ..mm import oom_kill as _oom
                cls = getattr(_oom, "OomKiller", None) or getattr(_oom, "OOMKiller", None)
                if cls is not None:
                    mm.oom = cls(mm)
            except ImportError:
                pass
    if getattr(mm, "vmscan", None) is not None:
        got.append("vmscan")
    if getattr(mm, "migrate", None) is not None:
        got.append("migrate")
    if getattr(mm, "oom", None) is not None:
        got.append("oom")
    if getattr(mm, "compaction", None) is None:
        try:
            from ..mm.compaction import Compaction
            mm.compaction = Compaction(mm)
        except ImportError:
            pass
    if getattr(mm, "compaction", None) is not None:
        got.append("compaction")
    return got


class Simulation:
    """One run of a scenario. ``observer`` gets ``sample(sim, t)`` and ``moment(sim, t, label)``."""

    def __init__(self, scenario: Scenario, *, observer=None, mode: str = "auto",
                 trace=None, log: Callable[[str], None] | None = None) -> None:
        self.scenario = scenario
        self.observer = observer
        self.log = log or (lambda s: None)
        self.notes: list[str] = []
        mc = scenario.machine
        self.machine = boot_machine(mc, scenario.seed)
        mm = self.machine.mm
        self.thp_defrag = mc.thp_defrag
        if mc.snapshot and not mc.thp_explicit:
            mc.thp = mm.thp                    # the snapshot's transparent_hugepage/enabled
        mm.thp = mc.thp
        self.installed: list[str] = []
        if mode != "plain":
            self.installed = install_pressure_models(self.machine, thp_defrag=mc.thp_defrag,
                                                     swap_pages=int(mc.swap) // 4096)
        if mc.page_reporting:
            if hasattr(self.machine, "enable_page_reporting"):
                self.machine.enable_page_reporting()
                self.installed.append("page_reporting")
            else:
                self.note("page_reporting = true: this build has no free page reporting model")
        for s in mc.sysctls:
            self.write_sysctl(s, None, at_boot=True)
        self.clock = SimClock(self.machine, scenario.tick, on_tick=self._tick,
                              plain_kswapd=self._plain_kswapd)
        self.pages = Pages(self.machine, mode="users" if "page_users" in self.installed
                           and mode != "plain" else "plain",
                           tracked_orders=scenario.report.track_orders, seed=scenario.seed,
                           now=lambda: self.clock.now)
        self.mode = self.pages.mode
        if trace is not None:
            from ..mm.tracepoints import Tracer
            mm.trace = Tracer(trace, clock=lambda: mm.clock_ns if hasattr(mm, "clock_ns")
                              else self.clock.now_ns)
        self._kernel_owners: dict[str, int] = {}
        self.stack_cache: dict[int, list] = {}
        self.actors: list[Actor] = []
        self.active: list[Actor] = []
        self.wall_seconds = 0.0
        self.events_log: list[tuple[float, str]] = []
        self._probe_gfp: dict[int, int] = {}
        self._retired: list[Actor] = []

    # --- services for actors ------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.log(text)

    def kernel_owner(self, name: str) -> int:
        oid = self._kernel_owners.get(name)
        if oid is None:
            oid = self.pages.new_owner(name, is_task=False)
            self._kernel_owners[name] = oid
        return oid

    def write_sysctl(self, assignment: str, actor=None, at_boot: bool = False) -> None:
        name, value = (x.strip() for x in assignment.split("=", 1))
        m = self.machine
        try:
            m.write_sysctl(name, value)
            if not at_boot:
                self.events_log.append((self.now, f"sysctl {name}={value}"))
            return
        except ImportError:
            pass
        # no sysctl module: the two actions a scenario most needs, else a note
        mm = m.mm
        if name in ("vm.compact_memory", "compact_memory"):
            from ..mm.compaction import compact_memory
            compact_memory(mm)
        elif name in ("vm.drop_caches", "drop_caches") and self.pages.mode == "plain":
            for z in mm.zones:
                self.pages._reclaim_zone(z, 1 << 62, 0)
        else:
            self.note(f"sysctl {name}={value} not applied: this build has no sysctl module")
            return
        if not at_boot:
            self.events_log.append((self.now, f"sysctl {name}={value}"))

    def hotplug_event(self, ev: dict, actor) -> None:
        """One memory hotplug event of a hotplug actor (through the Machine's hotplug API).

        Without a start address, offline takes the node's highest online memory blocks one
        by one (a block the kernel refuses, e.g. one with holes, is skipped), and online
        brings back the blocks this actor offlined, else the node's highest offline ones.
        """
        m = self.machine
        if not hasattr(m, "online_memory"):
            self.note("hotplug events skipped: this build has no memory hotplug model")
            return
        action = ev["action"]
        size = int(ev["size"])
        otype = {"auto": "online", "movable": "online_movable", "normal": "online_kernel",
                 "kernel": "online_kernel"}[ev["zone"]]
        done: list[int] = []
        errors: list[int] = []
        try:
            if ev["start"] is not None:
                start = int(ev["start"])
                if action == "offline":
                    ret = m.offline_memory(start, size)
                elif action == "online":
                    ret = m.online_memory(start, size, otype)
                elif action == "add":
                    ret = m.add_memory(start, size, ev["node"], otype)
                else:
                    ret = m.remove_memory(start, size)
                (errors if ret else done).append(ret if ret else start)
                where = f"at {start:#x}"
            else:
                blocks = [b for b in m.memory_blocks() if b.nid == ev["node"]]
                if not blocks:
                    self.note(f"hotplug {action}: node {ev['node']} has no memory blocks")
                    return
                bsize = blocks[0].nr_pages * 4096
                want = max(1, size // bsize)
                mine = getattr(actor, "offlined", None)
                if mine is None:
                    mine = actor.offlined = []
                if action == "offline":
                    cands = sorted((b.start_pfn * 4096 for b in blocks
                                    if b.state_name == "online"), reverse=True)
                elif action == "online":
                    cands = list(reversed(mine)) + sorted(
                        (b.start_pfn * 4096 for b in blocks if b.state_name == "offline"
                         and b.start_pfn * 4096 not in mine), reverse=True)
                else:
                    self.note(f"hotplug {action} needs a start address")
                    return
                for addr in cands:
                    if len(done) == want:
                        break
                    ret = (m.offline_memory(addr, bsize) if action == "offline"
                           else m.online_memory(addr, bsize, otype))
                    if ret:
                        errors.append(ret)
                        continue
                    done.append(addr)
                    if action == "offline":
                        mine.append(addr)
                    elif addr in mine:
                        mine.remove(addr)
                where = f"of node {ev['node']}"
        except PageAllocError as e:
            self.note(f"hotplug {action}: {e}")
            return
        mb = size >> 20
        if ev["start"] is None:
            got = len(done) * (blocks[0].nr_pages * 4096 >> 20)
            result = f"{got} MiB done" + (f", {len(errors)} block(s) refused "
                                          f"({', '.join(sorted({str(e) for e in errors}))})"
                                          if errors else "")
        else:
            result = "ok" if done else f"failed ({errors[0]})"
        self.events_log.append((self.now, f"hotplug {action} {mb} MiB {where}: {result}"))
        actor.count(f"{action}_{'ok' if done else 'failed'}")

    def _plain_kswapd(self) -> int:
        mm = self.machine.mm
        return self.pages.plain_kswapd(lambda nid: next(
            (c for c in range(mm.nr_cpu_ids) if mm.cpu_to_node[c] == nid and mm.cpu_online[c]),
            0))

    # --- probes -------------------------------------------------------------------------
    def _probe(self, now: float) -> None:
        pc = self.scenario.probe
        oid = self.kernel_owner("probe")
        for order in pc.orders:
            gfp = self._probe_gfp.get(order)
            if gfp is None:
                text = pc.gfp.get(order) or DEFAULT_PROBE_GFP.get(order) or "GFP_KERNEL|__GFP_COMP"
                gfp = self._probe_gfp[order] = parse_gfp(text)
            pfn = self.pages.alloc(K_PROBE, gfp, order, pc.cpu, oid)
            if pfn >= 0:
                self.pages.free(pfn, oid, pc.cpu)

    # --- running ------------------------------------------------------------------------
    def _tick(self, now: float, dt: float) -> None:
        for a in self.active:
            a.tick(now, dt)
        for a in self._retired:
            if a._expiry:
                a.tick(now, dt)

    def _start_phase(self, phase, now: float) -> None:
        self.events_log.append((now, f"phase {phase.name} starts"))
        for conf in phase.actors:
            a = make_actor(conf, self, phase)
            self.actors.append(a)
            self.active.append(a)
            a.start(now)

    def _end_phase(self, phase, now: float) -> None:
        self.events_log.append((now, f"phase {phase.name} ends"))
        for a in list(self.active):
            if a.phase is phase:
                a.stop(now)
                self.active.remove(a)
                self._retired.append(a)

    def run(self, progress: Callable[[float], None] | None = None) -> dict:
        """Run the scenario to its end; returns :meth:`summary`."""
        sc = self.scenario
        clock = self.clock
        t0 = time.perf_counter()
        for ph in sc.phases:
            clock.at(ph.start, lambda now, ph=ph: self._start_phase(ph, now))
            clock.at(ph.end, lambda now, ph=ph: self._end_phase(ph, now))
        if sc.probe.every > 0:
            clock.every(sc.probe.every, self._probe, start=sc.probe.every, until=sc.duration)
        obs = self.observer
        if obs is not None:
            def sample(now: float) -> None:
                self.pages.flush_stats()
                obs.sample(self, now)
            clock.every(sc.report.sample_every, sample, start=0.0, until=sc.duration, prio=9)
            for t in sc.report.memmap_at:
                if t != "end":
                    clock.at(float(t), lambda now: obs.moment(self, now), prio=9)
        clock.run_until(sc.duration, progress)
        self.pages.flush_stats()
        if obs is not None:
            last = getattr(obs, "last_sample_t", None)
            if last is None or last < sc.duration - 1e-9:
                obs.sample(self, sc.duration)
            if "end" in sc.report.memmap_at:
                obs.moment(self, sc.duration, "end")
        self.wall_seconds = time.perf_counter() - t0
        return self.summary()

    def summary(self) -> dict:
        """Headline numbers of the run (what `pagealloc run` prints and sweeps tabulate)."""
        from ..mm.vmstat import VM_EVENT_ITEMS
        mm = self.machine.mm
        ev = dict(zip(VM_EVENT_ITEMS, mm.events))
        p = self.pages
        zones = [z for z in mm.zones if z.present_pages]
        free = sum(max(z.vm_free, 0) for z in zones)
        managed = sum(z.managed_pages for z in zones)
        out: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "simulated_s": self.scenario.duration,
            "wall_s": round(self.wall_seconds, 3),
            "mode": self.mode,
            "models": ",".join(self.installed) or "-",
            "free_pages": free,
            "managed_pages": managed,
            "alloc_attempts": sum(p.attempts),
            "alloc_failures": sum(p.failures),
        }
        ho = {}
        for order in sorted(p.tracked):
            recs = [r for r in p.highorder if r[1] == order]
            ok = sum(1 for r in recs if r[3])
            ho[order] = (len(recs), ok, sum(r[4] for r in recs if r[3]) / ok if ok else 0.0)
            out[f"order{order}_attempts"] = len(recs)
            out[f"order{order}_success_pct"] = round(100.0 * ok / len(recs), 2) if recs else None
            out[f"order{order}_mean_steps"] = round(ho[order][2], 1)
        for name in ("thp_fault_alloc", "thp_fault_fallback", "compact_stall", "compact_success",
                     "compact_fail", "pgsteal_kswapd", "pgsteal_direct", "allocstall_normal",
                     "kswapd_low_wmark_hit_quickly", "oom_kill", "balloon_inflate"):
            out[name] = ev.get(name, 0)
        thp = ev.get("thp_fault_alloc", 0) + ev.get("thp_fault_fallback", 0)
        out["thp_success_pct"] = (round(100.0 * ev.get("thp_fault_alloc", 0) / thp, 2)
                                  if thp else None)
        if p.mode == "plain":
            out["plain_reclaimed_pages"] = p.plain_reclaimed
        return out
