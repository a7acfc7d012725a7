"""Which torch device a model runs on, and the settings that make CUDA runs reproducible for parity checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from harness.core.errors import DeviceUnavailableError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when a GPU is visible, else CPU; 'cpu' and 'cuda' as named (CUDA must be visible)."""
    if name not in DEVICE_CHOICES:
        raise DeviceUnavailableError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            "no CUDA device is visible to PyTorch (torch.cuda.is_available() is False, "
            f"torch {torch.__version__} built for CUDA {torch.version.cuda}); use --device cpu"
        )
    return torch.device(name)


@contextmanager
def deterministic_mode() -> Iterator[None]:
    """Deterministic kernels and full-precision float32 inside the block; the previous settings afterwards.

    TF32 would round float32 matmul/cuDNN inputs to a 10-bit mantissa on Ampere and later (~1e-3 relative), far
    outside the parity tolerances; cuDNN autotuning may pick a different (non-bitwise-equal) kernel per run. The
    legacy allow_tf32 flags are used throughout: mixing them with the newer fp32_precision API makes torch refuse
    to read the legacy flags.
    """
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        algorithms, warn_only, matmul_tf32, cudnn_tf32, benchmark, cudnn_deterministic = saved
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.backends.cudnn.benchmark = benchmark
        torch.backends.cudnn.deterministic = cudnn_deterministic
