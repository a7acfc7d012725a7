"""The reference MLP through the FrameworkModel interface: state rules, BN and dropout conventions, the shared
`fit` loop (early stopping, determinism, divergence) and a short training run on scikit-learn's digits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.datasets import load_digits

from harness.core.batching import batch_slices, dropout_masks, slice_masks
from harness.core.errors import DivergedError, ParamMismatchError
from harness.core.initializers import initial_params
from harness.core.specs import (
    OPTIMIZERS,
    BatchNormSpec,
    EarlyStoppingSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    ScheduleSpec,
    TrainSpec,
)
from reference.model import MLP
from reference.optimizers import SLOT_NAMES

SPEC = ModelSpec(6, (5, 4), 3, init=InitSpec("he_uniform"))
BN_SPEC = replace(SPEC, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3))
TRAIN = TrainSpec(optimizer=OptimizerSpec("adam", lr=0.01), batch_size=4, dtype="float64")


def build(model_spec: ModelSpec = SPEC, train_spec: TrainSpec = TRAIN, seed: int = 0, **kwargs) -> MLP:
    return MLP(model_spec, train_spec, initial_params(model_spec, seed, train_spec.dtype), **kwargs)


def batch(n: int = 8, inputs: int = 6, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, inputs)), rng.integers(0, classes, n)


def assert_params_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_activation_keys_shapes_and_logits() -> None:
    spec = replace(BN_SPEC, dropout=(0.5, 0.0))
    model = build(spec)
    x, _ = batch()
    outputs = model.activations(x, training=True, dropout_masks=dropout_masks(spec, 8, 0, 0))
    assert list(outputs) == ["dense0", "bn0", "act0", "dropout0", "dense1", "bn1", "act1", "logits"]
    assert [v.shape for v in outputs.values()] == [(8, 5)] * 4 + [(8, 4)] * 3 + [(8, 3)]
    np.testing.assert_array_equal(model.forward(x), model.activations(x, training=False)["logits"])


def test_activations_forward_and_loss_and_grads_leave_state_untouched() -> None:
    spec = replace(BN_SPEC, dropout=(0.3, 0.3))
    model = build(spec)
    x, y = batch()
    masks = dropout_masks(spec, 8, 0, 0)
    before = model.get_params()
    model.activations(x, training=True, dropout_masks=masks)
    model.forward(x, training=True, dropout_masks=masks)
    model.loss_and_grads(x, y, masks)
    assert_params_equal(model.get_params(), before)
    assert model.optimizer.iterations == 0


@pytest.mark.parametrize("running_var", ["unbiased", "biased"])
def test_train_step_updates_running_statistics_by_convention(running_var: str) -> None:
    spec = replace(SPEC, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3, running_var=running_var))
    model = build(spec)
    x, y = batch()
    z = model.activations(x, training=True)["dense0"]
    model.train_step(x, y)
    params = model.get_params()
    n = len(x)
    batch_var = z.var(axis=0) * (n / (n - 1) if running_var == "unbiased" else 1.0)
    np.testing.assert_allclose(params["bn0.running_mean"], 0.9 * 0.0 + 0.1 * z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(params["bn0.running_var"], 0.9 * 1.0 + 0.1 * batch_var, rtol=1e-12)


def test_batch_norm_inference_uses_running_statistics() -> None:
    model = build(BN_SPEC)
    params = model.get_params()
    params["bn0.running_mean"] = np.full(5, 0.5)
    params["bn0.running_var"] = np.full(5, 4.0)
    model.set_params(params)
    x, _ = batch()
    outputs = model.activations(x, training=False)
    np.testing.assert_allclose(outputs["bn0"], (outputs["dense0"] - 0.5) / np.sqrt(4.0 + 1e-3), rtol=1e-12)


def test_batch_of_one_with_unbiased_running_variance_is_an_error() -> None:
    x, y = batch(n=1)
    with pytest.raises(ValueError, match="running_var='biased'"):
        build(BN_SPEC).train_step(x, y)


@pytest.mark.parametrize("style", ["inverted", "keep_prob"])
def test_dropout_arithmetic_in_training_and_inference(style: str) -> None:
    spec = replace(SPEC, dropout=(0.3, 0.0), dropout_style=style)
    model = build(spec)
    x, _ = batch()
    masks = dropout_masks(spec, 8, 0, 0)
    train = model.activations(x, training=True, dropout_masks=masks)
    scale = masks["dropout0"].astype(np.float64) * (1.0 / (1.0 - 0.3)) if style == "inverted" else masks["dropout0"]
    np.testing.assert_array_equal(train["dropout0"], train["act0"] * scale)
    infer = model.activations(x, training=False)
    expected = infer["act0"] if style == "inverted" else infer["act0"] * (1 - 0.3)
    np.testing.assert_array_equal(infer["dropout0"], expected)


def test_training_with_dropout_and_no_masks_is_an_error() -> None:
    model = build(replace(SPEC, dropout=(0.5, 0.5)))
    x, y = batch()
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.train_step(x, y)


def test_set_params_checks_keys_and_shapes() -> None:
    model = build()
    params = model.get_params()
    del params["dense1.b"]
    with pytest.raises(ParamMismatchError, match=r"dense1\.b"):
        model.set_params(params)
    params = model.get_params()
    params["dense0.W"] = np.zeros((5, 6))
    with pytest.raises(ParamMismatchError, match=r"dense0\.W"):
        model.set_params(params)


def test_get_params_returns_copies() -> None:
    model = build()
    params = model.get_params()
    params["dense0.W"][...] = 0
    assert model.get_params()["dense0.W"].any()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_float32_run_keeps_everything_float32_and_names_slots(name: str) -> None:
    train = replace(TRAIN, optimizer=OptimizerSpec(name, lr=0.01), dtype="float32")
    model = build(BN_SPEC, train)
    x, y = batch()
    loss = model.train_step(x, y)
    assert np.isfinite(loss)
    assert all(v.dtype == np.float32 for v in model.get_params().values())
    state = model.optimizer_state()
    assert all(v.dtype == np.float32 for v in state.values())
    trainable = [k for k in model.get_params() if "running" not in k]
    assert set(state) == {f"{key}/{slot}" for key in trainable for slot in SLOT_NAMES[name]}


def test_train_step_uses_the_scheduled_learning_rate() -> None:
    # SGD, so one step moves each parameter by exactly lr·grad: the step-1 lr of a step schedule is gamma·lr.
    schedule = ScheduleSpec("step", step_size=1, gamma=0.5, granularity="step")
    train = replace(TRAIN, optimizer=OptimizerSpec("sgd", lr=0.1), schedule=schedule, epochs=2)
    model = build(train_spec=train, steps_per_epoch=2)
    x, y = batch()
    model.train_step(x, y)
    before = model.get_params()
    _, grads = model.loss_and_grads(x, y)
    model.train_step(x, y)
    after = model.get_params()
    np.testing.assert_allclose(after["dense0.W"], before["dense0.W"] - 0.05 * grads["dense0.W"], rtol=1e-12)


def test_train_epoch_returns_the_sample_weighted_mean_batch_loss() -> None:
    spec = replace(SPEC, dropout=(0.2, 0.2))
    x, y = batch(n=10)
    order = np.random.default_rng(1).permutation(10)
    masks = dropout_masks(spec, 10, 0, 0)
    stepped, epoch = build(spec), build(spec)
    losses = [
        (stepped.train_step(x[order[rows]], y[order[rows]], slice_masks(masks, rows)), rows.stop - rows.start)
        for rows in batch_slices(10, TRAIN.batch_size)
    ]
    assert [size for _, size in losses] == [4, 4, 2]
    mean = epoch.train_epoch(epoch.upload(x, y), order, masks)
    assert mean == pytest.approx(sum(loss * size for loss, size in losses) / 10, rel=1e-12)
    assert_params_equal(epoch.get_params(), stepped.get_params())


def test_evaluate_includes_l2_and_measures_accuracy() -> None:
    spec = replace(SPEC, l2=0.01)
    model = build(spec)
    x, y = batch(n=20)
    loss, accuracy = model.evaluate(model.upload(x, y))
    logits = model.forward(x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    ce = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(20), y])
    params = model.get_params()
    l2 = 0.01 * sum((params[f"dense{i}.W"] ** 2).sum() for i in range(3))
    assert loss == pytest.approx(ce + l2, rel=1e-12)
    assert accuracy == np.mean(logits.argmax(axis=1) == y)


def test_non_cpu_device_is_an_error() -> None:
    with pytest.raises(ValueError, match="device='cpu'"):
        build(device="cuda")


# --- the shared fit loop -----------------------------------------------------------------------------------


def noisy_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random labels: a net memorising the training set gets worse on the validation set, so stopping fires."""
    rng = np.random.default_rng(7)
    return rng.standard_normal((40, 6)), rng.integers(0, 3, 40), rng.standard_normal((40, 6)), rng.integers(0, 3, 40)


def test_fit_early_stopping_fires_and_restores_the_best_parameters() -> None:
    stopping = EarlyStoppingSpec(enabled=True, eval_every=1, patience=2, restore_best=True)
    train = replace(TRAIN, optimizer=OptimizerSpec("adam", lr=0.05), batch_size=8, epochs=100, early_stopping=stopping)
    model = build(replace(SPEC, hidden_sizes=(32, 32)), train)
    x, y, x_val, y_val = noisy_problem()
    result = model.fit(x, y, validation=(x_val, y_val))
    val_losses = [record.val_loss for record in result.history]
    assert result.stopped_early
    assert result.best_epoch == int(np.argmin(val_losses))
    assert len(result.history) == result.best_epoch + stopping.patience + 1 < train.epochs
    restored_loss, _ = model.evaluate(model.upload(x_val, y_val))
    assert restored_loss == pytest.approx(val_losses[result.best_epoch], rel=1e-12)
    assert [record.epoch for record in result.history] == list(range(len(result.history)))


def test_fit_history_without_stopping_and_same_seed_same_result() -> None:
    train = replace(TRAIN, epochs=3)
    x, y, x_val, y_val = noisy_problem()
    runs = []
    for _ in range(2):
        model = build(replace(SPEC, dropout=(0.2, 0.2)), train, steps_per_epoch=len(batch_slices(40, 4)))
        result = model.fit(x, y, validation=(x_val, y_val))
        runs.append((model.get_params(), [r.train_loss for r in result.history], [r.val_loss for r in result.history]))
    assert len(runs[0][1]) == 3 and not result.stopped_early and result.best_epoch is None
    assert_params_equal(runs[0][0], runs[1][0])
    assert runs[0][1:] == runs[1][1:]
    other = build(replace(SPEC, dropout=(0.2, 0.2)), replace(train, seed=1))
    other.fit(x, y)
    assert not np.array_equal(other.get_params()["dense0.W"], runs[0][0]["dense0.W"])


@pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning"
)
def test_fit_raises_diverged_on_a_huge_learning_rate() -> None:
    train = replace(TRAIN, optimizer=OptimizerSpec("sgd", lr=1e30), epochs=20, dtype="float32")
    x, y, _, _ = noisy_problem()
    with pytest.raises(DivergedError, match="learning rate"):
        build(train_spec=train).fit(x, y)


def test_digits_reach_90_percent_test_accuracy() -> None:
    digits = load_digits()
    x = (digits.data / 16).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    train_rows, test_rows = order[:1400], order[1400:]
    spec = ModelSpec(64, (64,), 10, init=InitSpec("he_uniform"))
    train = TrainSpec(optimizer=OptimizerSpec("adam", lr=1e-3), batch_size=32, epochs=15, dtype="float32")
    model = build(spec, train, steps_per_epoch=len(batch_slices(1400, 32)))
    model.fit(x[train_rows], y[train_rows])
    _, accuracy = model.evaluate(model.upload(x[test_rows], y[test_rows]))
    assert accuracy >= 0.90, accuracy


def test_train_epoch_refuses_a_schedule_clock_that_does_not_match_the_batches() -> None:
    schedule = ScheduleSpec("linear", final_lr=0.001)
    model = build(train_spec=replace(TRAIN, schedule=schedule, epochs=2), steps_per_epoch=1)
    x, y = batch(n=10)
    with pytest.raises(ValueError, match="steps_per_epoch=1"):
        model.train_epoch(model.upload(x, y), np.arange(10))
