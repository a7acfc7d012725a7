"""Each reference optimiser × form against updates worked out by hand from its formula (reference/optimizers.py).

The tiny problem: p0 = [1, −2], gradients g1 = [0.5, −1] then g2 = [0.2, 0.4], learning rates 0.1 then 0.05
(a changing lr is where the torch and Keras momentum forms part ways). Expected values are written out below.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
import pytest

from harness.core.specs import OPTIMIZER_FORMS, OPTIMIZERS, OptimizerSpec
from reference.optimizers import Optimizer

P0 = [1.0, -2.0]
G1, G2 = [0.5, -1.0], [0.2, 0.4]
LR1, LR2 = 0.1, 0.05
EPS = 0.01  # large enough that where it sits (inside or outside the root) shows in the numbers


def run_two_steps(spec: OptimizerSpec) -> tuple[list[np.ndarray], Optimizer]:
    """Parameters after step 1 and step 2, and the optimiser (for its state)."""
    params = {"w": np.array(P0)}
    optimizer = Optimizer(spec, params)
    after = []
    for grad, lr in ((G1, LR1), (G2, LR2)):
        optimizer.step(params, {"w": np.array(grad)}, lr)
        after.append(params["w"].copy())
    return after, optimizer


def assert_steps(spec: OptimizerSpec, p1: list[float], p2: list[float], state: dict[str, list[float]]) -> None:
    after, optimizer = run_two_steps(spec)
    np.testing.assert_allclose(after[0], p1, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(after[1], p2, rtol=1e-13, atol=1e-15)
    slots = optimizer.state()
    assert set(slots) == {f"w/{slot}" for slot in state}
    for slot, values in state.items():
        np.testing.assert_allclose(slots[f"w/{slot}"], values, rtol=1e-13, atol=1e-15)


def test_sgd() -> None:
    assert_steps(OptimizerSpec("sgd", lr=LR1), [0.95, -1.9], [0.94, -1.92], {})


def test_momentum_gradient_buffer_form() -> None:
    # buf1 = g1 = [0.5, −1]; p1 = p0 − 0.1·buf1.  buf2 = 0.9·buf1 + g2 = [0.65, −0.5]; p2 = p1 − 0.05·buf2.
    spec = OptimizerSpec("momentum", lr=LR1, momentum=0.9, form="gradient-buffer")
    assert_steps(spec, [0.95, -1.9], [0.9175, -1.875], {"velocity": [0.65, -0.5]})


def test_momentum_velocity_form() -> None:
    # v1 = −0.1·g1 = [−0.05, 0.1]; p1 = p0 + v1.  v2 = 0.9·v1 − 0.05·g2 = [−0.055, 0.07]; p2 = p1 + v2.
    spec = OptimizerSpec("momentum", lr=LR1, momentum=0.9, form="velocity")
    assert_steps(spec, [0.95, -1.9], [0.895, -1.83], {"velocity": [-0.055, 0.07]})


def test_nesterov_gradient_buffer_form() -> None:
    # p1 = p0 − 0.1·(g1 + 0.9·buf1) = p0 − 0.1·[0.95, −1.9];  buf2 = [0.65, −0.5];
    # p2 = p1 − 0.05·(g2 + 0.9·buf2) = p1 − 0.05·[0.785, −0.05].
    spec = OptimizerSpec("nesterov", lr=LR1, momentum=0.9, form="gradient-buffer")
    assert_steps(spec, [0.905, -1.81], [0.86575, -1.8075], {"velocity": [0.65, -0.5]})


def test_nesterov_velocity_form() -> None:
    # v1 = [−0.05, 0.1]; p1 = p0 + 0.9·v1 − 0.1·g1.  v2 = [−0.055, 0.07]; p2 = p1 + 0.9·v2 − 0.05·g2.
    spec = OptimizerSpec("nesterov", lr=LR1, momentum=0.9, form="velocity")
    assert_steps(spec, [0.905, -1.81], [0.8455, -1.767], {"velocity": [-0.055, 0.07]})


def test_adagrad_eps_outside_root_form() -> None:
    # s starts at 0.1: s1 = [0.35, 1.1], s2 = [0.39, 1.26]; eps is added to √s.
    spec = OptimizerSpec("adagrad", lr=LR1, eps=EPS, initial_accumulator=0.1, form="eps-outside-root")
    p1 = [1.0 - 0.1 * 0.5 / (sqrt(0.35) + EPS), -2.0 + 0.1 * 1.0 / (sqrt(1.1) + EPS)]
    p2 = [p1[0] - 0.05 * 0.2 / (sqrt(0.39) + EPS), p1[1] - 0.05 * 0.4 / (sqrt(1.26) + EPS)]
    assert_steps(spec, p1, p2, {"accumulator": [0.39, 1.26]})


def test_adagrad_eps_inside_root_form() -> None:
    # Same accumulator; eps is added inside the root.
    spec = OptimizerSpec("adagrad", lr=LR1, eps=EPS, initial_accumulator=0.1, form="eps-inside-root")
    p1 = [1.0 - 0.1 * 0.5 / sqrt(0.35 + EPS), -2.0 + 0.1 * 1.0 / sqrt(1.1 + EPS)]
    p2 = [p1[0] - 0.05 * 0.2 / sqrt(0.39 + EPS), p1[1] - 0.05 * 0.4 / sqrt(1.26 + EPS)]
    assert_steps(spec, p1, p2, {"accumulator": [0.39, 1.26]})


def test_rmsprop_eps_outside_root_form() -> None:
    # v1 = 0.1·g1² = [0.025, 0.1]; v2 = 0.9·v1 + 0.1·g2² = [0.0265, 0.106]; eps added to √v.
    spec = OptimizerSpec("rmsprop", lr=LR1, rho=0.9, eps=EPS, form="eps-outside-root")
    p1 = [1.0 - 0.1 * 0.5 / (sqrt(0.025) + EPS), -2.0 + 0.1 * 1.0 / (sqrt(0.1) + EPS)]
    p2 = [p1[0] - 0.05 * 0.2 / (sqrt(0.0265) + EPS), p1[1] - 0.05 * 0.4 / (sqrt(0.106) + EPS)]
    assert_steps(spec, p1, p2, {"square_avg": [0.0265, 0.106]})


def test_rmsprop_eps_inside_root_form() -> None:
    spec = OptimizerSpec("rmsprop", lr=LR1, rho=0.9, eps=EPS, form="eps-inside-root")
    p1 = [1.0 - 0.1 * 0.5 / sqrt(0.025 + EPS), -2.0 + 0.1 * 1.0 / sqrt(0.1 + EPS)]
    p2 = [p1[0] - 0.05 * 0.2 / sqrt(0.0265 + EPS), p1[1] - 0.05 * 0.4 / sqrt(0.106 + EPS)]
    assert_steps(spec, p1, p2, {"square_avg": [0.0265, 0.106]})


# Adam, β1 = 0.9, β2 = 0.999: m1 = [0.05, −0.1], v1 = [0.00025, 0.001]; m2 = [0.065, −0.05],
# v2 = [0.00028975, 0.001159]; bias corrections 1 − β1ᵗ = 0.1, 0.19 and 1 − β2ᵗ = 0.001, 0.001999.
M2, V2 = [0.065, -0.05], [0.00028975, 0.001159]


def test_adam_eps_outside_root_form() -> None:
    # p −= lr/(1 − β1ᵗ) · m/(√v/√(1 − β2ᵗ) + eps); at t = 1, √v1/√0.001 = |g1| = [0.5, 1].
    spec = OptimizerSpec("adam", lr=LR1, beta1=0.9, beta2=0.999, eps=EPS, form="eps-outside-root")
    p1 = [1.0 - 0.1 / 0.1 * 0.05 / (0.5 + EPS), -2.0 + 0.1 / 0.1 * 0.1 / (1.0 + EPS)]
    p2 = [
        p1[0] - 0.05 / 0.19 * 0.065 / (sqrt(0.00028975) / sqrt(0.001999) + EPS),
        p1[1] + 0.05 / 0.19 * 0.05 / (sqrt(0.001159) / sqrt(0.001999) + EPS),
    ]
    assert_steps(spec, p1, p2, {"m": M2, "v": V2})


def test_adam_epsilon_hat_form() -> None:
    # α = lr·√(1 − β2ᵗ)/(1 − β1ᵗ); p −= α·m/(√v + eps) (epsilon-hat).
    spec = OptimizerSpec("adam", lr=LR1, beta1=0.9, beta2=0.999, eps=EPS, form="epsilon-hat")
    alpha1, alpha2 = 0.1 * sqrt(0.001) / 0.1, 0.05 * sqrt(0.001999) / 0.19
    p1 = [1.0 - alpha1 * 0.05 / (sqrt(0.00025) + EPS), -2.0 + alpha1 * 0.1 / (sqrt(0.001) + EPS)]
    p2 = [p1[0] - alpha2 * 0.065 / (sqrt(0.00028975) + EPS), p1[1] + alpha2 * 0.05 / (sqrt(0.001159) + EPS)]
    assert_steps(spec, p1, p2, {"m": M2, "v": V2})


@pytest.mark.parametrize(("name", "form"), [(name, form) for name in OPTIMIZERS for form in OPTIMIZER_FORMS[name]])
def test_float32_parameters_and_state_stay_float32(name: str, form: str) -> None:
    params = {"w": np.array(P0, dtype=np.float32)}
    optimizer = Optimizer(OptimizerSpec(name, lr=LR1, form=form), params)
    for grad in (G1, G2):
        optimizer.step(params, {"w": np.array(grad, dtype=np.float32)}, LR1)
    assert params["w"].dtype == np.float32
    assert all(value.dtype == np.float32 for value in optimizer.state().values())
    assert not np.array_equal(params["w"], np.array(P0, dtype=np.float32)), "the step changed nothing"
