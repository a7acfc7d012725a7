"""keras_impl.params: the canonical dict <-> Keras variables adapter."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.conventions import native_specs
from harness.core.errors import ParamMismatchError
from harness.core.params import param_shapes
from harness.core.specs import BatchNormSpec, ModelSpec, TrainSpec
from keras_impl.model import MLP
from reference.initializers import initial_params

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


def test_round_trip_is_exact(model: MLP) -> None:
    params = random_params(SPEC, model.dtype, seed=1)
    model.set_params(params)
    exported = model.get_params()
    assert list(exported) == list(param_shapes(SPEC))
    for key, value in params.items():
        assert exported[key].dtype == np.dtype(model.dtype), key
        np.testing.assert_array_equal(exported[key], value, err_msg=key)


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


def test_exported_arrays_are_copies(model: MLP) -> None:
    exported = model.get_params()
    exported["dense0.W"][...] = 123.0
    assert not np.any(model.get_params()["dense0.W"] == 123.0)


def test_missing_key_raises_and_copies_nothing(model: MLP) -> None:
    before = model.get_params()
    params = random_params(SPEC, model.dtype, seed=3)
    del params["bn1.running_var"]
    with pytest.raises(ParamMismatchError, match=r"missing \['bn1.running_var'\]"):
        model.set_params(params)
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_wrong_shape_raises(model: MLP) -> None:
    params = random_params(SPEC, model.dtype, seed=4)
    params["dense0.W"] = params["dense0.W"].T
    with pytest.raises(ParamMismatchError, match=r"dense0\.W: got \(6, 5\), want \(5, 6\)"):
        model.set_params(params)


def test_unexpected_key_raises(model: MLP) -> None:
    params = random_params(SPEC, model.dtype, seed=5)
    params["bn2.gamma"] = np.ones(3, dtype=model.dtype)
    with pytest.raises(ParamMismatchError, match=r"unexpected \['bn2.gamma'\]"):
        model.set_params(params)


def test_constructor_checks_params() -> None:
    model_spec, train_spec = native_specs(SPEC, TrainSpec(dtype="float64"), "keras")
    params = initial_params(model_spec, 0, "float64")
    params["dense2.b"] = np.zeros(4)
    with pytest.raises(ParamMismatchError, match=r"dense2\.b"):
        MLP(model_spec, train_spec, params)
