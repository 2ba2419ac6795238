"""Units and seeded distributions for scenario files: sizes, durations, rates, counts.

Not a kernel file. A scenario value is either a constant (``"2M"``, ``"30s"``,
``4``) or a table naming a distribution::

    size     = { dist = "lognormal", median = "4M", sigma = 1.2, max = "1G" }
    lifetime = { dist = "exp", mean = "20s" }
    order    = { dist = "choice", values = [0, 1, 3], weights = [70, 20, 10] }

Every draw takes the caller's ``random.Random``: nothing here touches the global
generator, so a scenario with a seed runs the same way every time.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Dist", "parse_size", "parse_duration", "parse_rate", "parse_count",
           "parse_dist", "poisson", "DIST_KINDS", "UnitError"]

DIST_KINDS = ("const", "uniform", "exp", "lognormal", "normal", "pareto", "choice")

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
               "MB": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
               "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40, "P": 4096, "PAGES": 4096,
               "PAGE": 4096}
_TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0,
               "min": 60.0, "h": 3600.0}
_NUM = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


class UnitError(ValueError):
    """A value that does not parse as the unit the key expects."""


def parse_size(v) -> float:
    """Bytes from 4096, "4K", "2M", "1.5G", "512p" (pages)."""
    if isinstance(v, bool):
        raise UnitError(f"expected a size like \"2M\", got {v!r}")
    if isinstance(v, (int, float)):
        if v < 0:
            raise UnitError(f"a size cannot be negative ({v})")
        return float(v)
    m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", str(v).strip())
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        raise UnitError(f"expected a size like \"64K\", \"2M\", \"1G\" or \"512p\" (pages), got {v!r}")
    return float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()]


def parse_duration(v) -> float:
    """Seconds from 1.5, "10ms", "5s", "2min", "1h"."""
    if isinstance(v, bool):
        raise UnitError(f"expected a duration like \"5s\", got {v!r}")
    if isinstance(v, (int, float)):
        if v < 0:
            raise UnitError(f"a duration cannot be negative ({v})")
        return float(v)
    m = re.fullmatch(_NUM + r"\s*([a-z]*)", str(v).strip())
    if not m or m.group(2) not in _TIME_UNITS or not m.group(2):
        raise UnitError(f"expected a duration like \"250ms\", \"5s\" or \"2min\", got {v!r}")
    return float(m.group(1)) * _TIME_UNITS[m.group(2)]


def parse_rate(v, *, bytes_: bool = False) -> float:
    """Per-second rate from 200, "200/s", "30/min", or for byte streams "64M/s"."""
    if isinstance(v, bool):
        raise UnitError(f"expected a rate, got {v!r}")
    if isinstance(v, (int, float)):
        if v < 0:
            raise UnitError(f"a rate cannot be negative ({v})")
        return float(v)
    s = str(v).strip()
    if "/" not in s:
        hint = "\"64M/s\"" if bytes_ else "\"200/s\""
        raise UnitError(f"expected a rate like {hint}, got {v!r}")
    amount, per = s.rsplit("/", 1)
    per = per.strip()
    if per not in _TIME_UNITS:
        raise UnitError(f"rate {v!r}: unknown time unit {per!r} (s, min, h, ms)")
    qty = parse_size(amount) if bytes_ else _plain_number(amount, v)
    return qty / _TIME_UNITS[per]


def _plain_number(text: str, whole) -> float:
    try:
        x = float(text)
    except ValueError:
        raise UnitError(f"expected a number per time unit like \"200/s\", got {whole!r}") from None
    if x < 0:
        raise UnitError(f"a rate cannot be negative ({whole!r})")
    return x


def parse_count(v) -> float:
    """A plain non-negative number (counts, orders, probabilities)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UnitError(f"expected a number, got {v!r}")
    if v < 0:
        raise UnitError(f"expected a non-negative number, got {v!r}")
    return float(v)


@dataclass
class Dist:
    """A seeded distribution of one quantity (bytes, seconds, a count)."""

    kind: str
    params: dict = field(default_factory=dict)
    lo: float | None = None
    hi: float | None = None
    integer: bool = False

    def sample(self, rng: random.Random) -> float:
        k = self.kind
        p = self.params
        if k == "const":
            x = p["value"]
        elif k == "uniform":
            x = rng.uniform(p["min"], p["max"])
        elif k == "exp":
            x = rng.expovariate(1.0 / p["mean"]) if p["mean"] > 0 else 0.0
        elif k == "lognormal":
            x = rng.lognormvariate(math.log(p["median"]), p["sigma"]) if p["median"] > 0 else 0.0
        elif k == "normal":
            x = rng.gauss(p["mean"], p["sd"])
        elif k == "pareto":
            x = p["min"] * rng.paretovariate(p["alpha"])
        else:  # choice
            x = rng.choices(p["values"], weights=p["weights"])[0]
        if self.lo is not None and x < self.lo:
            x = self.lo
        if self.hi is not None and x > self.hi:
            x = self.hi
        if x < 0:
            x = 0.0
        return float(round(x)) if self.integer else float(x)

    def mean(self) -> float:
        """The distribution's mean before clamping (used to size things, never to draw)."""
        k = self.kind
        p = self.params
        if k == "const":
            return p["value"]
        if k == "uniform":
            return (p["min"] + p["max"]) / 2
        if k == "exp":
            return p["mean"]
        if k == "lognormal":
            return p["median"] * math.exp(p["sigma"] ** 2 / 2)
        if k == "normal":
            return p["mean"]
        if k == "pareto":
            a = p["alpha"]
            return p["min"] * a / (a - 1) if a > 1 else float(self.hi or p["min"] * 10)
        w = p["weights"]
        return sum(v * x for v, x in zip(p["values"], w)) / sum(w)


_DIST_PARAMS = {
    "const": ("value",),
    "uniform": ("min", "max"),
    "exp": ("mean",),
    "lognormal": ("median", "sigma"),
    "normal": ("mean", "sd"),
    "pareto": ("min", "alpha"),
    "choice": ("values",),
}
_UNITLESS = {"sigma", "alpha"}


def parse_dist(v, unit: Callable[[object], float], *, integer: bool = False) -> Dist:
    """A :class:`Dist` from a scenario value; raises UnitError/KeyError-like ValueErrors.

    Errors are raised as ``(subkey, message)`` in :class:`DistError` so the caller can
    name the exact key.
    """
    if not isinstance(v, dict):
        try:
            return Dist("const", {"value": unit(v)}, integer=integer)
        except UnitError as e:
            raise DistError(None, str(e)) from None
    kind = v.get("dist")
    if kind is None:
        raise DistError(None, "a distribution table needs dist = one of " + ", ".join(DIST_KINDS))
    if kind not in DIST_KINDS:
        raise DistError("dist", f"unknown distribution {kind!r} (known: {', '.join(DIST_KINDS)})")
    allowed = set(_DIST_PARAMS[kind]) | {"dist", "max", "min"}
    if kind == "choice":
        allowed |= {"weights"}
    for k in v:
        if k not in allowed:
            raise DistError(k, f"unknown key for dist = \"{kind}\" (expected: "
                               f"{', '.join(sorted(allowed - {'dist'}))})")
    params: dict = {}
    for k in _DIST_PARAMS[kind]:
        if k not in v:
            raise DistError(None, f"dist = \"{kind}\" needs {k}")
    try:
        if kind == "choice":
            vals = v["values"]
            if not isinstance(vals, list) or not vals:
                raise DistError("values", "expected a non-empty list")
            params["values"] = [unit(x) for x in vals]
            w = v.get("weights", [1] * len(vals))
            if (not isinstance(w, list) or len(w) != len(vals)
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0 for x in w)
                    or not sum(w)):
                raise DistError("weights", f"expected {len(vals)} non-negative numbers, not all 0")
            params["weights"] = [float(x) for x in w]
        else:
            for k in _DIST_PARAMS[kind]:
                params[k] = parse_count(v[k]) if k in _UNITLESS else _num_or_unit(v[k], unit)
    except UnitError as e:
        raise DistError(_which(v, unit), str(e)) from None
    lo = hi = None
    try:
        if "min" in v and kind not in ("uniform", "pareto"):
            lo = unit(v["min"])
        if "max" in v and kind != "uniform":
            hi = unit(v["max"])
        if kind == "pareto":
            lo = params["min"]
    except UnitError as e:
        raise DistError("max" if "max" in v else "min", str(e)) from None
    if kind == "uniform" and params["min"] > params["max"]:
        raise DistError("max", f"max {v['max']!r} is below min {v['min']!r}")
    if kind == "pareto" and params["alpha"] <= 0:
        raise DistError("alpha", "alpha must be positive")
    return Dist(kind, params, lo, hi, integer)


def _num_or_unit(x, unit):
    if isinstance(x, (int, float)) and not isinstance(x, bool) and unit is parse_count:
        return float(x)
    return unit(x)


def _which(v: dict, unit) -> str | None:
    """The first key of a distribution table whose value does not parse."""
    for k, x in v.items():
        if k in ("dist", "weights"):
            continue
        try:
            if k == "values":
                for y in x:
                    unit(y)
            elif k in _UNITLESS:
                parse_count(x)
            else:
                unit(x)
        except (UnitError, TypeError):
            return k
    return None


class DistError(ValueError):
    """A bad distribution: ``subkey`` (or None for the value itself) and a message."""

    def __init__(self, subkey: str | None, message: str) -> None:
        self.subkey = subkey
        super().__init__(message)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson(lam) count: Knuth's product method below 30, a rounded normal above."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit = math.exp(-lam)
        k = 0
        p = rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    x = int(rng.gauss(lam, math.sqrt(lam)) + 0.5)
    return x if x > 0 else 0
