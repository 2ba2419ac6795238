"""A Machine view that is safe to call from several Python threads.

Not a kernel file. Every call goes through the machine under ``mm.lock``,
the one lock of the model that stands for zone->lock and the pcp locks
(see pagealloc.mm.cpus for what the kernel's pcp trylock does when a lock
is found held). A :class:`CpuBound` handle binds a thread to a simulated
CPU, so "threads bound to simulated CPUs" read naturally:

    ts = machine.threadsafe()
    cpu1 = ts.on_cpu(1)
    pfn = cpu1.alloc_pages(gfp.GFP_KERNEL, 0)
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .machine import Machine

__all__ = ["ThreadSafeMachine", "CpuBound"]


class ThreadSafeMachine:
    """Forward every Machine method under ``mm.lock``; attributes read through."""

    def __init__(self, machine: "Machine") -> None:
        self._machine = machine
        self._lock = machine.mm.lock

    @property
    def machine(self) -> "Machine":
        return self._machine

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._machine, name)
        if not callable(attr):
            return attr
        lock = self._lock

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)
        return locked

    def on_cpu(self, cpu: int) -> "CpuBound":
        """A handle whose alloc_pages/free_pages run on ``cpu``."""
        return CpuBound(self, cpu)

    def __repr__(self) -> str:
        return f"<ThreadSafe {self._machine!r}>"


class CpuBound:
    """alloc_pages / free_pages / alloc_from_irq of one simulated CPU, thread-safe."""

    def __init__(self, ts: ThreadSafeMachine, cpu: int) -> None:
        self._ts = ts
        self.cpu = cpu

    def alloc_pages(self, gfp: int, order: int = 0, **kw: Any) -> int | None:
        return self._ts.alloc_pages(gfp, order, cpu=self.cpu, **kw)

    def free_pages(self, pfn: int, order: int = 0) -> bool:
        return self._ts.free_pages(pfn, order, cpu=self.cpu)

    def alloc_from_irq(self, gfp: int | None = None, order: int = 0, **kw: Any) -> int | None:
        if gfp is None:
            return self._ts.alloc_from_irq(self.cpu, order=order, **kw)
        return self._ts.alloc_from_irq(self.cpu, gfp, order, **kw)
