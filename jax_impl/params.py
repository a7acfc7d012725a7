"""The adapter between the canonical parameter dict (harness/core/params.py) and the arrays of the JAX MLP.

The model keeps the canonical keys and layout as they are (kernels dense{i}.W (fan_in, fan_out), as jax_impl.layers
multiplies them), split into the trainable arrays jax.grad and optax see and the BN running statistics.
"""

from __future__ import annotations

import jax
import numpy as np

from harness.core.params import check_params, is_trainable, param_shapes
from harness.core.specs import ModelSpec
from jax_impl.layers import Arrays


def load_params(
    spec: ModelSpec, params: dict[str, np.ndarray], dtype: np.dtype, device: jax.Device
) -> tuple[Arrays, Arrays]:
    """(trainable arrays, BN running statistics): copies of `params` in `dtype` on `device`, canonical keys.

    Raises ParamMismatchError (harness.core.params.check_params) before anything is copied. Call under x64 for float64.
    """
    check_params(spec, params)
    arrays = {key: jax.device_put(np.array(params[key], dtype=dtype), device) for key in param_shapes(spec)}
    trainable = {key: value for key, value in arrays.items() if is_trainable(key)}
    stats = {key: value for key, value in arrays.items() if not is_trainable(key)}
    return trainable, stats


def to_canonical(array: jax.Array) -> np.ndarray:
    """A NumPy copy of `array` (C-contiguous, the model dtype)."""
    return np.array(array, order="C")


def export_params(spec: ModelSpec, trainable: Arrays, stats: Arrays) -> dict[str, np.ndarray]:
    """The canonical dict in harness.core.params.param_shapes order: NumPy copies, BN running statistics included."""
    arrays = {**trainable, **stats}
    return {key: to_canonical(arrays[key]) for key in param_shapes(spec)}
