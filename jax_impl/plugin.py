"""JAX with optax as a fwcompare framework plug-in (harness.core.frameworks), the optional extra `fwcompare[jax]`:
it runs only when named (`--frameworks ...,jax`). Importing this module does not import jax; each hook imports it
when called."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import ClassVar

import numpy as np

from harness.core.errors import FwcompareError
from harness.core.frameworks import FrameworkPlugin, check_device_choice

THREADS_VARIABLE = "PJRT_NPROC"
"""The environment variable XLA reads for the size of its CPU thread pool when JAX creates its backends."""


def _schedulable_cores() -> int:
    """The cores this process may run on: XLA's pool size when PJRT_NPROC is unset."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class JaxPlugin(FrameworkPlugin):
    name = "jax"
    label = "JAX"
    order = 30
    model = "jax_impl.model:MLP"
    modules = ("jax", "optax")
    requirement = "fwcompare[jax]"
    distributions = ("jax", "jaxlib", "optax")
    in_defaults = False
    gemm_library = "jax"
    gpu_capable = True
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
        "default-float-type": "x64 is off by default: a float64 array asked of jnp is made float32, with a warning",
    }

    def configure_threads(self, threads: int) -> None:
        """XLA's CPU client sizes its intra-op thread pool when JAX creates its backends (the first array or jit),
        from PJRT_NPROC, else one thread per core this process may run on (xla/pjrt/utils.cc,
        DefaultThreadPoolSize; measured in docs/threads.md). Set here, not in thread_env_vars, because only this
        hook can tell whether it comes in time: once the backends exist the pool keeps its size, and asking for
        another raises FwcompareError."""
        started_with = os.environ.get(THREADS_VARIABLE)
        if "jax" in sys.modules:
            from jax_impl.device import backends_started

            if backends_started():
                pool = int(started_with) if started_with else _schedulable_cores()
                if pool != threads:
                    raise FwcompareError(
                        f"JAX already runs XLA's CPU thread pool with {pool} threads and cannot change to {threads} "
                        "in this process; start a new process (a new `fwcompare run`) to change --threads"
                    )
                return
        os.environ[THREADS_VARIABLE] = str(threads)

    def deterministic(self) -> AbstractContextManager[None]:
        """Full float32 matmuls inside the block (jax.default_matmul_precision('highest')). XLA's CPU thread pool
        keeps the size it started with (configure_threads); parity starts it with one thread."""
        from jax_impl.device import deterministic_mode

        return deterministic_mode()

    def matmul(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        """A jitted jnp.matmul on the CPU, compiled here, in the arrays' dtype (float64 under jax.enable_x64)."""
        from jax_impl.device import cpu_matmul

        return cpu_matmul(a, b)

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
