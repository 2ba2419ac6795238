"""Errors the model raises on bad input: each names the place (file:line, pfn, value)."""
from __future__ import annotations

__all__ = ["PageAllocError", "InputError", "InvariantError"]


class PageAllocError(Exception):
    """Bad input or a request the model refuses; the message names the place."""


class InputError(PageAllocError):
    """A malformed file: carries the file name and line number."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


class InvariantError(PageAllocError):
    """An invariant of the model does not hold (a bug, or state corrupted by hand)."""
