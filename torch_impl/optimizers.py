"""torch.optim optimisers from an OptimizerSpec (torch form), and their state under the canonical slot names.

    sgd        SGD(lr)                                  p −= lr·g
    momentum   SGD(lr, momentum=μ)                      buf = μ·buf + g (first buf = g);  p −= lr·buf
    nesterov   SGD(lr, momentum=μ, nesterov=True)       buf as momentum;  p −= lr·(g + μ·buf)
    adagrad    Adagrad(lr, lr_decay=0, initial_accumulator_value, eps)   s += g²;  p −= lr·g/(√s + eps)
    rmsprop    RMSprop(lr, alpha=ρ, eps)                v = ρ·v + (1−ρ)·g²;  p −= lr·g/(√v + eps)
    adam       Adam(lr, betas=(β₁, β₂), eps)            p −= lr/(1−β₁ᵗ)·m/(√v/√(1−β₂ᵗ) + eps)

The learning rate is written into the param group before every step (set_learning_rate); with momentum, torch
applies the new lr to the whole buffer, which is the torch form of the reference (harness/core/conventions.py).
No weight decay: L2 is part of the loss. SGD, Adagrad and Adam run torch's fused kernels (one kernel per step
for all parameters instead of several per parameter; the same update rule, within parity's rounding rules);
RMSprop has none.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from harness.core.specs import OptimizerSpec

# optimizer name -> {canonical slot name: the key torch keeps that quantity under in optimizer.state[param]}
TORCH_SLOTS: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"velocity": "momentum_buffer"},
    "nesterov": {"velocity": "momentum_buffer"},
    "adagrad": {"accumulator": "sum"},
    "rmsprop": {"square_avg": "square_avg"},
    "adam": {"m": "exp_avg", "v": "exp_avg_sq"},
}


def make_optimizer(spec: OptimizerSpec, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch.optim optimiser of `spec` over `params`, every hyperparameter passed explicitly."""
    params = list(params)
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=0.0, fused=True)
    if spec.name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params, lr=spec.lr, momentum=spec.momentum, dampening=0.0, nesterov=spec.name == "nesterov", fused=True
        )
    if spec.name == "adagrad":
        return torch.optim.Adagrad(
            params,
            lr=spec.lr,
            lr_decay=0.0,
            initial_accumulator_value=spec.initial_accumulator,
            eps=spec.eps,
            fused=True,
        )
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, alpha=spec.rho, eps=spec.eps, momentum=0.0, centered=False)
    if spec.name == "adam":
        return torch.optim.Adam(
            params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, amsgrad=False, fused=True
        )
    raise ValueError(f"unknown optimizer {spec.name!r}; see harness.core.specs.OPTIMIZERS")


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Use `lr` from the next step on (a Python float: no device tensor, no host sync)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def slot_tensors(optimizer: torch.optim.Optimizer, name: str, param: torch.Tensor) -> dict[str, torch.Tensor]:
    """{canonical slot: tensor} of optimizer `name` for `param`, in torch's layout.

    torch creates most state on the first step; until then the slot is the zeros it is mathematically
    equivalent to (a momentum buffer starting at zero gives first buf = g; Adam's moments start at zero).
    """
    state = optimizer.state.get(param, {})
    return {
        slot: state[torch_key] if state.get(torch_key) is not None else torch.zeros_like(param)
        for slot, torch_key in TORCH_SLOTS[name].items()
    }
