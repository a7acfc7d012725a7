"""Element-wise hidden activations and the output activations used by the losses, on torch tensors.

Every function keeps the dtype of its input. Shapes: z (n, width).
"""

from __future__ import annotations

import torch
from torch.nn import functional


def activate(name: str, z: torch.Tensor, alpha: float = 0.01) -> torch.Tensor:
    """Hidden activation `name` (harness.core.specs.ACTIVATIONS) of pre-activation z; alpha is leaky_relu's slope."""
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return functional.leaky_relu(z, alpha)
    if name == "linear":
        return z
    if name == "relu_linear_gradient":
        # max(z, 0) forward, the identity backward: lincoln's ReLU (its gradient mask is always true)
        return z + (torch.relu(z) - z).detach()
    raise ValueError(f"unknown activation {name!r}; see harness.core.specs.ACTIVATIONS")


def output_activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """The output activation `name` (harness.core.specs.OUTPUTS) of logits z (n, classes)."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "softmax":
        return torch.softmax(z, dim=-1)
    raise ValueError(f"unknown output {name!r}; see harness.core.specs.OUTPUTS")
