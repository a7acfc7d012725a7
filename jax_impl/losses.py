"""Losses from logits and the L2 penalty, written out as jnp expressions (not optax's loss functions).

Shapes: logits (n, classes), labels (n,) integer class indices. Per sample, a sum over outputs:
    softmax_ce  −log softmax(z)[y]                       (output 'linear' or 'softmax': both mean logits here)
    mse         Σ_k (out_k − onehot_k)²,  out = output activation of z
    binary_ce   Σ_k −[t_k·log σ(z_k) + (1 − t_k)·log(1 − σ(z_k))], written max(z,0) − z·t + log(1 + e^−|z|)
    mse_normalized  Σ_k (out_k/Σ_j out_j − onehot_k)², no gradient through the division (stop_gradient)
Evaluation-only (ModelSpec.eval_loss):
    clipped_softmax_bce  Σ_k −t_k·log p_k − (1 − t_k)·log(1 − p_k), p = softmax(z) clipped to [1e-9, 1 − 1e-9]
The batch loss is the mean of these plus l2·Σ‖W‖² over the kernels (no ½; biases and BN excluded).
Gradients come from jax.grad.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from harness.core.specs import ModelSpec, clipped_softmax_bounds
from jax_impl.activations import output_activation


def one_hot(labels: jax.Array, logits: jax.Array) -> jax.Array:
    """(n, classes) 0/1 rows in the dtype of `logits`."""
    return jax.nn.one_hot(labels, logits.shape[1], dtype=logits.dtype)


def per_sample_loss(spec: ModelSpec, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The loss of each sample (n,), without the L2 term."""
    if spec.loss == "softmax_ce":
        return -jnp.take_along_axis(jax.nn.log_softmax(logits, axis=1), labels[:, None], axis=1)[:, 0]
    targets = one_hot(labels, logits)
    if spec.loss == "mse":
        return jnp.sum(jnp.square(output_activation(spec.output, logits) - targets), axis=1)
    if spec.loss == "binary_ce":
        per_unit = jnp.maximum(logits, 0) - logits * targets + jnp.log1p(jnp.exp(-jnp.abs(logits)))
        return jnp.sum(per_unit, axis=1)
    if spec.loss == "mse_normalized":
        out = output_activation(spec.output, logits)
        # Value of the normalised outputs, gradient of the raw ones: seed 000 differentiates as if out were used.
        normalized = out + jax.lax.stop_gradient(out / jnp.sum(out, axis=1, keepdims=True) - out)
        return jnp.sum(jnp.square(normalized - targets), axis=1)
    raise ValueError(f"unknown loss {spec.loss!r}; see harness.core.specs.LOSSES")


def per_sample_eval_loss(spec: ModelSpec, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The loss that evaluation reports (ModelSpec.eval_loss) for each sample (n,), without the L2 term."""
    if spec.eval_loss == "training":
        return per_sample_loss(spec, logits, labels)
    if spec.eval_loss == "clipped_softmax_bce":
        targets = one_hot(labels, logits)
        low, high = clipped_softmax_bounds(str(logits.dtype))
        p = jnp.clip(jax.nn.softmax(logits, axis=1), low, high)
        return jnp.sum(-targets * jnp.log(p) - (1 - targets) * jnp.log(1 - p), axis=1)
    raise ValueError(f"unknown eval_loss {spec.eval_loss!r}; see harness.core.specs.EVAL_LOSSES")


def l2_penalty(l2: float, kernels: Sequence[jax.Array]) -> jax.Array | float:
    """l2·Σ‖W‖² over the dense kernels (no ½; biases and BN excluded); 0.0 without L2, so nothing is added to the
    computation."""
    if l2 == 0:
        return 0.0
    return l2 * sum(jnp.sum(jnp.square(kernel)) for kernel in kernels)


def batch_loss(spec: ModelSpec, logits: jax.Array, labels: jax.Array, kernels: Sequence[jax.Array]) -> jax.Array:
    """The training objective of one batch: mean per-sample loss plus the L2 term (0-d array)."""
    return jnp.mean(per_sample_loss(spec, logits, labels)) + l2_penalty(spec.l2, kernels)
