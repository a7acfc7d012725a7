"""Which TensorFlow device the Keras model runs on."""

from __future__ import annotations

import tensorflow as tf

from harness.core.errors import DeviceUnavailableError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> str:
    """A TensorFlow device string: 'auto' -> the first GPU when TF sees one, else the CPU; 'cuda' needs a GPU."""
    if name not in DEVICE_CHOICES:
        raise DeviceUnavailableError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if name == "cuda" and not has_gpu:
        raise DeviceUnavailableError(
            f"TensorFlow {tf.__version__} sees no GPU (tensorflow-cpu, or no CUDA driver); use --device cpu, or "
            "install the project's 'gpu' extra (tensorflow[and-cuda]) on a machine with an NVIDIA GPU"
        )
    return "/GPU:0" if name == "cuda" or (name == "auto" and has_gpu) else "/CPU:0"
