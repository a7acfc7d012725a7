"""JAX with optax as a fwcompare framework plug-in (harness.core.frameworks), the optional extra `fwcompare[jax]`:
it runs only when named (`--frameworks ...,jax`). Importing this module does not import jax; each hook imports it
when called."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

from harness.core.frameworks import FrameworkPlugin, check_device_choice


class JaxPlugin(FrameworkPlugin):
    name = "jax"
    label = "JAX"
    order = 30
    model = "jax_impl.model:MLP"
    modules = ("jax", "optax")
    requirement = "fwcompare[jax]"
    distributions = ("jax", "jaxlib", "optax")
    in_defaults = False
    # optax mixes the rules: its momentum and Adam are torch's forms, its AdaGrad and (by default) RMSprop put eps
    # inside the root as Keras does (optax.rmsprop(eps_in_sqrt=False) puts it outside). JAX has no batch norm:
    # jax_impl writes it and runs either running variance, the biased one by default.
    optimizer_forms: ClassVar[Mapping[str, str]] = {
        "sgd": "plain",
        "momentum": "gradient-buffer",
        "nesterov": "gradient-buffer",
        "adagrad": "eps-inside-root",
        "rmsprop": "eps-inside-root",
        "adam": "eps-outside-root",
    }
    running_var = "biased"
    other_forms: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "rmsprop": ("eps-outside-root",),
        "running_var": ("unbiased",),
    }
    conventions: ClassVar[Mapping[str, str]] = {
        "dense-layout": "no Dense layer in JAX: jax_impl keeps each kernel as an (in, out) array; y = x @ W + b",
        "dense-init": "no Dense layer in JAX: users draw with jax.nn.initializers",
        "optimizer-defaults": "optax: adam eps 1e-8; rmsprop decay 0.9, eps 1e-8; adagrad eps 1e-7, initial "
        "accumulator 0.1",
        "bn-momentum": "no batch norm in JAX: jax_impl writes it, with momentum in the Keras meaning",
        "bn-eps": "jax_impl's batch norm takes eps explicitly, inside the root",
        "bn-running-variance": "jax_impl runs either convention (biased by default)",
        "dropout-scaling": "random bits only from explicit PRNG keys; jax_impl takes the injected masks",
        "float64-hyperparameters": "under x64 a Python float is weakly typed and takes the array's dtype "
        "unchanged (0.9 stays 0.9)",
        "loss-dtype": "jax.nn.log_softmax and jnp reductions compute in the input dtype",
        "l2-penalty": "no regulariser in JAX; optax's weight decay (add_decayed_weights) acts on the update, not the "
        "loss",
        "lr-schedule": "optax schedules are functions of the optimiser's int32 step count, in the default float "
        "(float32 with x64 off); jax_impl's reproduces the reference in float64",
        "momentum-velocity-form": "optax.sgd(momentum=μ): t = μ·t + g; p −= lr·t  (Nesterov: p −= lr·(g + μ·t)): "
        "the gradient buffer; jax_impl refuses the velocity form",
        "eps-inside-root": "optax.adagrad: p −= lr·g/√(s + eps) only (jax_impl refuses eps outside); optax.rmsprop "
        "either (eps_in_sqrt, default inside)",
        "adam-epsilon-hat": "optax.adam: p −= lr·m̂/(√(v̂ + eps_root) + eps), m̂ and v̂ bias-corrected: eps outside "
        "the root (eps_root 0); no setting gives epsilon-hat, which jax_impl refuses",
        "adam-bias-correction-dtype": "optax computes βᵗ in the default float: float32 with x64 off (as Keras), "
        "float64 under x64, where jax_impl runs",
        "deterministic-kernels": "jax.default_matmul_precision unset: float32 dots may use TF32/bf16 passes on GPUs; "
        "on the CPU every precision gives the same product; parity pins 'highest'",
        "rounding-sensitive-trajectory": "XLA's own fusions, summation orders and element-wise kernels (Eigen GEMMs "
        "on the CPU)",
        "jax-x64": "x64 is off by default: a float64 array asked of jnp is made float32, with a warning",
    }

    def deterministic(self) -> AbstractContextManager[None]:
        """Full float32 matmuls inside the block (jax.default_matmul_precision('highest')). XLA's CPU thread pool
        is sized when JAX starts and not changed here; its reductions were measured independent of it."""
        from jax_impl.device import deterministic_mode

        return deterministic_mode()

    def model_device(self, requested: str) -> str:
        check_device_choice(requested)
        if requested == "cuda":
            from jax_impl.device import resolve_device

            resolve_device(requested)  # raises, with the fix, when JAX sees no GPU
        return requested

    def gpu_model(self) -> str | None:
        if "jax" not in sys.modules:
            return None
        from jax_impl.device import gpus

        return ", ".join(device.device_kind for device in gpus())


PLUGIN = JaxPlugin()
