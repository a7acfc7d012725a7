"""Which JAX device a model runs on, the setting that makes GPU runs comparable for parity checks, whether XLA's
backends (and its CPU thread pool) exist yet, and the CPU matmul whose rate the GEMM limit measures."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import jax
import jax.numpy as jnp
import numpy as np

from harness.core.errors import DeviceUnavailableError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def gpus() -> list[jax.Device]:
    """The GPUs JAX sees (none with jax[cpu])."""
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend: jaxlib without CUDA plugins, or no driver
        return []


def backends_started() -> bool:
    """Whether JAX has created its backends (and with them XLA's CPU thread pool). JAX has no public query for
    this, so it asks jax._src.xla_bridge (tests/test_jax_threads.py checks it with the jax installed)."""
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def resolve_device(name: str) -> jax.Device:
    """'auto' -> the first GPU when JAX sees one, else the CPU; 'cpu' and 'cuda' as named (a GPU must be visible)."""
    if name not in DEVICE_CHOICES:
        raise DeviceUnavailableError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    visible = gpus() if name != "cpu" else []
    if name == "cuda" and not visible:
        raise DeviceUnavailableError(
            f"JAX {jax.__version__} sees no GPU (jax[cpu], or no CUDA driver); use --device cpu, or install "
            "jax[cuda12] on a machine with an NVIDIA GPU"
        )
    return visible[0] if visible else jax.devices("cpu")[0]


def cpu_matmul(a: np.ndarray, b: np.ndarray) -> Callable[[], jax.Array]:
    """A call computing a (m, k) · b (k, n) with a jitted jnp.matmul on the CPU, in their dtype, that returns when
    the product is finished; compiled before it is returned, so a timing of the call holds no compilation."""
    with jax.enable_x64(True):
        cpu = jax.devices("cpu")[0]
        a_cpu, b_cpu = jax.device_put(a, cpu), jax.device_put(b, cpu)
        product = jax.jit(jnp.matmul)
        product(a_cpu, b_cpu).block_until_ready()

    def run() -> jax.Array:
        with jax.enable_x64(True):
            return product(a_cpu, b_cpu).block_until_ready()

    return run


def deterministic_mode() -> AbstractContextManager[None]:
    """Full float32 matmuls inside the block (jax.default_matmul_precision('highest')).

    JAX's default precision lets GPUs round float32 dot inputs to TF32 or bfloat16 passes (~1e-3 relative), far
    outside the parity tolerances; on the CPU every precision computes the same product (conventions table).
    """
    return jax.default_matmul_precision("highest")
