"""Compaction's scanners against the real kernel's own isolate lines (oracle set 2, m256).

The m256-smp1 trace of oracle set 2 (Debian's 6.1 kernel) holds four compaction runs:
two from writing /proc/sys/vm/compact_memory (compact_node(): order -1, MIGRATE_SYNC,
whole zone, ignore_skip_hint; one for DMA, one for DMA32) and two from kcompactd
(kcompactd_do_work(): order 9, MIGRATE_SYNC_LIGHT, which the trace prints as "sync").
Each call of isolate_migratepages_block() / isolate_freepages_block() printed one
mm_compaction_isolate_migratepages / _freepages line: ``range=(start ~ end)`` (end: the
pfn the scan stopped at), nr_scanned and nr_taken.

The trace is replayed exactly from the kpageflags snapshot taken before it. The replay
pauses before each migrate line and each group of free lines, rebuilds the page state a
trace does not carry (skip bits, PG_lru: see "State the trace does not carry"), calls the
model's isolate_migratepages() or isolate_freepages() once with a compact_control set up
as the kernel's was at that point of the run, and compares the model's
isolate_*_block() calls with the kernel's lines:

* migrate scanner: the one block call equals the kernel's line (start, end, nr_scanned,
  nr_taken) at every sample;
* free scanner: the first block call equals the group's first line at every sample, and
  the whole walk equals the whole group, but for two pageblocks whose type the replay's
  start gets wrong (KNOWN_UNSUITABLE_IN_REPLAY);
* the pageblocks a call marks skip are those the kernel's lines show it marked.

The model state is saved before each call and put back after it, so the replay goes on
from the kernel's state; it must end as a replay without the samples does.

Not visible in this trace, so not checked: the fast free-list searches of kcompactd
(fast_find_migrateblock() and fast_isolate_freepages() find nothing here that changes a
line), hence neither the 6.1 skip of the block a fast search picks; the cached
migrate/free pfns (the kernel prints them only in the next run's begin line, and both
kcompactd runs begin at the zone start).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pytest

from pagealloc.mm import compaction
from pagealloc.mm.compaction import MIGRATE_SYNC, MIGRATE_SYNC_LIGHT, CompactControl
from pagealloc.mm.gfp import GFP_KERNEL, __GFP_MOVABLE, gfp_migratetype
from pagealloc.mm.memmap import PB_migrate_skip, PG_buddy, PG_head, PG_lru, PG_pcp
from pagealloc.mm.mmzone import pageblock_nr_pages, pageblock_order
from pagealloc.traces.reader import TraceReader
from pagealloc.traces.replay import build_start
from pagealloc.traces.replay_exact import ExactReplay
from pagealloc.traces.replay_input import ISOLATE_FREE, EventBlocks

CAPTURE = "set2/m256-smp1"
PB = pageblock_nr_pages

MIGRATE_LINE = "mm_compaction_isolate_migratepages"
FREE_LINE = "mm_compaction_isolate_freepages"
COMPACTION_LINES = ("mm_compaction_begin", "mm_compaction_end", "mm_compaction_finished",
                    MIGRATE_LINE, FREE_LINE)

#: Free-scanner samples (line of the group's first line) whose walk differs for want of
#: state: {line: pageblocks the kernel scanned that the model passes over}. At 153970 the
#: replay has pageblocks 0x7600 and 0x7400 UNMOVABLE, so not suitable migration targets,
#: where the kernel scanned them (so they were MOVABLE): pageblock types are not in
#: kpageflags, the start infers them. Every other line of that walk agrees.
KNOWN_UNSUITABLE_IN_REPLAY = {153970: (0x7600, 0x7400)}


def _pageblock_start(pfn: int) -> int:
    return pfn & ~(PB - 1)


# --------------------------------------------------------------------------------------------
# The kernel's compaction runs, as the trace shows them

@dataclass
class Run:
    """One compact_zone() call: its mm_compaction_begin fields and the lines until _end."""
    line: int
    comm: str
    zone_start: int
    zone_end: int
    migrate_pfn: int
    free_pfn: int
    order: int | None = None          # from its first mm_compaction_finished line
    # its isolate lines: (line, name, (start, end, nr_scanned, nr_taken))
    isolate_lines: list = field(default_factory=list)

    @property
    def is_compact_memory(self) -> bool:
        return self.order == -1


@dataclass
class Sample:
    """A pause before a scanner's line, with the compact_control fields the kernel had.

    ``lines`` is the line (migrate) or the group of consecutive lines (free) the kernel
    printed for that isolate_migratepages() / isolate_freepages() call, as in
    Run.isolate_lines; ``kernel`` their ranges.
    """
    line: int
    kind: str                          # "migrate" or "free"
    run: Run
    migrate_pfn: int
    free_pfn: int
    rescan: bool = False
    nr_migratepages: int = 0
    lines: tuple = ()

    @property
    def kernel(self) -> tuple:
        return tuple(rng for _, _, rng in self.lines)


def read_runs(path: str) -> tuple[list[Run], dict[str, np.ndarray]]:
    """The compaction runs of a trace, and its successful order-0 mm_page_alloc lines.

    The allocations come back as arrays ``line``, ``pfn``, ``movable`` (the gfp had
    __GFP_MOVABLE), in trace order.
    """
    runs: list[Run] = []
    cur: Run | None = None
    lines, pfns, movable = [], [], []
    for ev in TraceReader(path, events={"mm_page_alloc", *COMPACTION_LINES}):
        if ev.name == "mm_page_alloc":
            if ev.order == 0 and not ev.failed:
                lines.append(ev.line)
                pfns.append(ev.pfn)
                movable.append(bool(ev.gfp & __GFP_MOVABLE))
        elif ev.name == "mm_compaction_begin":
            f = {k: int(ev.extra[k], 16) for k in ("zone_start", "zone_end", "migrate_pfn",
                                                    "free_pfn")}
            cur = Run(ev.line, ev.comm, **f)
            runs.append(cur)
        elif cur is None:
            continue
        elif ev.name == "mm_compaction_end":
            cur = None
        elif ev.name == "mm_compaction_finished":
            if cur.order is None:
                cur.order = int(ev.extra["order"])
        else:
            x = ev.extra
            cur.isolate_lines.append(
                (ev.line, ev.name, (x["start_pfn"], x["end_pfn"], x["nr_scanned"], x["nr_taken"])))
    allocs = {"line": np.array(lines, np.int64), "pfn": np.array(pfns, np.int64),
              "movable": np.array(movable, bool)}
    return runs, allocs


def samples_of(run: Run) -> list[Sample]:
    """The samples of one run, with the scanner positions compact_zone() had.

    As in compact_zone(): the migrate scanner starts at the begin line's migrate_pfn and
    resumes where its last line ended; a round is a rescan when it starts in the pageblock
    of the last round that isolated pages (last_migrated_pfn, 0 at first). The free
    scanner starts at the begin line's free_pfn; after a group of lines it resumes inside
    the last block when the scan stopped there, else one pageblock below it. Free lines
    are called for as many targets as the last migrate line took.
    """
    out: list[Sample] = []
    mig, free = run.migrate_pfn, run.free_pfn
    last_migrated = 0
    nr_taken = 0
    lines = run.isolate_lines
    i = 0
    while i < len(lines):
        line, name, rng = lines[i]
        if name == MIGRATE_LINE:
            rescan = _pageblock_start(last_migrated) == _pageblock_start(mig)
            out.append(Sample(line, "migrate", run, mig, free, rescan=rescan,
                              lines=(lines[i],)))
            if rng[3]:
                last_migrated = mig
            mig, nr_taken = rng[1], rng[3]
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j][1] == FREE_LINE:
            j += 1
        out.append(Sample(line, "free", run, mig, free, nr_migratepages=nr_taken,
                          lines=tuple(lines[i:j])))
        start, end = lines[j - 1][2][:2]
        free = end if end % PB and end < run.zone_end else _pageblock_start(start) - PB
        i = j
    return out


# --------------------------------------------------------------------------------------------
# State the trace does not carry: rebuilt before each sample, undone after it

def skip_marks(run: Run, lines) -> tuple[set[int], set[int]]:
    """The pageblocks (first pfns) the kernel marked PB_migrate_skip while printing these
    isolate lines of a run: those it surely marked, and those it may have marked.

    As mm/compaction.c (6.1) marks them:

    * the migrate scanner scanned a whole pageblock from its start and isolated nothing
      (set_pageblock_skip at the end of isolate_migratepages_block);
    * kcompactd's migrate scanner isolated pages in a block it entered at its start:
      test_and_set_skip marks the block when the first page taken is the block's first
      pfn, which is sure when every pfn scanned was taken, and possible otherwise;
    * the free scanner scanned a pageblock to its end (update_pageblock_skip).
    """
    sure: set[int] = set()
    maybe: set[int] = set()
    for _, name, (start, end, nr_scanned, nr_taken) in lines:
        block = _pageblock_start(start)
        whole = end == min(block + PB, run.zone_end)
        if name == FREE_LINE:
            if whole:
                sure.add(block)
        elif start == block and whole and not nr_taken:
            sure.add(block)
        elif start == block and nr_taken and not run.is_compact_memory:
            (sure if nr_taken == nr_scanned else maybe).add(block)
    return sure, maybe


def set_skip_bits(mem, runs: list[Run], before: int) -> None:
    """Set PB_migrate_skip on the pageblocks the kernel's earlier isolate lines surely
    marked (skip_marks). No direct compaction runs in this trace, so nothing sets
    compact_blockskip_flush and no skip bit is cleared once set."""
    for run in runs:
        sure, _ = skip_marks(run, [x for x in run.isolate_lines if x[0] < before])
        for block in sure:
            mem.a_pageblock[block >> pageblock_order] |= PB_migrate_skip


def latest_allocs(allocs: dict[str, np.ndarray], before: int, npfn: int) -> tuple:
    """Per pfn: the line of its last order-0 mm_page_alloc before ``before`` (0: none) and
    whether that allocation's gfp was movable."""
    k = np.searchsorted(allocs["line"], before)
    pfn = allocs["pfn"][:k][::-1]
    pfns, first = np.unique(pfn, return_index=True)      # first in reverse: the latest
    idx = k - 1 - first
    last = np.zeros(npfn, np.int64)
    movable = np.zeros(npfn, bool)
    last[pfns] = allocs["line"][idx]
    movable[pfns] = allocs["movable"][idx]
    return last, movable


def set_lru(mem, allocs: dict[str, np.ndarray], target_line: np.ndarray, before: int) -> None:
    """Set PG_lru on the allocated order-0 pages the kernel had on an LRU list.

    The replay knows which pages are allocated, not whether they are LRU (movable) pages,
    which is what isolate_migratepages_block() isolates. Taken as LRU: a page whose
    latest event was an mm_page_alloc with __GFP_MOVABLE (user and page-cache memory),
    or a traced free scan that took it as a migration target (a migrated LRU page now
    lives there; the migration itself is not traced).
    """
    last, movable = latest_allocs(allocs, before, mem.npfn)
    fl = mem.a_flags
    order0 = ((fl & PG_head) != 0) & ((fl & (PG_buddy | PG_pcp)) == 0) & (mem.a_order == 0)
    lru = order0 & ((movable & (last > target_line)) | (target_line > last))
    fl[lru] |= PG_lru


def feed_tracking(rp: ExactReplay, events: list[tuple], target_line: np.ndarray) -> None:
    """rp.feed(events), remembering the line at which a traced free scan last took each
    page as a migration target (every page of a free block it isolated).

    Each mm_compaction_isolate_freepages event is fed on its own, between a look at the
    free pages of its range before and after (ExactReplay is a compiled class in the
    compiled build, so the test cannot subclass it).
    """
    mem = rp.mem
    k = 0
    for i, ev in enumerate(events):
        if ev[1] != ISOLATE_FREE:
            continue
        if i > k:
            rp.feed(events[k:i])
        line, start, end = ev[0], ev[3], ev[5]
        was_free = np.zeros(end - start, bool)          # the pages of its free blocks
        for h in np.flatnonzero((mem.a_flags[start:end] & PG_buddy) != 0).tolist():
            was_free[h:h + (1 << int(mem.a_order[start + h]))] = True
        rp.feed(events[i:i + 1])
        taken = was_free & ((mem.a_flags[start:end] & PG_head) != 0)
        target_line[start + np.flatnonzero(taken)] = line
        k = i + 1
    if k < len(events):
        rp.feed(events[k:])


# --------------------------------------------------------------------------------------------
# Running the model at a sample

class StubMigrate:
    """Stands in for mm.migrate, which the replay machine has none of: a PG_lru page is
    isolated (TestClearPageLRU) and nothing is ever put back."""

    def __init__(self, mem) -> None:
        self.mem = mem

    def isolate_lru_page(self, pfn: int) -> bool:
        if self.mem.a_flags[pfn] & PG_lru:
            self.mem.a_flags[pfn] &= 0xFF ^ PG_lru
            return True
        return False

    def putback_movable_pages(self, pfns) -> None:
        pass


def _fields(obj) -> list[str]:
    """The data attributes of an object's class: its __slots__ in pure Python, its
    attribute descriptors when mypyc compiled the class (which then has no __slots__)."""
    return [k for cls in type(obj).__mro__ for k, v in vars(cls).items()
            if not k.startswith("__") and type(v).__name__ in ("member_descriptor",
                                                              "getset_descriptor")]


def _copy(v):
    """A copy of a container (lists, dicts, sets, arrays); any other value as it is (numbers,
    and the objects a zone points to, which compaction does not replace)."""
    return copy.copy(v) if isinstance(v, (list, dict, set, np.ndarray)) else v


def save_state(mm) -> tuple:
    """Everything compaction may change: the memmap arrays, every zone field, the events."""
    mem = mm.mem
    arrays = [a.copy() for a in (mem.a_next, mem.a_prev, mem.a_order, mem.a_flags, mem.a_mt,
                                 mem.a_pageblock)]
    zones = [{k: _copy(getattr(z, k)) for k in _fields(z) if hasattr(z, k)} for z in mm.zones]
    return arrays, zones, list(mm.events)


def restore_state(mm, saved: tuple) -> None:
    """Put back what save_state() saved, in place (the replay holds views of it)."""
    arrays, zones, events = saved
    mem = mm.mem
    for a, v in zip((mem.a_next, mem.a_prev, mem.a_order, mem.a_flags, mem.a_mt,
                     mem.a_pageblock), arrays):
        a[:] = v
    for z, fields in zip(mm.zones, zones):
        for k, v in fields.items():
            cur = getattr(z, k)
            if type(cur) is list:
                cur[:] = v
            elif isinstance(cur, np.ndarray):
                cur[...] = v
            elif type(cur) is dict:
                cur.clear()
                cur.update(v)
            else:
                setattr(z, k, v)
    mm.events[:] = events


def compact_control(mm, sample: Sample, controls: dict[int, CompactControl]) -> CompactControl:
    """The compact_control of the sample's run, set to the sample's scanner positions.

    Made at the run's first sample as the kernel's caller makes it (compact_node() or
    kcompactd_do_work(), then compact_zone()'s cc->migratetype), then kept for the run,
    so that the fast searches' memory (fast_search_fail, fast_start_pfn, search_order)
    goes from call to call as in the kernel. The migrate list is empty when the migrate
    scanner runs, the target list when the free scanner does.
    """
    run = sample.run
    cc = controls.get(run.line)
    if cc is None:
        zone = mm.zone_of_pfn(run.zone_start)
        if run.is_compact_memory:                      # compact_node()
            cc = CompactControl(zone, -1, gfp_mask=GFP_KERNEL, mode=MIGRATE_SYNC,
                                whole_zone=True, ignore_skip_hint=True)
        else:                                          # kcompactd_do_work()
            assert run.comm.startswith("kcompactd"), run
            cc = CompactControl(zone, run.order, gfp_mask=GFP_KERNEL, mode=MIGRATE_SYNC_LIGHT,
                                search_order=run.order, highest_zoneidx=zone.idx)
        cc.migratetype = gfp_migratetype(GFP_KERNEL, mm.page_group_by_mobility_disabled)
        controls[run.line] = cc
    cc.migrate_pfn = sample.migrate_pfn
    cc.free_pfn = sample.free_pfn
    cc.rescan = sample.rescan
    cc.freepages = []
    # for the free scanner only their number counts
    cc.migratepages = [] if sample.kind == "migrate" else [-1] * sample.nr_migratepages
    return cc


def run_model(mm, cc: CompactControl, kind: str, mp: pytest.MonkeyPatch) -> list[tuple]:
    """Call the model's isolate_migratepages() or isolate_freepages() once; return its
    isolate_*_block() calls as the kernel's lines would read them (start, end,
    nr_scanned, nr_taken).

    The kernel prints one line per block call, and a call's start is in no field of
    compact_control, so the block functions are wrapped (undone with ``mp``).
    """
    calls: list[tuple] = []
    migrate_block = compaction.isolate_migratepages_block
    free_block = compaction.isolate_freepages_block

    def migrate_block_seen(mm_, cc_, low_pfn, end_pfn):
        scanned, taken = cc_.total_migrate_scanned, len(cc_.migratepages)
        migrate_block(mm_, cc_, low_pfn, end_pfn)
        calls.append((low_pfn, cc_.migrate_pfn, cc_.total_migrate_scanned - scanned,
                      len(cc_.migratepages) - taken))

    def free_block_seen(mm_, cc_, start_pfn, end_pfn, stride):
        scanned = cc_.total_free_scanned
        total, reached = free_block(mm_, cc_, start_pfn, end_pfn, stride)
        calls.append((start_pfn, reached, cc_.total_free_scanned - scanned, total))
        return total, reached

    mp.setattr(compaction, "isolate_migratepages_block", migrate_block_seen)
    mp.setattr(compaction, "isolate_freepages_block", free_block_seen)
    # the replay machine has no migration model; the stub isolates PG_lru pages
    mp.setattr(mm, "migrate", StubMigrate(mm.mem), raising=False)
    if kind == "migrate":
        compaction.isolate_migratepages(mm, cc)
    else:
        compaction.isolate_freepages(mm, cc)
    return calls


# --------------------------------------------------------------------------------------------
# The replay, paused at every sample

class Compared(NamedTuple):
    samples: list[Sample]
    model: list[list[tuple]]       # per sample, the model's block calls
    marks: list[tuple]             # per sample: (blocks the model marked skip, blocks the
                                   # kernel surely marked, blocks it may have marked)
    result: dict                   # the replay's finish()
    mm: object                     # the replayed machine's mm, at the end of the trace


def replay(folder, samples=(), runs=(), allocs=None) -> Compared:
    """Replay the capture's trace exactly, running the model at each sample on the way."""
    trace = str(folder / "trace.txt.xz")
    start = build_start(trace, start=str(folder), at="before")
    mm = start.machine.mm
    rp = ExactReplay(start.machine, sync_tag=start.sync_tag, path=trace)
    target_line = np.zeros(mm.mem.npfn, np.int64)
    model: list[list[tuple]] = []
    marks: list[tuple] = []
    controls: dict[int, CompactControl] = {}
    todo = iter(samples)
    nxt = next(todo, None)
    for batch in EventBlocks(trace):
        k = 0
        while nxt is not None and batch and nxt.line <= batch[-1][0]:
            j = k
            while batch[j][0] < nxt.line:
                j += 1
            feed_tracking(rp, batch[k:j], target_line)
            k = j
            saved = save_state(mm)
            try:
                set_skip_bits(mm.mem, runs, nxt.line)
                set_lru(mm.mem, allocs, target_line, nxt.line)
                cc = compact_control(mm, nxt, controls)
                skip = mm.mem.a_pageblock & PB_migrate_skip
                with pytest.MonkeyPatch.context() as mp:
                    model.append(run_model(mm, cc, nxt.kind, mp))
                new = np.flatnonzero((mm.mem.a_pageblock & PB_migrate_skip) & ~skip)
                sure, maybe = skip_marks(nxt.run, nxt.lines)
                marks.append(({int(b) << pageblock_order for b in new},
                              {b for b in sure if not skip[b >> pageblock_order]}, maybe))
            finally:
                restore_state(mm, saved)
            nxt = next(todo, None)
        feed_tracking(rp, batch[k:], target_line)
    return Compared(list(samples), model, marks, rp.finish(), mm)


@pytest.fixture(scope="module")
def folder(oracle):
    return oracle / CAPTURE


@pytest.fixture(scope="module")
def compared(folder) -> Compared:
    runs, allocs = read_runs(str(folder / "trace.txt.xz"))
    samples = sorted((s for r in runs for s in samples_of(r)), key=lambda s: s.line)
    return replay(folder, samples, runs, allocs)


def _hex(rng) -> str:
    return "(%#x ~ %#x) nr_scanned=%d nr_taken=%d" % tuple(rng)


def _mismatches(compared: Compared, kind: str, expected) -> list[str]:
    """The samples of a kind where the model's calls differ from expected(sample, calls)."""
    out = []
    for s, calls in zip(compared.samples, compared.model):
        if s.kind != kind:
            continue
        want, got = expected(s, calls)
        if want != got:
            out.append(f"line {s.line} ({s.run.comm}, order {s.run.order}):\n"
                       f"  kernel {[_hex(r) for r in want]}\n"
                       f"  model  {[_hex(r) for r in got]}")
    return out


def test_samples_cover_the_four_runs(compared):
    """Both compact_memory runs and both kcompactd runs are sampled, every isolate line
    once: 55 + 3 migrate scanner calls, 18 + 1 free scanner calls."""
    count: dict[tuple, int] = {}
    lines = 0
    for s in compared.samples:
        key = (s.run.line, s.kind)
        count[key] = count.get(key, 0) + 1
        lines += len(s.kernel)
    assert count == {
        (151374, "migrate"): 7, (151392, "migrate"): 48, (151392, "free"): 18,
        (214418, "migrate"): 1, (214418, "free"): 1, (215408, "migrate"): 2}
    assert lines == 58 + 110           # every mm_compaction_isolate_* line of the trace
    assert len(compared.model) == len(compared.samples)


def test_migrate_scanner_matches_kernel(compared):
    """isolate_migratepages() makes one isolate_migratepages_block() call, equal to the
    kernel's line in start, end, nr_scanned and nr_taken: which block is scanned (blocks
    marked skip passed over), where the scan stops (a batch of
    COMPACT_CLUSTER_MAX pages, or the block's end on a rescan), the pfns it costs (free
    blocks and compound pages stepped over)."""
    bad = _mismatches(compared, "migrate", lambda s, calls: (list(s.kernel), calls))
    assert not bad, "\n".join(bad)


def test_free_scanner_first_block_matches_kernel(compared):
    """isolate_freepages(): the first isolate_freepages_block() call equals the first line
    of the kernel's group: where the scanner resumes, which blocks are suitable targets
    (not marked skip, MOVABLE, not one free block), the pages taken."""
    bad = _mismatches(compared, "free", lambda s, calls: (list(s.kernel[:1]), calls[:1]))
    assert not bad, "\n".join(bad)


def test_free_scanner_walk_matches_kernel(compared):
    """isolate_freepages(): the whole walk down the zone equals the kernel's lines: the
    stride (1 for sync compaction, doubled up to COMPACT_CLUSTER_MAX after a block that
    gave nothing, back to 1 after one that gave pages), the stop once there are as many
    targets as pages to migrate, where the scan of a block ends. Blocks the replay's
    start wrongly makes unsuitable targets are left out (KNOWN_UNSUITABLE_IN_REPLAY)."""
    def expected(s, calls):
        unsuitable = KNOWN_UNSUITABLE_IN_REPLAY.get(s.line, ())
        kernel = [r for r in s.kernel if _pageblock_start(r[0]) not in unsuitable]
        assert len(kernel) == len(s.kernel) - len(unsuitable), s.line
        return kernel, calls
    bad = _mismatches(compared, "free", expected)
    assert not bad, "\n".join(bad)


def test_skip_marks_match_kernel(compared):
    """The pageblocks a scanner call newly marks PB_migrate_skip are those its lines show
    the kernel marked (skip_marks): a migrate block scanned whole for nothing, the block
    of kcompactd's first isolated page (test_and_set_skip), a free block scanned to its
    end. (Blocks of KNOWN_UNSUITABLE_IN_REPLAY are left out.)"""
    bad = []
    for s, (model, sure, maybe) in zip(compared.samples, compared.marks):
        sure = sure - set(KNOWN_UNSUITABLE_IN_REPLAY.get(s.line, ()))
        if not sure <= model <= sure | maybe:
            bad.append(f"line {s.line} ({s.kind}): kernel {sorted(map(hex, sure))} "
                       f"(maybe {sorted(map(hex, maybe))}), model {sorted(map(hex, model))}")
    assert not bad, "\n".join(bad)


def test_samples_leave_the_replay_as_it_was(compared, folder):
    """Saving and restoring around each sample is complete: the replay still ends without
    an impossible move, in the same memmap and zone state as a replay without samples."""
    assert compared.result["impossible"] == 0, compared.result["impossible_first"]
    plain = replay(folder)
    for name in ("a_next", "a_prev", "a_order", "a_flags", "a_mt", "a_pageblock"):
        assert np.array_equal(getattr(compared.mm.mem, name), getattr(plain.mm.mem, name)), name
    for z, y in zip(compared.mm.zones, plain.mm.zones):
        assert (z.nr_free, z.vm_free, z.vm_stat_diff) == (y.nr_free, y.vm_free, y.vm_stat_diff)
    assert compared.mm.events == plain.mm.events
