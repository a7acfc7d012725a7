"""Shared fixtures. Tests that need the real MNIST files read them from the test data folder (docs/testing.md) and
skip with the reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_DATA_ENV = "FWCOMPARE_TEST_DATA_DIR"
SHARED_DATA = (
    Path(os.environ[TEST_DATA_ENV])
    if os.environ.get(TEST_DATA_ENV)
    else Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The test data folder (IDX copies of MNIST and Fashion-MNIST in mnist/ and fashion-mnist/), or a skip."""
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST files in {SHARED_DATA}; set ${TEST_DATA_ENV} to a folder holding them (docs/testing.md)")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_library():
    """Every library on one thread for the whole session, set before any test initialises TensorFlow.

    TensorFlow and XLA fix their thread counts when they initialise and the runner refuses to record a thread count
    it could not apply; the in-process runner tests run with --threads 1, so the session is set to that from the
    start (whatever order the tests run in). One thread also keeps a shared 2-core machine from being oversubscribed.
    """
    from harness.run.executor import configure_threads

    configure_threads(1, ["torch", "keras", "jax"])
