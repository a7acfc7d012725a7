"""The adapter between the canonical parameter dict (harness/core/params.py) and an MLPNetwork's tensors.

Canonical kernels dense{i}.W are (fan_in, fan_out); nn.Linear stores weight (fan_out, fan_in), so W crosses
transposed. bn{i}.gamma/beta are BatchNorm1d's weight/bias; running_mean/running_var are its buffers.
"""

from __future__ import annotations

import numpy as np
import torch

from harness.core.params import check_params, is_trainable
from torch_impl.layers import MLPNetwork

# canonical BN name -> BatchNorm1d attribute
_BN_ATTRIBUTES = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean", "running_var": "running_var"}


def canonical_tensors(network: MLPNetwork) -> dict[str, torch.Tensor]:
    """Every canonical key (harness.core.params.param_shapes order) with the tensor holding it, in torch's layout."""
    tensors: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(network.dense):
        tensors[f"dense{i}.W"] = layer.weight
        if layer.bias is not None:
            tensors[f"dense{i}.b"] = layer.bias
        if i < len(network.bn):
            for name, attribute in _BN_ATTRIBUTES.items():
                tensors[f"bn{i}.{name}"] = getattr(network.bn[i], attribute)
    return tensors


def trainable_tensors(network: MLPNetwork) -> dict[str, torch.Tensor]:
    """The canonical trainable keys with their nn.Parameters, in canonical order."""
    return {key: tensor for key, tensor in canonical_tensors(network).items() if is_trainable(key)}


def to_canonical(key: str, tensor: torch.Tensor) -> np.ndarray:
    """A NumPy copy of `tensor` in the canonical layout of `key` (kernels transposed back to (fan_in, fan_out))."""
    tensor = tensor.detach().cpu()
    if key.endswith(".W"):
        tensor = tensor.T
    return np.array(tensor.numpy(), order="C")


def load_params(network: MLPNetwork, params: dict[str, np.ndarray]) -> None:
    """Copy a canonical dict into `network` (cast to its dtype), after checking keys and shapes.

    Raises ParamMismatchError (harness.core.params.check_params) before anything is copied. num_batches_tracked is
    reset to 0: the canonical dict does not carry it, and with a momentum set torch never reads it.
    """
    check_params(network.spec, params)
    with torch.no_grad():
        for key, tensor in canonical_tensors(network).items():
            value = torch.tensor(np.asarray(params[key]))
            tensor.copy_(value.T if key.endswith(".W") else value)
        for bn in network.bn:
            bn.num_batches_tracked.zero_()


def export_params(network: MLPNetwork) -> dict[str, np.ndarray]:
    """The canonical dict of `network`: NumPy copies in the model dtype, BN running statistics included."""
    return {key: to_canonical(key, tensor) for key, tensor in canonical_tensors(network).items()}
