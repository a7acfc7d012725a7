"""Element-wise activations and their backward passes, plus the softmax family used by outputs and losses.

Every function keeps the dtype of its input. Shapes: z, a, grad are (n, width).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1/(1+e^−z), computed from e^−|z| so that neither branch overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, shifted by the row maximum (stable log-sum-exp)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax over the last axis, shifted by the row maximum."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activate(name: str, z: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """Hidden activation `name` (harness.core.specs.ACTIVATIONS) of pre-activation z; alpha is leaky_relu's slope."""
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name in ("relu", "relu_linear_gradient"):
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, z * alpha)
    if name == "linear":
        return z
    raise ValueError(f"unknown activation {name!r}; see harness.core.specs.ACTIVATIONS")


def activation_backward(name: str, z: np.ndarray, a: np.ndarray, grad: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """dL/dz from dL/da = grad, given z and a = activate(name, z). ReLU's derivative at 0 is 0 (as torch/Keras)."""
    if name == "sigmoid":
        return grad * (a * (1 - a))
    if name == "tanh":
        return grad * (1 - a * a)
    if name == "relu":
        return np.where(z > 0, grad, 0)
    if name == "leaky_relu":
        return np.where(z > 0, grad, grad * alpha)
    if name in ("linear", "relu_linear_gradient"):
        return grad
    raise ValueError(f"unknown activation {name!r}; see harness.core.specs.ACTIVATIONS")


def output_activation(name: str, z: np.ndarray) -> np.ndarray:
    """The output activation `name` (harness.core.specs.OUTPUTS) of logits z (n, classes)."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return sigmoid(z)
    if name == "softmax":
        return softmax(z)
    raise ValueError(f"unknown output {name!r}; see harness.core.specs.OUTPUTS")


def output_backward(name: str, out: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """dL/dz from dL/dout = grad, given out = output_activation(name, z) (n, classes)."""
    if name == "linear":
        return grad
    if name == "sigmoid":
        return grad * (out * (1 - out))
    if name == "softmax":
        return out * (grad - (grad * out).sum(axis=-1, keepdims=True))
    raise ValueError(f"unknown output {name!r}; see harness.core.specs.OUTPUTS")
