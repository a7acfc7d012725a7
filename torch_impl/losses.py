"""Losses from logits and the L2 penalty, written out as tensor expressions (not torch's loss modules).

Shapes: logits (n, classes), labels (n,) int64 class indices. Per sample, a sum over outputs:
    softmax_ce  −log softmax(z)[y]                       (output 'linear' or 'softmax': both mean logits here)
    mse         Σ_k (out_k − onehot_k)²,  out = output activation of z
    binary_ce   Σ_k −[t_k·log σ(z_k) + (1 − t_k)·log(1 − σ(z_k))], written max(z,0) − z·t + log(1 + e^−|z|)
    mse_normalized  Σ_k (out_k/Σ_j out_j − onehot_k)², no gradient through the division (detached)
Evaluation-only (ModelSpec.eval_loss):
    clipped_softmax_bce  Σ_k −t_k·log p_k − (1 − t_k)·log(1 − p_k), p = softmax(z) clipped to [1e-9, 1 − 1e-9]
The batch loss is the mean of these plus l2·Σ‖W‖² over the kernels (no ½; biases and BN excluded).
Gradients come from autograd.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from harness.core.specs import ModelSpec, clipped_softmax_bounds
from torch_impl.activations import output_activation


def one_hot(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """(n, classes) 0/1 rows in the dtype and on the device of `logits` (scatter: no host-side label check)."""
    return torch.zeros_like(logits).scatter_(1, labels[:, None], 1.0)


def per_sample_loss(spec: ModelSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of each sample (n,), without the L2 term."""
    if spec.loss == "softmax_ce":
        return -torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    targets = one_hot(labels, logits)
    if spec.loss == "mse":
        return torch.square(output_activation(spec.output, logits) - targets).sum(dim=1)
    if spec.loss == "binary_ce":
        per_unit = torch.clamp(logits, min=0) - logits * targets + torch.log1p(torch.exp(-torch.abs(logits)))
        return per_unit.sum(dim=1)
    if spec.loss == "mse_normalized":
        out = output_activation(spec.output, logits)
        # Value of the normalised outputs, gradient of the raw ones: lincoln differentiates as if out were used.
        normalized = out + (out / out.sum(dim=1, keepdim=True) - out).detach()
        return torch.square(normalized - targets).sum(dim=1)
    raise ValueError(f"unknown loss {spec.loss!r}; see harness.core.specs.LOSSES")


def per_sample_eval_loss(spec: ModelSpec, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss that evaluation reports (ModelSpec.eval_loss) for each sample (n,), without the L2 term."""
    if spec.eval_loss == "training":
        return per_sample_loss(spec, logits, labels)
    if spec.eval_loss == "clipped_softmax_bce":
        targets = one_hot(labels, logits)
        low, high = clipped_softmax_bounds(str(logits.dtype).removeprefix("torch."))
        p = torch.clamp(torch.softmax(logits, dim=1), low, high)
        return (-targets * torch.log(p) - (1 - targets) * torch.log(1 - p)).sum(dim=1)
    raise ValueError(f"unknown eval_loss {spec.eval_loss!r}; see harness.core.specs.EVAL_LOSSES")


def l2_penalty(l2: float, kernels: Sequence[torch.Tensor]) -> torch.Tensor | float:
    """l2·Σ‖W‖² over the dense kernels (no ½; biases and BN excluded); 0.0 without L2, so nothing is added to the
    graph."""
    if l2 == 0:
        return 0.0
    return l2 * sum(torch.square(kernel).sum() for kernel in kernels)


def batch_loss(
    spec: ModelSpec, logits: torch.Tensor, labels: torch.Tensor, kernels: Sequence[torch.Tensor]
) -> torch.Tensor:
    """The training objective of one batch: mean per-sample loss plus the L2 term (0-d tensor)."""
    return per_sample_loss(spec, logits, labels).mean() + l2_penalty(spec.l2, kernels)
