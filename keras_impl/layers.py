"""What the Keras MLP needs beyond keras.layers: dropout with an injected keep-mask, and the hidden activations.

Shapes: h, keep (n, width). Every constant is cast to the layer's dtype before it meets a tensor, because Keras
(TF backend) may otherwise round a Python float through float32 in a float64 model (the conventions table,
"Keras hyperparameters in float64 runs").
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from harness.core.batching import missing_masks_error
from harness.core.specs import ModelSpec


class MaskDropout(keras.layers.Layer):
    """Dropout that drops the units an injected 0/1 keep-mask says, so every framework drops the same units.

    inverted (keras.layers.Dropout's convention): training h·(keep·(1/(1−p))), inference h.
    keep_prob (lincoln): training h·keep, inference h·(1−p).
    The reciprocal is computed in Python double and then cast, the arithmetic torch and the reference use too.
    """

    def __init__(self, rate: float, style: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.style = style

    def call(self, inputs, keep=None, training=False):
        dtype = inputs.dtype
        if not training:
            if self.style == "inverted":
                return inputs
            return inputs * ops.cast(np.float64(1.0 - self.rate), dtype)
        if keep is None:
            raise missing_masks_error(self.name)
        keep = ops.cast(keep, dtype)
        if self.style == "inverted":
            return inputs * (keep * ops.cast(np.float64(1.0 / (1.0 - self.rate)), dtype))
        return inputs * keep


def leaky_relu(alpha: float) -> Callable:
    """z if z > 0 else alpha·z, with alpha in z's dtype.

    keras.activations.leaky_relu is not used: TF's LeakyRelu kernel stores the slope as a float32 attribute, so
    in float64 alpha = 0.01 acts as 0.009999999776 (measured 2.2e-8 relative on negative inputs).
    """

    def activation(z):
        return ops.where(z > 0, z, z * ops.cast(np.float64(alpha), z.dtype))

    return activation


def relu_linear_gradient(z):
    """max(z, 0) forward, the identity backward: lincoln's ReLU (its gradient mask `output >= 0` is always
    true)."""
    return z + ops.stop_gradient(ops.relu(z) - z)


def hidden_activation(spec: ModelSpec) -> Callable:
    """The element-wise hidden activation of `spec` (harness.core.specs.ACTIVATIONS) as a function of a tensor."""
    if spec.activation == "leaky_relu":
        return leaky_relu(spec.leaky_relu_alpha)
    if spec.activation == "relu_linear_gradient":
        return relu_linear_gradient
    return {
        "sigmoid": keras.activations.sigmoid,
        "tanh": keras.activations.tanh,
        "relu": keras.activations.relu,
        "linear": keras.activations.linear,
    }[spec.activation]


def output_activation(name: str, logits):
    """The output activation `name` (harness.core.specs.OUTPUTS) of logits (n, classes)."""
    if name == "sigmoid":
        return ops.sigmoid(logits)
    if name == "softmax":
        return ops.softmax(logits, axis=-1)
    return logits
