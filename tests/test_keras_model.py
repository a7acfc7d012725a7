"""keras_impl.model.MLP against the NumPy reference in Keras form (float64), its state rules, and its timed path.

Tolerance: harness.core.tolerances (float64 rtol 1e-10, the parity target; atol 1e-12 covers entries that are zero in
exact arithmetic and rounding noise in both, e.g. the gradient of a bias feeding batch norm, ~1e-17).
"""

from __future__ import annotations

import gc
import sys
import weakref
from dataclasses import replace

import numpy as np
import pytest
from framework_cases import (
    BATCH,
    BN_DROPOUT,
    CLASSES,
    F64,
    MODEL_VARIANTS,
    assert_dicts_close,
    batch,
    reference_pair,
    train_epochs_beside_train_steps,
)

from harness.core.batching import batch_slices
from harness.core.specs import BatchNormSpec, ModelSpec, OptimizerSpec, ScheduleSpec, TrainSpec
from harness.core.tolerances import SINGLE_PASS, TRAJECTORY
from keras_impl.model import EVAL_BATCH_ROWS, MLP
from reference.model import MLP as ReferenceMLP


def make_pair(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1) -> tuple[MLP, ReferenceMLP]:
    """The Keras model and the reference in Keras form, both from the same canonical weights."""
    return reference_pair(MLP, model_spec, train_spec, steps_per_epoch)


@pytest.fixture(scope="module", params=list(MODEL_VARIANTS))
def variant_pair(request: pytest.FixtureRequest) -> tuple[ModelSpec, MLP, ReferenceMLP]:
    """One float64 pair per variant, shared by the tests that do not change state."""
    spec = MODEL_VARIANTS[request.param]
    return (spec, *make_pair(spec, TrainSpec(dtype="float64")))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_activations_match_reference(variant_pair: tuple, training: bool) -> None:
    spec, model, reference = variant_pair
    x, _, masks = batch(spec, BATCH, seed=1)
    assert_dicts_close(model.activations(x, training, masks), reference.activations(x, training, masks))
    np.testing.assert_allclose(model.forward(x), reference.forward(x), rtol=F64.rtol, atol=F64.atol)


def test_loss_and_grads_match_reference(variant_pair: tuple) -> None:
    spec, model, reference = variant_pair
    x, y, masks = batch(spec, BATCH, seed=2)
    loss, grads = model.loss_and_grads(x, y, masks)
    reference_loss, reference_grads = reference.loss_and_grads(x, y, masks)
    assert loss == pytest.approx(reference_loss, rel=F64.rtol)
    assert_dicts_close(grads, reference_grads)


@pytest.mark.parametrize(
    "variant_pair", [name for name, spec in MODEL_VARIANTS.items() if spec.has_dropout], indirect=True
)
def test_training_with_dropout_and_no_masks_raises(variant_pair: tuple) -> None:
    spec, model, _ = variant_pair
    x, y, _ = batch(spec, BATCH, seed=8)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.loss_and_grads(x, y)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.activations(x, True)
    assert model.activations(x, False)["logits"].shape == (BATCH, CLASSES)


OPTIMIZERS = {
    "sgd": OptimizerSpec("sgd", lr=0.1),
    "momentum": OptimizerSpec("momentum", lr=0.1, momentum=0.9),
    "nesterov": OptimizerSpec("nesterov", lr=0.1, momentum=0.8),
    "adagrad": OptimizerSpec("adagrad", lr=0.05, eps=1e-7, initial_accumulator=0.1),
    "rmsprop": OptimizerSpec("rmsprop", lr=0.01, rho=0.85, eps=1e-7),
    "adam": OptimizerSpec("adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
}
# A different schedule per optimiser, so every kind and granularity drives a real Keras optimiser; the lr changes
# between steps (per-epoch ones with 2 steps per epoch), which is where momentum forms diverge.
SCHEDULES = {
    "sgd": ScheduleSpec("step", step_size=2, gamma=0.5, granularity="step"),
    "momentum": ScheduleSpec("exponential", final_lr=1e-3, granularity="step"),
    "nesterov": ScheduleSpec("linear", final_lr=0.02, granularity="epoch"),
    "adagrad": ScheduleSpec("exponential", final_lr=1e-3, granularity="epoch"),
    "rmsprop": ScheduleSpec("linear", final_lr=1e-3, granularity="step"),
    "adam": ScheduleSpec("step", step_size=1, gamma=0.7, granularity="epoch"),
}


# Batch norm in the SGD family only: the bias of a Dense that feeds BN has a zero true gradient, so its computed
# gradient is rounding noise (~1e-17) in each framework, and Adam, RMSprop and AdaGrad normalise that noise into
# steps that differ between any two implementations (measured up to 3e-12 on such a bias after 10 Adam steps).
TRAJECTORY_MODELS = {
    "sgd": BN_DROPOUT,
    "momentum": BN_DROPOUT,
    "nesterov": BN_DROPOUT,
    "adagrad": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
    "rmsprop": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
    "adam": replace(MODEL_VARIANTS["leaky-relu-inverted-dropout"], l2=0.01),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_train_steps_match_reference(name: str) -> None:
    """Ten steps on different batches through dropout and L2 (and BN): losses, every parameter (BN running
    statistics included), the optimiser's slots and the learning rate match the reference in Keras form."""
    spec = TRAJECTORY_MODELS[name]
    train_spec = TrainSpec(optimizer=OPTIMIZERS[name], schedule=SCHEDULES[name], epochs=5, dtype="float64")
    model, reference = make_pair(spec, train_spec, steps_per_epoch=2)
    tolerance = TRAJECTORY["float64"]
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state())
    for step in range(10):
        assert model.learning_rate(step) == pytest.approx(reference.learning_rate(step), rel=1e-15)
        x, y, masks = batch(spec, BATCH, seed=10 + step)
        assert model.train_step(x, y, masks) == pytest.approx(reference.train_step(x, y, masks), rel=tolerance.rtol)
    assert_dicts_close(model.get_params(), reference.get_params(), tolerance.rtol, tolerance.atol)
    assert_dicts_close(model.optimizer_state(), reference.optimizer_state(), tolerance.rtol, tolerance.atol)
    assert int(model.network.optimizer.iterations) == 10


def test_float32_model_matches_reference_and_leaves_floatx_alone() -> None:
    import keras

    floatx = keras.config.floatx()
    model, reference = make_pair(BN_DROPOUT, TrainSpec(dtype="float32"))
    assert {v.dtype for v in model.network.weights} == {"float32"}
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=9)
    x = x.astype(np.float32)
    tolerance = SINGLE_PASS["float32"]
    activations = model.activations(x, True, masks)
    assert {value.dtype for value in activations.values()} == {np.dtype(np.float32)}
    assert_dicts_close(activations, reference.activations(x, True, masks), tolerance.rtol, tolerance.atol)
    loss, grads = model.loss_and_grads(x, y, masks)
    reference_loss, reference_grads = reference.loss_and_grads(x, y, masks)
    assert loss == pytest.approx(reference_loss, rel=tolerance.rtol)
    assert_dicts_close(grads, reference_grads, tolerance.rtol, tolerance.atol)
    assert keras.config.floatx() == floatx


def test_float64_model_keeps_float64_everywhere() -> None:
    """Variables, optimiser slots, learning rate and loss all float64 (Keras would otherwise use float32)."""
    model, _ = make_pair(BN_DROPOUT, TrainSpec(optimizer=OPTIMIZERS["adam"], dtype="float64"))
    optimizer = model.network.optimizer
    assert {v.dtype for v in model.network.weights} == {"float64"}
    assert {v.dtype for v in optimizer.variables if v.name != "iteration"} == {"float64"}
    assert model.schedule(0).dtype == "float64"
    assert {value.dtype for value in model.optimizer_state().values()} == {np.dtype(np.float64)}


def test_models_are_freed_and_functions_are_not_retraced() -> None:
    """Each model compiles its functions once (batch sizes generalise after a second shape), and a dropped model is
    garbage: nothing global keeps the Keras network alive."""
    spec = MODEL_VARIANTS["leaky-relu-inverted-dropout"]
    model, _ = make_pair(spec, TrainSpec(dtype="float64"))
    for rows in (3, 5, 7, 11):
        x, y, masks = batch(spec, rows, seed=rows)
        model.train_step(x, y, masks)
    assert model.network.step.experimental_get_tracing_count() <= 2
    network = weakref.ref(model.network)
    del model
    gc.collect()
    assert network() is None


# --- the timed path: train_epoch (Keras fit) and evaluate ---

FIT_SPEC = ModelSpec(
    7,
    (9, 8),
    4,
    activation="tanh",
    batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3),
    dropout=(0.2, 0.3),
    l2=0.01,
    output="softmax",
    loss="mse",
)
FIT_ROWS, FIT_BATCH = 23, 5  # a partial last batch of 3


class XlaMLP(MLP):
    """The Keras MLP with its batch loop compiled by XLA."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, execution="xla", **kwargs)


@pytest.mark.parametrize("model_cls", [MLP, XlaMLP], ids=["exact", "xla"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_train_epoch_equals_train_steps_on_the_same_batches(dtype: str, model_cls: type[MLP]) -> None:
    """The timed path is the verified path: two epochs of train_epoch end where the same train_steps end, in
    both execution modes."""
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("nesterov", lr=0.1, momentum=0.9),
        schedule=ScheduleSpec("linear", final_lr=0.02, granularity="step"),
        batch_size=FIT_BATCH,
        epochs=2,
        dtype=dtype,
    )
    tolerance = TRAJECTORY[dtype]
    fast, stepped, steps = train_epochs_beside_train_steps(
        model_cls, FIT_SPEC, train_spec, FIT_ROWS, tolerance.rtol, tolerance.atol
    )
    assert int(fast.network.optimizer.iterations) == int(stepped.network.optimizer.iterations) == 2 * steps


def test_fit_and_evaluate_match_reference() -> None:
    """The shared fit loop over Keras' fast path: per-epoch losses, validation metrics, lr and final parameters."""
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("momentum", lr=0.1, momentum=0.9),
        schedule=ScheduleSpec("exponential", final_lr=0.01),
        batch_size=8,
        epochs=2,
        dtype="float64",
    )
    x, y, _ = batch(FIT_SPEC, 30, seed=5)
    x_val, y_val, _ = batch(FIT_SPEC, 11, seed=6)
    model, reference = make_pair(FIT_SPEC, train_spec, steps_per_epoch=len(batch_slices(30, 8)))
    history = model.fit(x, y, validation=(x_val, y_val)).history
    reference_history = reference.fit(x, y, validation=(x_val, y_val)).history
    tolerance = TRAJECTORY["float64"]
    for record, expected in zip(history, reference_history, strict=True):
        assert record.train_loss == pytest.approx(expected.train_loss, rel=tolerance.rtol)
        assert record.val_loss == pytest.approx(expected.val_loss, rel=tolerance.rtol)
        assert record.val_accuracy == expected.val_accuracy
        assert record.lr == pytest.approx(expected.lr, rel=1e-15)
    assert_dicts_close(model.get_params(), reference.get_params(), tolerance.rtol, tolerance.atol)


def test_evaluate_batches_larger_sets_like_one_pass() -> None:
    """evaluate() on more rows than one evaluation batch equals the reference's single pass (loss with L2)."""
    model, reference = make_pair(FIT_SPEC, TrainSpec(dtype="float64"))
    x, y, _ = batch(FIT_SPEC, 2 * EVAL_BATCH_ROWS + 17, seed=7)
    loss, accuracy = model.evaluate(model.upload(x, y))
    reference_loss, reference_accuracy = reference.evaluate(reference.upload(x, y))
    assert loss == pytest.approx(reference_loss, rel=TRAJECTORY["float64"].rtol)
    assert accuracy == reference_accuracy


def test_unknown_execution_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="execution='jit' is not valid; choose one of: exact, xla"):
        MLP(FIT_SPEC, TrainSpec(), {}, execution="jit")


def test_train_epoch_without_masks_raises() -> None:
    model, _ = make_pair(FIT_SPEC, TrainSpec(batch_size=FIT_BATCH, dtype="float64"))
    x, y, _ = batch(FIT_SPEC, FIT_ROWS, seed=8)
    with pytest.raises(ValueError, match=r"harness\.core\.batching\.dropout_masks"):
        model.train_epoch(model.upload(x, y), np.arange(FIT_ROWS))


# --- memory over many epochs ---

DROPOUT_NET = ModelSpec(784, (512, 512), 10, dropout=(0.2, 0.2))
MEMORY_ROWS, MEMORY_EPOCHS, WARM_EPOCHS = 2000, 12, 4  # 2000 = 15 full batches of 128 + 80


def resident_bytes() -> int:
    """This process's resident set size now (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident set size from /proc")
def test_training_with_dropout_keeps_memory_flat_over_epochs() -> None:
    """Fit with dropout and evaluation for many epochs: once warm, the resident set must not grow by an epoch's
    keep-masks per epoch (the Keras path once kept every epoch's masks alive), and nothing is traced again."""
    train_spec = TrainSpec(batch_size=128, epochs=MEMORY_EPOCHS, dtype="float32")
    x, y, _ = batch(DROPOUT_NET, MEMORY_ROWS, seed=9)
    steps = len(batch_slices(MEMORY_ROWS, train_spec.batch_size))
    model, _ = make_pair(DROPOUT_NET, train_spec, steps_per_epoch=steps)
    rss_after = []
    model.fit(x, y, validation=(x[:512], y[:512]), on_epoch_end=lambda record: rss_after.append(resident_bytes()))
    masks_per_epoch = MEMORY_ROWS * sum(DROPOUT_NET.hidden_sizes) * 4
    # TensorFlow's allocator settles within the first epochs (measured: 3); from then on a leak of one epoch's masks
    # would add (MEMORY_EPOCHS - WARM_EPOCHS) × masks_per_epoch, 8 × the bound.
    growth = rss_after[-1] - rss_after[WARM_EPOCHS - 1]
    assert growth < masks_per_epoch, (
        f"resident set grew {growth / 2**20:.1f} MiB over {MEMORY_EPOCHS - WARM_EPOCHS} epochs"
    )
    # One trace of the epoch loop serves every epoch (full batches) and one of the step (the partial last batch).
    assert model._batch_loop.experimental_get_tracing_count() == 1
    assert model.network.step.experimental_get_tracing_count() == 1
