"""Element-wise hidden activations and the output activations used by the losses, on jax arrays.

Every function keeps the dtype of its input. Shapes: z (n, width).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def activate(name: str, z: jax.Array, alpha: float = 0.01) -> jax.Array:
    """Hidden activation `name` (harness.core.specs.ACTIVATIONS) of pre-activation z; alpha is leaky_relu's slope."""
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "tanh":
        return jnp.tanh(z)
    if name == "relu":
        return jax.nn.relu(z)
    if name == "leaky_relu":
        return jax.nn.leaky_relu(z, alpha)
    if name == "linear":
        return z
    if name == "relu_linear_gradient":
        # max(z, 0) forward, the identity backward: seed 000's ReLU (its gradient mask is always true)
        return z + jax.lax.stop_gradient(jax.nn.relu(z) - z)
    raise ValueError(f"unknown activation {name!r}; see harness.core.specs.ACTIVATIONS")


def output_activation(name: str, z: jax.Array) -> jax.Array:
    """The output activation `name` (harness.core.specs.OUTPUTS) of logits z (n, classes)."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "softmax":
        return jax.nn.softmax(z, axis=-1)
    raise ValueError(f"unknown output {name!r}; see harness.core.specs.OUTPUTS")
