"""keras_impl.layers: mask dropout and the hidden activations, elementwise against the reference."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.specs import ModelSpec
from reference.activations import activate
from reference.layers import dropout_inference, dropout_scale

pytest.importorskip("tensorflow", reason="tensorflow is not installed: its tests are skipped")

from keras import ops

from keras_impl.layers import MaskDropout, hidden_activation


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("style", ["inverted", "keep_prob"])
def test_dropout_arithmetic_is_bitwise_the_reference_arithmetic(dtype: str, style: str) -> None:
    """The conventions table (harness.core.conventions, "Dropout scaling and masks") fixes h·(mask·(1/(1−p))) so
    that every framework agrees to the last bit, in training and not."""
    rate = 0.3
    rng = np.random.default_rng(11)
    h = rng.standard_normal((50, 40)).astype(dtype)
    mask = (rng.random((50, 40)) >= rate).astype(np.float32)
    layer = MaskDropout(rate, style, dtype=dtype)
    trained = np.asarray(layer(ops.convert_to_tensor(h), keep=mask, training=True))
    np.testing.assert_array_equal(trained, h * dropout_scale(mask, rate, style, np.dtype(dtype)))
    inferred = np.asarray(layer(ops.convert_to_tensor(h), training=False))
    np.testing.assert_array_equal(inferred, dropout_inference(h, rate, style))


def test_dropout_training_without_a_mask_raises() -> None:
    layer = MaskDropout(0.5, "inverted", dtype="float64", name="dropout1")
    with pytest.raises(ValueError, match=r"'dropout1'.*harness\.core\.batching\.dropout_masks"):
        layer(ops.ones((2, 3), dtype="float64"), training=True)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "linear"])
def test_hidden_activations_match_the_reference_in_float64(activation: str) -> None:
    """Within 1e-15 relative; leaky_relu exactly, because its slope is applied as a float64 number (TF's own
    LeakyRelu stores the slope as float32: 0.01 acts as 0.009999999776)."""
    spec = ModelSpec(3, (4,), 2, activation=activation, leaky_relu_alpha=0.01)
    z = np.random.default_rng(3).standard_normal((30, 20)) * 4
    actual = np.asarray(hidden_activation(spec)(ops.convert_to_tensor(z)))
    expected = activate(activation, z, spec.leaky_relu_alpha)
    assert actual.dtype == np.float64
    if activation in ("relu", "leaky_relu", "linear"):
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-15, atol=0)
