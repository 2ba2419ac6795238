"""page_owner (mm/page_owner.c): records, the debugfs format, page_owner_sort, mixed blocks."""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from pagealloc import Machine, PageAllocError, gfp
from pagealloc.mm.mm_init import MachineSpec, NodeSpec
from pagealloc.mm.mmzone import MIGRATE_UNMOVABLE, pageblock_order
from pagealloc.mm.page_alloc import set_pageblock_migratetype, split_page
from pagealloc.mm.page_owner import (PAGE_EXT_OWNER_ALLOCATED, page_owner_of, page_owner_sort,
                                     pagetypeinfo_showmixedcount, parse_page_owner)

START = 0x8000

# print_page_owner's two lines, as a reader of the kernel's file would match them
FIRST = re.compile(r"^Page allocated via order (\d+), mask (0x[0-9a-f]+)\(([^)]*)\), pid (\d+), "
                   r"tgid (\d+) \((.*)\), ts (\d+) ns, free_ts (\d+) ns$")
SECOND = re.compile(r"^PFN (\d+) type (\w+) Block (\d+) type (\w+) "
                    r"Flags (0x[0-9a-f]+)\(([^)]*)\)$")


def machine(blocks: int = 64) -> Machine:
    spec = MachineSpec(nodes=[NodeSpec(0, [(START, START + blocks * 1024)], [0])])
    if hasattr(spec, "boot_reservations"):
        spec.boot_reservations = False
    return Machine.from_spec(spec)


def records(text: str) -> list[list[str]]:
    assert text.endswith("\n\n") or not text
    return [r.split("\n") for r in text.split("\n\n") if r]


def test_a_record_parses_like_the_kernels():
    m = machine()
    m.enable_page_owner()
    m.advance(1.25)
    with m.owner_context("do_anonymous_page;__handle_mm_fault;handle_mm_fault",
                         pid=812, comm="stress"):
        pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 0)
    recs = records(m.page_owner_dump())
    assert len(recs) == 1
    first, second, *stack = recs[0]
    f = FIRST.match(first)
    assert f is not None, first
    assert f.groups() == ("0", "0x100cca", "GFP_HIGHUSER_MOVABLE", "812", "812", "stress",
                          "1250000000", "0")
    s = SECOND.match(second)
    assert s is not None, second
    assert int(s.group(1)) == pfn
    assert s.group(2) == "Movable" and s.group(4) == "Movable"
    assert int(s.group(3)) == pfn >> pageblock_order
    # Debian 6.1 page->flags: node 0, zone 1 (DMA32), lastcpupid reset to all ones
    assert s.group(5) == "0xfffffc0000000"
    assert s.group(6) == "node=0|zone=1|lastcpupid=0x1fffff"
    assert stack == [" do_anonymous_page", " __handle_mm_fault", " handle_mm_fault"]
    # and page_owner_sort's regexes read it
    (b,) = parse_page_owner(m.page_owner_dump())
    assert (b.order, b.pid, b.tgid, b.comm, b.ts_nsec, b.free_ts_nsec) == (0, 812, 812, "stress",
                                                                           1250000000, 0)


def test_compound_heads_only_free_ts_and_split():
    m = machine()
    m.enable_page_owner()
    a = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 3)
    m.advance(2)
    m.free_pages(a, 3)
    b = m.alloc_pages(gfp.GFP_KERNEL | gfp.__GFP_COMP, 3)
    assert a == b
    recs = records(m.page_owner_dump())
    assert len(recs) == 1                                  # tail pages are not printed
    f = FIRST.match(recs[0][0])
    assert f.group(2) == "0x40cc0" and f.group(3) == "GFP_KERNEL|__GFP_COMP"
    assert (f.group(7), f.group(8)) == ("2000000000", "2000000000")   # ts, free_ts of the last free
    assert "head|node=0|zone=1" in recs[0][1]
    # split_page: every page becomes its own order-0 record
    c = m.alloc_pages(gfp.GFP_KERNEL, 2)
    split_page(m.mm, c, 2)
    orders = [int(FIRST.match(r[0]).group(1)) for r in records(m.page_owner_dump())]
    assert orders == [3, 0, 0, 0, 0]
    po = page_owner_of(m.mm)
    assert po.lookup(c + 3) == (0, gfp.GFP_KERNEL)
    m.free_pages(c + 3, 0)
    assert po.lookup(c + 3) is None
    assert not po.ext[c + 3] & PAGE_EXT_OWNER_ALLOCATED


def test_pages_in_use_when_enabled_become_early_allocations():
    m = machine()
    p = m.alloc_pages(gfp.GFP_KERNEL, 1)
    on_pcp = m.zone("DMA32").pcp[0].count                  # the rest of the order-1 refill
    assert on_pcp == 12
    m.enable_page_owner()
    # init_pages_in_zone cannot tell pcp pages from allocated ones: both become early
    assert "Node 0, zone    DMA32: page owner found early allocated 14 pages" in m.mm.log
    assert len(records(m.page_owner_dump())) == 14
    m.drain_all_pages()                                     # pcp pages back in the buddy: skipped
    recs = records(m.page_owner_dump())
    assert len(recs) == 2                                   # order 0 each, like the kernel
    for i, r in enumerate(recs):
        f = FIRST.match(r[0])
        assert f.group(1) == "0" and f.group(2) == "0x0" and f.group(3) == ""
        assert f.group(6) == "swapper/0"
        assert int(SECOND.match(r[1]).group(1)) == p + i
        assert r[2:] == [" register_early_stack", " init_page_owner", " invoke_init_callbacks",
                         " page_ext_init"]
    m.free_pages(p, 1)
    assert m.page_owner_dump() == ""


def test_summaries_group_by_caller_task_and_migratetype():
    m = machine()
    m.enable_page_owner()
    with m.owner_context("alloc_slab_page;allocate_slab", pid=10, comm="kworker/0:1"):
        for _ in range(3):
            m.alloc_pages(gfp.GFP_KERNEL, 0)
    with m.owner_context("do_anonymous_page", pid=812, comm="stress"):
        m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 2)
    assert m.page_owner_summary() == ("3 times, 3 pages:\n alloc_slab_page\n allocate_slab\n\n"
                                      "1 times, 4 pages:\n do_anonymous_page\n\n")
    assert m.page_owner_summary("pid") == "3 times, 3 pages, PID 10\n1 times, 4 pages, PID 812\n"
    assert page_owner_sort(m.page_owner_dump(), cull=("name",), sort="pages") == (
        "1 times, 4 pages, task_comm_name: stress\n3 times, 3 pages, task_comm_name: kworker/0:1\n")
    mt = m.page_owner_summary("migratetype")
    assert "Unmovable: 3 blocks, 3 pages\n" in mt and "Movable: 1 blocks, 4 pages\n" in mt
    # without a cull, identical records (same task, stack and ts) group together
    txt = m.page_owner_summary("txt")
    assert txt.count("allocated by OTHERS :\n") == 2
    assert txt.startswith("3 times, 3 pages, allocated by OTHERS :\nPage allocated via order 0")
    with pytest.raises(PageAllocError):
        m.page_owner_summary("nonsense")


def test_mixed_pageblocks_counted_like_pagetypeinfo():
    m = machine()
    m.enable_page_owner()
    mov = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 0)
    z = m.zone("DMA32")
    assert pagetypeinfo_showmixedcount(m.mm, z) == [0] * 6
    # relabel the movable page's pageblock: it now holds a page of another type
    set_pageblock_migratetype(m.mm, mov, MIGRATE_UNMOVABLE)
    counts = pagetypeinfo_showmixedcount(m.mm, z)
    assert counts[MIGRATE_UNMOVABLE] == 1 and sum(counts) == 1
    summary = m.page_owner_summary("mixed")
    assert summary.splitlines()[-1] == "Node 0, zone    DMA32 " + "".join(
        f"{n:12d} " for n in (1, 0, 0, 0, 0))
    # the pagetypeinfo view's last section agrees
    assert m.show("pagetypeinfo").rstrip("\n").splitlines()[-1] == summary.splitlines()[-1]


def test_view_and_errors():
    m = machine()
    with pytest.raises(PageAllocError):
        m.page_owner_dump()
    m.enable_page_owner()
    m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert m.show("page_owner") == m.page_owner_dump()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_page_owner_tracks_exactly_the_allocated_blocks(seed):
    rng = random.Random(seed)
    m = machine(32)
    m.enable_page_owner()
    live = []
    for _ in range(400):
        if live and rng.random() < 0.45:
            pfn, order = live.pop(rng.randrange(len(live)))
            assert m.free_pages(pfn, order)
        else:
            order = rng.choice([0, 0, 1, 3, 4, 9, 10])
            g = rng.choice([gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE | gfp.__GFP_COMP])
            pfn = m.alloc_pages(g | gfp.__GFP_NOWARN, order)
            if pfn is not None:
                live.append((pfn, order))
        if rng.random() < 0.05:
            m.advance(0.5)
    printed = {(int(SECOND.match(r[1]).group(1)), int(FIRST.match(r[0]).group(1)))
               for r in records(m.page_owner_dump())}
    assert printed == set(live)
    m.check()
