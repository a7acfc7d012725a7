"""Initial parameters from (ModelSpec, seed): the one place in fwcompare where initial weights are made.

Every framework loads the dict this returns, so all comparisons start from bit-identical weights. Values are drawn
in float64 from np.random.default_rng(seed), layer by layer (kernel, then bias when it is drawn), and cast to the
requested dtype at the end, so the float32 and float64 models of one seed hold the same numbers up to rounding.
"""

from __future__ import annotations

import math

import numpy as np

from harness.core.params import param_shapes
from harness.core.specs import DTYPES, InitSpec, ModelSpec

# Standard deviation of N(0, 1) truncated to [-2, 2]; dividing σ by it keeps the variance after truncation (Keras).
TRUNCATED_STD_FACTOR = 0.87962566103423978
TRUNCATION_BOUND = 2.0


def init_scale(init: InitSpec, fan_in: int, fan_out: int) -> float:
    """σ for the normal schemes, the limit for the uniform ones, before any truncation correction."""
    if init.scheme in ("normal", "uniform"):
        given = init.std if init.scheme == "normal" else init.limit
        if given is None:  # InitSpec validates this; kept for the type checker
            raise ValueError(f"InitSpec(scheme={init.scheme!r}) needs its scale")
        return float(given)
    scales = {
        "glorot_uniform": math.sqrt(6.0 / (fan_in + fan_out)),
        "glorot_normal": math.sqrt(2.0 / (fan_in + fan_out)),
        "he_uniform": math.sqrt(6.0 / fan_in),
        "he_normal": math.sqrt(2.0 / fan_in),
        "lecun_normal": math.sqrt(1.0 / fan_in),
        "glorot_variance_as_std": 2.0 / (fan_in + fan_out),
        # kaiming_uniform_ with a=√5, which nn.Linear applies to its weight; its bias uses the same limit.
        "fan_in_uniform": math.sqrt(1.0 / fan_in),
    }
    return float(scales[init.scheme])


def truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """N(0, 1) draws with every value outside ±2 redrawn until none is left, float64."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > TRUNCATION_BOUND
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > TRUNCATION_BOUND
    return values


def draw(init: InitSpec, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """One float64 array of `shape` from the scheme of `init` (see InitSpec for the formulas)."""
    scale = init_scale(init, fan_in, fan_out)
    if init.scheme.endswith("uniform"):
        return rng.uniform(-scale, scale, shape)
    if init.truncated:
        return truncated_standard_normal(rng, shape) * (scale / TRUNCATED_STD_FACTOR)
    return rng.standard_normal(shape) * scale


def initial_params(model_spec: ModelSpec, seed: int, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The canonical parameter dict of harness/core/params.py for `model_spec`, drawn from `seed`, cast to `dtype`.

    dense{i}.W (fan_in, fan_out) from the spec's initialiser; dense{i}.b (fan_out,) zeros or drawn like the
    kernel (InitSpec.bias); BN gamma 1, beta 0, running_mean 0, running_var 1.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not valid; choose one of: {', '.join(DTYPES)}")
    rng = np.random.default_rng(seed)
    init = model_spec.init
    bn_constants = {"gamma": 1.0, "beta": 0.0, "running_mean": 0.0, "running_var": 1.0}
    params: dict[str, np.ndarray] = {}
    fans: dict[str, tuple[int, int]] = {}
    for key, shape in param_shapes(model_spec).items():
        layer, name = key.split(".")
        if name == "W":
            fan_in, fan_out = shape
            fans[layer] = (fan_in, fan_out)
            params[key] = draw(init, shape, fan_in, fan_out, rng)
        elif name == "b":
            params[key] = draw(init, shape, *fans[layer], rng) if init.bias == "like_weights" else np.zeros(shape)
        else:
            params[key] = np.full(shape, bn_constants[name])
    return {key: value.astype(dtype) for key, value in params.items()}
