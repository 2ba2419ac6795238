"""The OOM killer: choose the task whose death frees the most memory, and kill it.

Models mm/oom_kill.c of Linux 6.1 (global OOM only: no memcg, no cpusets):
oom_badness, select_bad_process / oom_evaluate_task, constrained_alloc,
out_of_memory, oom_kill_process / __oom_kill_process with dump_header,
dump_tasks and dump_oom_summary, and the allocator's entry
mm/page_alloc.c:__alloc_pages_may_oom (last attempt at the HIGH watermark,
no kill for costly orders, __GFP_RETRY_MAYFAIL, __GFP_THISNODE or a
DMA/DMA32-only request, "progress" without a kill for !__GFP_FS,
__GFP_NOFAIL's NO_WATERMARKS fallback).

Owners are :class:`pagealloc.mm.page_users.Owner` objects; tasks are
killable, kernel subsystems are not (PF_KTHREAD), nor is pid 1 (init) or a
task with oom_score_adj -1000. The kill is immediate and complete: the
victim's anonymous memory, THPs, page tables and stacks are freed through
the normal free paths (what the oom_reaper and the exit do), its swap slots
are released, and its page cache and shmem pages stay in memory as cache
owned by nobody (files outlive processes). total_vm is not modelled: the
task table prints rss + swapents for it. The dump is not rate limited and
has no stack trace.
"""
from __future__ import annotations

from .gfp import (__GFP_DIRECT_RECLAIM, __GFP_FS, __GFP_HARDWALL, __GFP_NOFAIL,
                  __GFP_RETRY_MAYFAIL, __GFP_THISNODE, format_gfp, gfp_zone)
from .internal import ALLOC_CPUSET, ALLOC_NO_WATERMARKS, ALLOC_WMARK_HIGH
from .mmzone import PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT
from .page_alloc import get_page_from_freelist
from .page_users import OOM_SCORE_ADJ_MIN, Kind, clear_page_user
from .vmstat import ev_index

__all__ = ["OOMKiller", "OomControl", "OOMPanic", "oom_badness", "out_of_memory",
           "alloc_pages_may_oom", "exit_owner", "CONSTRAINT_NONE", "CONSTRAINT_MEMORY_POLICY"]

EV_OOM_KILL = ev_index("oom_kill")
CONSTRAINT_NONE = "CONSTRAINT_NONE"
CONSTRAINT_MEMORY_POLICY = "CONSTRAINT_MEMORY_POLICY"
LONG_MIN = -(1 << 63)


def _K(pages: int) -> int:
    return pages << (PAGE_SHIFT - 10)


class OOMPanic(RuntimeError):
    """panic("System is deadlocked on memory"): nothing killable is left."""


class OomControl:
    """struct oom_control."""

    __slots__ = ("zonelist", "nodemask", "gfp_mask", "order", "totalpages", "chosen",
                 "chosen_points", "constraint")

    def __init__(self, zonelist, nodemask, gfp_mask: int, order: int) -> None:
        self.zonelist = zonelist
        self.nodemask = nodemask
        self.gfp_mask = gfp_mask
        self.order = order
        self.totalpages = 0
        self.chosen = None
        self.chosen_points = LONG_MIN
        self.constraint = CONSTRAINT_NONE


def oom_unkillable_task(p) -> bool:
    """Init and kernel threads are never killed (mm/oom_kill.c:oom_unkillable_task)."""
    return not p.is_task or p.pid == 1


def oom_badness(p, totalpages: int) -> int:
    """rss + swap entries + page-table pages, plus oom_score_adj per mille of memory.

    Models mm/oom_kill.c:oom_badness; LONG_MIN for a task that may not be chosen.
    """
    if oom_unkillable_task(p) or not p.alive:
        return LONG_MIN
    adj = p.oom_score_adj
    if adj == OOM_SCORE_ADJ_MIN or p.oom_skip:
        return LONG_MIN
    points = p.rss() + p.swapents + p.pgtables
    adj *= totalpages // 1000
    return points + adj


def constrained_alloc(mm, oc: OomControl) -> str:
    """CONSTRAINT_NONE, or CONSTRAINT_MEMORY_POLICY for a nodemask short of N_MEMORY."""
    pu = mm.page_users
    oc.totalpages = sum(z.managed_pages for z in mm.zones) + pu.swap_total
    if oc.gfp_mask & __GFP_THISNODE or oc.nodemask is None:
        return CONSTRAINT_NONE
    mem_nodes = {n.node_id for n in mm.nodes if n.has_memory()}
    if not mem_nodes <= set(oc.nodemask):
        oc.totalpages = pu.swap_total + sum(mm.nodes[nid].node_present_pages
                                            for nid in oc.nodemask)
        return CONSTRAINT_MEMORY_POLICY
    return CONSTRAINT_NONE


def select_bad_process(mm, oc: OomControl) -> None:
    """Pick the task with the highest badness; ties go to the later task.

    Models mm/oom_kill.c:select_bad_process / oom_evaluate_task; a live victim that has
    not been reaped yet aborts the selection (chosen = -1: wait for it).
    """
    oc.chosen_points = LONG_MIN
    for p in mm.page_users.tasks():
        if oom_unkillable_task(p):
            continue
        if p.oom_victim and not p.oom_skip:
            oc.chosen = -1
            return
        points = oom_badness(p, oc.totalpages)
        if points == LONG_MIN or points < oc.chosen_points:
            continue
        oc.chosen = p
        oc.chosen_points = points


def dump_tasks(mm, oc: OomControl) -> None:
    """The task table of an OOM report (mm/oom_kill.c:dump_tasks)."""
    mm.printk("Tasks state (memory values in pages):")
    mm.printk("[  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
    for p in mm.page_users.tasks():
        if oom_unkillable_task(p):
            continue
        total_vm = p.rss() + p.swapents
        mm.printk(f"[{p.pid:7d}] {p.uid:5d} {p.pid:5d} {total_vm:8d} {p.rss():8d} "
                  f"{p.pgtables_bytes():8d} {p.swapents:8d}         {p.oom_score_adj:5d} {p.comm}")


def dump_header(mm, oc: OomControl, victim) -> None:
    """The OOM report: who invoked it, Mem-Info, the task table, the summary line."""
    cur = getattr(mm, "current", None)
    comm = getattr(cur, "comm", "pagealloc")
    adj = getattr(cur, "oom_score_adj", 0)
    mm.printk(f"{comm} invoked oom-killer: gfp_mask={oc.gfp_mask:#x}({format_gfp(oc.gfp_mask)}), "
              f"order={oc.order}, oom_score_adj={adj}")
    render = getattr(mm, "render_mem_info", None)
    if render is not None:
        for line in render(gfp_zone(oc.gfp_mask, mm.profile)).splitlines():
            mm.printk(line)
    dump_tasks(mm, oc)
    if victim is not None:
        nm = "(null)" if oc.nodemask is None else ",".join(str(n) for n in sorted(oc.nodemask))
        mems = ",".join(str(n.node_id) for n in mm.nodes if n.online)
        mm.printk(f"oom-kill:constraint={oc.constraint},nodemask={nm},cpuset=/,"
                  f"mems_allowed={mems},global_oom,task_memcg=/,task={victim.comm},"
                  f"pid={victim.pid},uid={victim.uid}")


def exit_owner(mm, victim) -> int:
    """Free what the oom_reaper and a task's exit free (page cache stays); pages freed."""
    from .page_alloc import __free_pages, free_unref_page_list
    pu = mm.page_users
    order = mm.mem.order
    freed = 0
    batch: list[int] = []
    for p in pu.pfns_of(victim):
        kind = pu.kind[p]
        if kind in (Kind.FILE, Kind.SHMEM):
            # page cache outlives the process: it stays, owned by nobody
            pu.account(mm, p, order[p], kind, victim.id, -1)
            pu.owner[p] = 0
            pu.account(mm, p, order[p], kind, 0, 1)
            continue
        o = order[p]
        clear_page_user(mm, p)
        freed += 1 << o
        if o == 0:
            batch.append(p)
        else:
            __free_pages(mm, p, o)
    if batch:
        free_unref_page_list(mm, batch)
    pu.swap_used -= victim.swapents
    victim.swapents = 0
    pu.sync_swap_meminfo(mm)
    return freed


def __oom_kill_process(mm, victim, message: str) -> int:
    """SIGKILL the victim, count oom_kill, print the kill line, reap it.

    Models mm/oom_kill.c:__oom_kill_process with the oom_reaper and the exit done at once.
    """
    mm.events[EV_OOM_KILL] += 1
    victim.oom_victim = True
    mm.printk(f"{message}: Killed process {victim.pid} ({victim.comm}) "
              f"total-vm:{_K(victim.rss() + victim.swapents)}kB, anon-rss:{_K(victim.anon)}kB, "
              f"file-rss:{_K(victim.file)}kB, shmem-rss:{_K(victim.shmem)}kB, "
              f"UID:{victim.uid} pgtables:{victim.pgtables_bytes() >> 10}kB "
              f"oom_score_adj:{victim.oom_score_adj}")
    freed = exit_owner(mm, victim)
    victim.oom_skip = True
    victim.alive = False
    mm.printk(f"oom_reaper: reaped process {victim.pid} ({victim.comm}), now anon-rss:0kB, "
              f"file-rss:0kB, shmem-rss:0kB")
    return freed


def out_of_memory(mm, oc: OomControl) -> bool:
    """Kill the "best" task; True when that (or something else) counts as progress.

    Models mm/oom_kill.c:out_of_memory (no notifiers, no panic_on_oom, no
    oom_kill_allocating_task).
    """
    cur = getattr(mm, "current", None)
    if cur is not None and getattr(cur, "oom_victim", False) and getattr(cur, "is_task", False):
        # task_will_free_mem(current): it is dying already; give it the reserves
        return True
    if oc.gfp_mask and not oc.gfp_mask & __GFP_FS:
        return True
    oc.constraint = constrained_alloc(mm, oc)
    if oc.constraint != CONSTRAINT_MEMORY_POLICY:
        oc.nodemask = None
    select_bad_process(mm, oc)
    if oc.chosen is None:
        dump_header(mm, oc, None)
        mm.printk("Out of memory and no killable processes...")
        mm.printk("Kernel panic - not syncing: System is deadlocked on memory")
        raise OOMPanic("System is deadlocked on memory")
    if oc.chosen != -1:
        victim = oc.chosen
        dump_header(mm, oc, victim)
        __oom_kill_process(mm, victim, "Out of memory")
        mm.oom.kills.append(victim)
    return True


def alloc_pages_may_oom(mm, gfp: int, order: int, ac) -> tuple[int, int]:
    """The allocator's OOM step: (pfn or -1, did_some_progress).

    Models mm/page_alloc.c:__alloc_pages_may_oom (the oom_lock is never contended in
    the model).
    """
    pfn = get_page_from_freelist(mm, (gfp | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM, order,
                                 ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac)
    if pfn >= 0:
        return pfn, 0
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return -1, 0
    if gfp & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE):
        return -1, 0
    if ac.highest_zoneidx < mm.ZONE_NORMAL:
        return -1, 0
    oc = OomControl(ac.zonelist, ac.nodemask, gfp, order)
    progress = 0
    if out_of_memory(mm, oc) or gfp & __GFP_NOFAIL:
        progress = 1
        if gfp & __GFP_NOFAIL:
            pfn = get_page_from_freelist(mm, gfp, order, ALLOC_NO_WATERMARKS | ALLOC_CPUSET, ac)
            if pfn < 0:
                pfn = get_page_from_freelist(mm, gfp, order, ALLOC_NO_WATERMARKS, ac)
    return pfn, progress


class OOMKiller:
    """The machine's OOM killer, installed as ``mm.oom`` (the slowpath's hook)."""

    def __init__(self, mm) -> None:
        self.mm = mm
        self.kills: list = []          # victims, in kill order

    def alloc_pages_may_oom(self, gfp: int, order: int, ac) -> tuple[int, int]:
        return alloc_pages_may_oom(self.mm, gfp, order, ac)
