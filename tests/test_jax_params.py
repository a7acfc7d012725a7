"""jax_impl.params: the canonical dict crosses into jax arrays and back exactly (float64 included, although JAX's
x64 is off by default), and mismatches raise. Skipped when jax is not installed."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (the optional extra: pip install 'fwcompare[jax]')")
pytest.importorskip("optax", reason="optax is not installed (the optional extra: pip install 'fwcompare[jax]')")

from harness.core.errors import ParamMismatchError  # noqa: E402
from harness.core.params import is_trainable, param_shapes, trainable_keys  # noqa: E402
from harness.core.specs import BatchNormSpec, ModelSpec, TrainSpec  # noqa: E402
from jax_impl.model import MLP  # noqa: E402
from jax_impl.params import export_params, load_params  # noqa: E402

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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_through_the_model_is_exact(dtype: str) -> None:
    params = random_params(SPEC, dtype)
    model = MLP(SPEC, TrainSpec(dtype=dtype), params)
    exported = model.get_params()
    assert list(exported) == list(param_shapes(SPEC))
    for key, value in params.items():
        assert exported[key].dtype == np.dtype(dtype), key
        assert exported[key].flags.c_contiguous, key
        np.testing.assert_array_equal(exported[key], value, err_msg=key)


def test_kernels_keep_the_canonical_layout_and_running_stats_are_not_trainable() -> None:
    params = random_params(SPEC, "float64")
    with jax.enable_x64(True):
        trainable, stats = load_params(SPEC, params, np.dtype("float64"), jax.devices("cpu")[0])
    assert sorted(trainable) == sorted(trainable_keys(SPEC))
    assert sorted(stats) == sorted(key for key in param_shapes(SPEC) if not is_trainable(key))
    for key, value in {**trainable, **stats}.items():
        assert value.dtype == np.float64, key
        np.testing.assert_array_equal(np.asarray(value), params[key], err_msg=key)
    assert trainable["dense0.W"].shape == (5, 4)


def test_export_returns_copies_not_views_of_the_arrays() -> None:
    params = random_params(SPEC, "float64")
    model = MLP(SPEC, TrainSpec(dtype="float64"), params)
    exported = model.get_params()
    output_bias = f"dense{len(SPEC.hidden_sizes)}.b"
    exported[output_bias][:] = 123.0
    exported["dense0.W"][:] = 123.0
    np.testing.assert_array_equal(export_params(SPEC, model.trainable, model.stats)[output_bias], params[output_bias])
    np.testing.assert_array_equal(model.get_params()["dense0.W"], params["dense0.W"])


def test_the_model_does_not_alias_the_callers_arrays() -> None:
    params = random_params(SPEC, "float32")
    model = MLP(SPEC, TrainSpec(), params)
    expected = params["dense0.W"].copy()
    params["dense0.W"][:] = 7.0
    np.testing.assert_array_equal(model.get_params()["dense0.W"], expected)


def test_missing_key_raises_and_names_it() -> None:
    params = random_params(SPEC, "float32")
    del params["bn1.running_var"]
    with pytest.raises(ParamMismatchError, match=r"missing \['bn1.running_var'\]"):
        MLP(SPEC, TrainSpec(), params)


def test_unexpected_key_raises_and_names_it() -> None:
    params = random_params(SPEC, "float32")
    params["dense9.W"] = np.zeros((1, 1), np.float32)
    with pytest.raises(ParamMismatchError, match=r"unexpected \['dense9.W'\]"):
        MLP(SPEC, TrainSpec(), params)


def test_wrong_shape_raises_with_got_and_want() -> None:
    params = random_params(SPEC, "float32")
    params["bn0.gamma"] = np.ones(5, np.float32)
    with pytest.raises(ParamMismatchError, match=r"bn0.gamma: got \(5,\), want \(4,\)"):
        MLP(SPEC, TrainSpec(), params)


def test_kernel_in_torch_layout_raises() -> None:
    params = random_params(SPEC, "float32")
    params["dense1.W"] = params["dense1.W"].T.copy()
    with pytest.raises(ParamMismatchError, match=r"dense1.W: got \(3, 4\), want \(4, 3\)"):
        MLP(SPEC, TrainSpec(), params)


def test_failed_set_params_leaves_the_model_unchanged() -> None:
    params = random_params(SPEC, "float64")
    model = MLP(SPEC, TrainSpec(dtype="float64"), params)
    bad = random_params(SPEC, "float64", seed=1)
    bad["dense0.W"] = bad["dense0.W"].T.copy()
    with pytest.raises(ParamMismatchError):
        model.set_params(bad)
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, params[key], err_msg=key)


def test_gradients_come_back_in_canonical_keys_and_shapes() -> None:
    model = MLP(SPEC, TrainSpec(dtype="float64"), random_params(SPEC, "float64"))
    rng = np.random.default_rng(3)
    _, grads = model.loss_and_grads(rng.standard_normal((6, 5)), rng.integers(0, 2, 6))
    assert list(grads) == trainable_keys(SPEC)
    for key, grad in grads.items():
        assert grad.shape == param_shapes(SPEC)[key], key
        assert grad.dtype == np.float64, key
