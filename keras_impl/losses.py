"""The losses of harness.core.specs.LOSSES written with keras.ops, in the dtype of the logits, plus the L2 term.

Keras' own Loss classes are not used: they compute in keras.config.floatx() (float32 by default) even for float64
tensors, and their reductions differ per class (conventions table, "Loss computation dtype"). Shapes: logits
(n, classes), labels (n,) int class indices; every loss is a batch mean of a per-sample sum over outputs:
    softmax_ce  −log softmax(z)[y]
    mse         Σ_k (out_k − onehot_k)²,  out = output activation of z
    binary_ce   Σ_k max(z,0) − z·t + log(1 + e^−|z|)  (−[t·log σ + (1−t)·log(1−σ)] without overflow)
    mse_normalized  Σ_k (out_k/Σ_j out_j − onehot_k)², no gradient through the division (stop_gradient)
Evaluation-only (ModelSpec.eval_loss):
    clipped_softmax_bce  Σ_k −t_k·log p_k − (1 − t_k)·log(1 − p_k), p = softmax(z) clipped to [1e-9, 1 − 1e-9]
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from harness.core.specs import ModelSpec, clipped_softmax_bounds
from keras_impl.layers import output_activation


def data_loss(spec: ModelSpec, logits, labels):
    """The batch-mean loss of `spec.loss` (0-d tensor in the logits' dtype), without the L2 term."""
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    if spec.loss == "softmax_ce":
        picked = ops.take_along_axis(ops.log_softmax(logits, axis=-1), ops.expand_dims(labels, 1), axis=1)
        return -ops.sum(picked) / n
    targets = ops.one_hot(labels, spec.output_size, dtype=logits.dtype)
    if spec.loss == "mse":
        return ops.sum(ops.square(output_activation(spec.output, logits) - targets)) / n
    if spec.loss == "mse_normalized":
        out = output_activation(spec.output, logits)
        # Value of the normalised outputs, gradient of the raw ones: lincoln differentiates as if out were used.
        normalized = out + ops.stop_gradient(out / ops.sum(out, axis=1, keepdims=True) - out)
        return ops.sum(ops.square(normalized - targets)) / n
    per_unit = ops.relu(logits) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(per_unit) / n


def evaluation_loss(spec: ModelSpec, logits, labels, kernels: list):
    """The loss that evaluation reports (ModelSpec.eval_loss), plus the L2 term when spec.l2 > 0."""
    if spec.eval_loss == "training":
        return total_loss(spec, logits, labels, kernels)
    n = ops.cast(ops.shape(logits)[0], logits.dtype)
    targets = ops.one_hot(labels, spec.output_size, dtype=logits.dtype)
    low, high = clipped_softmax_bounds(keras.backend.standardize_dtype(logits.dtype))
    p = ops.clip(
        ops.softmax(logits, axis=-1), ops.cast(np.float64(low), logits.dtype), ops.cast(np.float64(high), logits.dtype)
    )
    loss = ops.sum(-targets * ops.log(p) - (1 - targets) * ops.log(1 - p)) / n
    if spec.l2 > 0:
        loss = loss + l2_penalty(spec.l2, kernels)
    return loss


def l2_penalty(l2: float, kernels: Sequence):
    """l2·Σ‖W‖² over the dense kernels (no ½; biases and BN excluded), in the kernels' dtype."""
    dtype = kernels[0].dtype
    return ops.cast(np.float64(l2), dtype) * ops.sum(ops.stack([ops.sum(ops.square(w)) for w in kernels]))


def total_loss(spec: ModelSpec, logits, labels, kernels: list):
    """data_loss plus the L2 term when spec.l2 > 0."""
    loss = data_loss(spec, logits, labels)
    if spec.l2 > 0:
        loss = loss + l2_penalty(spec.l2, kernels)
    return loss
