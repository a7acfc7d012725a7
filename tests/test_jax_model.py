"""jax_impl.model.MLP against the NumPy reference in the same forms (float64), its state rules, and its timed path.

Tolerance: harness.core.tolerances (float64 rtol 1e-10, the parity target; atol 1e-12 covers entries that are zero
in exact arithmetic and rounding noise in both, e.g. the gradient of a bias feeding batch norm, ~1e-17). Skipped
when jax or optax is not installed (the optional extra fwcompare[jax]).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (the optional extra: pip install 'fwcompare[jax]')")
pytest.importorskip("optax", reason="optax is not installed (the optional extra: pip install 'fwcompare[jax]')")

from framework_cases import (  # noqa: E402
    BATCH,
    BN_DROPOUT,
    F64,
    MODEL_VARIANTS,
    assert_dicts_close,
    batch,
    reference_pair,
    train_epochs_beside_train_steps,
)

from harness.core.batching import batch_slices  # noqa: E402
from harness.core.errors import FwcompareError  # noqa: E402
from harness.core.frameworks import plugin  # noqa: E402
from harness.core.initializers import initial_params  # noqa: E402
from harness.core.specs import ModelSpec, OptimizerSpec, ScheduleSpec, TrainSpec  # noqa: E402
from harness.core.tolerances import SINGLE_PASS  # noqa: E402
from jax_impl import model as jax_model  # noqa: E402
from jax_impl.layers import dropout_train  # noqa: E402
from jax_impl.model import MLP  # noqa: E402
from reference.layers import dropout_scale  # noqa: E402
from reference.model import MLP as ReferenceMLP  # noqa: E402

RTOL, ATOL = F64.rtol, F64.atol


def make_pair(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1) -> tuple[MLP, ReferenceMLP]:
    """The JAX model and the reference in JAX's native forms, both from the same canonical weights."""
    return reference_pair(MLP, model_spec, train_spec, steps_per_epoch)


def make_pair_as_given(
    model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1
) -> tuple[MLP, ReferenceMLP]:
    """The JAX model and the reference in exactly the forms the specs name (one JAX runs natively)."""
    params = initial_params(model_spec, train_spec.seed, train_spec.dtype)
    return (
        MLP(model_spec, train_spec, params, steps_per_epoch=steps_per_epoch),
        ReferenceMLP(model_spec, train_spec, params, steps_per_epoch=steps_per_epoch),
    )


@pytest.fixture(scope="module", params=list(MODEL_VARIANTS))
def variant_pair(request) -> tuple[ModelSpec, MLP, ReferenceMLP]:
    spec = MODEL_VARIANTS[request.param]
    return (spec, *make_pair(spec, TrainSpec(dtype="float64")))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_activations_match_reference(variant_pair: tuple, training: bool) -> None:
    spec, model, reference = variant_pair
    x, _, masks = batch(spec, BATCH, seed=1)
    assert_dicts_close(model.activations(x, training, masks), reference.activations(x, training, masks))
    np.testing.assert_allclose(model.forward(x), reference.forward(x), rtol=RTOL, atol=ATOL)


def test_loss_and_grads_match_reference(variant_pair: tuple) -> None:
    spec, model, reference = variant_pair
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
# Every (optimizer, form) optax implements natively: the model must run each one exactly as the reference does.
NATIVE_OPTIMIZERS = [
    (name, form)
    for name, native in plugin("jax").optimizer_forms.items()
    for form in (native, *plugin("jax").other_forms.get(name, ()))
]
# Changes the lr every step, so momentum runs exercise the velocity form under a changing lr.
DECAYING = ScheduleSpec("exponential", final_lr=1e-3, granularity="step")


def assert_steps_match_reference(model_spec: ModelSpec, optimizer: OptimizerSpec) -> None:
    train_spec = TrainSpec(optimizer=optimizer, schedule=DECAYING, epochs=2, dtype="float64")
    model, reference = make_pair_as_given(model_spec, train_spec, steps_per_epoch=3)
    for step in range(6):
        x, y, masks = batch(model_spec, BATCH, seed=10 + step)
        assert model.train_step(x, y, masks) == pytest.approx(reference.train_step(x, y, masks), rel=RTOL)
        assert model.learning_rate(step) == pytest.approx(reference.learning_rate(step), rel=1e-15)
    assert_dicts_close(model.get_params(), reference.get_params())
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state())


@pytest.mark.parametrize(("name", "form"), NATIVE_OPTIMIZERS, ids=[f"{n}-{f}" for n, f in NATIVE_OPTIMIZERS])
def test_train_steps_match_reference(name: str, form: str) -> None:
    spec = replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01)
    assert_steps_match_reference(spec, replace(OPTIMIZERS[name], form=form))


@pytest.mark.parametrize("running_var", (plugin("jax").running_var, *plugin("jax").other_forms["running_var"]))
def test_batchnorm_train_steps_match_reference(running_var: str) -> None:
    """BN running statistics through steps, in each running-variance convention. SGD with momentum only: the bias
    of a Dense that feeds BN has a zero true gradient, so its computed gradient is rounding noise, which adaptive
    optimisers normalise into lr-sized steps that differ between any two implementations."""
    spec = replace(BN_DROPOUT, batch_norm=replace(BN_DROPOUT.batch_norm, running_var=running_var))
    assert_steps_match_reference(spec, replace(OPTIMIZERS["momentum"], form="gradient-buffer"))


@pytest.mark.parametrize(
    ("name", "form"),
    [("momentum", "velocity"), ("nesterov", "velocity"), ("adagrad", "eps-outside-root"), ("adam", "epsilon-hat")],
)
def test_forms_optax_does_not_implement_are_refused(name: str, form: str) -> None:
    spec = MODEL_VARIANTS["relu-ce"]
    train_spec = TrainSpec(optimizer=replace(OPTIMIZERS[name], form=form))
    with pytest.raises(FwcompareError, match=rf"optimizer form '{form}'.*harness\.core\.conventions\.native_specs"):
        MLP(spec, train_spec, initial_params(spec, 0, "float32"))


def test_optimizer_state_before_the_first_step_matches_reference() -> None:
    for optimizer in OPTIMIZERS.values():
        model, reference = make_pair(BN_DROPOUT, TrainSpec(optimizer=optimizer, dtype="float64"))
        assert_dicts_close(model.optimizer_state(), reference.optimizer_state())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_train_epoch_equals_train_steps_on_the_same_batches(dtype: str) -> None:
    """The timed path is the verified path: two epochs of the jitted scan (plus a partial last batch) end where the
    same train_steps end."""
    rows, batch_size = 23, 5  # a partial last batch of 3
    train_spec = TrainSpec(
        optimizer=OPTIMIZERS["momentum"],
        schedule=ScheduleSpec("linear", final_lr=0.02),
        batch_size=batch_size,
        epochs=2,
        dtype=dtype,
    )
    tol = SINGLE_PASS[dtype]
    fast, stepped, steps = train_epochs_beside_train_steps(MLP, BN_DROPOUT, train_spec, rows, tol.rtol, tol.atol)
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


def test_evaluate_batches_larger_sets_like_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BN_DROPOUT
    model, _ = make_pair(spec, TrainSpec(dtype="float64"))
    x, y, _ = batch(spec, 25, seed=13)
    data = model.upload(x, y)
    whole = model.evaluate(data)
    monkeypatch.setattr(jax_model, "EVAL_BATCH_ROWS", 7)
    loss, accuracy = model.evaluate(data)
    assert loss == pytest.approx(whole[0], rel=RTOL)
    assert accuracy == whole[1]


def test_training_with_dropout_and_no_masks_raises() -> None:
    spec = MODEL_VARIANTS["leaky-relu-inverted-dropout"]
    model, _ = make_pair(spec, TrainSpec(dtype="float64", batch_size=BATCH))
    x, y, _ = batch(spec, BATCH, seed=8)
    for train in (
        lambda: model.loss_and_grads(x, y),
        lambda: model.train_step(x, y),
        lambda: model.train_epoch(model.upload(x, y), np.arange(BATCH)),
    ):
        with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
            train()
    assert model.activations(x, False)["dropout1"].shape == (BATCH, 8)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_model_is_built_in_the_spec_dtype_without_turning_x64_on_globally(dtype: str) -> None:
    model, _ = make_pair(BN_DROPOUT, TrainSpec(dtype=dtype))
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=9)
    model.train_step(x, y, masks)
    assert {value.dtype for value in model.get_params().values()} == {np.dtype(dtype)}
    assert {value.dtype for value in model.optimizer_state().values()} == {np.dtype(dtype)}
    assert model.activations(x, True, masks)["logits"].dtype == np.dtype(dtype)
    assert jax.config.jax_enable_x64 is False


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("style", ["inverted", "keep_prob"])
def test_dropout_arithmetic_is_bitwise_the_reference_arithmetic(dtype: str, style: str) -> None:
    """The expression h·(mask·(1/(1−p))) is fixed so that every framework agrees to the last bit."""
    rate = 0.3
    rng = np.random.default_rng(11)
    h = rng.standard_normal((50, 40)).astype(dtype)
    mask = (rng.random((50, 40)) >= rate).astype(np.float32)
    expected = h * dropout_scale(mask, rate, style, np.dtype(dtype))
    with jax.enable_x64(True):
        actual = np.asarray(jax.jit(dropout_train, static_argnums=(2, 3))(h, mask.astype(dtype), rate, style))
    np.testing.assert_array_equal(actual, expected)


def test_a_second_model_of_the_same_specs_compiles_nothing() -> None:
    """Parity and the runner build several models of one spec: the jitted functions are shared, not recompiled."""
    spec = MODEL_VARIANTS["relu-ce"]
    train_spec = TrainSpec(optimizer=OPTIMIZERS["adam"], dtype="float64")
    x, y, masks = batch(spec, BATCH, seed=14)
    first, _ = make_pair(spec, train_spec)
    first.train_step(x, y, masks)
    compiled = first.functions.step._cache_size()
    second, _ = make_pair(spec, train_spec)
    second.train_step(x, y, masks)
    assert second.functions is first.functions
    assert second.functions.step._cache_size() == compiled


def test_epochs_after_the_first_compile_nothing() -> None:
    """The state the first epoch returns is committed to the device; a fresh optimiser state that was not would make
    the second epoch compile the jitted scan and step again (seconds for the 784-256-256-10 network)."""
    spec = replace(MODEL_VARIANTS["relu-ce"], hidden_sizes=(6, 5))  # a spec no other test compiles
    rows = 23  # full batches of 5 through the scan, a partial last batch of 3 through the step
    train_spec = TrainSpec(optimizer=OPTIMIZERS["adam"], batch_size=5, dtype="float32")
    x, y, _ = batch(spec, rows, seed=15)
    model, _ = make_pair(spec, train_spec, steps_per_epoch=len(batch_slices(rows, 5)))
    data = model.upload(x, y)
    model.train_epoch(data, np.arange(rows))
    compiled = (model.functions.epoch._cache_size(), model.functions.step._cache_size())
    for seed in (1, 2):
        model.train_epoch(data, np.random.default_rng(seed).permutation(rows))
    assert (model.functions.epoch._cache_size(), model.functions.step._cache_size()) == compiled


def test_read_only_inputs_are_accepted_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    model, _ = make_pair(BN_DROPOUT, TrainSpec(dtype="float64"))
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=12)
    for array in (x, y, *masks.values()):
        array.flags.writeable = False
    model.train_step(x, y, masks)
    model.evaluate(model.upload(x, y))
    assert not recwarn.list, [str(w.message) for w in recwarn]
