"""Data sets and dropout masks are allocated so that every framework reads them in place (harness.core.memory):
a copy per framework would hold a 60,000-row data set two or three times."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.batching import dropout_masks
from harness.core.initializers import initial_params
from harness.core.memory import ALIGNMENT, aligned_empty, shareable
from harness.core.specs import ModelSpec, TrainSpec
from harness.data.loader import load_dataset
from harness.data.preprocess import prepare_arrays


@pytest.mark.parametrize(("shape", "dtype"), [((3, 5), "float32"), ((7,), "float64"), ((1000, 33), "float32")])
def test_aligned_arrays_start_on_the_boundary(shape: tuple[int, ...], dtype: str) -> None:
    array = aligned_empty(shape, dtype)
    assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous
    assert array.ctypes.data % ALIGNMENT == 0 and shareable(array)
    assert not shareable(np.arange(10, dtype=np.float32)[1:])  # a view off the boundary


def test_prepared_arrays_and_masks_are_shareable() -> None:
    arrays = prepare_arrays(load_dataset("digits"), "unit", "none", "float32")
    assert shareable(arrays.x_train) and shareable(arrays.x_test)
    masks = dropout_masks(ModelSpec(64, (16,), 10, dropout=(0.5,)), 300, seed=0, epoch=0)
    assert shareable(masks["dropout0"])


def _model(framework: str):
    from harness.core.conventions import native_specs
    from harness.core.frameworks import model_class

    spec, train = native_specs(ModelSpec(4, (3,), 2), TrainSpec(dtype="float32"), framework)
    return model_class(framework)(spec, train, initial_params(spec, 0, "float32"))


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_uploaded_data_is_the_arrays_own_memory(framework: str) -> None:
    x = aligned_empty((6, 4), np.float32)
    x[...] = 1.0
    data = _model(framework).upload(x, np.zeros(6, dtype=np.int64))
    x[2, 3] = 5.0  # seen through the uploaded tensor only if it was not copied
    assert float(np.asarray(data.x)[2, 3]) == 5.0
