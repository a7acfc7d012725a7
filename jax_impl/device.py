"""Which JAX device a model runs on, and the setting that makes GPU runs comparable for parity checks."""

from __future__ import annotations

from contextlib import AbstractContextManager

import jax

from harness.core.errors import DeviceUnavailableError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def gpus() -> list[jax.Device]:
    """The GPUs JAX sees (none with jax[cpu])."""
    try:
        return jax.devices("gpu")
    except RuntimeError:  # no GPU backend: jaxlib without CUDA plugins, or no driver
        return []


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


def deterministic_mode() -> AbstractContextManager[None]:
    """Full float32 matmuls inside the block (jax.default_matmul_precision('highest')).

    JAX's default precision lets GPUs round float32 dot inputs to TF32 or bfloat16 passes (~1e-3 relative), far
    outside the parity tolerances; on the CPU every precision computes the same product (conventions table).
    """
    return jax.default_matmul_precision("highest")
