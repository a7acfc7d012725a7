"""Losses from logits (the output activation is applied here) and the L2 penalty, each with its gradient.

Shapes: logits (n, classes), labels (n,) int class indices; returned gradients have the shape of what they
differentiate. Every loss is a mean over the batch of a per-sample sum over outputs:
    softmax_ce  −log softmax(z)[y]                       (output 'linear' or 'softmax': both mean logits here)
    mse         Σ_k (out_k − onehot_k)²,  out = output activation of z
    binary_ce   Σ_k −[t_k·log σ(z_k) + (1 − t_k)·log(1 − σ(z_k))], written max(z,0) − z·t + log(1 + e^−|z|)
    mse_normalized  Σ_k (out_k/Σ_j out_j − onehot_k)², gradient 2·(out/Σout − onehot)/n applied to out itself
Evaluation-only (ModelSpec.eval_loss):
    clipped_softmax_bce  Σ_k −t_k·log p_k − (1 − t_k)·log(1 − p_k), p = softmax(z) clipped to [1e-9, 1 − 1e-9]
L2: l2·Σ‖W‖² over the kernels dense{i}.W (no ½; biases and BN excluded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.core.specs import clipped_softmax_bounds
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
    if loss == "mse_normalized":
        return np.square(normalized_outputs(output, logits) - targets).sum() / n
    raise ValueError(f"unknown loss {loss!r}; see harness.core.specs.LOSSES")


def normalized_outputs(output: str, logits: np.ndarray) -> np.ndarray:
    """The output activation divided by its row sum (n, classes), as lincoln's MeanSquaredError(normalize=True)."""
    out = output_activation(output, logits)
    return out / out.sum(axis=1, keepdims=True)


def evaluation_loss(spec_eval_loss: str, loss: str, output: str, logits: np.ndarray, labels: np.ndarray) -> float:
    """The batch-mean loss that evaluation reports (ModelSpec.eval_loss), without the L2 term."""
    if spec_eval_loss == "training":
        return float(data_loss(loss, output, logits, labels))
    if spec_eval_loss == "clipped_softmax_bce":
        n, classes = logits.shape
        targets = one_hot(labels, classes, logits.dtype)
        low, high = clipped_softmax_bounds(logits.dtype.name)
        p = np.clip(softmax(logits), low, high)
        return float((-targets * np.log(p) - (1 - targets) * np.log(1 - p)).sum() / n)
    raise ValueError(f"unknown eval_loss {spec_eval_loss!r}; see harness.core.specs.EVAL_LOSSES")


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
    if loss == "mse_normalized":
        out = output_activation(output, logits)
        return value, output_backward(output, out, (normalized_outputs(output, logits) - targets) * (2 / n))
    raise ValueError(f"unknown loss {loss!r}; see harness.core.specs.LOSSES")


def kernel_keys(params: dict[str, np.ndarray]) -> list[str]:
    """The dense kernels dense{i}.W, the only parameters the L2 term covers."""
    return [key for key in params if key.startswith("dense") and key.endswith(".W")]


def l2_penalty(l2: float, kernels: Sequence[np.ndarray]) -> float:
    """l2·Σ‖W‖² over the dense kernels (no ½; biases and BN excluded)."""
    return float(l2 * sum(np.square(kernel).sum() for kernel in kernels))


def l2_grads(params: dict[str, np.ndarray], l2: float) -> dict[str, np.ndarray]:
    """2·l2·W per kernel key."""
    return {key: params[key] * (2 * l2) for key in kernel_keys(params)}
