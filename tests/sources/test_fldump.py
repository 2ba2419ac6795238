"""The fl/fl2 capture loader refuses captures that contradict themselves."""
from __future__ import annotations

import pytest

from pagealloc.errors import InputError
from pagealloc.sources.fldump import parse_fldump

GOOD = """\
FLD before Z 0 DMA32 free=1536 boost=0 highatomic=0 wmark_min=1 low=2 high=3 flags=0x0 managed=4096 protection=0,0,0,0,0 cpu0_diff=0 cpu0_thresh=2 nr_free=0,0,0,0,0,0,0,0,0,1,1
FLD before F 0 DMA32 9 1 0x1200
FLD before F 0 DMA32 10 1 0x1400
FLD before C 0 DMA32 0 count=1 high=10 batch=1 free_factor=0 expire=0
FLD before P 0 DMA32 0 1 0x1100
FLD before B 0 DMA32 0x1000 1
FLD script A 0 GFP_KERNEL 0 0x1100 cpu=0
FLD script F 0 0 0x1100
FLD after Z 0 DMA32 free=1536 boost=0 highatomic=0 wmark_min=1 low=2 high=3 flags=0x0 managed=4096 protection=0,0,0,0,0 cpu0_diff=0 cpu0_thresh=2 nr_free=0,0,0,0,0,0,0,0,0,1,1
FLD after F 0 DMA32 9 1 0x1200
FLD after F 0 DMA32 10 1 0x1400
"""


def _write(tmp_path, text):
    p = tmp_path / "fldump.txt"
    p.write_text(text)
    return str(p)


def test_good_capture_parses(tmp_path):
    d = parse_fldump(_write(tmp_path, GOOD))
    assert d.order == ["before", "after"]
    assert [op.kind for op in d.script] == ["A", "F"]
    zs = d.checkpoints["before"].zones[(0, "DMA32")]
    assert zs.free[9][1] == [0x1200]


@pytest.mark.parametrize("bad, message", [
    (GOOD.replace("FLD before F 0 DMA32 10 1 0x1400", "FLD before F 0 DMA32 10 1 0x1400\nFLD before F 0 DMA32 9 0 0x1200"), "two free lists"),
    (GOOD.replace("F 0 DMA32 9 1 0x1200", "F 0 DMA32 9 1 0x1210"), "not aligned"),
    (GOOD.replace("count=1 high", "count=7 high"), "count=7"),
    (GOOD.replace("cpu0_thresh=2 nr_free=0,0,0,0,0,0,0,0,0,1,1\nFLD before F", "cpu0_thresh=2 nr_free=0,0,0,0,0,0,0,0,0,2,1\nFLD before F"), "disagrees"),
    (GOOD.replace("FLD script A 0 GFP_KERNEL 0 0x1100 cpu=0", "FLD script A 0 GFP_BOGUS 0 0x1100 cpu=0"), "bad gfp"),
    (GOOD.replace("FLD before P 0 DMA32 0 1 0x1100", "FLD before P 0 DMA32 0 1 0x1200"), "pcp list and a free list"),
    (GOOD.replace("FLD before B 0 DMA32 0x1000 1", "FLD before B 0 DMA32"), "truncated"),
])
def test_contradictions_are_refused_with_the_line(tmp_path, bad, message):
    with pytest.raises(InputError) as e:
        parse_fldump(_write(tmp_path, bad))
    assert message in str(e.value)
    assert "fldump.txt" in str(e.value)


def test_fl2_capture_without_its_checkpoints_is_refused(tmp_path):
    text = "FLD phase a\n" + GOOD
    with pytest.raises(InputError, match="pree"):
        parse_fldump(_write(tmp_path, text))


def test_not_a_capture(tmp_path):
    with pytest.raises(InputError, match="no FLD dump"):
        parse_fldump(_write(tmp_path, "hello\n"))
