"""Layers as forward/backward function pairs: Dense, batch normalisation, dropout with injected masks.

Forward functions return what the backward pass needs; nothing here holds state, so the model decides when BN
running statistics change. Shapes: x, z, h (n, width); kernels (fan_in, fan_out); vectors (width,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.specs import BatchNormSpec


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x @ W + b (or x @ W without a bias): (n, fan_in) → (n, fan_out)."""
    z = x @ kernel
    return z if bias is None else z + bias


def dense_backward(
    x: np.ndarray, kernel: np.ndarray, grad: np.ndarray, need_input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(dL/dx (n, fan_in) or None, dL/dW (fan_in, fan_out), dL/db (fan_out,)) from dL/dz = grad (n, fan_out)."""
    input_grad = grad @ kernel.T if need_input_grad else None
    return input_grad, x.T @ grad, grad.sum(axis=0)


@dataclass(frozen=True)
class BatchStats:
    """One training-mode BN pass: batch mean and biased variance (width,), normalised input x̂ (n, width)."""

    mean: np.ndarray
    var: np.ndarray
    inv_std: np.ndarray
    normalized: np.ndarray


def batch_norm_train(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> tuple[np.ndarray, BatchStats]:
    """γ·(z − μ)/√(σ² + eps) + β with the batch mean μ and biased variance σ² (1/N), as torch and Keras train."""
    mean = z.mean(axis=0)
    centered = z - mean
    var = np.square(centered).mean(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    normalized = centered * inv_std
    return normalized * gamma + beta, BatchStats(mean, var, inv_std, normalized)


def batch_norm_inference(
    z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, eps: float
) -> np.ndarray:
    """γ·(z − running_mean)/√(running_var + eps) + β."""
    return (z - running_mean) / np.sqrt(running_var + eps) * gamma + beta


def batch_norm_backward(
    grad: np.ndarray, gamma: np.ndarray, stats: BatchStats
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dz (n, width), dL/dγ, dL/dβ) of batch_norm_train, backpropagating through μ and σ²."""
    n = grad.shape[0]
    grad_gamma = (grad * stats.normalized).sum(axis=0)
    grad_beta = grad.sum(axis=0)
    grad_normalized = grad * gamma
    grad_z = (
        stats.inv_std
        / n
        * (
            n * grad_normalized
            - grad_normalized.sum(axis=0)
            - stats.normalized * (grad_normalized * stats.normalized).sum(axis=0)
        )
    )
    return grad_z, grad_gamma, grad_beta


def updated_running_stats(
    spec: BatchNormSpec, running_mean: np.ndarray, running_var: np.ndarray, stats: BatchStats, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """New (running_mean, running_var): m·running + (1 − m)·batch (Keras' momentum m; torch's is 1 − m).

    The batch variance entering running_var is the unbiased N/(N−1)·σ² (torch) or the biased σ² (Keras), as
    spec.running_var says.
    """
    batch_var = stats.var
    if spec.running_var == "unbiased":
        if n < 2:
            raise ValueError(
                "batch norm with running_var='unbiased' needs at least 2 samples per training batch (N/(N−1) is "
                "undefined for 1); choose a batch size that leaves no batch of one, or running_var='biased'"
            )
        batch_var = batch_var * (n / (n - 1))
    m = spec.momentum
    return running_mean * m + stats.mean * (1 - m), running_var * m + batch_var * (1 - m)


def dropout_scale(mask: np.ndarray, rate: float, style: str, dtype: np.dtype) -> np.ndarray:
    """What a training-mode dropout multiplies h by: mask·(1/(1−p)) (inverted) or the mask itself (keep_prob).

    The mask is cast to the model dtype first and multiplied by the reciprocal computed in Python double, the
    arithmetic torch and Keras use, so the three frameworks agree bit for bit.
    """
    mask = mask.astype(dtype, copy=False)
    return mask * (1.0 / (1.0 - rate)) if style == "inverted" else mask


def dropout_inference(h: np.ndarray, rate: float, style: str) -> np.ndarray:
    """Inference-mode dropout: identity (inverted) or h·(1 − p) (keep_prob: training did not rescale)."""
    return h if style == "inverted" else h * (1 - rate)
