"""The setups the source documents ran, checked in every framework: lincoln's normalised MSE and its evaluation loss,
its "glorot", stopping without restore; the TF1 lecture's dropped last batch; Saito's batches drawn with replacement and
its iteration count."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.core.batching import epoch_order
from harness.core.conventions import native_specs
from harness.core.frameworks import available_frameworks, model_class
from harness.core.initializers import initial_params
from harness.core.specs import EarlyStoppingSpec, InitSpec, ModelSpec, OptimizerSpec, TrainSpec
from reference.activations import activate, activation_backward
from reference.losses import data_loss, data_loss_and_grad, evaluation_loss
from tests.framework_cases import MODEL_VARIANTS, batch

FRAMEWORKS = [name for name, reason in available_frameworks().items() if reason is None]


def _model(framework: str, model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1):
    model_spec, train_spec = native_specs(model_spec, train_spec, framework)
    params = initial_params(model_spec, train_spec.seed, train_spec.dtype)
    return model_class(framework)(model_spec, train_spec, params, steps_per_epoch=steps_per_epoch)


def test_normalized_mse_gradient_skips_the_division_as_lincoln_does() -> None:
    """The loss value is of out/Σout, the gradient 2·(out/Σout − onehot)/n taken at the raw outputs: it is not the
    derivative of the value (a finite difference shows the gap), exactly as lincoln's MeanSquaredError."""
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    value, grad = data_loss_and_grad("mse_normalized", "sigmoid", logits, labels)
    out = 1 / (1 + np.exp(-logits))
    normalized = out / out.sum(axis=1, keepdims=True)
    targets = np.eye(4)[labels]
    assert value == pytest.approx(np.square(normalized - targets).sum() / 5, rel=1e-14)
    np.testing.assert_allclose(grad, 2 * (normalized - targets) / 5 * out * (1 - out), rtol=1e-13)
    step = 1e-6
    bumped = logits.copy()
    bumped[0, 0] += step
    finite_difference = (data_loss("mse_normalized", "sigmoid", bumped, labels) - value) / step
    assert abs(finite_difference - grad[0, 0]) > 1e-3


def test_clipped_softmax_bce_is_lincolns_softmax_cross_entropy_value() -> None:
    logits = np.array([[2.0, 0.5, -1.0], [80.0, 0.0, 0.0]])
    labels = np.array([0, 1])
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-9, 1 - 1e-9)
    targets = np.eye(3)[labels]
    expected = (-targets * np.log(p) - (1 - targets) * np.log(1 - p)).sum() / 2
    assert evaluation_loss("clipped_softmax_bce", "softmax_ce", "linear", logits, labels) == pytest.approx(expected)
    # the saturated row is where the clip matters: −log(1e-9) for the true class, −log(1e-9) for the confident one
    assert expected > 20


def test_glorot_variance_as_std_draws_with_the_variance_as_sigma() -> None:
    spec = ModelSpec(784, (89,), 10, init=InitSpec("glorot_variance_as_std", bias="like_weights"))
    params = initial_params(spec, 0, "float64")
    assert params["dense0.W"].std() == pytest.approx(2 / (784 + 89), rel=0.01)
    assert params["dense0.b"].std() == pytest.approx(2 / (784 + 89), rel=0.25)
    assert params["dense1.W"].std() == pytest.approx(2 / (89 + 10), rel=0.05)


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["tanh-sigmoid-normalized-mse", "tanh-clipped-softmax-bce-evaluation"])
def test_evaluation_loss_matches_the_reference(framework: str, dtype: str, name: str) -> None:
    # ReLU with N(0, 3²) weights (lincoln row 000-d's kind of network): logits in the tens to hundreds, so softmax
    # probabilities pass 1 − 1e-9 and fall below 1e-9 and both clip bounds are exercised
    spec = replace(MODEL_VARIANTS[name], activation="relu", init=InitSpec("normal", std=3.0))
    train_spec = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1), dtype=dtype)
    x, y, _ = batch(spec, 40, seed=3)
    x = x.astype(dtype)
    model = _model(framework, spec, train_spec)
    loss, accuracy = model.evaluate(model.upload(x, y))
    logits = model.forward(x)
    expected = evaluation_loss(spec.eval_loss, spec.loss, spec.output, logits.astype(dtype), y)
    assert np.isfinite(loss)
    assert np.abs(logits).max() > 30  # saturated: the clip decides the value
    assert loss == pytest.approx(expected, rel=1e-5 if dtype == "float32" else 1e-12)
    assert accuracy == pytest.approx(float((logits.argmax(axis=1) == y).mean()))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_stopping_without_restore_keeps_the_weights_of_the_evaluation_where_the_loss_rose(framework: str) -> None:
    """lincoln's notebook measured `model` after Trainer.fit stopped: the weights at the stopping evaluation."""
    spec = ModelSpec(6, (5,), 3, activation="tanh")
    stopping = EarlyStoppingSpec(enabled=True, eval_every=1, patience=1, restore_best=False)
    # A learning rate this large makes the validation loss rise within a few epochs.
    train_spec = TrainSpec(optimizer=OptimizerSpec("sgd", lr=30.0), batch_size=4, epochs=40, early_stopping=stopping)
    train_spec = native_specs(spec, train_spec, framework)[1]
    x, y, _ = batch(spec, 24, seed=1)
    x_val, y_val, _ = batch(spec, 12, seed=2)
    model = _model(framework, spec, train_spec, steps_per_epoch=6)
    result = model.fit(x.astype("float32"), y, validation=(x_val.astype("float32"), y_val))
    assert result.stopped_early and len(result.history) < 40
    last = result.history[-1]
    assert last.val_loss >= min(record.val_loss for record in result.history[:-1])
    loss, _ = model.evaluate(model.upload(x_val.astype("float32"), y_val))
    assert loss == pytest.approx(last.val_loss, rel=1e-5)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_drop_last_and_max_steps_train_exactly_that_many_steps(framework: str) -> None:
    spec = ModelSpec(6, (5,), 3)
    x, y, _ = batch(spec, 23, seed=1)
    dropped = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1), batch_size=5, epochs=2, drop_last=True)
    assert dropped.steps_per_epoch(23) == 4 and dropped.epoch_rows(23, 0) == 20
    capped = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1), batch_size=5, epochs=9, max_steps=7)
    # 5 steps per epoch: the second epoch stops after 2 steps (10 rows) and no third epoch runs
    assert [capped.epoch_rows(23, epoch) for epoch in range(3)] == [23, 10, 0]
    for train_spec, expected_epochs, expected_steps in ((dropped, 2, 8), (capped, 2, 7)):
        model = _model(framework, spec, train_spec, steps_per_epoch=train_spec.steps_per_epoch(23))
        stepped = _model(framework, spec, train_spec, steps_per_epoch=train_spec.steps_per_epoch(23))
        history = model.fit(x.astype("float32"), y).history
        assert len(history) == expected_epochs
        steps = 0
        for epoch in range(expected_epochs):
            order = epoch_order(23, train_spec.seed, epoch)[: train_spec.epoch_rows(23, epoch)]
            for start in range(0, len(order), 5):
                rows = order[start : start + 5]
                stepped.train_step(x[rows].astype("float32"), y[rows])
                steps += 1
        assert steps == expected_steps
        for key, value in stepped.get_params().items():
            np.testing.assert_allclose(model.get_params()[key], value, rtol=1e-6, atol=1e-7, err_msg=key)


def test_with_replacement_orders_repeat_rows_and_stay_reproducible() -> None:
    order = epoch_order(1000, 3, 0, "with_replacement")
    assert len(order) == 1000 and order.min() >= 0 and order.max() < 1000
    assert len(np.unique(order)) < 700  # about 1 − 1/e of the rows are drawn at least once
    np.testing.assert_array_equal(order, epoch_order(1000, 3, 0, "with_replacement"))
    assert sorted(epoch_order(1000, 3, 0)) == list(range(1000))


def test_with_early_stopping_only_the_epochs_it_looks_at_are_evaluated() -> None:
    spec = ModelSpec(6, (5,), 3)
    stopping = EarlyStoppingSpec(enabled=True, eval_every=3, patience=5, restore_best=False)
    train_spec = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.01), batch_size=8, epochs=7, early_stopping=stopping)
    x, y, _ = batch(spec, 24, seed=1)
    history = _model("numpy", spec, train_spec, steps_per_epoch=3).fit(x, y, validation=(x, y)).history
    evaluated = [record.epoch for record in history if record.val_loss is not None]
    assert evaluated == [2, 5, 6]  # epochs 3 and 6 (1-based) for stopping, and the last one


def test_lincolns_relu_passes_the_gradient_where_the_unit_is_off() -> None:
    """lincoln's ReLU backward multiplies by `output >= 0`, which max(z, 0) always is."""
    z = np.array([[-2.0, -0.5, 0.0, 1.5]])
    grad = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(activate("relu_linear_gradient", z), [[0.0, 0.0, 0.0, 1.5]])
    np.testing.assert_array_equal(activation_backward("relu_linear_gradient", z, np.maximum(z, 0), grad), grad)
    np.testing.assert_array_equal(activation_backward("relu", z, np.maximum(z, 0), grad), [[0.0, 0.0, 0.0, 4.0]])


def test_only_lincolns_deliberate_backward_rules_are_not_exact_gradients() -> None:
    assert ModelSpec(4, (3,), 2).exact_gradient
    assert not ModelSpec(4, (3,), 2, activation="relu_linear_gradient").exact_gradient
    assert not ModelSpec(4, (3,), 2, output="sigmoid", loss="mse_normalized").exact_gradient
