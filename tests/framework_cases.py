"""Model cases and helpers shared by the torch and Keras model tests: each compares its framework's MLP with the
NumPy reference built in that framework's native form, from the same canonical weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harness.core.batching import batch_slices, dropout_masks, epoch_order, slice_masks
from harness.core.conventions import native_specs
from harness.core.initializers import initial_params
from harness.core.interface import FrameworkModel
from harness.core.specs import BatchNormSpec, InitSpec, ModelSpec, TrainSpec
from harness.core.tolerances import SINGLE_PASS
from reference.model import MLP as ReferenceMLP

F64 = SINGLE_PASS["float64"]
BN = BatchNormSpec(momentum=0.9, eps=1e-3)
INPUTS, CLASSES, BATCH = 7, 4, 6

# Small specs covering every layer, loss and output option between them.
MODEL_VARIANTS = {
    "relu-ce": ModelSpec(INPUTS, (9, 8), CLASSES),
    "tanh-bn-l2-softmax-mse": ModelSpec(
        INPUTS, (9, 8), CLASSES, activation="tanh", batch_norm=BN, l2=0.01, output="softmax", loss="mse"
    ),
    "leaky-relu-inverted-dropout": ModelSpec(
        INPUTS,
        (9, 8),
        CLASSES,
        activation="leaky_relu",
        leaky_relu_alpha=0.1,
        dropout=(0.3, 0.5),
        init=InitSpec("glorot_normal", truncated=True, bias="like_weights"),
    ),
    "sigmoid-keep-prob-dropout-mse": ModelSpec(
        INPUTS,
        (9, 8),
        CLASSES,
        activation="sigmoid",
        dropout=(0.0, 0.4),
        dropout_style="keep_prob",
        output="sigmoid",
        loss="mse",
    ),
    "linear-bn-dropout-binary-ce": ModelSpec(
        INPUTS,
        (9,),
        CLASSES,
        activation="linear",
        batch_norm=BN,
        dropout=(0.25,),
        output="sigmoid",
        loss="binary_ce",
        l2=0.001,
    ),
    "no-hidden-layer": ModelSpec(INPUTS, (), CLASSES),
    # lincoln's MeanSquaredError(normalize=True) and its "glorot" (Glorot's variance used as σ)
    "tanh-sigmoid-normalized-mse": ModelSpec(
        INPUTS,
        (9,),
        CLASSES,
        activation="tanh",
        output="sigmoid",
        loss="mse_normalized",
        init=InitSpec("glorot_variance_as_std", bias="like_weights"),
    ),
    # lincoln's ReLU: max(z, 0) forward, the gradient passed everywhere
    "relu-linear-gradient": ModelSpec(INPUTS, (9, 8), CLASSES, activation="relu_linear_gradient"),
    # lincoln's SoftmaxCrossEntropy value as the evaluation loss
    "tanh-clipped-softmax-bce-evaluation": ModelSpec(
        INPUTS, (9,), CLASSES, activation="tanh", eval_loss="clipped_softmax_bce"
    ),
}
BN_DROPOUT = replace(MODEL_VARIANTS["tanh-bn-l2-softmax-mse"], dropout=(0.2, 0.3))


def reference_pair(
    model_cls: type[FrameworkModel], model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int = 1
) -> tuple[FrameworkModel, ReferenceMLP]:
    """(framework model, reference in that framework's native form), both from the same canonical weights."""
    model_spec, train_spec = native_specs(model_spec, train_spec, model_cls.framework)
    params = initial_params(model_spec, train_spec.seed, train_spec.dtype)
    return (
        model_cls(model_spec, train_spec, params, steps_per_epoch=steps_per_epoch),
        ReferenceMLP(model_spec, train_spec, params, steps_per_epoch=steps_per_epoch),
    )


def batch(spec: ModelSpec, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
    """x (rows, input_size) float64, y (rows,) labels, and that many rows of dropout masks."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, spec.input_size))
    return x, rng.integers(0, spec.output_size, rows), dropout_masks(spec, rows, seed, 0)


def assert_dicts_close(
    actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], rtol: float = F64.rtol, atol: float = F64.atol
) -> None:
    """Same keys in the same order, same shapes, values within tolerance."""
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert actual[key].shape == value.shape, key
        np.testing.assert_allclose(actual[key], value, rtol=rtol, atol=atol, err_msg=key)


def train_epochs_beside_train_steps(
    model_cls: type[FrameworkModel], model_spec: ModelSpec, train_spec: TrainSpec, rows: int, rtol: float, atol: float
) -> tuple[FrameworkModel, FrameworkModel, int]:
    """Train two copies for train_spec.epochs: one through train_epoch (the timed path), one through train_step on
    the same batches and masks; assert each epoch's loss agrees and the final parameters and optimiser slots too.

    Returns (fast, stepped, steps per epoch) for further checks.
    """
    steps = len(batch_slices(rows, train_spec.batch_size))
    fast, _ = reference_pair(model_cls, model_spec, train_spec, steps_per_epoch=steps)
    stepped, _ = reference_pair(model_cls, model_spec, train_spec, steps_per_epoch=steps)
    x, y, _ = batch(model_spec, rows, seed=4)
    data = fast.upload(x, y)
    for epoch in range(train_spec.epochs):
        order = epoch_order(rows, train_spec.seed, epoch)
        masks = dropout_masks(model_spec, rows, train_spec.seed, epoch)
        epoch_loss = fast.train_epoch(data, order, masks)
        losses, counts = [], []
        for positions in batch_slices(rows, train_spec.batch_size):
            picked = order[positions]
            losses.append(stepped.train_step(x[picked], y[picked], slice_masks(masks, positions)))
            counts.append(len(picked))
        np.testing.assert_allclose(epoch_loss, np.average(losses, weights=counts), rtol=rtol, atol=0)
    assert_dicts_close(fast.get_params(), stepped.get_params(), rtol, atol)
    assert_dicts_close(fast.optimizer_state(), stepped.optimizer_state(), rtol, atol)
    return fast, stepped, steps
