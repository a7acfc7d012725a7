"""Each initialiser's empirical mean, std and bounds against its formula (harness/core/specs.py InitSpec).

A 400×300 kernel gives 120 000 draws: the sample std is within 1.5% of σ (its standard error is ~0.2%) and the
mean within 5 standard errors of 0.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
import pytest

from harness.core.initializers import TRUNCATED_STD_FACTOR, initial_params
from harness.core.params import param_shapes
from harness.core.specs import BatchNormSpec, InitSpec, ModelSpec

FAN_IN, FAN_OUT = 400, 300


def kernel(init: InitSpec, seed: int = 0, dtype: str = "float64") -> np.ndarray:
    spec = ModelSpec(FAN_IN, (FAN_OUT,), 2, init=init)
    return initial_params(spec, seed, dtype)["dense0.W"]


def assert_mean_zero(values: np.ndarray, std: float) -> None:
    assert abs(values.mean()) < 5 * std / sqrt(values.size)


# scheme -> σ of the (untruncated or variance-kept) normal, or the limit of the uniform
NORMAL_STD = {
    "normal": 0.05,
    "glorot_normal": sqrt(2 / (FAN_IN + FAN_OUT)),
    "he_normal": sqrt(2 / FAN_IN),
    "lecun_normal": sqrt(1 / FAN_IN),
}
UNIFORM_LIMIT = {
    "uniform": 0.05,
    "glorot_uniform": sqrt(6 / (FAN_IN + FAN_OUT)),
    "he_uniform": sqrt(6 / FAN_IN),
    "fan_in_uniform": sqrt(1 / FAN_IN),
}


@pytest.mark.parametrize("scheme", list(UNIFORM_LIMIT))
def test_uniform_schemes(scheme: str) -> None:
    limit = UNIFORM_LIMIT[scheme]
    values = kernel(InitSpec(scheme, limit=0.05 if scheme == "uniform" else None))
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.999 * limit, "draws should reach the limit"
    assert values.std() == pytest.approx(limit / sqrt(3), rel=0.015)
    assert_mean_zero(values, limit / sqrt(3))


@pytest.mark.parametrize("scheme", list(NORMAL_STD))
def test_untruncated_normal_schemes(scheme: str) -> None:
    std = NORMAL_STD[scheme]
    values = kernel(InitSpec(scheme, std=0.05 if scheme == "normal" else None))
    assert values.std() == pytest.approx(std, rel=0.015)
    assert_mean_zero(values, std)
    # Plain normal (PyTorch): about 4.55% of draws lie beyond 2σ.
    assert np.mean(np.abs(values) > 2 * std) == pytest.approx(0.0455, abs=0.003)


@pytest.mark.parametrize("scheme", list(NORMAL_STD))
def test_truncated_normal_schemes(scheme: str) -> None:
    std = NORMAL_STD[scheme]
    values = kernel(InitSpec(scheme, std=0.05 if scheme == "normal" else None, truncated=True))
    corrected = std / TRUNCATED_STD_FACTOR
    assert np.abs(values).max() <= 2 * corrected
    assert np.abs(values).max() > 0.99 * 2 * corrected, "draws should reach the truncation bound"
    # Dividing σ by 0.8796… keeps the variance of the untruncated scheme (Keras).
    assert values.std() == pytest.approx(std, rel=0.015)
    assert_mean_zero(values, std)


def test_truncation_constant_is_the_std_of_a_standard_normal_cut_at_two() -> None:
    rng = np.random.default_rng(0)
    draws = rng.standard_normal(2_000_000)
    assert draws[np.abs(draws) <= 2].std() == pytest.approx(TRUNCATED_STD_FACTOR, rel=2e-3)


def test_biases_zero_or_drawn_like_the_kernel() -> None:
    zeros = initial_params(ModelSpec(FAN_IN, (FAN_OUT,), 2, init=InitSpec("he_uniform")), 0)
    assert not zeros["dense0.b"].any() and not zeros["dense1.b"].any()
    spec = ModelSpec(FAN_IN, (2000,), 2, init=InitSpec("he_uniform", bias="like_weights"))
    bias = initial_params(spec, 0, "float64")["dense0.b"]
    limit = sqrt(6 / FAN_IN)  # the kernel's fan_in, not the bias length
    assert np.abs(bias).max() <= limit
    assert bias.std() == pytest.approx(limit / sqrt(3), rel=0.05)


def test_batch_norm_constants_and_canonical_layout() -> None:
    spec = ModelSpec(5, (4, 3), 2, batch_norm=BatchNormSpec())
    params = initial_params(spec, 0)
    assert {k: v.shape for k, v in params.items()} == param_shapes(spec)
    for i in range(2):
        assert (params[f"bn{i}.gamma"] == 1).all() and (params[f"bn{i}.running_var"] == 1).all()
        assert not params[f"bn{i}.beta"].any() and not params[f"bn{i}.running_mean"].any()


def test_seed_determinism_and_dtype_is_a_cast_of_the_float64_draw() -> None:
    init = InitSpec("glorot_normal", truncated=True)
    np.testing.assert_array_equal(kernel(init, seed=3), kernel(init, seed=3))
    assert not np.array_equal(kernel(init, seed=3), kernel(init, seed=4))
    single = kernel(init, seed=3, dtype="float32")
    assert single.dtype == np.float32
    np.testing.assert_array_equal(single, kernel(init, seed=3).astype(np.float32))


def test_unknown_dtype_is_an_error() -> None:
    with pytest.raises(ValueError, match="float16"):
        initial_params(ModelSpec(3, (2,), 2), 0, "float16")
