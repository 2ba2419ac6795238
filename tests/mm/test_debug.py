"""Debug checks: bad frees, rate limits, page poisoning, use after free, dump_page."""
from __future__ import annotations

import re

import numpy as np
import pytest

from pagealloc import Machine, PageAllocError, gfp
from pagealloc.mm.debug import (PAGE_POISON, debug_state, format_page_flags, page_flags_value,
                                print_hex_dump)
from pagealloc.mm.mm_init import MachineSpec, NodeSpec
from pagealloc.mm.mmzone import MAX_ORDER, MIGRATE_TYPES

START = 0x8000
RESERVED = (START, START + 16)


def machine(blocks: int = 64) -> Machine:
    spec = MachineSpec(nodes=[NodeSpec(0, [(START, START + blocks * 1024)], [0])],
                       reserved=[RESERVED])
    if hasattr(spec, "boot_reservations"):
        spec.boot_reservations = False
    return Machine.from_spec(spec)


def state(m: Machine):
    """Free lists in order, pcp lists, counters and per-page arrays: what a free may change."""
    mm = m.mm
    out = []
    for z in mm.zones:
        if z.list_base < 0:
            continue
        for o in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                out.append(tuple(mm.mem.iter_list(z.list_base + o * MIGRATE_TYPES + mt)))
        out.append(tuple(z.nr_free))
        out.append((z.vm_free, tuple(z.vm_stat_diff)))
        for pcp in z.pcp:
            out.append((pcp.count, tuple(tuple(lst) for lst in pcp.lists)))
    out.append(bytes(mm.mem.a_flags) + bytes(mm.mem.a_order) + bytes(mm.mem.a_mt))
    out.append(tuple(mm.events))
    return out


def test_double_free_of_a_pcp_page_is_reported_once_and_changes_nothing():
    m = machine()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert m.free_pages(pfn, 0)
    before = state(m)
    assert m.free_pages(pfn, 0) is False
    assert state(m) == before
    assert m.mm.nr_bad_pages == 1 and len(m.mm.bad_pages) == 1
    rep = m.mm.bad_pages[0]
    lines = rep.text.split("\n")
    assert lines[0] == f"BUG: Bad page state in process pagealloc  pfn:{pfn:05x}"
    assert re.match(rf"^page:[0-9a-f]{{16}} refcount:0 mapcount:0 mapping:0{{16}} "
                    rf"index:0x0 pfn:{pfn:#x}$", lines[1])
    assert lines[2] == "flags: 0xfffffc0000000(node=0|zone=1|lastcpupid=0x1fffff)"
    assert lines[3].startswith("page dumped because: double free: nonzero _refcount")
    assert m.mm.log.count(lines[0]) == 1
    m.check()


def test_double_free_of_a_buddy_block_shows_the_buddy_mapcount():
    m = machine()
    pfn = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 10)
    m.free_pages(pfn, 10)
    before = state(m)
    assert not m.free_pages(pfn, 10)
    assert state(m) == before
    text = m.mm.bad_pages[-1].text
    assert "mapcount:-128" in text                      # PageBuddy lives in _mapcount
    assert "double free: nonzero mapcount" in text
    # a tail page of that free block is also refused, naming the block
    assert not m.free_pages(pfn + 5, 0)
    assert f"inside the free block {pfn:#x} of order 10" in m.mm.bad_pages[-1].reason
    assert state(m) == before


def test_wrong_order_and_reserved_frees():
    m = machine()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 2)
    before = state(m)
    assert not m.free_pages(pfn, 1)
    assert m.mm.bad_pages[-1].reason == "free with wrong order 1 (allocated as order 2)"
    assert not m.free_pages(RESERVED[0], 0)
    assert "PAGE_FLAGS_CHECK_AT_FREE" in m.mm.bad_pages[-1].reason
    assert "flags: 0xfffffc0001000(reserved|node=0|zone=1|lastcpupid=0x1fffff)" in \
        m.mm.bad_pages[-1].text
    assert state(m) == before
    assert m.free_pages(pfn, 2)                          # the right free still works
    m.check()


def test_bad_page_rate_limit_60_then_suppressed_for_a_minute():
    m = machine()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.free_pages(pfn, 0)
    for _ in range(61):
        m.free_pages(pfn, 0)
    header = f"BUG: Bad page state in process pagealloc  pfn:{pfn:05x}"
    assert m.mm.nr_bad_pages == 61
    assert m.mm.log.count(header) == 60
    assert m.debug_counts()["bad_page_suppressed"] == 1
    m.advance(59)
    m.free_pages(pfn, 0)                                 # still inside the minute
    assert m.mm.log.count(header) == 60
    m.advance(2)
    m.free_pages(pfn, 0)
    assert m.mm.log.count(header) == 61
    i = m.mm.log.index("BUG: Bad page state: 2 messages suppressed")
    assert m.mm.log[i + 1] == header
    assert m.mm.nr_bad_pages == 63 and len(m.mm.bad_pages) == 63


def test_use_after_free_through_the_api():
    m = machine()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert m.touch(pfn) and m.write(pfn, b"data")
    assert m.touch(RESERVED[0])                          # the kernel's own memory
    m.free_pages(pfn, 0)
    assert m.touch(pfn) is False
    log = "\n".join(m.mm.log)
    assert "BUG: use-after-free in Machine.touch" in log
    assert f"Read of size 1 at addr {0xffff888000000000 + pfn * 4096:016x}" in log
    assert f"page is free (a per-cpu list block {pfn:#x} of order 0)" in log
    assert m.debug_counts()["use_after_free"] == 1
    big = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 10)
    m.free_pages(big, 10)
    assert not m.write(big + 7, b"x", 0x20)
    assert m.mm.log[-2] == f"page dumped because: page is free (a free buddy block {big:#x} of order 10)"
    with pytest.raises(PageAllocError):
        m.write(pfn, b"x" * 10, 4090)
    m.check()


def test_poisoning_reports_a_write_to_a_freed_page_at_its_next_allocation():
    m = machine()
    m.enable_poisoning()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.free_pages(pfn, 0)
    assert not m.write(pfn, b"hello", 0x10)             # use after free, and the poison is hit
    n = len(m.mm.log)
    again = m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert again == pfn                                  # LIFO pcp: the same page comes back
    out = m.mm.log[n:]
    assert out[0] == "pagealloc: memory corruption"
    assert re.match(r"^[0-9a-f]{16}: 68 65 6c 6c 6f {35}hello$", out[1])
    assert out[-1] == "page dumped because: pagealloc: corrupted page details"
    assert "refcount:1" in out[2]                        # checked in post_alloc_hook
    assert m.debug_counts()["poison_corruption"] == 1
    # checked once: the page now holds data, freeing and reallocating it is clean
    m.free_pages(again, 0)
    n = len(m.mm.log)
    assert m.alloc_pages(gfp.GFP_KERNEL, 0) == pfn
    assert m.mm.log[n:] == []
    m.check()


def test_poisoning_single_bit_error_and_harmless_writes():
    m = machine()
    m.enable_poisoning()
    blk = m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 10)
    m.free_pages(blk, 10)
    m.write(blk + 3, bytes([PAGE_POISON ^ 0x04]), 100)  # one flipped bit
    m.write(blk + 9, bytes([PAGE_POISON] * 8), 0)       # poison over poison: no damage
    n = len(m.mm.log)
    assert m.alloc_pages(gfp.GFP_HIGHUSER_MOVABLE, 10) == blk
    assert m.mm.log[n] == "pagealloc: single bit error"
    assert m.mm.log.count("pagealloc: memory corruption") == 0
    c = m.debug_counts()
    assert c["poison_single_bit"] == 1 and c["poison_corruption"] == 0
    assert c["use_after_free"] == 2


def test_poisoning_covers_pages_free_when_enabled_and_is_rate_limited():
    m = machine()
    m.enable_poisoning()
    st = debug_state(m.mm).poison.state
    z = m.zone("DMA32")
    assert int(np.count_nonzero(st)) == z.nr_free_pages()   # every free page is poisoned
    pfns = [m.alloc_pages(gfp.GFP_KERNEL, 0) for _ in range(11)]
    for p in pfns:
        m.free_pages(p, 0)
        m.write(p, b"\0")
    for _ in pfns:
        m.alloc_pages(gfp.GFP_KERNEL, 0)
    c = m.debug_counts()
    assert c["poison_corruption"] == 11 and c["poison_suppressed"] == 1
    assert m.mm.log.count("pagealloc: memory corruption") == 10
    m.advance(6)
    p = m.alloc_pages(gfp.GFP_KERNEL, 0)
    m.free_pages(p, 0)
    m.write(p, b"\0")
    m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert "check_poison_mem: 1 callbacks suppressed" in m.mm.log
    assert m.mm.log.count("pagealloc: memory corruption") == 11


def test_poisoning_and_page_owner_share_the_hooks():
    m = machine()
    m.enable_poisoning()
    m.enable_page_owner()
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert len(m.page_owner_dump().split("\n\n")) == 2
    m.free_pages(pfn, 0)
    m.write(pfn, b"!")
    m.alloc_pages(gfp.GFP_KERNEL, 0)
    assert m.debug_counts()["poison_corruption"] == 1
    assert m.free_pages(pfn, 0) and not m.free_pages(pfn, 0)
    assert "page_owner tracks the page as freed" in m.mm.bad_pages[-1].text


def test_format_helpers():
    assert format_page_flags((2 << 51) | (0x1FFFFF << 30) | (1 << 16) | (1 << 4)) == (
        "0x17ffffc0010010(lru|head|node=0|zone=2|lastcpupid=0x1fffff)")
    m = machine()
    assert page_flags_value(m.mm, START + 4096) == 0xFFFFFC0000000
    (line,) = print_hex_dump(0, b"AB\x00")
    assert line.endswith(": 41 42 00" + " " * 41 + "AB.")
