"""keras_impl.params beyond the framework contract: each key reaches the Keras variable it names."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.conventions import native_specs
from harness.core.errors import ParamMismatchError
from harness.core.initializers import initial_params
from harness.core.params import param_shapes
from harness.core.specs import BatchNormSpec, ModelSpec, TrainSpec

pytest.importorskip("tensorflow", reason="tensorflow is not installed: its tests are skipped")

from keras_impl.model import MLP

SPEC = ModelSpec(5, (6, 4), 3, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3))


def random_params(spec: ModelSpec, dtype: str, seed: int) -> dict[str, np.ndarray]:
    """Every canonical key filled with distinct random values (running_var positive), so a swapped or transposed
    tensor cannot round-trip by accident."""
    rng = np.random.default_rng(seed)
    return {key: rng.uniform(0.1, 2.0, shape).astype(dtype) for key, shape in param_shapes(spec).items()}


@pytest.fixture(scope="module", params=["float32", "float64"])
def model(request: pytest.FixtureRequest) -> MLP:
    model_spec, train_spec = native_specs(SPEC, TrainSpec(dtype=request.param), "keras")
    return MLP(model_spec, train_spec, initial_params(model_spec, 0, request.param))


def test_keys_reach_the_keras_variables_they_name(model: MLP) -> None:
    """Kernel layout (fan_in, fan_out) is Keras' own, and BN running statistics are its moving statistics."""
    params = random_params(SPEC, model.dtype, seed=2)
    model.set_params(params)
    network = model.network
    np.testing.assert_array_equal(network.dense_layers[1].kernel.numpy(), params["dense1.W"])
    np.testing.assert_array_equal(network.dense_layers[2].bias.numpy(), params["dense2.b"])
    np.testing.assert_array_equal(network.bn_layers[0].gamma.numpy(), params["bn0.gamma"])
    np.testing.assert_array_equal(network.bn_layers[1].moving_mean.numpy(), params["bn1.running_mean"])
    np.testing.assert_array_equal(network.bn_layers[1].moving_variance.numpy(), params["bn1.running_var"])


def test_constructor_checks_params() -> None:
    model_spec, train_spec = native_specs(SPEC, TrainSpec(dtype="float64"), "keras")
    params = initial_params(model_spec, 0, "float64")
    params["dense2.b"] = np.zeros(4)
    with pytest.raises(ParamMismatchError, match=r"dense2\.b"):
        MLP(model_spec, train_spec, params)
