"""The canonical parameter layout shared by every framework (README, "Parity": one parameter dict loads everywhere).

Keys, for hidden layer i (0-based) and output layer L = len(hidden_sizes):
    dense{i}.W (fan_in, fan_out)   dense{i}.b (fan_out,)   no bias when batch norm follows (see has_bias)
    bn{i}.gamma, bn{i}.beta, bn{i}.running_mean, bn{i}.running_var  (width,)   only with batch norm
    dense{L}.W, dense{L}.b         the output layer
Trainable keys are all but the running statistics.
"""

from __future__ import annotations

import itertools

import numpy as np

from harness.core.errors import ParamMismatchError
from harness.core.specs import ModelSpec

BN_RUNNING_STATS = ("running_mean", "running_var")


def has_bias(spec: ModelSpec, layer: int) -> bool:
    """Whether Dense layer `layer` has a bias: not when batch norm follows it.

    BN subtracts the batch mean, so such a bias has an exact gradient of 0 and no effect on any output; computed in
    floating point its gradient is rounding noise (~1e-17) that differs between frameworks, and adaptive optimisers
    (Adam, RMSProp, AdaGrad) divide by its own tiny second moment and turn that noise into steps of order lr, which
    leak into the BN running mean. Leaving it out (use_bias=False / bias=False, the usual Dense → BN practice) is
    exactly the same network in exact arithmetic.
    """
    return spec.batch_norm is None or layer == len(spec.hidden_sizes)


def param_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every canonical key of `spec` with its shape, in layer order."""
    sizes = spec.layer_sizes
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        shapes[f"dense{i}.W"] = (fan_in, fan_out)
        if has_bias(spec, i):
            shapes[f"dense{i}.b"] = (fan_out,)
        if spec.batch_norm is not None and i < len(spec.hidden_sizes):
            for name in ("gamma", "beta", *BN_RUNNING_STATS):
                shapes[f"bn{i}.{name}"] = (fan_out,)
    return shapes


def is_trainable(key: str) -> bool:
    """False for BN running statistics, which are state rather than parameters."""
    return key.rsplit(".", 1)[1] not in BN_RUNNING_STATS


def trainable_keys(spec: ModelSpec) -> list[str]:
    return [k for k in param_shapes(spec) if is_trainable(k)]


def check_params(spec: ModelSpec, params: dict[str, np.ndarray], *, trainable_only: bool = False) -> None:
    """Raise ParamMismatchError unless `params` has exactly the canonical keys and shapes of `spec`."""
    expected = param_shapes(spec)
    if trainable_only:
        expected = {k: v for k, v in expected.items() if is_trainable(k)}
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise ParamMismatchError(
            f"parameter keys do not match the spec: missing {missing}, unexpected {extra}; "
            "build the dict with harness.core.initializers.initial_params(spec, seed, dtype)"
        )
    wrong = {
        k: (tuple(np.shape(params[k])), shape) for k, shape in expected.items() if tuple(np.shape(params[k])) != shape
    }
    if wrong:
        detail = ", ".join(f"{k}: got {got}, want {want}" for k, (got, want) in wrong.items())
        raise ParamMismatchError(f"parameter shapes do not match the spec: {detail}")
