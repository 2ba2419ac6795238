"""GFP flags: the __GFP_* bits, composite masks, zone and migratetype selection, trace names.

Models include/linux/gfp_types.h, the gfp_zone()/gfp_migratetype() helpers of
include/linux/gfp.h, the GFP masks of mm/internal.h and the ``__def_gfpflag_names`` table of
include/trace/events/mmflags.h, for Linux 6.1 ([6.1.y-late], checked against 6.1.158).

Values are those of an x86_64 build without CONFIG_KASAN_HW_TAGS and without CONFIG_LOCKDEP:
``__GFP_SKIP_ZERO``, ``__GFP_SKIP_KASAN_UNPOISON``, ``__GFP_SKIP_KASAN_POISON`` and
``__GFP_NOLOCKDEP`` are 0. Their nominal bits (what a trace from such a kernel would show as
leftover hex, e.g. ``GFP_KERNEL|0x8000000`` under LOCKDEP) are in :data:`GFP_NOMINAL_BITS`.

The kernel names keep their leading underscores (``gfp.__GFP_MOVABLE``). Inside a class body
Python would mangle such names, so :class:`GFP` offers the same bits as ``GFP.MOVABLE`` etc.
The module constants are plain ``int`` (C ``gfp_t`` arithmetic, cheap in hot paths).
"""
from __future__ import annotations

from typing import Final

import enum
import re
from dataclasses import dataclass

__all__ = [
    "GFP", "GFP_NOMINAL_BITS",
    "__GFP_DMA", "__GFP_HIGHMEM", "__GFP_DMA32", "__GFP_MOVABLE", "__GFP_RECLAIMABLE",
    "__GFP_HIGH", "__GFP_IO", "__GFP_FS", "__GFP_ZERO", "__GFP_ATOMIC", "__GFP_DIRECT_RECLAIM",
    "__GFP_KSWAPD_RECLAIM", "__GFP_WRITE", "__GFP_NOWARN", "__GFP_RETRY_MAYFAIL",
    "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP", "__GFP_NOMEMALLOC",
    "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_ACCOUNT", "__GFP_ZEROTAGS", "__GFP_SKIP_ZERO",
    "__GFP_SKIP_KASAN_UNPOISON", "__GFP_SKIP_KASAN_POISON", "__GFP_NOLOCKDEP",
    "__GFP_RECLAIM", "__GFP_BITS_SHIFT", "__GFP_BITS_MASK",
    "GFP_ATOMIC", "GFP_KERNEL", "GFP_KERNEL_ACCOUNT", "GFP_NOWAIT", "GFP_NOIO", "GFP_NOFS",
    "GFP_USER", "GFP_DMA", "GFP_DMA32", "GFP_HIGHUSER", "GFP_HIGHUSER_MOVABLE",
    "GFP_TRANSHUGE_LIGHT", "GFP_TRANSHUGE",
    "GFP_ZONEMASK", "GFP_RECLAIM_MASK", "GFP_BOOT_MASK", "GFP_CONSTRAINT_MASK",
    "GFP_MOVABLE_MASK", "GFP_MOVABLE_SHIFT",
    "GFP_ZONES_SHIFT", "GFP_ZONE_TABLE", "GFP_ZONE_BAD", "ZONE_PROFILES",
    "gfp_zone", "gfp_zone_bad", "gfp_migratetype", "gfpflags_allow_blocking",
    "gfpflag_names", "format_gfp", "parse_gfp",
]


class GFP(enum.IntFlag):
    """The non-zero ___GFP_* bits of this build, without the kernel's leading underscores.

    Models include/linux/gfp_types.h (the ___GFP_* values); zero-valued bits are omitted.
    """
    DMA = 0x01
    HIGHMEM = 0x02
    DMA32 = 0x04
    MOVABLE = 0x08
    RECLAIMABLE = 0x10
    HIGH = 0x20
    IO = 0x40
    FS = 0x80
    ZERO = 0x100
    ATOMIC = 0x200              # [6.1]; removed in 6.3, bit left unused
    DIRECT_RECLAIM = 0x400
    KSWAPD_RECLAIM = 0x800
    WRITE = 0x1000
    NOWARN = 0x2000
    RETRY_MAYFAIL = 0x4000
    NOFAIL = 0x8000
    NORETRY = 0x10000
    MEMALLOC = 0x20000
    COMP = 0x40000
    NOMEMALLOC = 0x80000
    HARDWALL = 0x100000
    THISNODE = 0x200000
    ACCOUNT = 0x400000
    ZEROTAGS = 0x800000
    RECLAIM = 0x400 | 0x800     # __GFP_RECLAIM


__GFP_DMA: Final = int(GFP.DMA)
__GFP_HIGHMEM: Final = int(GFP.HIGHMEM)
__GFP_DMA32: Final = int(GFP.DMA32)
__GFP_MOVABLE: Final = int(GFP.MOVABLE)
__GFP_RECLAIMABLE: Final = int(GFP.RECLAIMABLE)
__GFP_HIGH: Final = int(GFP.HIGH)
__GFP_IO: Final = int(GFP.IO)
__GFP_FS: Final = int(GFP.FS)
__GFP_ZERO: Final = int(GFP.ZERO)
__GFP_ATOMIC: Final = int(GFP.ATOMIC)
__GFP_DIRECT_RECLAIM: Final = int(GFP.DIRECT_RECLAIM)
__GFP_KSWAPD_RECLAIM: Final = int(GFP.KSWAPD_RECLAIM)
__GFP_WRITE: Final = int(GFP.WRITE)
__GFP_NOWARN: Final = int(GFP.NOWARN)
__GFP_RETRY_MAYFAIL: Final = int(GFP.RETRY_MAYFAIL)
__GFP_NOFAIL: Final = int(GFP.NOFAIL)
__GFP_NORETRY: Final = int(GFP.NORETRY)
__GFP_MEMALLOC: Final = int(GFP.MEMALLOC)
__GFP_COMP: Final = int(GFP.COMP)
__GFP_NOMEMALLOC: Final = int(GFP.NOMEMALLOC)
__GFP_HARDWALL: Final = int(GFP.HARDWALL)
__GFP_THISNODE: Final = int(GFP.THISNODE)
__GFP_ACCOUNT: Final = int(GFP.ACCOUNT)
__GFP_ZEROTAGS: Final = int(GFP.ZEROTAGS)
# Only CONFIG_KASAN_HW_TAGS (arm64 MTE) gives these bits; x86 never has them.
__GFP_SKIP_ZERO: Final = 0
__GFP_SKIP_KASAN_UNPOISON: Final = 0
__GFP_SKIP_KASAN_POISON: Final = 0
# Only CONFIG_LOCKDEP gives this bit (and widens __GFP_BITS_SHIFT by one).
__GFP_NOLOCKDEP: Final = 0

__GFP_RECLAIM: Final = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
__GFP_BITS_SHIFT: Final = 27
__GFP_BITS_MASK: Final = (1 << __GFP_BITS_SHIFT) - 1

#: Every __GFP_* bit at its nominal value, as if KASAN_HW_TAGS and LOCKDEP were enabled.
GFP_NOMINAL_BITS: dict[str, int] = {
    **{f"__GFP_{m.name}": int(m) for m in GFP if m.name != "RECLAIM"},
    "__GFP_SKIP_ZERO": 0x1000000,
    "__GFP_SKIP_KASAN_UNPOISON": 0x2000000,
    "__GFP_SKIP_KASAN_POISON": 0x4000000,
    "__GFP_NOLOCKDEP": 0x8000000,
}

GFP_ATOMIC: Final = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
GFP_KERNEL: Final = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT: Final = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT: Final = __GFP_KSWAPD_RECLAIM
GFP_NOIO: Final = __GFP_RECLAIM
GFP_NOFS: Final = __GFP_RECLAIM | __GFP_IO
GFP_USER: Final = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA: Final = __GFP_DMA
GFP_DMA32: Final = __GFP_DMA32
GFP_HIGHUSER: Final = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE: Final = (GFP_HIGHUSER | __GFP_MOVABLE
                        | __GFP_SKIP_KASAN_POISON | __GFP_SKIP_KASAN_UNPOISON)
GFP_TRANSHUGE_LIGHT: Final = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)
GFP_TRANSHUGE: Final = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

GFP_ZONEMASK: Final = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE

# mm/internal.h
GFP_RECLAIM_MASK: Final = (__GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN
                    | __GFP_RETRY_MAYFAIL | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC
                    | __GFP_NOMEMALLOC | __GFP_ATOMIC | __GFP_NOLOCKDEP)
GFP_BOOT_MASK: Final = __GFP_BITS_MASK & ~(__GFP_RECLAIM | __GFP_IO | __GFP_FS)
GFP_CONSTRAINT_MASK: Final = __GFP_HARDWALL | __GFP_THISNODE

# include/linux/gfp.h (the kernel #undefs these after gfp_migratetype)
GFP_MOVABLE_MASK: Final = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT: Final = 3


# --------------------------------------------------------------------------------------------
# gfp_zone(): GFP_ZONE_TABLE and GFP_ZONE_BAD, built the way include/linux/gfp.h builds them.

#: Bits per GFP_ZONE_TABLE slot: ZONES_SHIFT is 2 for up to 4 zones, and ZONE_DEVICE (the
#: fifth zone on both profiles) is not a gfp zone specifier, so the kernel keeps it at 2.
GFP_ZONES_SHIFT: Final = 2


@dataclass(frozen=True)
class _ZoneLayout:
    """The zone indices GFP_ZONE_TABLE uses for one kernel build (OPT_ZONE_* resolved)."""
    ZONE_NORMAL: int
    ZONE_MOVABLE: int
    OPT_ZONE_DMA: int
    OPT_ZONE_HIGHMEM: int
    OPT_ZONE_DMA32: int


_ZONE_LAYOUTS: dict[str, _ZoneLayout] = {
    # DMA 0, DMA32 1, NORMAL 2, MOVABLE 3, DEVICE 4; no HIGHMEM so OPT_ZONE_HIGHMEM = NORMAL.
    "x86_64": _ZoneLayout(ZONE_NORMAL=2, ZONE_MOVABLE=3,
                          OPT_ZONE_DMA=0, OPT_ZONE_HIGHMEM=2, OPT_ZONE_DMA32=1),
    # DMA 0, NORMAL 1, HIGHMEM 2, MOVABLE 3, DEVICE 4; no DMA32 so OPT_ZONE_DMA32 = NORMAL.
    "i386": _ZoneLayout(ZONE_NORMAL=1, ZONE_MOVABLE=3,
                        OPT_ZONE_DMA=0, OPT_ZONE_HIGHMEM=2, OPT_ZONE_DMA32=1),
}

#: Build profiles gfp_zone() knows.
ZONE_PROFILES: tuple[str, ...] = tuple(_ZONE_LAYOUTS)


def _build_gfp_zone_table(z: _ZoneLayout) -> int:
    """Pack the zone of each valid low-4-bit combination into one word.

    Models the GFP_ZONE_TABLE macro of include/linux/gfp.h; invalid slots stay 0 (ZONE_DMA).
    """
    dma, highmem, dma32, movable = __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32, __GFP_MOVABLE
    slots = (
        (0, z.ZONE_NORMAL),
        (dma, z.OPT_ZONE_DMA),
        (highmem, z.OPT_ZONE_HIGHMEM),
        (dma32, z.OPT_ZONE_DMA32),
        (movable, z.ZONE_NORMAL),
        (movable | dma, z.OPT_ZONE_DMA),
        (movable | highmem, z.ZONE_MOVABLE),
        (movable | dma32, z.OPT_ZONE_DMA32),
    )
    table = 0
    for bits, zone in slots:
        table |= zone << (bits * GFP_ZONES_SHIFT)
    return table


def _build_gfp_zone_bad() -> int:
    """One bit per forbidden zone-modifier combination.

    Models the GFP_ZONE_BAD macro of include/linux/gfp.h.
    """
    dma, highmem, dma32, movable = __GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32, __GFP_MOVABLE
    bad = 0
    for bits in (dma | highmem, dma | dma32, dma32 | highmem, dma | dma32 | highmem,
                 movable | highmem | dma, movable | dma32 | dma, movable | dma32 | highmem,
                 movable | dma32 | dma | highmem):
        bad |= 1 << bits
    return bad


_GFP_ZONE_TABLES: dict[str, int] = {p: _build_gfp_zone_table(z) for p, z in _ZONE_LAYOUTS.items()}
#: GFP_ZONE_TABLE of the x86_64 build.
GFP_ZONE_TABLE: int = _GFP_ZONE_TABLES["x86_64"]
GFP_ZONE_BAD: int = _build_gfp_zone_bad()


def gfp_zone(flags: int, profile: str = "x86_64") -> int:
    """Return the highest zone index an allocation with ``flags`` may use.

    Models include/linux/gfp.h:gfp_zone without CONFIG_DEBUG_VM: an invalid combination of
    zone modifiers is not caught and yields the empty table slot, ZONE_DMA (0).

    :param profile: ``"x86_64"`` (DMA, DMA32, NORMAL, MOVABLE) or ``"i386"`` (DMA, NORMAL,
        HIGHMEM, MOVABLE).
    :returns: ``enum zone_type`` of that build.
    """
    try:
        table = _GFP_ZONE_TABLES[profile]
    except KeyError:
        raise ValueError(f"unknown gfp_zone profile {profile!r}; "
                         f"known: {', '.join(ZONE_PROFILES)}") from None
    bit = flags & GFP_ZONEMASK
    return (table >> (bit * GFP_ZONES_SHIFT)) & ((1 << GFP_ZONES_SHIFT) - 1)


def gfp_zone_bad(flags: int) -> bool:
    """Tell whether ``flags`` combine zone modifiers the kernel forbids.

    Models the VM_BUG_ON in include/linux/gfp.h:gfp_zone (only fatal with CONFIG_DEBUG_VM).
    """
    return bool((GFP_ZONE_BAD >> (flags & GFP_ZONEMASK)) & 1)


def gfp_migratetype(flags: int, mobility_disabled: bool = False) -> int:
    """Return the migratetype an allocation with ``flags`` is grouped under.

    Models include/linux/gfp.h:gfp_migratetype. MOVABLE|RECLAIMABLE gives 3
    (MIGRATE_HIGHATOMIC), which the kernel only warns about with CONFIG_DEBUG_VM.

    :param mobility_disabled: ``page_group_by_mobility_disabled``; then always UNMOVABLE.
    """
    if mobility_disabled:
        return 0
    return (flags & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


def gfpflags_allow_blocking(flags: int) -> bool:
    """Tell whether the caller may sleep (direct reclaim allowed).

    Models include/linux/gfp.h:gfpflags_allow_blocking.
    """
    return bool(flags & __GFP_DIRECT_RECLAIM)


# --------------------------------------------------------------------------------------------
# Printing and parsing.

#: ``__def_gfpflag_names`` of include/trace/events/mmflags.h, in table order: composites
#: first so the most bits are named at once. The three __GFP_SKIP_* entries that follow
#: with CONFIG_KASAN_HW_TAGS are absent; __GFP_NOLOCKDEP never has a name.
gfpflag_names: tuple[tuple[int, str], ...] = (
    (GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (GFP_TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (GFP_HIGHUSER, "GFP_HIGHUSER"),
    (GFP_USER, "GFP_USER"),
    (GFP_KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (GFP_KERNEL, "GFP_KERNEL"),
    (GFP_NOFS, "GFP_NOFS"),
    (GFP_ATOMIC, "GFP_ATOMIC"),
    (GFP_NOIO, "GFP_NOIO"),
    (GFP_NOWAIT, "GFP_NOWAIT"),
    (GFP_DMA, "GFP_DMA"),
    (__GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (GFP_DMA32, "GFP_DMA32"),
    (__GFP_HIGH, "__GFP_HIGH"),
    (__GFP_ATOMIC, "__GFP_ATOMIC"),
    (__GFP_IO, "__GFP_IO"),
    (__GFP_FS, "__GFP_FS"),
    (__GFP_NOWARN, "__GFP_NOWARN"),
    (__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (__GFP_NOFAIL, "__GFP_NOFAIL"),
    (__GFP_NORETRY, "__GFP_NORETRY"),
    (__GFP_COMP, "__GFP_COMP"),
    (__GFP_ZERO, "__GFP_ZERO"),
    (__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (__GFP_MEMALLOC, "__GFP_MEMALLOC"),
    (__GFP_HARDWALL, "__GFP_HARDWALL"),
    (__GFP_THISNODE, "__GFP_THISNODE"),
    (__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (__GFP_MOVABLE, "__GFP_MOVABLE"),
    (__GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (__GFP_WRITE, "__GFP_WRITE"),
    (__GFP_RECLAIM, "__GFP_RECLAIM"),
    (__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (__GFP_ZEROTAGS, "__GFP_ZEROTAGS"),
)


def format_gfp(flags: int) -> str:
    """Render ``flags`` the way the page allocator's trace events print ``gfp_flags=``.

    Models include/trace/events/mmflags.h:show_gfp_flags over
    kernel/trace/trace_output.c:trace_print_flags_seq (``none`` for 0; %pGg would print "").
    """
    if flags < 0:
        raise ValueError(f"gfp flags must be non-negative, got {flags}")
    if flags == 0:
        return "none"
    parts: list[str] = []
    for mask, name in gfpflag_names:
        if not flags:
            break
        if flags & mask == mask:
            parts.append(name)
            flags &= ~mask
    if flags:
        parts.append(f"{flags:#x}")
    return "|".join(parts)


_GFP_T_MASK = 0xFFFFFFFF  # gfp_t is an unsigned int: ~ complements 32 bits

_PARSE_NAMES: dict[str, int] = {
    "none": 0,
    **{name: value for value, name in gfpflag_names},
    **{name: globals()[name] for name in GFP_NOMINAL_BITS},
    "__GFP_RECLAIM": __GFP_RECLAIM,
    "__GFP_BITS_MASK": __GFP_BITS_MASK,
    "GFP_ZONEMASK": GFP_ZONEMASK,
    "GFP_RECLAIM_MASK": GFP_RECLAIM_MASK,
    "GFP_BOOT_MASK": GFP_BOOT_MASK,
    "GFP_CONSTRAINT_MASK": GFP_CONSTRAINT_MASK,
    "GFP_MOVABLE_MASK": GFP_MOVABLE_MASK,
}

_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_]\w*)|([|&~()]))")


class _Parser:
    """Recursive-descent evaluator for C-style gfp expressions (| lowest, then &, then ~)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos, end = 0, len(text.rstrip())
        while pos < end:
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r} "
                                 f"in gfp expression {text!r}")
            num, name, op = m.groups()
            self.tokens.append(("num", num) if num else ("name", name) if name else ("op", op))
            pos = m.end()
        self.i = 0

    def _peek(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "op":
            return self.tokens[self.i][1]
        return None

    def parse(self) -> int:
        if not self.tokens:
            raise ValueError("empty gfp expression")
        value = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r} in gfp expression "
                             f"{self.text!r}")
        return value

    def _or(self) -> int:
        value = self._and()
        while self._peek() == "|":
            self.i += 1
            value |= self._and()
        return value

    def _and(self) -> int:
        value = self._unary()
        while self._peek() == "&":
            self.i += 1
            value &= self._unary()
        return value

    def _unary(self) -> int:
        if self._peek() == "~":
            self.i += 1
            return ~self._unary() & _GFP_T_MASK
        return self._atom()

    def _atom(self) -> int:
        if self.i >= len(self.tokens):
            raise ValueError(f"gfp expression {self.text!r} ends unexpectedly")
        kind, tok = self.tokens[self.i]
        self.i += 1
        if kind == "num":
            return int(tok, 16) if tok[:2].lower() == "0x" else int(tok, 10)
        if kind == "name":
            try:
                return _PARSE_NAMES[tok]
            except KeyError:
                raise ValueError(f"unknown GFP flag name {tok!r} in {self.text!r}") from None
        if tok == "(":
            value = self._or()
            if self._peek() != ")":
                raise ValueError(f"missing ')' in gfp expression {self.text!r}")
            self.i += 1
            return value
        raise ValueError(f"unexpected {tok!r} in gfp expression {self.text!r}")


def parse_gfp(text: str) -> int:
    """Evaluate a gfp mask written as trace output, a number, or a C-like expression.

    Accepts what :func:`format_gfp` prints (``GFP_KERNEL|__GFP_ZERO|0x1000000``, ``none``),
    plain hex or decimal, and ``| & ~ ( )`` over kernel names, e.g.
    ``(GFP_KERNEL|__GFP_RECLAIMABLE)&~__GFP_RECLAIM``. Ours: the kernel has no parser.

    :raises ValueError: for an unknown name (named in the message) or a malformed expression.
    """
    return _Parser(text).parse()
