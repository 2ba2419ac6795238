"""A small progress bar on stderr for long commands (run, sweep).

Not a kernel file. Handwritten rather than tqdm: the commands need one bar
over simulated time with two extra fields, redrawn at most ten times a second
on a terminal and reduced to a line per tenth of the work when stderr is a
file or a CI log (where tqdm's carriage returns pile up); that is forty lines,
not a dependency.
"""
from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``p.update(done, extra="")`` ... ``p.close()``; silent when ``enabled`` is False."""

    def __init__(self, total: float, label: str, unit: str = "s", *, stream=None,
                 enabled: bool = True, width: int = 28) -> None:
        self.total = max(total, 1e-9)
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._last_tenth = -1
        self._drawn = False

    def update(self, done: float, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        frac = min(max(done / self.total, 0.0), 1.0)
        if self.tty:
            if now - self._last_draw < 0.1 and frac < 1.0:
                return
            self._last_draw = now
            fill = int(frac * self.width)
            bar = "#" * fill + "-" * (self.width - fill)
            el = now - self.t0
            eta = el / frac - el if frac > 0.01 else 0.0
            self.stream.write(f"\r{self.label} [{bar}] {done:7.1f}/{self.total:g}{self.unit} "
                              f"{el:5.0f}s elapsed, ~{eta:3.0f}s left {extra}\x1b[K")
            self.stream.flush()
            self._drawn = True
        else:
            tenth = int(frac * 10)
            if tenth > self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(f"{self.label}: {100 * frac:3.0f}% ({done:g}/{self.total:g}"
                                  f"{self.unit}, {now - self.t0:.0f}s) {extra}\n")
                self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
