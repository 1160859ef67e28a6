from __future__ import annotations

from pathlib import Path

import pytest

from amisys.catalog import Catalog, load

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seed" / "000_a3045923b77694c9.txt"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")
