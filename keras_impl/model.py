"""The Keras 3 (TensorFlow backend) MLP: harness.core.interface.FrameworkModel for framework 'keras'.

Input → [Dense → (BatchNormalization) → activation → (MaskDropout)] per hidden layer → Dense → logits, every
layer, variable, loss and learning rate in train_spec.dtype without touching keras.config.floatx(): float64 runs
and float32 runs can share one process. Runs only Keras' native forms (keras_impl/plugin.py,
harness/core/conventions.py).
No XLA unless asked (MLP(execution="xla")): jit_compile=False by default, so a GPU computes what the CPU does
(Keras' "auto" turns XLA on on GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from harness.core.batching import missing_masks_error
from harness.core.conventions import require_native
from harness.core.interface import FrameworkModel, Masks, Params
from harness.core.memory import shareable
from harness.core.params import has_bias, is_trainable
from harness.core.specs import ModelSpec, TrainSpec
from keras_impl.device import resolve_device
from keras_impl.layers import MaskDropout, hidden_activation
from keras_impl.losses import evaluation_loss, total_loss
from keras_impl.optimizers import SpecLearningRate, make_optimizer, slot_values
from keras_impl.params import canonical_variables, export_params, load_params

# Rows per evaluation batch: inference keeps no activations for a backward pass, so batches far larger than a
# training batch fit easily and amortise Keras' per-step overhead; the result does not depend on it.
EVAL_BATCH_ROWS = 2048
EXECUTION_MODES = ("exact", "xla")


class MLPNetwork(keras.Model):
    """The Keras model. Inputs {"x": (n, input_size), "dropout{i}": (n, width) keep-masks} → logits (n, classes).

    Masks are needed in training only, for the layers with a drop rate > 0. Training runs apply_batch (one batch
    per `step` call, or every full batch of an epoch in `batch_loop`); `test_step` is the one `evaluate` runs; the
    tf.functions below serve the per-tensor parity access and share their code.
    """

    def __init__(self, spec: ModelSpec, dtype: str) -> None:
        super().__init__(dtype=dtype, name="mlp")
        self.spec = spec
        self.activation = hidden_activation(spec)
        sizes = spec.layer_sizes
        self.dense_layers = [
            keras.layers.Dense(width, use_bias=has_bias(spec, i), dtype=dtype, name=f"dense{i}")
            for i, width in enumerate(sizes[1:])
        ]
        for layer, fan_in in zip(self.dense_layers, sizes[:-1], strict=True):
            layer.build((None, fan_in))
        self.bn_layers = []
        if spec.batch_norm is not None:
            for i, width in enumerate(spec.hidden_sizes):
                bn = keras.layers.BatchNormalization(
                    momentum=np.float64(spec.batch_norm.momentum),
                    epsilon=np.float64(spec.batch_norm.eps),
                    dtype=dtype,
                    name=f"bn{i}",
                )
                bn.build((None, width))
                self.bn_layers.append(bn)
        self.dropout_layers = {
            f"dropout{i}": MaskDropout(spec.dropout_rate(i), spec.dropout_style, dtype=dtype, name=f"dropout{i}")
            for i in range(len(spec.hidden_sizes))
            if spec.dropout_rate(i) > 0
        }
        # Running means in the model dtype for evaluate (keras.metrics.Mean would otherwise use floatx, float32).
        self.eval_loss = keras.metrics.Mean(name="eval_loss", dtype=dtype)
        self.eval_accuracy = keras.metrics.Mean(name="eval_accuracy", dtype=dtype)
        # Every layer is built above, from the spec's sizes; fit need not build the model from a first batch.
        self.built = True

    @property
    def kernels(self) -> list:
        return [layer.kernel for layer in self.dense_layers]

    @property
    def moving_statistics(self) -> list:
        return [v for bn in self.bn_layers for v in (bn.moving_mean, bn.moving_variance)]

    def layer_outputs(self, inputs: dict, training: bool) -> dict:
        """Every layer's output by activation key (dense{i}, bn{i}, act{i}, dropout{i}, logits), each (n, width)."""
        outputs = {}
        h = inputs["x"]
        hidden = len(self.spec.hidden_sizes)
        for i in range(hidden):
            h = outputs[f"dense{i}"] = self.dense_layers[i](h)
            if self.bn_layers:
                h = outputs[f"bn{i}"] = self.bn_layers[i](h, training=training)
            h = outputs[f"act{i}"] = self.activation(h)
            key = f"dropout{i}"
            if key in self.dropout_layers:
                h = outputs[key] = self.dropout_layers[key](h, keep=inputs.get(key), training=training)
        outputs["logits"] = self.dense_layers[hidden](h)
        return outputs

    def call(self, inputs: dict, training: bool = False):
        return self.layer_outputs(inputs, training)["logits"]

    def objective(self, logits, labels):
        """The training objective: the spec's data loss plus its L2 term (0-d, model dtype)."""
        return total_loss(self.spec, logits, labels, self.kernels)

    def apply_batch(self, inputs: dict, labels):
        """One optimiser step on one batch (BN moving statistics updated); returns the batch loss."""
        with tf.GradientTape() as tape:
            loss = self.objective(self(inputs, training=True), labels)
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    def test_step(self, data):
        inputs, labels = data
        logits = self(inputs, training=False)
        weight = ops.cast(ops.shape(labels)[0], self.dtype)
        self.eval_loss.update_state(evaluation_loss(self.spec, logits, labels, self.kernels), sample_weight=weight)
        correct = ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), self.dtype)
        self.eval_accuracy.update_state(correct)
        return {"eval_loss": self.eval_loss.result(), "eval_accuracy": self.eval_accuracy.result()}

    # --- per-tensor access, compiled once per model; each leaves the BN moving statistics as they were ---

    def _restore(self, saved: list) -> None:
        for variable, value in zip(self.moving_statistics, saved, strict=True):
            variable.assign(value)

    @tf.function(reduce_retracing=True, jit_compile=False)
    def probe_outputs(self, inputs: dict, training: bool) -> dict:
        saved = [tf.identity(v.value) for v in self.moving_statistics]
        outputs = self.layer_outputs(inputs, training)
        self._restore(saved)
        return outputs

    @tf.function(reduce_retracing=True, jit_compile=False)
    def probe_loss_and_grads(self, inputs: dict, labels):
        """(training-mode loss, its gradients in the order of self.trainable_variables), no update."""
        saved = [tf.identity(v.value) for v in self.moving_statistics]
        with tf.GradientTape() as tape:
            loss = self.objective(self(inputs, training=True), labels)
        grads = tape.gradient(loss, self.trainable_variables)
        self._restore(saved)
        return loss, grads

    @tf.function(reduce_retracing=True, jit_compile=False)
    def step(self, inputs: dict, labels):
        """apply_batch compiled on its own: the same operations fit's train_step runs, one batch per call."""
        return self.apply_batch(inputs, labels)

    def batch_loop(self, x, y, batch_rows, batch_masks: dict):
        """apply_batch over every full batch in order; returns the sum of the batch losses (0-d, model dtype).

        x (n, input_size), y (n,) the uploaded data; batch_rows (b, batch_size) int64 row indices per batch;
        batch_masks {"dropout{i}": (b, batch_size, width)}. A tf.while_loop with fixed batch shapes, so one trace
        serves every epoch and XLA (the fast mode) can compile it.
        """
        total = tf.zeros((), dtype=self.dtype)
        for b in tf.range(tf.shape(batch_rows)[0]):
            rows = batch_rows[b]
            inputs = {"x": tf.gather(x, rows)}
            inputs.update({key: mask[b] for key, mask in batch_masks.items()})
            total += self.apply_batch(inputs, tf.gather(y, rows))
        return total


def _host_tensor(array: np.ndarray) -> tf.Tensor:
    """`array` as a CPU tensor: read in place where TensorFlow can (harness.core.memory.shareable; data sets and
    masks are only read), else copied."""
    if shareable(array):
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)


@dataclass(frozen=True)
class UploadedData:
    """A data set as host tensors: x (n, input_size) in the model dtype, y (n,) int64."""

    x: tf.Tensor
    y: tf.Tensor


class MLP(FrameworkModel):
    """The Keras network with its Keras optimiser; parameters cross the boundary as the canonical dict."""

    framework = "keras"
    fast_options: ClassVar[dict[str, str]] = {"execution": "xla"}

    def __init__(
        self,
        model_spec: ModelSpec,
        train_spec: TrainSpec,
        params: Params,
        *,
        device: str = "cpu",
        steps_per_epoch: int = 1,
        execution: str = "exact",
    ) -> None:
        """execution: "exact" (default) runs train_epoch as TensorFlow graphs without XLA; "xla" compiles its
        batch loop with XLA (fused kernels, other rounding; measured by `fwcompare parity` and benchmarks/), which
        costs a compile per model that pays back only over several epochs."""
        if execution not in EXECUTION_MODES:
            raise ValueError(f"execution={execution!r} is not valid; choose one of: {', '.join(EXECUTION_MODES)}")
        require_native(model_spec, train_spec, self.framework)
        self.tf_device = resolve_device(device)
        resolved = "cuda" if self.tf_device.startswith("/GPU") else "cpu"
        super().__init__(model_spec, train_spec, params, device=resolved, steps_per_epoch=steps_per_epoch)
        self.dtype = train_spec.dtype
        with tf.device(self.tf_device):
            self.network = MLPNetwork(model_spec, self.dtype)
            self._variables = canonical_variables(model_spec, self.network.dense_layers, self.network.bn_layers)
            self._trainable = {key: v for key, v in self._variables.items() if is_trainable(key)}
            self.set_params(params)
            self.schedule = SpecLearningRate(train_spec, steps_per_epoch, self.dtype)
            optimizer = make_optimizer(train_spec.optimizer, self.schedule)
            # evaluate() runs Keras' evaluate, many batches per tf.function call (steps_per_execution).
            self.network.compile(optimizer=optimizer, jit_compile=False, steps_per_execution=steps_per_epoch)
            optimizer.build(self.network.trainable_variables)
        key_of = {id(variable): key for key, variable in self._trainable.items()}
        # One trace serves every call, whatever its number of batches: fit cuts an epoch into segments of other
        # lengths when it snapshots the parameters (harness.run.divergence), and each new length would trace again.
        batch_size = train_spec.batch_size
        signature = (
            tf.TensorSpec((None, model_spec.input_size), self.dtype),
            tf.TensorSpec((None,), tf.int64),
            tf.TensorSpec((None, batch_size), tf.int64),
            {
                f"dropout{i}": tf.TensorSpec((None, batch_size, width), tf.float32)
                for i, width in enumerate(model_spec.hidden_sizes)
                if f"dropout{i}" in self.network.dropout_layers
            },
        )
        self._batch_loop = tf.function(
            self.network.batch_loop, input_signature=signature, jit_compile=execution == "xla"
        )
        # Canonical key of each gradient that MLPNetwork.probe_loss_and_grads returns (Keras' variable order).
        self._gradient_keys = [key_of[id(variable)] for variable in self.network.trainable_variables]

    # --- conversions at the NumPy boundary ---

    def _keep_masks_arrays(self, masks: Masks) -> dict[str, np.ndarray]:
        """The keep-masks (n, width) every dropout layer needs in training; raises ValueError if one is missing."""
        keep = {}
        for key in self.network.dropout_layers:
            if masks is None or key not in masks:
                raise missing_masks_error(key)
            keep[key] = np.asarray(masks[key])
        return keep

    def _keep_masks(self, masks: Masks) -> dict[str, tf.Tensor]:
        return {key: tf.convert_to_tensor(mask) for key, mask in self._keep_masks_arrays(masks).items()}

    def _inputs(self, x: np.ndarray, masks: Masks, training: bool) -> dict:
        """The network's input dict: x in the model dtype, plus the keep-masks in training."""
        inputs = {"x": tf.convert_to_tensor(np.asarray(x, dtype=self.dtype))}
        if training:
            inputs.update(self._keep_masks(masks))
        return inputs

    @staticmethod
    def _labels(y: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(np.asarray(y, dtype=np.int64))

    # --- FrameworkModel ---

    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        with tf.device(self.tf_device):
            outputs = self.network.probe_outputs(self._inputs(x, dropout_masks, training), training)
        return {key: np.asarray(value) for key, value in outputs.items()}

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        with tf.device(self.tf_device):
            loss, grads = self.network.probe_loss_and_grads(self._inputs(x, dropout_masks, True), self._labels(y))
        by_key = {key: np.asarray(grad) for key, grad in zip(self._gradient_keys, grads, strict=True)}
        return float(loss), {key: by_key[key] for key in self._trainable}

    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        with tf.device(self.tf_device):
            return float(self.network.step(self._inputs(x, dropout_masks, True), self._labels(y)))

    def get_params(self) -> Params:
        return export_params(self._variables)

    def set_params(self, params: Params) -> None:
        load_params(self.model_spec, self._variables, params)

    def optimizer_state(self) -> Params:
        return slot_values(self.network.optimizer, self.train_spec.optimizer.name, self._trainable)

    def learning_rate(self, step: int) -> float:
        """The learning rate Keras' optimiser uses at 0-based step `step` (its schedule object, not the NumPy one)."""
        return float(self.schedule(step))

    # --- the fast path ---

    def upload(self, x: np.ndarray, y: np.ndarray) -> UploadedData:
        """Host tensors in the model dtype: tf.data, which feeds `fit` and `evaluate`, runs on the CPU and copies
        each batch to the device, as Keras does with NumPy input."""
        with tf.device("/CPU:0"):
            return UploadedData(_host_tensor(np.asarray(x, dtype=self.dtype)), self._labels(y))

    def train_epoch(self, data: UploadedData, order: np.ndarray, dropout_masks: Masks = None) -> float:
        """The epoch's full batches in one compiled call (MLPNetwork.batch_loop), then a partial last batch through
        MLPNetwork.step: apply_batch on the same batches as `fit` would, without its per-epoch tf.data pipeline.

        Not `fit`: a new tf.data pipeline per epoch kept each epoch's captured mask tensors alive (memory grew by
        the masks' size every epoch), and Keras casts NumPy float arrays to floatx(), which would silently turn a
        float64 run into float32 input. Shapes are the same every epoch, so nothing is traced again.
        """
        order = np.asarray(order, dtype=np.int64)
        keep = self._keep_masks_arrays(dropout_masks)
        batch_size = self.train_spec.batch_size
        full = len(order) // batch_size
        end = full * batch_size
        with tf.device(self.tf_device):
            total = self._batch_loop(
                data.x,
                data.y,
                tf.constant(order[:end].reshape(full, batch_size)),
                # Keep-masks are 0/1, exact in float32 (the loop's signature); the harness draws them in float32.
                {
                    key: _host_tensor(np.asarray(mask[:end], np.float32).reshape(full, batch_size, -1))
                    for key, mask in keep.items()
                },
            )
            weighted = float(total) * batch_size
            if end < len(order):
                rows = order[end:]
                inputs = {"x": tf.gather(data.x, rows)}
                inputs.update({key: tf.constant(mask[end:]) for key, mask in keep.items()})
                weighted += float(self.network.step(inputs, tf.gather(data.y, rows))) * (len(order) - end)
        return weighted / len(order)

    def evaluate(self, data: UploadedData) -> tuple[float, float]:
        with tf.device(self.tf_device):
            batches = tf.data.Dataset.from_tensor_slices(({"x": data.x}, data.y)).batch(EVAL_BATCH_ROWS)
            result = self.network.evaluate(batches, verbose=0, return_dict=True)
        return float(result["eval_loss"]), float(result["eval_accuracy"])
