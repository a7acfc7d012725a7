"""Shared fixtures. Tests that need MNIST read ../shared/data when it is beside the checkout and skip otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data (IDX copies of MNIST and Fashion-MNIST), or a skip when this checkout has none beside it."""
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no shared data at {SHARED_DATA}; MNIST tests need ../shared/data beside the checkout")
    return SHARED_DATA
