"""Central-difference gradient checks (float64) of every reference layer, activation, loss and whole network.

Relative error = ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖), asserted below 1e-7. The five-point central
stencil (error O(h⁴)) allows a step large enough that the loss's rounding noise stays far below the gradient even
for the small gradients of small-scale initialisers. Points never straddle a ReLU kink: layer checks draw inputs
at least FD_SMOOTH_MARGIN from 0, and network checks verify that no FD evaluation flips a ReLU's on/off pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from harness.catalog.variants import all_variants
from harness.core.batching import dropout_masks
from harness.core.initializers import initial_params
from harness.core.params import is_trainable
from harness.core.specs import BatchNormSpec, InitSpec, ModelSpec, TrainSpec
from reference.activations import activate, activation_backward
from reference.layers import batch_norm_backward, batch_norm_train, dense, dense_backward, dropout_scale
from reference.losses import data_loss, data_loss_and_grad, kernel_keys, l2_grads, l2_penalty
from reference.model import MLP

FD_STEP = 1e-4
FD_SMOOTH_MARGIN = 1e-3  # > 2·FD_STEP, the furthest a layer check moves an input
MAX_RELATIVE_ERROR = 1e-7


def numeric_grad(f: Callable[[], float], x: np.ndarray) -> np.ndarray:
    """∂f/∂x by the five-point central difference, perturbing x in place (and putting every entry back)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        values = {}
        for steps in (-2, -1, 1, 2):
            x[index] = original + steps * FD_STEP
            values[steps] = f()
        x[index] = original
        grad[index] = (values[-2] - 8 * values[-1] + 8 * values[1] - values[2]) / (12 * FD_STEP)
    return grad


def assert_grad_close(analytic: np.ndarray, numeric: np.ndarray, what: str) -> None:
    denominator = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    assert denominator > 0, f"{what}: both gradients are zero, the check would prove nothing"
    error = np.linalg.norm(analytic - numeric) / denominator
    assert error < MAX_RELATIVE_ERROR, f"{what}: relative error {error:.3e} >= {MAX_RELATIVE_ERROR}"


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal values, each at least FD_SMOOTH_MARGIN from 0 (ReLU kinks)."""
    values = rng.standard_normal(shape)
    return np.where(np.abs(values) < FD_SMOOTH_MARGIN, FD_SMOOTH_MARGIN * 10, values)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "linear"])
def test_activation_gradient(name: str) -> None:
    rng = np.random.default_rng(1)
    z = away_from_zero(rng, (4, 5)) * 2
    upstream = rng.standard_normal(z.shape)
    alpha = 0.2
    analytic = activation_backward(name, z, activate(name, z, alpha), upstream, alpha)
    numeric = numeric_grad(lambda: float((activate(name, z, alpha) * upstream).sum()), z)
    assert_grad_close(analytic, numeric, name)


def test_dense_gradients() -> None:
    rng = np.random.default_rng(2)
    x, kernel, bias = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    upstream = rng.standard_normal((4, 5))

    def f() -> float:
        return float((dense(x, kernel, bias) * upstream).sum())

    grad_x, grad_kernel, grad_bias = dense_backward(x, kernel, upstream)
    assert_grad_close(grad_x, numeric_grad(f, x), "dense x")
    assert_grad_close(grad_kernel, numeric_grad(f, kernel), "dense W")
    assert_grad_close(grad_bias, numeric_grad(f, bias), "dense b")


LOSS_OUTPUTS = [
    ("softmax_ce", "linear"),
    ("softmax_ce", "softmax"),
    ("mse", "linear"),
    ("mse", "sigmoid"),
    ("mse", "softmax"),
    ("binary_ce", "sigmoid"),
]


@pytest.mark.parametrize(("loss", "output"), LOSS_OUTPUTS, ids=[f"{a}-{b}" for a, b in LOSS_OUTPUTS])
def test_loss_gradient(loss: str, output: str) -> None:
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 4)) * 3
    labels = rng.integers(0, 4, 6)
    _, analytic = data_loss_and_grad(loss, output, logits, labels)
    numeric = numeric_grad(lambda: float(data_loss(loss, output, logits, labels)), logits)
    assert_grad_close(analytic, numeric, f"{loss}/{output}")


def test_batch_norm_training_gradients() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((7, 3)) * 2 + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    upstream = rng.standard_normal(z.shape)

    def f() -> float:
        return float((batch_norm_train(z, gamma, beta, 1e-3)[0] * upstream).sum())

    _, stats = batch_norm_train(z, gamma, beta, 1e-3)
    grad_z, grad_gamma, grad_beta = batch_norm_backward(upstream, gamma, stats)
    assert_grad_close(grad_z, numeric_grad(f, z), "bn z")
    assert_grad_close(grad_gamma, numeric_grad(f, gamma), "bn gamma")
    assert_grad_close(grad_beta, numeric_grad(f, beta), "bn beta")


@pytest.mark.parametrize("style", ["inverted", "keep_prob"])
def test_dropout_gradient_with_fixed_mask(style: str) -> None:
    rng = np.random.default_rng(5)
    h = rng.standard_normal((5, 4))
    mask = (rng.random(h.shape) >= 0.3).astype(np.float32)
    upstream = rng.standard_normal(h.shape)
    scale = dropout_scale(mask, 0.3, style, h.dtype)
    numeric = numeric_grad(lambda: float((h * dropout_scale(mask, 0.3, style, h.dtype) * upstream).sum()), h)
    # The model's backward multiplies the upstream gradient by the same scale its forward used.
    assert_grad_close(upstream * scale, numeric, f"dropout {style}")


def test_l2_gradient() -> None:
    rng = np.random.default_rng(6)
    params = {"dense0.W": rng.standard_normal((3, 4)), "dense0.b": rng.standard_normal(4)}
    analytic = l2_grads(params, 0.01)
    assert set(analytic) == {"dense0.W"}, "L2 covers kernels only"
    numeric = numeric_grad(lambda: l2_penalty(0.01, [params[key] for key in kernel_keys(params)]), params["dense0.W"])
    assert_grad_close(analytic["dense0.W"], numeric, "l2")


# --- whole networks --------------------------------------------------------------------------------------------

SMALL_INPUTS, SMALL_CLASSES, SMALL_HIDDEN, SMALL_BATCH = 12, 4, (6, 5), 5
SMALL_WIDTHS = (6, 5, 4, 3)  # hidden widths for a variant of up to four hidden layers, keeping its depth


class KinkCrossed(Exception):
    """A finite-difference evaluation switched some ReLU on or off, so its difference quotient is meaningless."""


def kink_pattern(model: MLP, x: np.ndarray, masks: dict | None) -> list[np.ndarray]:
    """Which units are on (input > 0) at every hidden layer; empty for activations without a kink."""
    spec = model.model_spec
    if spec.activation not in ("relu", "leaky_relu"):
        return []
    outputs = model.activations(x, training=True, dropout_masks=masks)
    source = "bn" if spec.batch_norm is not None else "dense"
    return [outputs[f"{source}{i}"] > 0 for i in range(len(spec.hidden_sizes))]


def check_network_at(model_spec: ModelSpec, train_spec: TrainSpec, seed: int) -> None:
    """Gradient check of the float64 network drawn from `seed`; raises KinkCrossed if the point is at a kink."""
    rng = np.random.default_rng(seed)
    model = MLP(model_spec, replace(train_spec, dtype="float64"), initial_params(model_spec, seed, "float64"))
    x = rng.standard_normal((SMALL_BATCH, model_spec.input_size))
    y = rng.integers(0, model_spec.output_size, SMALL_BATCH)
    masks = dropout_masks(model_spec, SMALL_BATCH, seed=seed, epoch=0)
    base_pattern = kink_pattern(model, x, masks)
    _, analytic = model.loss_and_grads(x, y, masks)
    params = model.get_params()
    assert set(analytic) == {k for k in params if is_trainable(k)}

    def loss_at_params() -> float:
        model.set_params(params)
        pattern = kink_pattern(model, x, masks)
        if any((a != b).any() for a, b in zip(pattern, base_pattern, strict=True)):
            raise KinkCrossed
        return model.loss_and_grads(x, y, masks)[0]

    for key in analytic:
        numeric = numeric_grad(loss_at_params, params[key])
        if model_spec.batch_norm is not None and key in cancelled_by_batch_norm(model_spec):
            # BN subtracts the batch mean, so a bias before it cannot change the loss: both must be (near) zero.
            assert np.abs(analytic[key]).max() < 1e-12 and np.abs(numeric).max() < 1e-8, key
        else:
            assert_grad_close(analytic[key], numeric, key)


def cancelled_by_batch_norm(model_spec: ModelSpec) -> set[str]:
    """The hidden Dense biases that feed a batch norm."""
    return {f"dense{i}.b" for i in range(len(model_spec.hidden_sizes))}


def assert_network_gradients(model_spec: ModelSpec, train_spec: TrainSpec) -> None:
    """Check at the first seed whose point no FD step moves across a ReLU kink."""
    for seed in range(20):
        try:
            check_network_at(model_spec, train_spec, seed)
        except KinkCrossed:
            continue
        return
    raise AssertionError("every tried point straddles a ReLU kink; the check cannot run")


# lincoln's relu_linear_gradient and mse_normalized are not derivatives by design; tests/test_seed_semantics.py
# checks their rules instead.
VARIANTS = {name: variant for name, variant in all_variants().items() if variant.model.exact_gradient}


@pytest.mark.parametrize("name", list(VARIANTS), ids=list(VARIANTS))
def test_variant_network_gradients(name: str) -> None:
    variant = VARIANTS[name].for_data(SMALL_INPUTS, SMALL_CLASSES)
    depth = len(variant.model.hidden_sizes)
    assert depth <= len(SMALL_WIDTHS), f"{name} has {depth} hidden layers; extend SMALL_WIDTHS"
    model_spec = replace(variant.model, hidden_sizes=SMALL_WIDTHS[:depth])
    assert_network_gradients(model_spec, variant.train)


def small_spec(**changes) -> ModelSpec:
    return replace(ModelSpec(SMALL_INPUTS, SMALL_HIDDEN, SMALL_CLASSES, init=InitSpec("glorot_uniform")), **changes)


# Features no registered variant exercises yet, so the network check covers every option of the spec.
FEATURE_SPECS = {
    "leaky-relu": small_spec(activation="leaky_relu", leaky_relu_alpha=0.1),
    "linear": small_spec(activation="linear"),
    "softmax-output": small_spec(output="softmax"),
    "mse-linear": small_spec(loss="mse"),
    "mse-sigmoid": small_spec(loss="mse", output="sigmoid"),
    "mse-softmax": small_spec(loss="mse", output="softmax"),
    "binary-ce": small_spec(loss="binary_ce", output="sigmoid"),
    "keep-prob-dropout": small_spec(dropout=(0.3, 0.5), dropout_style="keep_prob"),
    "inverted-dropout-one-layer": small_spec(dropout=(0.0, 0.4)),
    "l2": small_spec(l2=0.01),
    "bn-biased-tanh": small_spec(activation="tanh", batch_norm=BatchNormSpec(0.9, 1e-5, "biased")),
    "bn-dropout-l2": small_spec(batch_norm=BatchNormSpec(), dropout=(0.2, 0.2), l2=0.005),
    "bias-like-weights": small_spec(init=InitSpec("he_normal", truncated=True, bias="like_weights")),
    "no-hidden-layer": small_spec(hidden_sizes=()),
}


@pytest.mark.parametrize("name", list(FEATURE_SPECS), ids=list(FEATURE_SPECS))
def test_feature_network_gradients(name: str) -> None:
    assert_network_gradients(FEATURE_SPECS[name], TrainSpec())
