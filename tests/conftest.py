"""Shared fixtures: the oracle captures of the real kernel."""
from __future__ import annotations

from pathlib import Path

import pytest
from pagealloc.sources.reference import oracle_dir

ORACLE = oracle_dir()


@pytest.fixture(scope="session")
def oracle() -> Path:
    if not ORACLE.is_dir():
        pytest.skip("oracle captures not available")
    return ORACLE
