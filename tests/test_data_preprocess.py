"""prepare_arrays: each scaling against the seeds' formulas, validation splits, dtypes, and bad names."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from harness.core.errors import DataError, UnknownNameError
from harness.data.loader import load_dataset
from harness.data.preprocess import prepare_arrays
from harness.data.registry import DIGIT_NAMES, Dataset


def fake_dataset(n_train: int = 40, n_test: int = 7, max_value: int = 255, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(
        name="fake",
        x_train=rng.integers(0, max_value + 1, (n_train, 3, 5), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train).astype(np.int64),
        x_test=rng.integers(0, max_value + 1, (n_test, 3, 5), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test).astype(np.int64),
        class_names=DIGIT_NAMES,
        source="test",
        max_value=max_value,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unit_scaling_divides_by_the_maximum(dtype):
    data = fake_dataset()
    split = prepare_arrays(data, "unit", "none", dtype)
    assert split.x_train.shape == (40, 15) and split.x_test.shape == (7, 15)
    assert split.x_train.dtype == np.dtype(dtype) and split.x_test.dtype == np.dtype(dtype)
    expected = (data.x_train.reshape(40, -1).astype(np.float64) / 255).astype(dtype)
    np.testing.assert_array_equal(split.x_train, expected)
    assert split.x_val is None and split.y_val is None
    np.testing.assert_array_equal(split.y_train, data.y_train)
    assert split.y_train.dtype == np.int64 and split.y_test.dtype == np.int64


def test_symmetric_scaling_is_raschkas_formula():
    data = fake_dataset()
    split = prepare_arrays(data, "symmetric", "none", "float64")
    raschka = ((data.x_test.reshape(7, -1) / 255.0) - 0.5) * 2
    np.testing.assert_array_equal(split.x_test, raschka)
    assert split.x_test.min() >= -1 and split.x_test.max() <= 1


def test_digits_scale_by_16():
    digits = load_dataset("digits")
    split = prepare_arrays(digits, "unit", "none", "float32")
    assert split.x_train.shape == (1500, 64)
    assert split.x_train.max() == 1.0 and split.x_train.min() == 0.0
    np.testing.assert_array_equal(split.x_test * 16, digits.x_test.reshape(297, 64).astype(np.float32))


def test_standardize_uses_the_training_statistics_as_lincoln_does():
    data = fake_dataset(n_train=60, n_test=9)
    split = prepare_arrays(data, "standardize", "none", "float64")
    train = data.x_train.reshape(60, -1).astype(np.float64)
    test = data.x_test.reshape(9, -1).astype(np.float64)
    # lincoln: X_train, X_test = X_train - np.mean(X_train), X_test - np.mean(X_train); then / np.std(X_train)
    centred_train, centred_test = train - np.mean(train), test - np.mean(train)
    std = np.std(centred_train)
    np.testing.assert_allclose(split.x_train, centred_train / std, rtol=0, atol=1e-12)
    np.testing.assert_allclose(split.x_test, centred_test / std, rtol=0, atol=1e-12)
    assert abs(split.x_train.mean()) < 1e-12 and abs(split.x_train.std() - 1) < 1e-12
    assert abs(split.x_test.mean()) > 1e-3  # the test set keeps the training statistics, not its own


def test_standardize_statistics_come_from_the_training_part_only():
    data = fake_dataset(n_train=20)
    kept = data.x_train.reshape(20, -1).astype(np.float64)
    held_out = np.full((5000, 3, 5), 255, np.uint8)  # would shift the mean a lot if it leaked in
    split = prepare_arrays(replace(data, x_train=np.concatenate([data.x_train, held_out])), "standardize", "last-5000")
    mean, std = kept.mean(), kept.std()
    np.testing.assert_allclose(split.x_train, ((kept - mean) / std).astype(np.float32), rtol=0, atol=1e-6)
    np.testing.assert_allclose(split.x_val, np.full((5000, 15), (255 - mean) / std), rtol=1e-6)


def test_validation_holds_out_the_last_training_images():
    data = fake_dataset(n_train=5012)
    split = prepare_arrays(data, "unit", "last-5000", "float32")
    assert split.x_train.shape == (12, 15) and split.x_val.shape == (5000, 15)
    np.testing.assert_array_equal(split.x_val, prepare_arrays(data, "unit").x_train[12:])
    np.testing.assert_array_equal(split.y_train, data.y_train[:12])
    np.testing.assert_array_equal(split.y_val, data.y_train[12:])
    assert split.y_val.dtype == np.int64
    assert len(prepare_arrays(data, "unit", "none").x_train) == 5012


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scaling": "minmax"}, "unknown scaling 'minmax'; choose one of: unit, symmetric, standardize"),
        ({"validation": "last-100"}, "unknown validation 'last-100'; choose one of: none, last-5000, last-10000"),
        ({"dtype": "float16"}, "unknown dtype 'float16'; choose one of: float32, float64"),
    ],
)
def test_unknown_names_are_refused(kwargs, message):
    with pytest.raises(UnknownNameError, match=message):
        prepare_arrays(fake_dataset(), **kwargs)


def test_a_validation_split_larger_than_the_training_set_is_refused():
    with pytest.raises(DataError, match="holds out 5000 images but fake has only 40 training images"):
        prepare_arrays(fake_dataset(), "unit", "last-5000")


def test_standardize_refuses_constant_images():
    data = fake_dataset()
    constant = replace(data, x_train=np.full_like(data.x_train, 7))
    with pytest.raises(DataError, match="standard deviation 0"):
        prepare_arrays(constant, "standardize")


def test_scaling_needs_little_memory_beyond_its_output():
    # An MNIST-sized set: the scaled arrays are 188 MB; indexing the value table with the whole uint8 array at
    # once converted it to 8-byte indices first (376 MB more, the peak of a Keras worker). Chunks bound that.
    data = fake_dataset(n_train=60_000, n_test=10)
    data = replace(data, x_train=np.zeros((60_000, 28, 28), dtype=np.uint8))
    tracemalloc.start()
    try:
        split = prepare_arrays(data, "unit", "none", "float32")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    output = split.x_train.nbytes + split.x_test.nbytes
    assert peak - output < 64 * 2**20, f"prepare_arrays peaked {(peak - output) / 2**20:.0f} MiB above its output"
