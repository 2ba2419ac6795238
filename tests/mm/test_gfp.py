"""Tests for pagealloc.mm.gfp and pagealloc.mm.internal.

Expected values come from the reference (kernel-6.1-page-alloc.md sections 1.6, 1.7, 2.1-2.4,
7.1, 7.4), from the 6.1.158 source when its mirror is present, and from real trace captures.
"""
from __future__ import annotations

import glob
import lzma
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagealloc.mm import gfp
from pagealloc.mm import internal as mi
from pagealloc.mm.gfp import format_gfp, gfp_migratetype, gfp_zone, parse_gfp
from pagealloc.sources.reference import oracle_dir

REFERENCE = oracle_dir().parent
ORACLE = REFERENCE / "oracle"
KERNEL_MIRROR = Path("/work/.mirror/HDevices+linux-6.1.158/repo")


def _kernel_file(path: str) -> str:
    if not KERNEL_MIRROR.exists():
        pytest.skip("6.1.158 source mirror not available")
    out = subprocess.run(["git", "-C", str(KERNEL_MIRROR), "show", f"HEAD:{path}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot read {path} from the mirror")
    return out.stdout


# ---------------------------------------------------------------------------------- bits --

# Reference section 2.1 (value column); the four config-dependent bits are 0 in this build.
REFERENCE_BITS = {
    "__GFP_DMA": 0x1, "__GFP_HIGHMEM": 0x2, "__GFP_DMA32": 0x4, "__GFP_MOVABLE": 0x8,
    "__GFP_RECLAIMABLE": 0x10, "__GFP_HIGH": 0x20, "__GFP_IO": 0x40, "__GFP_FS": 0x80,
    "__GFP_ZERO": 0x100, "__GFP_ATOMIC": 0x200, "__GFP_DIRECT_RECLAIM": 0x400,
    "__GFP_KSWAPD_RECLAIM": 0x800, "__GFP_WRITE": 0x1000, "__GFP_NOWARN": 0x2000,
    "__GFP_RETRY_MAYFAIL": 0x4000, "__GFP_NOFAIL": 0x8000, "__GFP_NORETRY": 0x10000,
    "__GFP_MEMALLOC": 0x20000, "__GFP_COMP": 0x40000, "__GFP_NOMEMALLOC": 0x80000,
    "__GFP_HARDWALL": 0x100000, "__GFP_THISNODE": 0x200000, "__GFP_ACCOUNT": 0x400000,
    "__GFP_ZEROTAGS": 0x800000,
}
CONFIG_BITS = {"__GFP_SKIP_ZERO": 0x1000000, "__GFP_SKIP_KASAN_UNPOISON": 0x2000000,
               "__GFP_SKIP_KASAN_POISON": 0x4000000, "__GFP_NOLOCKDEP": 0x8000000}


@pytest.mark.parametrize("name,value", sorted(REFERENCE_BITS.items()))
def test_bit_values(name: str, value: int) -> None:
    assert getattr(gfp, name) == value
    assert type(getattr(gfp, name)) is int
    assert gfp.GFP[name[len("__GFP_"):]] == value
    assert gfp.GFP_NOMINAL_BITS[name] == value
    assert name in gfp.__all__


@pytest.mark.parametrize("name,nominal", sorted(CONFIG_BITS.items()))
def test_config_dependent_bits_are_zero(name: str, nominal: int) -> None:
    assert getattr(gfp, name) == 0
    assert gfp.GFP_NOMINAL_BITS[name] == nominal


def test_nominal_bits_match_kernel_source() -> None:
    src = _kernel_file("include/linux/gfp_types.h")
    # The first definition of each ___GFP_ name is the "config enabled" one.
    nominal: dict[str, int] = {}
    for name, value in re.findall(r"#define ___GFP_(\w+)\s+(0x[0-9a-f]+)u", src):
        nominal.setdefault(f"__GFP_{name}", int(value, 16))
    assert nominal == gfp.GFP_NOMINAL_BITS
    assert re.search(r"__GFP_BITS_SHIFT \(27 \+", src)


def test_bits_and_masks() -> None:
    assert gfp.__GFP_RECLAIM == 0xc00 == gfp.GFP.RECLAIM
    assert gfp.__GFP_BITS_SHIFT == 27
    assert gfp.__GFP_BITS_MASK == 0x7ffffff
    assert gfp.GFP_ZONEMASK == 0xf
    all_bits = 0
    for value in REFERENCE_BITS.values():
        all_bits |= value
    assert all_bits == 0xffffff  # 24 distinct bits, all below the config ones


# Reference section 2.2.
COMPOSITES = {
    "GFP_ATOMIC": 0xa20, "GFP_KERNEL": 0xcc0, "GFP_KERNEL_ACCOUNT": 0x400cc0,
    "GFP_NOWAIT": 0x800, "GFP_NOIO": 0xc00, "GFP_NOFS": 0xc40, "GFP_USER": 0x100cc0,
    "GFP_DMA": 0x1, "GFP_DMA32": 0x4, "GFP_HIGHUSER": 0x100cc2,
    "GFP_HIGHUSER_MOVABLE": 0x100cca, "GFP_TRANSHUGE_LIGHT": 0x1c20ca,
    "GFP_TRANSHUGE": 0x1c24ca, "GFP_BOOT_MASK": 0x7fff33f,
    "GFP_CONSTRAINT_MASK": 0x300000, "GFP_MOVABLE_MASK": 0x18,
}


@pytest.mark.parametrize("name,value", sorted(COMPOSITES.items()))
def test_composite_masks(name: str, value: int) -> None:
    assert getattr(gfp, name) == value
    assert name in gfp.__all__


def test_gfp_reclaim_mask() -> None:
    names = ["__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_HIGH", "__GFP_IO",
             "__GFP_FS", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL",
             "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_NOMEMALLOC", "__GFP_ATOMIC"]
    assert gfp.GFP_RECLAIM_MASK == sum(REFERENCE_BITS[n] for n in names)


# -------------------------------------------------------------------------------- gfp_zone --

# Reference section 1.6 (x86_64): DMA 0, DMA32 1, NORMAL 2, MOVABLE 3; invalid slots -> 0.
X86_64_ZONES = {0x0: 2, 0x1: 0, 0x2: 2, 0x4: 1, 0x8: 2, 0x9: 0, 0xa: 3, 0xc: 1}
# i386 (HIGHMEM build, no DMA32): DMA 0, NORMAL 1, HIGHMEM 2, MOVABLE 3.
I386_ZONES = {0x0: 1, 0x1: 0, 0x2: 2, 0x4: 1, 0x8: 1, 0x9: 0, 0xa: 3, 0xc: 1}
INVALID = (0x3, 0x5, 0x6, 0x7, 0xb, 0xd, 0xe, 0xf)


@pytest.mark.parametrize("profile,expected", [("x86_64", X86_64_ZONES), ("i386", I386_ZONES)])
def test_gfp_zone_table(profile: str, expected: dict[int, int]) -> None:
    for bits in range(16):
        want = expected.get(bits, 0)
        assert gfp_zone(bits, profile) == want, (profile, hex(bits))
        # Bits above the zone modifiers never change the answer.
        assert gfp_zone(bits | 0x7fffff0, profile) == want
    assert set(expected) | set(INVALID) == set(range(16))


def test_gfp_zone_table_word_and_bad_mask() -> None:
    word = 0
    for bits, zone in X86_64_ZONES.items():
        word |= zone << (2 * bits)
    assert gfp.GFP_ZONE_TABLE == word
    assert gfp.GFP_ZONE_BAD == sum(1 << b for b in INVALID)
    for bits in range(16):
        assert gfp.gfp_zone_bad(bits) == (bits in INVALID)


def test_gfp_zone_named_masks() -> None:
    assert gfp_zone(gfp.GFP_KERNEL) == 2
    assert gfp_zone(gfp.GFP_HIGHUSER_MOVABLE) == 3
    assert gfp_zone(gfp.GFP_HIGHUSER) == 2
    assert gfp_zone(gfp.GFP_DMA32) == 1
    assert gfp_zone(gfp.GFP_DMA) == 0
    assert gfp_zone(gfp.GFP_TRANSHUGE) == 3
    assert gfp_zone(gfp.GFP_HIGHUSER, "i386") == 2
    assert gfp_zone(gfp.GFP_KERNEL, "i386") == 1
    with pytest.raises(ValueError, match="arm"):
        gfp_zone(0, "arm")


# ------------------------------------------------------------------------- gfp_migratetype --

@pytest.mark.parametrize("flags,mt", [
    (gfp.GFP_KERNEL, 0), (gfp.GFP_HIGHUSER_MOVABLE, 1), (gfp.GFP_KERNEL | 0x10, 2),
    (0x18, 3), (gfp.GFP_TRANSHUGE, 1), (gfp.GFP_KERNEL_ACCOUNT, 0),
])
def test_gfp_migratetype(flags: int, mt: int) -> None:
    assert gfp_migratetype(flags) == mt
    assert gfp_migratetype(flags, mobility_disabled=True) == 0


# ------------------------------------------------------------------------------- printing --

# Reference section 2.4, every worked decoding (0x8000cc0 is the LOCKDEP example: in this
# build the bit has no name either, so it prints the same).
WORKED_DECODINGS = [
    (0xcc0, "GFP_KERNEL"),
    (0xdc0, "GFP_KERNEL|__GFP_ZERO"),
    (0x2cc0, "GFP_KERNEL|__GFP_NOWARN"),
    (0x10cc0, "GFP_KERNEL|__GFP_NORETRY"),
    (0x40dc0, "GFP_KERNEL|__GFP_COMP|__GFP_ZERO"),
    (0x42dc0, "GFP_KERNEL|__GFP_NOWARN|__GFP_COMP|__GFP_ZERO"),
    (0xcc1, "GFP_KERNEL|GFP_DMA"),
    (0xcc4, "GFP_KERNEL|GFP_DMA32"),
    (0x400cc0, "GFP_KERNEL_ACCOUNT"),
    (0x400dc0, "GFP_KERNEL_ACCOUNT|__GFP_ZERO"),
    (0xa20, "GFP_ATOMIC"),
    (0x2a20, "GFP_ATOMIC|__GFP_NOWARN"),
    (0x800, "GFP_NOWAIT"),
    (0x820, "GFP_NOWAIT|__GFP_HIGH"),
    (0x2800, "GFP_NOWAIT|__GFP_NOWARN"),
    (0xc00, "GFP_NOIO"),
    (0xc40, "GFP_NOFS"),
    (0x400, "__GFP_DIRECT_RECLAIM"),
    (0x100cc0, "GFP_USER"),
    (0x100cc2, "GFP_HIGHUSER"),
    (0x100cca, "GFP_HIGHUSER_MOVABLE"),
    (0x100dca, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
    (0x140cca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
    (0x140dca, "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO"),
    (0x110cca, "GFP_HIGHUSER_MOVABLE|__GFP_NORETRY"),
    (0x1c20ca, "GFP_TRANSHUGE_LIGHT"),
    (0x1c24ca, "GFP_TRANSHUGE"),
    (0x1d24ca, "GFP_TRANSHUGE|__GFP_NORETRY"),
    (0x8000cc0, "GFP_KERNEL|0x8000000"),
    (0, "none"),
]


@pytest.mark.parametrize("value,text", WORKED_DECODINGS)
def test_worked_decodings(value: int, text: str) -> None:
    assert format_gfp(value) == text
    assert parse_gfp(text) == value


def test_worked_decodings_cover_the_reference_table() -> None:
    ref = REFERENCE / "kernel-6.1-page-alloc.md"
    if not ref.exists():
        pytest.skip("reference not available")
    section = ref.read_text().split("Worked decodings", 1)[1].split("\n\n", 2)[1]
    rows = set()
    for line in section.splitlines():
        m = re.match(r"\| (0x[0-9a-f]+|0)(?: \(\w+\))? \| (\S+) \|", line)
        if m:
            rows.add((int(m.group(1), 16), m.group(2).replace("\\|", "|")))
    assert len(rows) == 30
    assert rows == set(WORKED_DECODINGS)


def test_table_order_matches_kernel_source() -> None:
    src = _kernel_file("include/trace/events/mmflags.h")
    block = src.split("#define __def_gfpflag_names", 1)[1].split("#ifdef", 1)[0]
    names = re.findall(r"gfpflag_string\((\w+)\)", block)
    assert names == [name for _, name in gfp.gfpflag_names]
    for value, name in gfp.gfpflag_names:
        assert gfp.parse_gfp(name) == value == getattr(gfp, name)


def test_format_details() -> None:
    # HIGHUSER is matched before KERNEL_ACCOUNT, leaving __GFP_ACCOUNT on its own.
    assert format_gfp(0x500cc2) == "GFP_HIGHUSER|__GFP_ACCOUNT"
    # Nominal KASAN bits have no name in this build.
    assert format_gfp(0x1000000) == "0x1000000"
    assert format_gfp(0x7000000 | 0x100) == "__GFP_ZERO|0x7000000"
    assert format_gfp(0xc00 | 0x8) == "GFP_NOIO|__GFP_MOVABLE"
    with pytest.raises(ValueError):
        format_gfp(-1)


@given(st.integers(min_value=0, max_value=gfp.__GFP_BITS_MASK))
def test_format_parse_round_trip(value: int) -> None:
    text = format_gfp(value)
    assert parse_gfp(text) == value
    assert format_gfp(parse_gfp(text)) == text


@given(st.integers(min_value=1, max_value=gfp.__GFP_BITS_MASK))
def test_format_names_disjoint_bits(value: int) -> None:
    # Every printed name's bits are set, and no two printed names share a bit.
    seen = 0
    for part in format_gfp(value).split("|"):
        bits = parse_gfp(part)
        assert bits and bits & value == bits
        assert not bits & seen
        seen |= bits
    assert seen == value


# -------------------------------------------------------------------------------- parsing --

FLDUMP_EXPRESSIONS = {
    "GFP_KERNEL": 0xcc0,
    "GFP_HIGHUSER_MOVABLE&~__GFP_RECLAIM": 0x1000ca,
    "GFP_KERNEL&~__GFP_RECLAIM": 0xc0,
    "(GFP_KERNEL|__GFP_RECLAIMABLE)&~__GFP_RECLAIM": 0xd0,
    "__GFP_HIGH": 0x20,
    "GFP_ATOMIC&~__GFP_KSWAPD_RECLAIM": 0x220,
    "GFP_KERNEL|__GFP_RECLAIMABLE": 0xcd0,
    "GFP_TRANSHUGE_LIGHT": 0x1c20ca,
    "GFP_DMA": 0x1,
    "GFP_DMA32": 0x4,
    "GFP_ATOMIC": 0xa20,
    "GFP_HIGHUSER_MOVABLE": 0x100cca,
}


@pytest.mark.parametrize("text,value", sorted(FLDUMP_EXPRESSIONS.items()))
def test_parse_expressions(text: str, value: int) -> None:
    assert parse_gfp(text) == value
    assert parse_gfp(f" {text.replace('|', ' | ')} ") == value


def test_parse_every_fldump_script_name() -> None:
    files = sorted(glob.glob(str(ORACLE / "fl*" / "fldump.txt")))
    if not files:
        pytest.skip("fldump captures not available")
    names: set[str] = set()
    for path in files:
        with open(path) as f:
            for line in f:
                if line.startswith("FLD script A "):
                    names.add(line.split()[4])
    assert names, "no 'FLD script A' lines found"
    assert names <= set(FLDUMP_EXPRESSIONS), names - set(FLDUMP_EXPRESSIONS)
    for name in names:
        assert parse_gfp(name) == FLDUMP_EXPRESSIONS[name]


def test_parse_numbers_and_operators() -> None:
    assert parse_gfp("0xcc0") == 0xcc0
    assert parse_gfp("0XCC0") == 0xcc0
    assert parse_gfp("3264") == 0xcc0
    assert parse_gfp("none") == 0
    assert parse_gfp("GFP_KERNEL|__GFP_ZERO|0x1000000") == 0x1000dc0
    # C precedence: ~ binds tighter than &, & tighter than |.
    assert parse_gfp("__GFP_IO|GFP_KERNEL&~__GFP_RECLAIM") == 0xc0
    assert parse_gfp("(__GFP_IO|GFP_KERNEL)&~__GFP_RECLAIM") == 0xc0
    assert parse_gfp("__GFP_HIGH|__GFP_IO&__GFP_FS") == 0x20
    assert parse_gfp("~~__GFP_IO") == 0x40
    assert parse_gfp("~0") == 0xffffffff  # gfp_t is 32 bits wide
    assert parse_gfp("__GFP_NOLOCKDEP|__GFP_SKIP_ZERO") == 0


@pytest.mark.parametrize("text,fragment", [
    ("GFP_KERNAL", "GFP_KERNAL"),
    ("GFP_KERNEL|__GFP_BOGUS", "__GFP_BOGUS"),
    ("GFP.KERNEL", "'.'"),
    ("(GFP_KERNEL", "')'"),
    ("GFP_KERNEL)", "')'"),
    ("GFP_KERNEL|", "ends"),
    ("", "empty"),
    ("GFP_KERNEL GFP_NOFS", "GFP_NOFS"),
])
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_gfp(text)
    assert fragment in str(exc.value)


def _trace_gfp_strings() -> set[str]:
    path = ORACLE / "m1g-smp2" / "trace.txt.xz"
    if not path.exists():
        pytest.skip("m1g-smp2 trace not available")
    found: set[str] = set()
    for trace in sorted(ORACLE.glob("*/trace.txt.xz")):
        with lzma.open(trace, "rt") as f:
            found.update(re.findall(r"gfp_flags=(\S+)", f.read()))
    return found


def test_real_trace_gfp_flags_round_trip() -> None:
    strings = _trace_gfp_strings()
    assert len(strings) >= 15
    for text in strings:
        value = parse_gfp(text)
        assert 0 < value <= gfp.__GFP_BITS_MASK
        assert format_gfp(value) == text
    assert parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP") == 0x140cca


# ----------------------------------------------------------------------- mm/internal.h --

def test_alloc_flag_values() -> None:
    # Reference section 7.1 [6.1.y-late].
    assert (mi.ALLOC_WMARK_MIN, mi.ALLOC_WMARK_LOW, mi.ALLOC_WMARK_HIGH) == (0, 1, 2)
    assert mi.ALLOC_WMARK_MASK == 3
    assert mi.ALLOC_NO_WATERMARKS == 0x04
    assert mi.ALLOC_OOM == 0x08
    assert mi.ALLOC_NON_BLOCK == 0x10
    assert mi.ALLOC_MIN_RESERVE == 0x20 == gfp.__GFP_HIGH
    assert mi.ALLOC_CPUSET == 0x40
    assert mi.ALLOC_CMA == 0x80
    assert mi.ALLOC_NOFRAGMENT == 0x100
    assert mi.ALLOC_HIGHATOMIC == 0x200
    assert mi.ALLOC_KSWAPD == 0x800 == gfp.__GFP_KSWAPD_RECLAIM
    assert mi.ALLOC_RESERVES == 0x10 | 0x20 | 0x200 | 0x08
    assert (mi.SWAP_CLUSTER_MAX, mi.COMPACT_CLUSTER_MAX, mi.MAX_RECLAIM_RETRIES) == (32, 32, 16)
    assert mi.AllocFlag.KSWAPD == mi.ALLOC_KSWAPD
    assert mi.AllocFlag.HIGHATOMIC | mi.AllocFlag.CMA == 0x280


def test_alloc_flag_values_match_kernel_source() -> None:
    src = _kernel_file("mm/internal.h")
    defined = {name: int(value, 16) for name, value in
               re.findall(r"#define (ALLOC_\w+)\s+(0x[0-9a-f]+)", src)}
    for name, value in defined.items():
        if name == "ALLOC_NOFRAGMENT" and value == 0:
            continue  # the !CONFIG_ZONE_DMA32 definition
        assert getattr(mi, name) == value, name
    assert set(defined) >= {"ALLOC_NON_BLOCK", "ALLOC_MIN_RESERVE", "ALLOC_HIGHATOMIC"}


def _flags(*short: str) -> int:
    value = 0
    for name in short:
        value |= getattr(mi, f"ALLOC_{name}")
    return value


# Reference section 7.4, "[6.1.y-late]" column: (gfp, order, cma, expected flag names).
ALLOC_FLAG_TABLE = [
    (gfp.GFP_KERNEL, 0, True, ("WMARK_MIN", "CPUSET", "KSWAPD")),
    (gfp.GFP_ATOMIC, 0, True, ("WMARK_MIN", "MIN_RESERVE", "NON_BLOCK", "KSWAPD")),
    (gfp.GFP_ATOMIC, 2, True, ("WMARK_MIN", "MIN_RESERVE", "NON_BLOCK", "KSWAPD", "HIGHATOMIC")),
    (gfp.GFP_NOWAIT, 0, True, ("WMARK_MIN", "CPUSET", "NON_BLOCK", "KSWAPD")),
    (gfp.GFP_ATOMIC | gfp.__GFP_NOMEMALLOC, 0, True, ("WMARK_MIN", "MIN_RESERVE", "KSWAPD")),
    (gfp.GFP_HIGHUSER_MOVABLE, 0, True, ("WMARK_MIN", "CPUSET", "KSWAPD", "CMA")),
    (gfp.GFP_TRANSHUGE_LIGHT, 9, True, ("WMARK_MIN", "CPUSET", "CMA")),
    # No CMA configured: ALLOC_CMA never appears.
    (gfp.GFP_HIGHUSER_MOVABLE, 0, False, ("WMARK_MIN", "CPUSET", "KSWAPD")),
    (gfp.GFP_TRANSHUGE_LIGHT, 9, False, ("WMARK_MIN", "CPUSET")),
    # HIGHATOMIC needs __GFP_HIGH: a non-blocking order>0 GFP_NOWAIT does not get it.
    (gfp.GFP_NOWAIT, 3, False, ("WMARK_MIN", "CPUSET", "NON_BLOCK", "KSWAPD")),
    # The fldump2 e9 masks.
    (gfp.__GFP_HIGH, 2, False, ("WMARK_MIN", "MIN_RESERVE", "NON_BLOCK", "HIGHATOMIC")),
    (gfp.__GFP_HIGH, 0, False, ("WMARK_MIN", "MIN_RESERVE", "NON_BLOCK")),
    (gfp.GFP_ATOMIC & ~gfp.__GFP_KSWAPD_RECLAIM, 0, False,
     ("WMARK_MIN", "MIN_RESERVE", "NON_BLOCK")),
    (gfp.GFP_KERNEL & ~gfp.__GFP_RECLAIM, 3, False, ("WMARK_MIN", "CPUSET", "NON_BLOCK")),
    # A blocking __GFP_HIGH request keeps its cpuset.
    (gfp.GFP_KERNEL | gfp.__GFP_HIGH, 1, False, ("WMARK_MIN", "CPUSET", "MIN_RESERVE", "KSWAPD")),
]


@pytest.mark.parametrize("flags,order,cma,names", ALLOC_FLAG_TABLE)
def test_gfp_to_alloc_flags(flags: int, order: int, cma: bool, names: tuple[str, ...]) -> None:
    assert mi.gfp_to_alloc_flags(flags, order, cma=cma) == _flags(*names), \
        mi.format_alloc_flags(mi.gfp_to_alloc_flags(flags, order, cma=cma))


def test_gfp_to_alloc_flags_rt_task() -> None:
    base = _flags("WMARK_MIN", "CPUSET", "KSWAPD")
    assert mi.gfp_to_alloc_flags(gfp.GFP_KERNEL, 0, rt_task=True) == base | mi.ALLOC_MIN_RESERVE
    assert mi.gfp_to_alloc_flags(gfp.GFP_KERNEL, 0, rt_task=True, in_task=False) == base
    # Non-blocking requests take the other branch: RT gives nothing extra.
    assert (mi.gfp_to_alloc_flags(gfp.GFP_NOWAIT, 0, rt_task=True)
            == _flags("WMARK_MIN", "CPUSET", "NON_BLOCK", "KSWAPD"))
    assert mi.gfp_to_alloc_flags(gfp.GFP_HIGHUSER_MOVABLE, 0, cma=True,
                                 mobility_disabled=True) == base


def test_gfp_to_alloc_flags_cma() -> None:
    assert mi.gfp_to_alloc_flags_cma(gfp.GFP_HIGHUSER_MOVABLE, 0x41, True) == 0xc1
    assert mi.gfp_to_alloc_flags_cma(gfp.GFP_HIGHUSER_MOVABLE, 0x41, False) == 0x41
    assert mi.gfp_to_alloc_flags_cma(gfp.GFP_KERNEL, 0x41, True) == 0x41
    # MOVABLE|RECLAIMABLE is migratetype 3, not MOVABLE.
    assert mi.gfp_to_alloc_flags_cma(0x18, 0, True) == 0
    # After PF_MEMALLOC_PIN strips __GFP_MOVABLE there is no CMA access.
    pinned = mi.current_gfp_context(gfp.GFP_HIGHUSER_MOVABLE, memalloc_pin=True)
    assert mi.gfp_to_alloc_flags_cma(pinned, 0, True) == 0


@pytest.mark.parametrize("flags,kw,expected", [
    (gfp.GFP_KERNEL, {}, 0),
    (gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC, {}, mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC | gfp.__GFP_NOMEMALLOC, {"pf_memalloc": True}, 0),
    (gfp.GFP_KERNEL | gfp.__GFP_MEMALLOC, {"in_interrupt": True}, mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_KERNEL, {"pf_memalloc": True}, mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_KERNEL, {"pf_memalloc": True, "in_interrupt": True}, 0),
    (gfp.GFP_ATOMIC, {"pf_memalloc": True, "in_interrupt": True, "in_serving_softirq": True},
     mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_ATOMIC, {"pf_memalloc": True, "in_serving_softirq": True}, mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_KERNEL, {"oom_victim": True}, mi.ALLOC_OOM),
    (gfp.GFP_KERNEL, {"oom_victim": True, "pf_memalloc": True}, mi.ALLOC_NO_WATERMARKS),
    (gfp.GFP_KERNEL, {"oom_victim": True, "in_interrupt": True}, 0),
    (gfp.GFP_KERNEL, {"oom_victim": True, "in_serving_softirq": True}, 0),
    (gfp.GFP_KERNEL | gfp.__GFP_NOMEMALLOC, {"oom_victim": True}, 0),
])
def test_gfp_pfmemalloc_flags(flags: int, kw: dict[str, bool], expected: int) -> None:
    assert mi.gfp_pfmemalloc_flags(flags, **kw) == expected


def test_current_gfp_context() -> None:
    k = gfp.GFP_KERNEL
    assert mi.current_gfp_context(k) == k
    assert mi.current_gfp_context(k, memalloc_noio=True) == gfp.GFP_NOIO
    assert mi.current_gfp_context(k, memalloc_nofs=True) == gfp.GFP_NOFS
    assert mi.current_gfp_context(k, memalloc_noio=True, memalloc_nofs=True) == gfp.GFP_NOIO
    m = gfp.GFP_HIGHUSER_MOVABLE
    assert mi.current_gfp_context(m, memalloc_pin=True) == gfp.GFP_HIGHUSER
    assert gfp_zone(mi.current_gfp_context(m, memalloc_pin=True)) == 2


def test_gfp_compaction_allowed() -> None:
    assert mi.gfp_compaction_allowed(gfp.GFP_KERNEL)
    assert mi.gfp_compaction_allowed(gfp.GFP_NOFS)
    assert not mi.gfp_compaction_allowed(gfp.GFP_NOIO)
    assert not mi.gfp_compaction_allowed(gfp.GFP_ATOMIC)
    assert mi.gfp_compaction_allowed(gfp.GFP_TRANSHUGE)  # IO comes from GFP_HIGHUSER
    assert not mi.gfp_compaction_allowed(gfp.GFP_KERNEL & ~gfp.__GFP_IO)


@pytest.mark.parametrize("flags,text", [
    (0, "ALLOC_WMARK_MIN"),
    (mi.ALLOC_WMARK_LOW | mi.ALLOC_KSWAPD | mi.ALLOC_NOFRAGMENT,
     "ALLOC_WMARK_LOW|ALLOC_NOFRAGMENT|ALLOC_KSWAPD"),
    (mi.ALLOC_WMARK_HIGH | mi.ALLOC_CPUSET, "ALLOC_WMARK_HIGH|ALLOC_CPUSET"),
    (mi.ALLOC_NO_WATERMARKS | mi.ALLOC_OOM, "ALLOC_WMARK_MIN|ALLOC_NO_WATERMARKS|ALLOC_OOM"),
    (mi.ALLOC_RESERVES, "ALLOC_WMARK_MIN|ALLOC_OOM|ALLOC_NON_BLOCK|ALLOC_MIN_RESERVE|"
                        "ALLOC_HIGHATOMIC"),
    (0x400 | 0x3 | mi.ALLOC_CMA, "ALLOC_CMA|0x403"),
])
def test_format_alloc_flags(flags: int, text: str) -> None:
    assert mi.format_alloc_flags(flags) == text


def test_public_names() -> None:
    for module in (gfp, mi):
        for name in module.__all__:
            assert hasattr(module, name), name
    assert os.path.basename(gfp.__file__) == "gfp.py"
