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


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_library():
    """Every library on one thread for the whole session, set before any test initialises TensorFlow.

    TensorFlow fixes its thread counts when it initialises and the runner refuses to record a thread count it could
    not apply; the in-process runner tests run with --threads 1, so the session is set to that from the start
    (whatever order the tests run in). One thread also keeps a shared 2-core machine from being oversubscribed.
    """
    from harness.run.executor import configure_threads

    configure_threads(1, ["torch", "keras"])
