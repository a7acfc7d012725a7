"""Losses from logits (the output activation is applied here) and the L2 penalty, each with its gradient.

Shapes: logits (n, classes), labels (n,) int class indices; returned gradients have the shape of what they
differentiate. Every loss is a mean over the batch of a per-sample sum over outputs:
    softmax_ce  −log softmax(z)[y]                       (output 'linear' or 'softmax': both mean logits here)
    mse         Σ_k (out_k − onehot_k)²,  out = output activation of z
    binary_ce   Σ_k −[t_k·log σ(z_k) + (1 − t_k)·log(1 − σ(z_k))], written max(z,0) − z·t + log(1 + e^−|z|)
L2: l2·Σ‖W‖² over the kernels dense{i}.W (no ½; biases and BN excluded).
"""

from __future__ import annotations

import numpy as np

from reference.activations import log_softmax, output_activation, output_backward, sigmoid, softmax


def one_hot(labels: np.ndarray, classes: int, dtype: np.dtype) -> np.ndarray:
    """(n, classes) 0/1 rows of `dtype` for labels (n,)."""
    targets = np.zeros((len(labels), classes), dtype=dtype)
    targets[np.arange(len(labels)), labels] = 1
    return targets


def data_loss(loss: str, output: str, logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The batch-mean loss (a 0-d array of the logits' dtype), without the L2 term."""
    n, classes = logits.shape
    if loss == "softmax_ce":
        return -log_softmax(logits)[np.arange(n), labels].sum() / n
    targets = one_hot(labels, classes, logits.dtype)
    if loss == "mse":
        return np.square(output_activation(output, logits) - targets).sum() / n
    if loss == "binary_ce":
        per_unit = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
        return per_unit.sum() / n
    raise ValueError(f"unknown loss {loss!r}; see harness.specs.LOSSES")


def data_loss_and_grad(loss: str, output: str, logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(batch-mean loss without L2, dloss/dlogits (n, classes))."""
    n, classes = logits.shape
    value = float(data_loss(loss, output, logits, labels))
    targets = one_hot(labels, classes, logits.dtype)
    if loss == "softmax_ce":
        return value, (softmax(logits) - targets) / n
    if loss == "mse":
        out = output_activation(output, logits)
        return value, output_backward(output, out, (out - targets) * (2 / n))
    if loss == "binary_ce":
        return value, (sigmoid(logits) - targets) / n
    raise ValueError(f"unknown loss {loss!r}; see harness.specs.LOSSES")


def kernel_keys(params: dict[str, np.ndarray]) -> list[str]:
    """The dense kernels dense{i}.W, the only parameters the L2 term covers."""
    return [key for key in params if key.startswith("dense") and key.endswith(".W")]


def l2_penalty(params: dict[str, np.ndarray], l2: float) -> float:
    """l2·Σ‖W‖² over the kernels."""
    return float(l2 * sum(np.square(params[key]).sum() for key in kernel_keys(params)))


def l2_grads(params: dict[str, np.ndarray], l2: float) -> dict[str, np.ndarray]:
    """2·l2·W per kernel key."""
    return {key: params[key] * (2 * l2) for key in kernel_keys(params)}
