"""torch_impl.params beyond the framework contract: kernels transposed into nn.Linear, BN values into BatchNorm1d,
copies out, canonical key order."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.params import param_shapes, trainable_keys
from harness.core.specs import BatchNormSpec, ModelSpec, TrainSpec

pytest.importorskip("torch", reason="torch is not installed: its tests are skipped")

import torch

from torch_impl.layers import MLPNetwork
from torch_impl.model import MLP
from torch_impl.params import canonical_tensors, export_params, load_params

# Non-square layers, so a transposed kernel has a different shape from the canonical one.
SPEC = ModelSpec(5, (4, 3), 2, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3))


def random_params(spec: ModelSpec, dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Every canonical key filled with distinct random values (running_var kept positive)."""
    rng = np.random.default_rng(seed)
    params = {key: rng.standard_normal(shape).astype(dtype) for key, shape in param_shapes(spec).items()}
    for key in params:
        if key.endswith("running_var"):
            params[key] = np.abs(params[key]) + 0.5
    return params


def test_kernels_are_stored_transposed_and_bn_values_land_in_batchnorm1d() -> None:
    params = random_params(SPEC, "float64")
    network = MLPNetwork(SPEC, torch.float64, torch.device("cpu"))
    network.bn[0].num_batches_tracked.fill_(7)
    load_params(network, params)
    np.testing.assert_array_equal(network.dense[0].weight.detach().numpy(), params["dense0.W"].T)
    np.testing.assert_array_equal(network.dense[2].bias.detach().numpy(), params["dense2.b"])
    np.testing.assert_array_equal(network.bn[1].weight.detach().numpy(), params["bn1.gamma"])
    np.testing.assert_array_equal(network.bn[1].bias.detach().numpy(), params["bn1.beta"])
    np.testing.assert_array_equal(network.bn[0].running_mean.numpy(), params["bn0.running_mean"])
    np.testing.assert_array_equal(network.bn[0].running_var.numpy(), params["bn0.running_var"])
    assert network.bn[0].num_batches_tracked.item() == 0
    assert network.bn[0].momentum == pytest.approx(0.1)
    assert network.bn[0].eps == 1e-3


def test_export_returns_copies_not_views_of_the_tensors() -> None:
    params = random_params(SPEC, "float64")
    network = MLPNetwork(SPEC, torch.float64, torch.device("cpu"))
    load_params(network, params)
    exported = export_params(network)
    output_bias = f"dense{len(SPEC.hidden_sizes)}.b"
    exported[output_bias][:] = 123.0
    exported["dense0.W"][:] = 123.0
    np.testing.assert_array_equal(export_params(network)[output_bias], params[output_bias])
    np.testing.assert_array_equal(export_params(network)["dense0.W"], params["dense0.W"])


def test_canonical_tensors_cover_every_key_in_canonical_order() -> None:
    network = MLPNetwork(SPEC, torch.float32, torch.device("cpu"))
    tensors = canonical_tensors(network)
    assert list(tensors) == list(param_shapes(SPEC))
    for key, shape in param_shapes(SPEC).items():
        torch_shape = shape[::-1] if key.endswith(".W") else shape
        assert tuple(tensors[key].shape) == torch_shape, key


def test_gradients_come_back_in_canonical_keys_and_shapes() -> None:
    model = MLP(SPEC, TrainSpec(dtype="float64"), random_params(SPEC, "float64"))
    rng = np.random.default_rng(3)
    _, grads = model.loss_and_grads(rng.standard_normal((6, 5)), rng.integers(0, 2, 6))
    assert list(grads) == trainable_keys(SPEC)
    for key, grad in grads.items():
        assert grad.shape == param_shapes(SPEC)[key], key
