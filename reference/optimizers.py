"""Optimisers in every rule form of harness.core.specs.OPTIMIZER_FORMS, selected by OptimizerSpec.form.

Each update follows the installed sources (torch/optim/*.py single-tensor paths, keras/src/optimizers/*.py),
including the order of operations, so the reference of a form is that framework's exact counterpart.
g = gradient, lr = the step's learning rate, t = step counter starting at 1. Parameters and state are updated in
place and keep their dtype: every coefficient is a Python float, which NumPy applies in the array's dtype.

    sgd        plain:             p −= lr·g
    momentum   gradient-buffer:   buf = μ·buf + g (buf starts at 0, so the first buf is g);  p −= lr·buf  (torch)
               velocity:          v = μ·v − lr·g;  p += v  (Keras)
    nesterov   gradient-buffer:   buf as momentum;  p −= lr·(g + μ·buf)
               velocity:          v = μ·v − lr·g;  p += μ·v − lr·g
    adagrad    eps-outside-root:  s = s + g² (s starts at initial_accumulator);  p −= lr·g/(√s + eps)  (torch)
               eps-inside-root:   s = s + g² (same start);  p −= lr·g/√(s + eps)  (Keras)
    rmsprop    eps-outside-root:  v = ρ·v + (1−ρ)·g² (v starts at 0; torch calls ρ alpha);  p −= lr·g/(√v + eps)
               eps-inside-root:   same v;  p −= lr·g/√(v + eps)
    adam       eps-outside-root:  m += (1−β₁)(g − m);  v = β₂·v + (1−β₂)·g²;  p −= lr/(1−β₁ᵗ) · m/(√v/√(1−β₂ᵗ) + eps)
               epsilon-hat:       m += (1−β₁)(g − m);  v += (1−β₂)(g² − v);  p −= (m·lr·√(1−β₂ᵗ)/(1−β₁ᵗ))/(√v + eps)
                                  (torch's and Keras' Adam respectively)

RMSprop here has no momentum term (OptimizerSpec.momentum is read by momentum and nesterov only).
"""

from __future__ import annotations

import math

import numpy as np

from harness.core.specs import OptimizerSpec

Arrays = dict[str, np.ndarray]

# optimizer name -> the slot names of its state, as optimizer_state() reports them ("<param key>/<slot>").
SLOT_NAMES: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "momentum": ("velocity",),
    "nesterov": ("velocity",),
    "adagrad": ("accumulator",),
    "rmsprop": ("square_avg",),
    "adam": ("m", "v"),
}


class Optimizer:
    """The update rule of `spec` (name and form) with its per-parameter state.

    params: {key: array} of the trainable parameters it will update (state takes their shapes and dtypes).
    """

    def __init__(self, spec: OptimizerSpec, params: Arrays) -> None:
        self.spec = spec
        self.iterations = 0
        rules = {
            ("sgd", "plain"): self._sgd,
            ("momentum", "gradient-buffer"): self._momentum_gradient_buffer,
            ("momentum", "velocity"): self._momentum_velocity,
            ("nesterov", "gradient-buffer"): self._nesterov_gradient_buffer,
            ("nesterov", "velocity"): self._nesterov_velocity,
            ("adagrad", "eps-outside-root"): self._adagrad_eps_outside_root,
            ("adagrad", "eps-inside-root"): self._adagrad_eps_inside_root,
            ("rmsprop", "eps-outside-root"): self._rmsprop_eps_outside_root,
            ("rmsprop", "eps-inside-root"): self._rmsprop_eps_inside_root,
            ("adam", "eps-outside-root"): self._adam_eps_outside_root,
            ("adam", "epsilon-hat"): self._adam_epsilon_hat,
        }
        self._update = rules[spec.name, spec.form]
        initial = spec.initial_accumulator if spec.name == "adagrad" else 0.0
        self.slots: dict[str, Arrays] = {
            slot: {key: np.full_like(value, initial) for key, value in params.items()} for slot in SLOT_NAMES[spec.name]
        }
        # Adam's update writes its intermediate arrays here rather than allocating them every step.
        self._scratch = (
            {key: (np.empty_like(value), np.empty_like(value)) for key, value in params.items()}
            if spec.name == "adam"
            else {}
        )

    def state(self) -> Arrays:
        """Copies of every slot, keyed '<param key>/<slot>'."""
        return {f"{key}/{slot}": value.copy() for slot, arrays in self.slots.items() for key, value in arrays.items()}

    def step(self, params: Arrays, grads: Arrays, lr: float) -> None:
        """Update `params` in place from `grads` (same keys) with learning rate `lr`."""
        self.iterations += 1
        lr = float(lr)
        for key, grad in grads.items():
            self._update(key, params[key], grad, lr)

    def _slot(self, name: str, key: str) -> np.ndarray:
        return self.slots[name][key]

    def _sgd(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        p -= g * lr

    def _momentum_gradient_buffer(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        buf = self._slot("velocity", key)
        buf *= self.spec.momentum
        buf += g
        p -= buf * lr

    def _momentum_velocity(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        v = self._slot("velocity", key)
        v[...] = v * self.spec.momentum - g * lr
        p += v

    def _nesterov_gradient_buffer(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        mu = self.spec.momentum
        buf = self._slot("velocity", key)
        buf *= mu
        buf += g
        p -= (g + buf * mu) * lr

    def _nesterov_velocity(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        mu = self.spec.momentum
        v = self._slot("velocity", key)
        v[...] = v * mu - g * lr
        p += v * mu - g * lr

    def _adagrad_eps_outside_root(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        s = self._slot("accumulator", key)
        s += g * g
        p -= (g / (np.sqrt(s) + self.spec.eps)) * lr

    def _adagrad_eps_inside_root(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        s = self._slot("accumulator", key)
        s += np.square(g)
        p -= (g * lr) / np.sqrt(s + self.spec.eps)

    def _rmsprop_eps_outside_root(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        rho = self.spec.rho
        v = self._slot("square_avg", key)
        v *= rho
        v += (1 - rho) * g * g
        p -= (g / (np.sqrt(v) + self.spec.eps)) * lr

    def _rmsprop_eps_inside_root(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        rho = self.spec.rho
        v = self._slot("square_avg", key)
        v[...] = v * rho + np.square(g) * (1 - rho)
        p -= (g * lr) / np.sqrt(v + self.spec.eps)

    def _adam_eps_outside_root(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        beta1, beta2, t = self.spec.beta1, self.spec.beta2, self.iterations
        m, v = self._slot("m", key), self._slot("v", key)
        a, b = self._scratch[key]
        # m += (g − m)(1 − β₁); v = β₂v + ((1 − β₂)g)g; p −= (m / (√v / √(1 − β₂ᵗ) + eps)) · lr / (1 − β₁ᵗ), each
        # operation as written, into the two scratch arrays instead of new temporaries.
        np.subtract(g, m, out=a)
        a *= 1 - beta1
        m += a
        v *= beta2
        np.multiply(g, 1 - beta2, out=a)
        a *= g
        v += a
        np.sqrt(v, out=b)
        b /= math.sqrt(1 - beta2**t)
        b += self.spec.eps
        np.divide(m, b, out=b)
        b *= lr / (1 - beta1**t)
        p -= b

    def _adam_epsilon_hat(self, key: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        beta1, beta2 = self.spec.beta1, self.spec.beta2
        m, v = self._slot("m", key), self._slot("v", key)
        a, b = self._scratch[key]
        # Keras computes the bias corrections and step size in the variable's dtype; in float32 that moves
        # 1 − β₂ᵗ by ~1e-5 relative against a float64 computation, so the reference does the same.
        real = p.dtype.type
        t = real(self.iterations)
        alpha = real(lr) * np.sqrt(real(1) - real(beta2) ** t) / (real(1) - real(beta1) ** t)
        # m += (g − m)(1 − β₁); v += (g² − v)(1 − β₂); p −= mα / (√v + eps), into the scratch arrays.
        np.subtract(g, m, out=a)
        a *= 1 - beta1
        m += a
        np.square(g, out=a)
        a -= v
        a *= 1 - beta2
        v += a
        np.multiply(m, alpha, out=a)
        np.sqrt(v, out=b)
        b += self.spec.eps
        a /= b
        p -= a
