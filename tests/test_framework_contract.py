"""The contract every registered framework keeps (harness.core.interface.FrameworkModel), one suite over all of
them, in the spirit of Keras' run_layer_test: forward, gradients, optimiser steps and fit against the reference in
the framework's native forms, fit = steps on the timed path, refusal of forms it does not run, and the parameter
round trip. A framework whose library is missing here is skipped with the reason; a new framework registered
through the entry point is tested by this file without a line added.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest
from framework_cases import (
    BATCH,
    BN_DROPOUT,
    CLASSES,
    INPUTS,
    MODEL_VARIANTS,
    assert_dicts_close,
    batch,
    reference_pair,
    train_epochs_beside_train_steps,
)

from harness.core.batching import batch_slices
from harness.core.conventions import native_forms, native_specs
from harness.core.errors import FwcompareError, ParamMismatchError
from harness.core.frameworks import available_frameworks, framework_names, model_class, plugin
from harness.core.initializers import initial_params
from harness.core.interface import FrameworkModel
from harness.core.params import param_shapes
from harness.core.specs import (
    OPTIMIZER_FORMS,
    RUNNING_VAR_CONVENTIONS,
    BatchNormSpec,
    ModelSpec,
    OptimizerSpec,
    ScheduleSpec,
    TrainSpec,
)
from harness.core.tolerances import SINGLE_PASS, TRAJECTORY

F64, STEPS64 = SINGLE_PASS["float64"], TRAJECTORY["float64"]


def _frameworks(*, with_reference: bool) -> list:
    """Every registered framework (or every one but the reference) as a parameter, skipped with the reason when its
    library is not installed here."""
    status = available_frameworks()
    return [
        pytest.param(name, id=name, marks=pytest.mark.skipif(status[name] is not None, reason=str(status[name])))
        for name in framework_names()
        if with_reference or not plugin(name).runs_every_form
    ]


EVERY_FRAMEWORK = _frameworks(with_reference=True)
COMPARED_WITH_THE_REFERENCE = _frameworks(with_reference=False)


@functools.cache
def float64_pair(framework: str, variant: str) -> tuple[FrameworkModel, FrameworkModel]:
    """One float64 (framework model, reference in its forms) per variant, shared by the tests that change no state."""
    return reference_pair(model_class(framework), MODEL_VARIANTS[variant], TrainSpec(dtype="float64"))


# --- forward and gradients ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", MODEL_VARIANTS)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_activations_match_the_reference(framework: str, variant: str, training: bool) -> None:
    model, reference = float64_pair(framework, variant)
    x, _, masks = batch(MODEL_VARIANTS[variant], BATCH, seed=1)
    assert_dicts_close(model.activations(x, training, masks), reference.activations(x, training, masks))
    np.testing.assert_allclose(model.forward(x), reference.forward(x), rtol=F64.rtol, atol=F64.atol)


@pytest.mark.parametrize("variant", MODEL_VARIANTS)
@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_loss_and_gradients_match_the_reference(framework: str, variant: str) -> None:
    model, reference = float64_pair(framework, variant)
    x, y, masks = batch(MODEL_VARIANTS[variant], BATCH, seed=2)
    loss, grads = model.loss_and_grads(x, y, masks)
    reference_loss, reference_grads = reference.loss_and_grads(x, y, masks)
    assert loss == pytest.approx(reference_loss, rel=F64.rtol)
    assert_dicts_close(grads, reference_grads)


@pytest.mark.parametrize("variant", [name for name, spec in MODEL_VARIANTS.items() if spec.has_dropout])
@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_training_with_dropout_and_no_masks_raises(framework: str, variant: str) -> None:
    model, _ = float64_pair(framework, variant)
    x, y, _ = batch(MODEL_VARIANTS[variant], BATCH, seed=8)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.loss_and_grads(x, y)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.activations(x, True)
    assert model.activations(x, False)["logits"].shape == (BATCH, CLASSES)


# --- optimiser steps, the timed path and fit ---------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": OptimizerSpec("sgd", lr=0.1),
    "momentum": OptimizerSpec("momentum", lr=0.1, momentum=0.9),
    "nesterov": OptimizerSpec("nesterov", lr=0.1, momentum=0.8),
    "adagrad": OptimizerSpec("adagrad", lr=0.05, eps=1e-7, initial_accumulator=0.1),
    "rmsprop": OptimizerSpec("rmsprop", lr=0.01, rho=0.85, eps=1e-7),
    "adam": OptimizerSpec("adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
}
# A different schedule per optimiser, so every kind and granularity drives a real optimiser; the lr changes between
# steps (per-epoch ones with 2 steps per epoch), which is where momentum forms diverge.
SCHEDULES = {
    "sgd": ScheduleSpec("step", step_size=2, gamma=0.5, granularity="step"),
    "momentum": ScheduleSpec("exponential", final_lr=1e-3, granularity="step"),
    "nesterov": ScheduleSpec("linear", final_lr=0.02, granularity="epoch"),
    "adagrad": ScheduleSpec("exponential", final_lr=1e-3, granularity="epoch"),
    "rmsprop": ScheduleSpec("linear", final_lr=1e-3, granularity="step"),
    "adam": ScheduleSpec("step", step_size=1, gamma=0.7, granularity="epoch"),
}
# Batch norm in the SGD family only: the bias of a Dense that feeds BN has a zero true gradient, so its computed
# gradient is rounding noise in each framework, and Adam, RMSprop and AdaGrad normalise that noise into steps that
# differ between any two implementations (harness.core.params.has_bias).
TRAJECTORY_MODELS = {
    "sgd": BN_DROPOUT,
    "momentum": BN_DROPOUT,
    "nesterov": BN_DROPOUT,
    "adagrad": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
    "rmsprop": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
    "adam": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
}


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_train_steps_match_the_reference(framework: str, optimizer: str) -> None:
    """Ten steps on different batches through dropout and L2 (and BN): losses, every parameter (BN running
    statistics included), the optimiser's slots and the learning rate match the reference in native form."""
    spec = TRAJECTORY_MODELS[optimizer]
    train_spec = TrainSpec(optimizer=OPTIMIZERS[optimizer], schedule=SCHEDULES[optimizer], epochs=5, dtype="float64")
    model, reference = reference_pair(model_class(framework), spec, train_spec, steps_per_epoch=2)
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state())
    for step in range(10):
        assert model.learning_rate(step) == pytest.approx(reference.learning_rate(step), rel=1e-15)
        x, y, masks = batch(spec, BATCH, seed=10 + step)
        assert model.train_step(x, y, masks) == pytest.approx(reference.train_step(x, y, masks), rel=STEPS64.rtol)
    assert_dicts_close(model.get_params(), reference.get_params(), STEPS64.rtol, STEPS64.atol)
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state(), STEPS64.rtol, STEPS64.atol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_train_epoch_equals_train_steps_on_the_same_batches(framework: str, dtype: str) -> None:
    """The timed path is the verified path: two epochs of train_epoch (a partial last batch of 3) end where the
    same train_steps end."""
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("nesterov", lr=0.1, momentum=0.9),
        schedule=ScheduleSpec("linear", final_lr=0.02, granularity="step"),
        batch_size=5,
        epochs=2,
        dtype=dtype,
    )
    tolerance = TRAJECTORY[dtype]
    train_epochs_beside_train_steps(model_class(framework), BN_DROPOUT, train_spec, 23, tolerance.rtol, tolerance.atol)


@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_fit_and_evaluate_match_the_reference(framework: str) -> None:
    """The shared fit loop over the framework's fast path: per-epoch losses, validation metrics, lr and the final
    parameters."""
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("momentum", lr=0.1, momentum=0.9),
        schedule=ScheduleSpec("exponential", final_lr=0.01),
        batch_size=8,
        epochs=2,
        dtype="float64",
    )
    x, y, _ = batch(BN_DROPOUT, 30, seed=5)
    x_val, y_val, _ = batch(BN_DROPOUT, 11, seed=6)
    model, reference = reference_pair(
        model_class(framework), BN_DROPOUT, train_spec, steps_per_epoch=len(batch_slices(30, 8))
    )
    history = model.fit(x, y, validation=(x_val, y_val)).history
    reference_history = reference.fit(x, y, validation=(x_val, y_val)).history
    for record, expected in zip(history, reference_history, strict=True):
        assert record.train_loss == pytest.approx(expected.train_loss, rel=STEPS64.rtol)
        assert record.val_loss == pytest.approx(expected.val_loss, rel=STEPS64.rtol)
        assert record.val_accuracy == expected.val_accuracy
        assert record.lr == pytest.approx(expected.lr, rel=1e-15)
    assert_dicts_close(model.get_params(), reference.get_params(), STEPS64.rtol, STEPS64.atol)


@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_fit_cut_at_snapshot_steps_trains_as_the_uncut_fit(framework: str) -> None:
    """Snapshots (the conventions study) train an epoch in segments through the fast path: the same batches, so
    the same parameters as one train_epoch call, and each snapshot is the parameters after that many steps."""
    train_spec = TrainSpec(optimizer=OptimizerSpec("adam", lr=1e-2), batch_size=8, epochs=2, dtype="float64")
    x, y, _ = batch(BN_DROPOUT, 30, seed=5)
    steps = len(batch_slices(30, 8))
    model_spec, native = native_specs(BN_DROPOUT, train_spec, framework)
    params = initial_params(model_spec, 0, "float64")
    uncut = model_class(framework)(model_spec, native, params, steps_per_epoch=steps)
    uncut.fit(x, y)
    cut = model_class(framework)(model_spec, native, params, steps_per_epoch=steps)
    snapshots: dict = {}
    cut.fit(x, y, snapshot_steps=(0, 1, steps, steps + 2), on_snapshot=snapshots.__setitem__)
    assert sorted(snapshots) == [0, 1, steps, steps + 2]
    assert_dicts_close(cut.get_params(), uncut.get_params(), STEPS64.rtol, STEPS64.atol)
    assert_dicts_close(snapshots[0], params, 0.0, 0.0)


@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_only_train_step_changes_parameters_and_bn_running_stats(framework: str) -> None:
    model_spec, train_spec = native_specs(BN_DROPOUT, TrainSpec(dtype="float64"), framework)
    model = model_class(framework)(model_spec, train_spec, initial_params(model_spec, 0, "float64"))
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=7)
    before = model.get_params()
    model.activations(x, True, masks)
    model.activations(x, False)
    model.loss_and_grads(x, y, masks)
    model.forward(x, training=True, dropout_masks=masks)
    model.evaluate(model.upload(x, y))
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    model.train_step(x, y, masks)
    stepped = model.get_params()
    for key in ("bn0.running_mean", "bn0.running_var", "bn1.running_mean", "bn1.running_var"):
        assert not np.array_equal(stepped[key], before[key]), key


# --- forms it does not run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", [name for name, forms in OPTIMIZER_FORMS.items() if len(forms) > 1])
@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_an_optimizer_form_it_does_not_run_is_refused(framework: str, optimizer: str) -> None:
    native, _ = native_forms(framework, optimizer)
    runs = (native, *plugin(framework).other_forms.get(optimizer, ()))
    foreign = next((form for form in OPTIMIZER_FORMS[optimizer] if form not in runs), None)
    if foreign is None:
        pytest.skip(f"{framework} runs every form of {optimizer}")
    model_spec, train_spec = native_specs(ModelSpec(INPUTS, (5,), CLASSES), TrainSpec(), framework)
    train_spec = replace(train_spec, optimizer=OptimizerSpec(optimizer, form=foreign))
    with pytest.raises(FwcompareError, match=r"harness\.core\.conventions\.native_specs") as raised:
        model_class(framework)(model_spec, train_spec, initial_params(model_spec, 0, "float32"))
    assert f"optimizer form '{foreign}' (native: '{native}')" in str(raised.value)


@pytest.mark.parametrize("framework", COMPARED_WITH_THE_REFERENCE)
def test_a_bn_running_variance_it_does_not_run_is_refused(framework: str) -> None:
    model_spec, train_spec = native_specs(
        ModelSpec(INPUTS, (5,), CLASSES, batch_norm=BatchNormSpec()), TrainSpec(), framework
    )
    runs = (model_spec.batch_norm.running_var, *plugin(framework).other_forms.get("running_var", ()))
    foreign = next((v for v in RUNNING_VAR_CONVENTIONS if v not in runs), None)
    if foreign is None:
        pytest.skip(f"{framework} runs every BN running-variance convention")
    model_spec = replace(model_spec, batch_norm=replace(model_spec.batch_norm, running_var=foreign))
    with pytest.raises(FwcompareError, match=rf"BN running_var '{foreign}'"):
        model_class(framework)(model_spec, train_spec, initial_params(model_spec, 0, "float32"))


# --- the canonical parameters ------------------------------------------------------------------------------------

# Non-square layers, so a transposed kernel has a different shape from the canonical one.
PARAMS_SPEC = ModelSpec(5, (4, 3), 2, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3))


def random_params(dtype: str, seed: int) -> dict[str, np.ndarray]:
    """Every canonical key filled with distinct random values (running_var positive), so a swapped or transposed
    tensor cannot round-trip by accident."""
    rng = np.random.default_rng(seed)
    return {key: rng.uniform(0.1, 2.0, shape).astype(dtype) for key, shape in param_shapes(PARAMS_SPEC).items()}


def params_model(framework: str, dtype: str) -> FrameworkModel:
    model_spec, train_spec = native_specs(PARAMS_SPEC, TrainSpec(dtype=dtype), framework)
    return model_class(framework)(model_spec, train_spec, random_params(dtype, seed=0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_params_round_trip_exactly_as_copies(framework: str, dtype: str) -> None:
    model = params_model(framework, dtype)
    params = random_params(dtype, seed=1)
    model.set_params(params)
    exported = model.get_params()
    assert list(exported) == list(param_shapes(PARAMS_SPEC))
    for key, value in params.items():
        assert exported[key].dtype == np.dtype(dtype), key
        np.testing.assert_array_equal(exported[key], value, err_msg=key)
    exported["dense0.W"][...] = 123.0
    params["dense0.W"][...] = 123.0
    assert not np.any(model.get_params()["dense0.W"] == 123.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.pop("bn1.running_var"), r"missing \['bn1.running_var'\]"),
        (lambda p: p.update({"dense9.W": np.zeros((1, 1))}), r"unexpected \['dense9.W'\]"),
        (lambda p: p.update({"bn0.gamma": np.ones(5)}), r"bn0.gamma: got \(5,\), want \(4,\)"),
        (lambda p: p.update({"dense1.W": p["dense1.W"].T.copy()}), r"dense1.W: got \(3, 4\), want \(4, 3\)"),
    ],
    ids=["missing-key", "unexpected-key", "wrong-shape", "transposed-kernel"],
)
@pytest.mark.parametrize("framework", EVERY_FRAMEWORK)
def test_wrong_params_are_refused_by_name_and_change_nothing(framework: str, change, message: str) -> None:
    model = params_model(framework, "float64")
    before = model.get_params()
    bad = random_params("float64", seed=1)
    change(bad)
    with pytest.raises(ParamMismatchError, match=message):
        model.set_params(bad)
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
