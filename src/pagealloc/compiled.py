"""The optional compiled build: the hot modules compiled by mypyc from the same source.

Not a kernel file. The model is pure Python; ``pagealloc compile`` (or
``python -m pagealloc.compiled``) runs mypyc over :data:`MODULES` and puts the
extension modules next to their ``.py`` files, where Python's import system
prefers them. ``pagealloc compile --clean`` removes them again. Nothing else
changes: the same source, the same tests, the same results (tests/test_compiled.py
runs one deterministic workload both ways and compares every pfn and every view).

mypyc compiles only what type-checks, so the compiled modules keep their
annotations precise (``mm: MM``, ``Final`` constants); in pure Python those
annotations cost nothing. A compiled module's classes are native: attributes
must be declared in ``__init__`` and cannot be added later.

Needs mypy (which ships mypyc) and a C compiler: ``pip install 'pagealloc[compiled]'``.
"""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import PageAllocError

__all__ = ["MODULES", "build", "clean", "compiled_modules", "package_root"]

#: The modules compiled, as paths relative to the directory holding the package.
MODULES: tuple[str, ...] = (
    "pagealloc/mm/vmstat.py",
    "pagealloc/mm/memmap.py",
    "pagealloc/mm/mmzone.py",
    "pagealloc/mm/core.py",
    "pagealloc/mm/pcp.py",
    "pagealloc/mm/page_alloc.py",
    "pagealloc/machine_api.py",
    # exact replay's per-event path (reader.py too: replay_input's EventBlocks
    # subclasses its BadLines, and mypyc needs both sides compiled)
    "pagealloc/traces/reader.py",
    "pagealloc/traces/replay_input.py",
    "pagealloc/traces/replay_state.py",
    "pagealloc/traces/replay_exact.py",
)


def package_root() -> Path:
    """The directory that holds the ``pagealloc`` package (``src/`` in a checkout)."""
    return Path(__file__).resolve().parent.parent


def _module_name(rel: str) -> str:
    return rel[:-3].replace("/", ".")


def compiled_modules() -> list[str]:
    """The modules of :data:`MODULES` that this interpreter loaded from an extension."""
    out = []
    for rel in MODULES:
        mod = importlib.import_module(_module_name(rel))
        if not (getattr(mod, "__file__", "") or "").endswith(".py"):
            out.append(mod.__name__)
    return out


def _artifacts(root: Path) -> list[Path]:
    found = []
    for rel in MODULES:
        stem = root / rel[:-3]
        found += sorted(stem.parent.glob(stem.name + ".*.so"))
        found += sorted(stem.parent.glob(stem.name + ".*.pyd"))
    found += sorted(root.glob("*__mypyc.*.so")) + sorted(root.glob("*__mypyc.*.pyd"))
    return found


def clean(root: Path | None = None) -> list[Path]:
    """Remove the compiled extension modules under ``root``; returns what was removed."""
    root = package_root() if root is None else Path(root)
    gone = _artifacts(root)
    for p in gone:
        p.unlink()
    return gone


def build(root: Path | None = None, *, verbose: bool = False) -> list[Path]:
    """Compile :data:`MODULES` under ``root`` in place with mypyc; returns the new files.

    Raises PageAllocError (with mypyc's own message) when mypyc is missing, the
    sources do not type-check, or the C compiler fails; a failed build leaves the
    pure-Python modules in charge.
    """
    root = package_root() if root is None else Path(root)
    for rel in MODULES:
        if not (root / rel).is_file():
            raise PageAllocError(f"{root / rel}: source missing; cannot compile")
    try:
        importlib.import_module("mypyc")
    except ImportError:
        raise PageAllocError("mypyc is not installed: pip install 'pagealloc[compiled]' "
                             "(mypy ships mypyc; a C compiler is needed too)") from None
    clean(root)
    builddir = root / "build"
    had_builddir = builddir.exists()
    # Only the compiled modules must type-check: the rest of the package is read for
    # its types (--follow-imports=silent) but stays interpreted and unchecked.
    cmd = [sys.executable, "-m", "mypyc", "--follow-imports=silent",
           "--ignore-missing-imports", *MODULES]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if not had_builddir:
        shutil.rmtree(builddir, ignore_errors=True)
    if verbose:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    if proc.returncode != 0:
        clean(root)
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise PageAllocError(f"mypyc failed (exit {proc.returncode}) in {root}:\n{tail}")
    return _artifacts(root)


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m pagealloc.compiled")
    p.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = p.parse_args(argv)
    try:
        files = clean() if args.clean else build()
    except PageAllocError as e:
        print(f"pagealloc: {e}", file=sys.stderr)
        return 2
    verb = "removed" if args.clean else "built"
    print(f"pagealloc: {verb} {len(files)} file(s) under {package_root()}")
    for f in files:
        print(f"  {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
