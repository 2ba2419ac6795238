"""The facade's allocation calls (machine_api.AllocAPI): argument errors and the nodemask path."""
from __future__ import annotations

import pytest

from pagealloc import Machine, PageAllocError, gfp


@pytest.fixture(scope="module")
def m() -> Machine:
    return Machine.boot(mem="1G", cpus=2, nodes=1)


@pytest.mark.parametrize("kw, msg", [
    ({"cpu": 2}, r"cpu 2 is not online"),
    ({"cpu": -1}, r"cpu -1 is not online"),
    ({"order": 11}, r"order 11 out of range 0\.\.10"),
    ({"order": -1}, r"order -1 out of range"),
    ({"nid": 1}, r"node 1 does not exist \(nodes 0\.\.0\)"),
    ({"nid": -1}, r"node -1 does not exist"),
    ({"nid": -1, "nodemask": [0]}, r"node -1 does not exist"),
    ({"cpu": 5, "nodemask": [0]}, r"cpu 5 is not online"),
])
def test_alloc_pages_refuses_bad_arguments(m: Machine, kw: dict, msg: str) -> None:
    before = m.show("buddyinfo")
    with pytest.raises(PageAllocError, match=msg):
        m.alloc_pages(gfp.GFP_KERNEL, kw.pop("order", 0), **kw)
    assert m.show("buddyinfo") == before


def test_free_pages_refuses_bad_arguments(m: Machine) -> None:
    pfn = m.alloc_pages(gfp.GFP_KERNEL, 0, cpu=1)
    assert pfn is not None
    with pytest.raises(PageAllocError, match=r"cpu 3 is not online"):
        m.free_pages(pfn, 0, cpu=3)
    npfn = m.mm.mem.npfn
    with pytest.raises(PageAllocError, match=rf"pfn {npfn:#x} is outside the machine"):
        m.free_pages(npfn, 0)
    with pytest.raises(PageAllocError, match=r"pfn -0x1 is outside the machine"):
        m.free_pages(-1, 0)
    assert m.free_pages(pfn, 0, cpu=1) is True
    assert m.free_pages(pfn, 0, cpu=1) is False       # a double free: reported, not raised


def test_nodemask_and_explicit_node_allocate(m: Machine) -> None:
    a = m.alloc_pages(gfp.GFP_KERNEL, 3, nodemask=[0])
    b = m.alloc_pages(gfp.GFP_KERNEL, 3, nid=0, cpu=1)
    assert a is not None and b is not None and a != b
    assert m.mm.cpu == 1                               # the call ran on the CPU it named
    assert m.free_pages(a, 3) and m.free_pages(b, 3)
    assert m.alloc_pages(gfp.GFP_KERNEL, 3, nodemask=[]) is None
