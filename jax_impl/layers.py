"""The network of a ModelSpec as a pure function of its arrays: Dense, batch norm, dropout from injected keep-masks.

Input → [Dense → (BN) → activation → (dropout)] per hidden layer → Dense → logits. JAX has no layers of its own, so
each is written here, in the reference's order of operations. `params` holds the canonical trainable keys (kernels
dense{i}.W (fan_in, fan_out), as harness/core/params.py), `stats` the BN running statistics bn{i}.running_mean /
running_var. Shapes: x, h (n, width); masks {"dropout{i}": (n, hidden_sizes[i]) 0/1 arrays in the model dtype}.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.core.batching import missing_masks_error
from harness.core.specs import BatchNormSpec, ModelSpec
from jax_impl.activations import activate

Arrays = dict[str, jax.Array]


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
    """x @ W + b (or x @ W without a bias): (n, fan_in) → (n, fan_out)."""
    z = x @ kernel
    return z if bias is None else z + bias


def dropout_train(h: jax.Array, mask: jax.Array, rate: float, style: str) -> jax.Array:
    """Training-mode dropout: h·(mask·(1/(1−p))) (inverted) or h·mask (keep_prob).

    The reciprocal is computed in Python double and multiplied into the mask first (a weakly typed scalar takes the
    mask's dtype): the arithmetic torch's own dropout and Keras use, so every framework agrees bit for bit.
    """
    return h * (mask * (1.0 / (1.0 - rate))) if style == "inverted" else h * mask


def dropout_inference(h: jax.Array, rate: float, style: str) -> jax.Array:
    """Inference-mode dropout: identity (inverted) or h·(1 − p) (keep_prob: training did not rescale)."""
    return h if style == "inverted" else h * (1 - rate)


def batch_norm_train(
    z: jax.Array, gamma: jax.Array, beta: jax.Array, eps: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(γ·(z − μ)/√(σ² + eps) + β, μ, σ²) with the batch mean μ and biased variance σ² (1/N), as torch and Keras
    train; μ and σ² are (width,)."""
    mean = jnp.mean(z, axis=0)
    centered = z - mean
    var = jnp.mean(jnp.square(centered), axis=0)
    inv_std = 1 / jnp.sqrt(var + eps)
    return centered * inv_std * gamma + beta, mean, var


def batch_norm_inference(
    z: jax.Array, gamma: jax.Array, beta: jax.Array, running_mean: jax.Array, running_var: jax.Array, eps: float
) -> jax.Array:
    """γ·(z − running_mean)/√(running_var + eps) + β."""
    return (z - running_mean) / jnp.sqrt(running_var + eps) * gamma + beta


def updated_running_stats(
    spec: BatchNormSpec, running_mean: jax.Array, running_var: jax.Array, mean: jax.Array, var: jax.Array, n: int
) -> tuple[jax.Array, jax.Array]:
    """New (running_mean, running_var): m·running + (1 − m)·batch, m = spec.momentum (the Keras meaning).

    The batch variance entering running_var is the unbiased N/(N−1)·σ² or the biased σ², as spec.running_var says:
    jax_impl runs either (harness.core.conventions.NATIVE_FORMS).
    """
    if spec.running_var == "unbiased":
        var = var * (n / (n - 1))
    m = spec.momentum
    return running_mean * m + mean * (1 - m), running_var * m + var * (1 - m)


def activation_keys(spec: ModelSpec) -> list[str]:
    """The activation keys of harness.core.interface in layer order: dense{i}, bn{i}, act{i}, dropout{i}, ..., logits.

    jax.jit returns dicts with sorted keys, so the model puts its outputs back into this order.
    """
    keys = []
    for i in range(len(spec.hidden_sizes)):
        keys += [f"dense{i}", *([f"bn{i}"] if spec.batch_norm is not None else []), f"act{i}"]
        if spec.dropout_rate(i) > 0:
            keys.append(f"dropout{i}")
    return [*keys, "logits"]


def network(
    spec: ModelSpec, params: Arrays, stats: Arrays, x: jax.Array, masks: Arrays | None, training: bool
) -> tuple[Arrays, Arrays]:
    """(every layer's output by activation key, each (n, width); the BN running statistics after this pass).

    A training pass normalises by the batch statistics and returns the running statistics updated with them; an
    inference pass normalises by the running statistics and returns them unchanged. Whether the update is kept is
    the caller's choice. Raises ValueError when training with dropout and no mask for a layer.
    """
    outputs: Arrays = {}
    new_stats = dict(stats)
    bn_spec = spec.batch_norm
    h = x
    for i in range(len(spec.hidden_sizes)):
        h = outputs[f"dense{i}"] = dense(h, params[f"dense{i}.W"], params.get(f"dense{i}.b"))
        if bn_spec is not None:
            gamma, beta = params[f"bn{i}.gamma"], params[f"bn{i}.beta"]
            mean_key, var_key = f"bn{i}.running_mean", f"bn{i}.running_var"
            if training:
                h, mean, var = batch_norm_train(h, gamma, beta, bn_spec.eps)
                new_stats[mean_key], new_stats[var_key] = updated_running_stats(
                    bn_spec, stats[mean_key], stats[var_key], mean, var, h.shape[0]
                )
            else:
                h = batch_norm_inference(h, gamma, beta, stats[mean_key], stats[var_key], bn_spec.eps)
            outputs[f"bn{i}"] = h
        h = outputs[f"act{i}"] = activate(spec.activation, h, spec.leaky_relu_alpha)
        rate = spec.dropout_rate(i)
        if rate > 0:
            key = f"dropout{i}"
            if not training:
                h = dropout_inference(h, rate, spec.dropout_style)
            elif masks is None or key not in masks:
                raise missing_masks_error(key)
            else:
                h = dropout_train(h, masks[key], rate, spec.dropout_style)
            outputs[key] = h
    last = len(spec.hidden_sizes)
    outputs["logits"] = dense(h, params[f"dense{last}.W"], params.get(f"dense{last}.b"))
    return outputs, new_stats


def kernels(spec: ModelSpec, params: Arrays) -> list[jax.Array]:
    """The Dense kernels, the arrays the L2 term covers."""
    return [params[f"dense{i}.W"] for i in range(len(spec.hidden_sizes) + 1)]
