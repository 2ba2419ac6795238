"""Where a key of a TOML file is: line numbers for dotted keys and arrays of tables.

Not a kernel file. tomllib parses without positions, so error messages that must
name a line (scenario and sweep files) find it by scanning the text:
:class:`KeyLines` maps key paths such as ``("phase", 1, "actor", 0, "rate")`` to
the line that defines them, including keys of inline tables, quoted keys with
dots, and ``[[array.of.tables]]`` counted per parent.
"""
from __future__ import annotations

import re

__all__ = ["KeyLines", "format_key", "split_key"]




def split_key(text: str) -> list[str]:
    """Split a TOML dotted key (bare or quoted parts) into its parts."""
    parts: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t.":
            i += 1
            continue
        if c in "\"'":
            j = text.find(c, i + 1)
            if j < 0:
                j = n
            parts.append(text[i + 1:j])
            i = j + 1
        else:
            m = re.match(r"[A-Za-z0-9_-]+", text[i:])
            if not m:
                break
            parts.append(m.group(0))
            i += m.end()
    return parts


class KeyLines:
    """Map key paths (with array-of-tables indexes) to the line that defines them."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple, int] = {}
        counts: dict[tuple, int] = {}
        table: tuple = ()
        depth = 0                                   # open brackets of a multi-line value
        in_ml = None                                # inside a multi-line string
        for no, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if in_ml is not None:
                if in_ml in line:
                    in_ml = None
                continue
            if depth > 0:
                depth += _bracket_balance(line)
                continue
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^\[\[(.+?)\]\]", line)
            if m:
                parts = split_key(m.group(1))
                parent = self._resolve(tuple(parts[:-1]), table)
                key = parent + (parts[-1],)
                idx = counts.get(key, 0)
                counts[key] = idx + 1
                table = key + (idx,)
                self.lines.setdefault(key, no)
                self.lines[table] = no
                continue
            m = re.match(r"^\[(.+?)\]", line)
            if m:
                parts = split_key(m.group(1))
                table = self._resolve(tuple(parts[:-1]), table) + (parts[-1],)
                self.lines.setdefault(table, no)
                continue
            eq = _find_eq(line)
            if eq < 0:
                continue
            key = table + tuple(split_key(line[:eq]))
            self.lines.setdefault(key, no)
            value = line[eq + 1:].strip()
            for q in ('"""', "'''"):
                if value.startswith(q) and value.count(q) == 1:
                    in_ml = q
            if in_ml is None:
                depth = _bracket_balance(value)
                if value.startswith("{"):
                    self._inline(key, value, no)

    def _resolve(self, parts: tuple, current: tuple) -> tuple:
        """A dotted table name under the latest element of any array of tables it names."""
        out: tuple = ()
        for p in parts:
            out = out + (p,)
            # the last element of an array of tables with this prefix
            best = None
            for k in self.lines:
                if len(k) == len(out) + 1 and k[:-1] == out and isinstance(k[-1], int):
                    best = k if best is None or k[-1] > best[-1] else best
            if best is not None:
                out = best
        return out

    def _inline(self, key: tuple, value: str, no: int) -> None:
        for m in re.finditer(r"([A-Za-z0-9_\"'.-]+)\s*=", value):
            self.lines.setdefault(key + tuple(split_key(m.group(1))), no)

    def line(self, path: tuple) -> int:
        """The line of ``path`` or of its nearest defined ancestor (0 if none)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return 0


def _find_eq(line: str) -> int:
    q = None
    for i, c in enumerate(line):
        if q:
            if c == q:
                q = None
        elif c in "\"'":
            q = c
        elif c == "=":
            return i
        elif c == "#":
            return -1
    return -1


def _bracket_balance(s: str) -> int:
    bal = 0
    q = None
    for c in s:
        if q:
            if c == q:
                q = None
        elif c in "\"'":
            q = c
        elif c == "#":
            break
        elif c in "[{":
            bal += 1
        elif c in "]}":
            bal -= 1
    return bal


def format_key(path: tuple) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + (p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"')
    return out
