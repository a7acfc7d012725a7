"""torch_impl.model.MLP against the NumPy reference in torch form (float64), and its own state rules.

Tolerance: float64 rtol 1e-10 (the parity target); atol 1e-12 covers entries that are zero in exact arithmetic and
rounding noise in both (e.g. the gradient of a bias feeding batch norm, ~1e-17).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from framework_cases import (
    BATCH,
    BN_DROPOUT,
    F64,
    MODEL_VARIANTS,
    assert_dicts_close,
    batch,
    reference_pair,
    train_epochs_beside_train_steps,
)

from harness.core.batching import batch_slices
from harness.core.specs import ModelSpec, OptimizerSpec, ScheduleSpec, TrainSpec
from reference.layers import dropout_scale
from reference.model import MLP as ReferenceMLP
from torch_impl.layers import dropout_train
from torch_impl.model import MLP

RTOL, ATOL = F64.rtol, F64.atol


def make_pair(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1) -> tuple[MLP, ReferenceMLP]:
    """The torch model and the reference in torch form, both from the same canonical weights."""
    return reference_pair(MLP, model_spec, train_spec, steps_per_epoch)


@pytest.mark.parametrize("name", MODEL_VARIANTS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_activations_match_reference(name: str, training: bool) -> None:
    spec = MODEL_VARIANTS[name]
    model, reference = make_pair(spec, TrainSpec(dtype="float64"))
    x, _, masks = batch(spec, BATCH, seed=1)
    assert_dicts_close(model.activations(x, training, masks), reference.activations(x, training, masks))
    np.testing.assert_allclose(model.forward(x), reference.forward(x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", MODEL_VARIANTS)
def test_loss_and_grads_match_reference(name: str) -> None:
    spec = MODEL_VARIANTS[name]
    model, reference = make_pair(spec, TrainSpec(dtype="float64"))
    x, y, masks = batch(spec, BATCH, seed=2)
    loss, grads = model.loss_and_grads(x, y, masks)
    reference_loss, reference_grads = reference.loss_and_grads(x, y, masks)
    assert loss == pytest.approx(reference_loss, rel=RTOL)
    assert_dicts_close(grads, reference_grads)


OPTIMIZERS = {
    "sgd": OptimizerSpec("sgd", lr=0.1),
    "momentum": OptimizerSpec("momentum", lr=0.1, momentum=0.9),
    "nesterov": OptimizerSpec("nesterov", lr=0.1, momentum=0.8),
    "adagrad": OptimizerSpec("adagrad", lr=0.05, eps=1e-7, initial_accumulator=0.1),
    "rmsprop": OptimizerSpec("rmsprop", lr=0.01, rho=0.85, eps=1e-7),
    "adam": OptimizerSpec("adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
}
# Changes the lr every step, so momentum runs exercise torch's rescaling of the whole buffer by the new lr.
DECAYING = ScheduleSpec("exponential", final_lr=1e-3, granularity="step")


def assert_steps_match_reference(model_spec: ModelSpec, optimizer: OptimizerSpec) -> None:
    train_spec = TrainSpec(optimizer=optimizer, schedule=DECAYING, epochs=2, dtype="float64")
    model, reference = make_pair(model_spec, train_spec, steps_per_epoch=3)
    for step in range(6):
        x, y, masks = batch(model_spec, BATCH, seed=10 + step)
        assert model.train_step(x, y, masks) == pytest.approx(reference.train_step(x, y, masks), rel=RTOL)
    assert_dicts_close(model.get_params(), reference.get_params())
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_train_steps_match_reference(name: str) -> None:
    assert_steps_match_reference(replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01), OPTIMIZERS[name])


@pytest.mark.parametrize("name", ["sgd", "momentum"])
def test_batchnorm_train_steps_match_reference(name: str) -> None:
    """BN running statistics through steps. Only SGD-family optimisers here: the bias of a Dense that feeds BN has
    a zero true gradient, so its computed gradient is rounding noise (~1e-17) in each framework, and Adam, RMSprop
    and AdaGrad normalise that noise into lr-sized steps that differ between any two implementations."""
    assert_steps_match_reference(BN_DROPOUT, OPTIMIZERS[name])


def test_optimizer_state_before_the_first_step_matches_reference() -> None:
    for optimizer in OPTIMIZERS.values():
        model, reference = make_pair(BN_DROPOUT, TrainSpec(optimizer=optimizer, dtype="float64"))
        assert_dicts_close(model.optimizer_state(), reference.optimizer_state())


def test_train_epoch_equals_train_steps_on_the_same_batches() -> None:
    """The timed path is the verified path: two epochs of train_epoch end where the same train_steps end."""
    spec = BN_DROPOUT
    rows, batch_size = 23, 5  # a partial last batch of 3
    train_spec = TrainSpec(
        optimizer=OPTIMIZERS["momentum"],
        schedule=ScheduleSpec("linear", final_lr=0.02),
        batch_size=batch_size,
        epochs=2,
        dtype="float64",
    )
    fast, stepped, steps = train_epochs_beside_train_steps(MLP, spec, train_spec, rows, RTOL, ATOL)
    assert fast.steps_taken == stepped.steps_taken == 2 * steps


def test_fit_and_evaluate_match_reference() -> None:
    spec = BN_DROPOUT
    train_spec = TrainSpec(optimizer=OPTIMIZERS["momentum"], batch_size=8, epochs=2, dtype="float64")
    x, y, _ = batch(spec, 30, seed=5)
    x_val, y_val, _ = batch(spec, 11, seed=6)
    model, reference = make_pair(spec, train_spec, steps_per_epoch=len(batch_slices(30, 8)))
    history = model.fit(x, y, validation=(x_val, y_val)).history
    reference_history = reference.fit(x, y, validation=(x_val, y_val)).history
    for record, expected in zip(history, reference_history, strict=True):
        assert record.train_loss == pytest.approx(expected.train_loss, rel=RTOL)
        assert record.val_loss == pytest.approx(expected.val_loss, rel=RTOL)
        assert record.val_accuracy == expected.val_accuracy
        assert record.lr == expected.lr
    assert_dicts_close(model.get_params(), reference.get_params())


def test_training_with_dropout_and_no_masks_raises() -> None:
    spec = MODEL_VARIANTS["leaky-relu-inverted-dropout"]
    model, _ = make_pair(spec, TrainSpec(dtype="float64"))
    x, y, _ = batch(spec, BATCH, seed=8)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.loss_and_grads(x, y)
    assert model.activations(x, False)["dropout1"].shape == (BATCH, 8)


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
