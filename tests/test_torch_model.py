"""torch_impl.model.MLP beyond the framework contract (tests/test_framework_contract.py): dtypes, the dropout
arithmetic, read-only inputs.

Tolerance: float64 rtol 1e-10 (the parity target); atol 1e-12 covers entries that are zero in exact arithmetic and
rounding noise in both (e.g. the gradient of a bias feeding batch norm, ~1e-17).
"""

from __future__ import annotations

import numpy as np
import pytest
from framework_cases import (
    BATCH,
    BN_DROPOUT,
    batch,
    reference_pair,
)

from harness.core.specs import ModelSpec, TrainSpec
from reference.layers import dropout_scale
from reference.model import MLP as ReferenceMLP

pytest.importorskip("torch", reason="torch is not installed: its tests are skipped")

import torch

from torch_impl.layers import dropout_train
from torch_impl.model import MLP


def make_pair(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1) -> tuple[MLP, ReferenceMLP]:
    """The torch model and the reference in torch form, both from the same canonical weights."""
    return reference_pair(MLP, model_spec, train_spec, steps_per_epoch)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_is_built_in_the_spec_dtype_without_changing_torch_default(dtype: str) -> None:
    default = torch.get_default_dtype()
    model, _ = make_pair(BN_DROPOUT, TrainSpec(dtype=dtype))
    assert {p.dtype for p in model.network.parameters()} == {getattr(torch, dtype)}
    assert model.get_params()["bn0.running_var"].dtype == np.dtype(dtype)
    x, _, masks = batch(BN_DROPOUT, BATCH, seed=9)
    assert model.activations(x.astype(dtype), True, masks)["logits"].dtype == np.dtype(dtype)
    assert torch.get_default_dtype() == default


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("style", ["inverted", "keep_prob"])
def test_dropout_arithmetic_is_bitwise_the_reference_arithmetic(dtype: str, style: str) -> None:
    """The conventions table (harness.core.conventions, "Dropout scaling and masks") fixes the expression
    h·(mask·(1/(1−p))) so that every framework agrees to the last bit."""
    rate = 0.3
    rng = np.random.default_rng(11)
    h = rng.standard_normal((50, 40)).astype(dtype)
    mask = (rng.random((50, 40)) >= rate).astype(np.float32)
    expected = h * dropout_scale(mask, rate, style, np.dtype(dtype))
    actual = dropout_train(torch.from_numpy(h), torch.from_numpy(mask.astype(dtype)), rate, style).numpy()
    np.testing.assert_array_equal(actual, expected)


def test_read_only_inputs_are_accepted_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    model, _ = make_pair(BN_DROPOUT, TrainSpec(dtype="float64"))
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=12)
    for array in (x, y, *masks.values()):
        array.flags.writeable = False
    model.train_step(x, y, masks)
    model.evaluate(model.upload(x, y))
    assert not [w for w in recwarn if "not writable" in str(w.message)]
