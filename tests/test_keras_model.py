"""keras_impl.model.MLP beyond the framework contract (tests/test_framework_contract.py): dtypes and floatx,
retracing and memory, the XLA-compiled timed path, evaluation batches.

Tolerance: harness.core.tolerances (float64 rtol 1e-10, the parity target; atol 1e-12 covers entries that are zero in
exact arithmetic and rounding noise in both, e.g. the gradient of a bias feeding batch norm, ~1e-17).
"""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest
from framework_cases import (
    BATCH,
    BN_DROPOUT,
    MODEL_VARIANTS,
    assert_dicts_close,
    batch,
    reference_pair,
    train_epochs_beside_train_steps,
)

from harness.core.batching import batch_slices
from harness.core.specs import BatchNormSpec, ModelSpec, OptimizerSpec, ScheduleSpec, TrainSpec
from harness.core.tolerances import SINGLE_PASS, TRAJECTORY
from reference.model import MLP as ReferenceMLP

pytest.importorskip("tensorflow", reason="tensorflow is not installed: its tests are skipped")

from keras_impl.model import EVAL_BATCH_ROWS, MLP


def make_pair(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1) -> tuple[MLP, ReferenceMLP]:
    """The Keras model and the reference in Keras form, both from the same canonical weights."""
    return reference_pair(MLP, model_spec, train_spec, steps_per_epoch)


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
    model, _ = make_pair(
        BN_DROPOUT,
        TrainSpec(optimizer=OptimizerSpec("adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7), dtype="float64"),
    )
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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_xla_train_epoch_equals_train_steps_on_the_same_batches(dtype: str) -> None:
    """The XLA-compiled timed path is a verified path too: two epochs of train_epoch end where the same
    train_steps end (the default execution is checked by the framework contract)."""
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("nesterov", lr=0.1, momentum=0.9),
        schedule=ScheduleSpec("linear", final_lr=0.02, granularity="step"),
        batch_size=FIT_BATCH,
        epochs=2,
        dtype=dtype,
    )
    tolerance = TRAJECTORY[dtype]
    fast, stepped, steps = train_epochs_beside_train_steps(
        XlaMLP, FIT_SPEC, train_spec, FIT_ROWS, tolerance.rtol, tolerance.atol
    )
    assert int(fast.network.optimizer.iterations) == int(stepped.network.optimizer.iterations) == 2 * steps


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
