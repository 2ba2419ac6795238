"""The optional mypyc build gives the same results as pure Python (issue 3).

Builds the compiled modules into a copy of the package (the checkout is left
alone), runs tests/_compiled_workload.py once with that copy first on the path and
once pure, and compares everything the workload digests: every pfn handed out,
the trace lines, the /proc views, the reclaim counters and pfn-exact verification
of the captures in tests/data/captures.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pagealloc.compiled import MODULES, build, clean, package_root

HERE = Path(__file__).resolve().parent


def _have_toolchain() -> str | None:
    try:
        import mypyc  # noqa: F401
    except ImportError:
        return "mypy (mypyc) is not installed"
    if not (shutil.which("cc") or shutil.which("gcc")):
        return "no C compiler"
    return None


def _run(pythonpath: str | None) -> dict:
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run([sys.executable, str(HERE / "_compiled_workload.py")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def compiled_root(tmp_path_factory) -> Path:
    why = _have_toolchain()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("compiled")
    shutil.copytree(package_root() / "pagealloc", root / "pagealloc",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    files = build(root)
    assert len(files) == len(MODULES) + 1      # one extension per module + the shared lib
    return root


def test_compiled_build_gives_identical_results(compiled_root: Path) -> None:
    compiled = _run(str(compiled_root))
    pure = _run(None)
    # the compiled run really ran compiled code, the pure one did not
    assert sorted(compiled.pop("compiled")) == sorted(m[:-3].replace("/", ".") for m in MODULES)
    assert pure.pop("compiled") == []
    assert compiled["random"] == pure["random"]
    assert compiled["pressure"] == pure["pressure"]
    assert compiled["verify"] == pure["verify"]
    assert compiled["replay"] == pure["replay"]
    # and the workload is not vacuous
    assert pure["random"]["trace_lines"] > 1000
    assert pure["pressure"]["pgsteal_kswapd"] > 0
    assert pure["verify"] and all(v["allocations_matched"] == v["allocations_total"]
                                  for v in pure["verify"].values())


def test_clean_removes_only_the_build(compiled_root: Path, tmp_path: Path) -> None:
    shutil.copytree(compiled_root / "pagealloc", tmp_path / "pagealloc")
    for lib in compiled_root.glob("*__mypyc*"):
        shutil.copy(lib, tmp_path / lib.name)
    before = {p for p in tmp_path.rglob("*.py")}
    gone = clean(tmp_path)
    assert len(gone) == len(MODULES) + 1
    assert not list(tmp_path.rglob("*.so"))
    assert {p for p in tmp_path.rglob("*.py")} == before


def test_build_without_mypyc_is_a_clear_error(monkeypatch, tmp_path: Path, capsys) -> None:
    import importlib

    from pagealloc import compiled
    shutil.copytree(package_root() / "pagealloc", tmp_path / "pagealloc",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    real = importlib.import_module

    def no_mypyc(name, *a, **kw):
        if name == "mypyc":
            raise ImportError(name)
        return real(name, *a, **kw)
    monkeypatch.setattr(compiled.importlib, "import_module", no_mypyc)
    with pytest.raises(compiled.PageAllocError, match=r"mypyc is not installed"):
        build(tmp_path)
    assert not list(tmp_path.rglob("*.so"))
    monkeypatch.setattr(compiled, "package_root", lambda: tmp_path)
    assert compiled.main([]) == 2
    assert "pip install 'pagealloc[compiled]'" in capsys.readouterr().err


def test_build_of_a_missing_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"mm/vmstat\.py: source missing; cannot compile"):
        build(tmp_path)
