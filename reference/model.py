"""The from-scratch NumPy MLP: harness.core.interface.FrameworkModel for framework 'numpy'.

Input → [Dense → (BN) → activation → (dropout)] per hidden layer → Dense → logits; the output activation is
applied inside the loss. Parameters, activations, gradients and optimiser state are all in train_spec.dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.batching import batch_slices, missing_masks_error, slice_masks
from harness.core.interface import FrameworkModel, Masks, Params
from harness.core.params import check_params, has_bias, is_trainable, param_shapes
from harness.core.schedules import learning_rate
from harness.core.specs import ModelSpec, TrainSpec
from reference.activations import activate, activation_backward
from reference.layers import (
    BatchStats,
    batch_norm_backward,
    batch_norm_inference,
    batch_norm_train,
    dense,
    dense_backward,
    dropout_inference,
    dropout_scale,
    updated_running_stats,
)
from reference.losses import data_loss_and_grad, evaluation_loss, kernel_keys, l2_grads, l2_penalty
from reference.optimizers import Optimizer

EVAL_BATCH_ROWS = 8192


@dataclass
class HiddenCache:
    """What one hidden layer's backward pass needs from its training-mode forward pass (arrays (n, width))."""

    inputs: np.ndarray
    activation_input: np.ndarray
    activation: np.ndarray
    bn_stats: BatchStats | None
    dropout_scale: np.ndarray | None


@dataclass
class ForwardPass:
    """Every layer's output by activation key, the hidden layers' caches and the output layer's input."""

    outputs: dict[str, np.ndarray]
    hidden: list[HiddenCache]
    output_inputs: np.ndarray


class MLP(FrameworkModel):
    """The reference network: runs the optimiser form and BN running-variance convention its specs name."""

    framework = "numpy"

    def __init__(
        self,
        model_spec: ModelSpec,
        train_spec: TrainSpec,
        params: Params,
        *,
        device: str = "cpu",
        steps_per_epoch: int = 1,
    ) -> None:
        if device != "cpu":
            raise ValueError(f"the NumPy reference runs on the CPU only; got device={device!r}, pass device='cpu'")
        super().__init__(model_spec, train_spec, params, device=device, steps_per_epoch=steps_per_epoch)
        self.dtype = np.dtype(train_spec.dtype)
        self.params: Params = {}
        self.set_params(params)
        self.optimizer = Optimizer(
            train_spec.optimizer, {key: value for key, value in self.params.items() if is_trainable(key)}
        )

    # --- forward and backward ----------------------------------------------------------------------------------

    def _forward(self, x: np.ndarray, training: bool, masks: Masks) -> ForwardPass:
        spec, p = self.model_spec, self.params
        h = np.asarray(x, dtype=self.dtype)
        outputs: dict[str, np.ndarray] = {}
        caches: list[HiddenCache] = []
        for i in range(len(spec.hidden_sizes)):
            inputs = h
            activation_input = outputs[f"dense{i}"] = dense(h, p[f"dense{i}.W"], p.get(f"dense{i}.b"))
            stats = None
            if spec.batch_norm is not None:
                gamma, beta = p[f"bn{i}.gamma"], p[f"bn{i}.beta"]
                if training:
                    normalized, stats = batch_norm_train(activation_input, gamma, beta, spec.batch_norm.eps)
                else:
                    running_mean, running_var = p[f"bn{i}.running_mean"], p[f"bn{i}.running_var"]
                    normalized = batch_norm_inference(
                        activation_input, gamma, beta, running_mean, running_var, spec.batch_norm.eps
                    )
                activation_input = outputs[f"bn{i}"] = normalized
            h = activate(spec.activation, activation_input, spec.leaky_relu_alpha)
            outputs[f"act{i}"] = h
            activation = h
            scale = None
            rate = spec.dropout_rate(i)
            if rate > 0:
                key = f"dropout{i}"
                if training:
                    if masks is None or key not in masks:
                        raise missing_masks_error(key)
                    scale = dropout_scale(masks[key], rate, spec.dropout_style, self.dtype)
                    h = h * scale
                else:
                    h = dropout_inference(h, rate, spec.dropout_style)
                outputs[key] = h
            caches.append(HiddenCache(inputs, activation_input, activation, stats, scale))
        last = len(spec.hidden_sizes)
        outputs["logits"] = dense(h, p[f"dense{last}.W"], p[f"dense{last}.b"])
        return ForwardPass(outputs, caches, h)

    def _backward(self, forward: ForwardPass, grad_logits: np.ndarray) -> Params:
        """Gradients of every trainable key (without L2) from dL/dlogits (n, output_size)."""
        spec, p = self.model_spec, self.params
        last = len(spec.hidden_sizes)
        grads: Params = {}
        grad_h, grads[f"dense{last}.W"], grads[f"dense{last}.b"] = dense_backward(
            forward.output_inputs, p[f"dense{last}.W"], grad_logits, need_input_grad=last > 0
        )
        for i in reversed(range(last)):
            cache = forward.hidden[i]
            if cache.dropout_scale is not None:
                grad_h = grad_h * cache.dropout_scale
            grad_z = activation_backward(
                spec.activation, cache.activation_input, cache.activation, grad_h, spec.leaky_relu_alpha
            )
            if cache.bn_stats is not None:
                grad_z, grads[f"bn{i}.gamma"], grads[f"bn{i}.beta"] = batch_norm_backward(
                    grad_z, p[f"bn{i}.gamma"], cache.bn_stats
                )
            grad_h, grads[f"dense{i}.W"], grad_bias = dense_backward(
                cache.inputs, p[f"dense{i}.W"], grad_z, need_input_grad=i > 0
            )
            if has_bias(spec, i):
                grads[f"dense{i}.b"] = grad_bias
        return grads

    def _loss_grads_forward(self, x: np.ndarray, y: np.ndarray, masks: Masks) -> tuple[float, Params, ForwardPass]:
        spec = self.model_spec
        forward = self._forward(x, True, masks)
        loss, grad_logits = data_loss_and_grad(spec.loss, spec.output, forward.outputs["logits"], np.asarray(y))
        grads = self._backward(forward, grad_logits)
        if spec.l2 > 0:
            loss += l2_penalty(spec.l2, [self.params[key] for key in kernel_keys(self.params)])
            for key, grad in l2_grads(self.params, spec.l2).items():
                grads[key] = grads[key] + grad
        ordered = {key: grads[key] for key in self.params if is_trainable(key)}
        return loss, ordered, forward

    # --- FrameworkModel -------------------------------------------------------------------------------------

    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        return self._forward(x, training, dropout_masks).outputs

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        loss, grads, _ = self._loss_grads_forward(x, y, dropout_masks)
        return loss, grads

    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        loss, grads, forward = self._loss_grads_forward(x, y, dropout_masks)
        bn = self.model_spec.batch_norm
        if bn is not None:
            for i, cache in enumerate(forward.hidden):
                mean_key, var_key = f"bn{i}.running_mean", f"bn{i}.running_var"
                self.params[mean_key], self.params[var_key] = updated_running_stats(
                    bn, self.params[mean_key], self.params[var_key], cache.bn_stats, len(x)
                )
        lr = learning_rate(self.train_spec, self.optimizer.iterations, self.steps_per_epoch)
        self.optimizer.step(self.params, grads, lr)
        return loss

    def get_params(self) -> Params:
        return {key: value.copy() for key, value in self.params.items()}

    def set_params(self, params: Params) -> None:
        check_params(self.model_spec, params)
        self.params = {key: np.array(params[key], dtype=self.dtype) for key in param_shapes(self.model_spec)}

    def optimizer_state(self) -> Params:
        return self.optimizer.state()

    # --- the fast path ---------------------------------------------------------------------------------------

    def upload(self, x: np.ndarray, y: np.ndarray) -> Any:
        return np.asarray(x, dtype=self.dtype), np.asarray(y, dtype=np.int64)

    def train_epoch(self, data: Any, order: np.ndarray, dropout_masks: Masks = None) -> float:
        x, y = data
        batches = batch_slices(len(order), self.train_spec.batch_size)
        if len(batches) != self.steps_per_epoch and self.train_spec.schedule.kind != "constant":
            raise ValueError(
                f"an epoch here has {len(batches)} batches but the model was built with "
                f"steps_per_epoch={self.steps_per_epoch}, so the learning-rate schedule would run on the wrong "
                "clock; build the model with steps_per_epoch=len(harness.core.batching.batch_slices(n, batch_size))"
            )
        total, count = 0.0, 0
        for rows in batches:
            batch = order[rows]
            loss = self.train_step(x[batch], y[batch], slice_masks(dropout_masks, rows))
            total += loss * len(batch)
            count += len(batch)
        return total / count

    def evaluate(self, data: Any) -> tuple[float, float]:
        x, y = data
        spec = self.model_spec
        loss_sum, correct = 0.0, 0
        # In chunks, so evaluating a large set never holds every layer's output for all of it at once.
        for rows in batch_slices(len(x), EVAL_BATCH_ROWS):
            logits = self._forward(x[rows], False, None).outputs["logits"]
            loss_sum += evaluation_loss(spec.eval_loss, spec.loss, spec.output, logits, y[rows]) * len(logits)
            correct += int((logits.argmax(axis=1) == y[rows]).sum())
        loss = loss_sum / len(x)
        if spec.l2 > 0:
            loss += l2_penalty(spec.l2, [self.params[key] for key in kernel_keys(self.params)])
        return loss, correct / len(x)
