"""The JAX MLP: harness.core.interface.FrameworkModel for framework 'jax', trained with optax.

Runs only rule forms JAX implements natively (jax_impl.plugin: optax's update rules; either BN running variance, of
the batch norm jax_impl writes). Every call runs inside
jax.enable_x64(True), a context for this thread that leaves JAX's global flag alone, and every array gets the
spec's dtype explicitly: float32 models stay float32, float64 models are not silently truncated, and optax's scalar
coefficients are computed in float64 as torch's Python floats are (conventions table, "JAX 64-bit types"). The fast
path is one jitted jax.lax.scan over an epoch's full batches with data, order and masks on the device; the loss is
read back once per epoch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from harness.core.batching import batch_slices
from harness.core.conventions import require_native
from harness.core.interface import FrameworkModel, Masks, Params
from harness.core.params import trainable_keys
from harness.core.specs import ModelSpec, TrainSpec
from jax_impl.device import resolve_device
from jax_impl.layers import Arrays, activation_keys, kernels, network
from jax_impl.losses import batch_loss, l2_penalty, per_sample_eval_loss
from jax_impl.optimizers import JAX_SLOTS, learning_rate_schedule, make_optimizer, slot_arrays
from jax_impl.params import export_params, load_params, to_canonical

# Rows per inference batch in evaluate: bounds device memory (10k × 256 activations per layer) while keeping the
# number of calls small; inference results do not depend on how rows are batched.
EVAL_BATCH_ROWS = 10_000


class DeviceData(NamedTuple):
    """A data set on the model's device: x (n, input_size) in the model dtype, y (n,) int64."""

    x: jax.Array
    y: jax.Array


class CompiledFunctions(NamedTuple):
    """The jitted computations of one (ModelSpec, TrainSpec, steps_per_epoch), shared by every model built from
    them so that a second model does not compile again."""

    optimizer: optax.GradientTransformation
    learning_rate: Callable[[jax.Array], jax.Array]
    outputs: Callable  # (params, stats, x, masks, training) -> every layer's output, no state change
    loss_and_grads: Callable  # (params, stats, x, y, masks) -> (training-mode loss, gradients)
    step: Callable  # (params, stats, opt_state, x, y, masks) -> (params, stats, opt_state, loss)
    epoch: Callable  # (params, stats, opt_state, x, y, order (b, batch), masks (b, batch, w)) -> (..., Σ loss)
    evaluate_rows: Callable  # (params, stats, x, y) -> (Σ per-sample evaluation loss, number correct)


@functools.lru_cache(maxsize=32)
def compiled_functions(model_spec: ModelSpec, train_spec: TrainSpec, steps_per_epoch: int) -> CompiledFunctions:
    """The jitted computations of a model of these specs (compiled on first call, under x64)."""
    learning_rate = learning_rate_schedule(train_spec, steps_per_epoch)
    optimizer = make_optimizer(train_spec.optimizer, learning_rate)

    def objective(params: Arrays, stats: Arrays, x: jax.Array, y: jax.Array, masks: Arrays | None):
        outputs, new_stats = network(model_spec, params, stats, x, masks, training=True)
        return batch_loss(model_spec, outputs["logits"], y, kernels(model_spec, params)), new_stats

    gradient = jax.value_and_grad(objective, has_aux=True)

    def loss_and_grads(params, stats, x, y, masks):
        (loss, _), grads = gradient(params, stats, x, y, masks)
        return loss, grads

    def step(params, stats, opt_state, x, y, masks):
        (loss, new_stats), grads = gradient(params, stats, x, y, masks)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_stats, opt_state, loss

    def epoch(params, stats, opt_state, x, y, order, masks):
        def one_batch(carry, batch):
            rows, batch_masks = batch
            *carry, loss = step(*carry, x[rows], y[rows], batch_masks)
            return tuple(carry), loss

        (params, stats, opt_state), losses = jax.lax.scan(one_batch, (params, stats, opt_state), (order, masks))
        return params, stats, opt_state, jnp.sum(losses)

    def outputs(params, stats, x, masks, training):
        return network(model_spec, params, stats, x, masks, training)[0]

    def evaluate_rows(params, stats, x, y):
        logits = outputs(params, stats, x, None, False)["logits"]
        return jnp.sum(per_sample_eval_loss(model_spec, logits, y)), jnp.sum(jnp.argmax(logits, axis=1) == y)

    return CompiledFunctions(
        optimizer,
        learning_rate,
        jax.jit(outputs, static_argnames="training"),
        jax.jit(loss_and_grads),
        jax.jit(step),
        jax.jit(epoch),
        jax.jit(evaluate_rows),
    )


def _under_x64(method: Callable) -> Callable:
    """`method` run with JAX's 64-bit types enabled for this thread only (restored afterwards)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return method(*args, **kwargs)

    return wrapper


class MLP(FrameworkModel):
    """The network of a ModelSpec as jitted JAX functions of its arrays, trained with the optax optimiser of the
    TrainSpec."""

    framework = "jax"

    @_under_x64
    def __init__(
        self,
        model_spec: ModelSpec,
        train_spec: TrainSpec,
        params: Params,
        *,
        device: str = "cpu",
        steps_per_epoch: int = 1,
    ) -> None:
        require_native(model_spec, train_spec, self.framework)
        self.jax_device = resolve_device(device)
        resolved = "cuda" if self.jax_device.platform == "gpu" else "cpu"
        super().__init__(model_spec, train_spec, params, device=resolved, steps_per_epoch=steps_per_epoch)
        self.dtype = np.dtype(train_spec.dtype)
        self.functions = compiled_functions(model_spec, train_spec, steps_per_epoch)
        self._trainable_keys = trainable_keys(model_spec)
        self.set_params(params)
        # Committed to the device like every array the jitted functions return: optax creates its step count
        # uncommitted, and a jitted function given it compiles again for the committed count of the next call
        # (measured: 1.8-2.5 s more in the second epoch of a 784-256-256-10 model).
        self.opt_state = jax.device_put(self.functions.optimizer.init(self.trainable), self.jax_device)
        self.steps_taken = 0

    # --- conversions -----------------------------------------------------------------------------------------

    def _floats(self, array: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(array, dtype=self.dtype), self.jax_device)

    def _labels(self, labels: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(labels, dtype=np.int64), self.jax_device)

    def _masks(self, masks: Masks) -> Arrays | None:
        return None if masks is None else {key: self._floats(mask) for key, mask in masks.items()}

    # --- per-tensor access -----------------------------------------------------------------------------------

    @_under_x64
    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        outputs = self.functions.outputs(
            self.trainable, self.stats, self._floats(x), self._masks(dropout_masks), training
        )
        return {key: to_canonical(outputs[key]) for key in activation_keys(self.model_spec)}

    @_under_x64
    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        loss, grads = self.functions.loss_and_grads(
            self.trainable, self.stats, self._floats(x), self._labels(y), self._masks(dropout_masks)
        )
        return float(loss), {key: to_canonical(grads[key]) for key in self._trainable_keys}

    @_under_x64
    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        self.trainable, self.stats, self.opt_state, loss = self.functions.step(
            self.trainable, self.stats, self.opt_state, self._floats(x), self._labels(y), self._masks(dropout_masks)
        )
        self.steps_taken += 1
        return float(loss)

    def get_params(self) -> Params:
        return export_params(self.model_spec, self.trainable, self.stats)

    @_under_x64
    def set_params(self, params: Params) -> None:
        self.trainable, self.stats = load_params(self.model_spec, params, self.dtype, self.jax_device)

    def optimizer_state(self) -> Params:
        slots = slot_arrays(self.opt_state, self.train_spec.optimizer.name)
        # Slot-major order, as the reference reports it.
        return {
            f"{key}/{slot}": to_canonical(slots[slot][key])
            for slot in JAX_SLOTS[self.train_spec.optimizer.name]
            for key in self._trainable_keys
        }

    @_under_x64
    def learning_rate(self, step: int) -> float:
        """The learning rate optax uses at 0-based step `step` (jax_impl's schedule, not the NumPy one)."""
        return float(self.functions.learning_rate(step))

    # --- the fast path ---------------------------------------------------------------------------------------

    @_under_x64
    def upload(self, x: np.ndarray, y: np.ndarray) -> DeviceData:
        return DeviceData(self._floats(x), self._labels(y))

    @_under_x64
    def train_epoch(self, data: DeviceData, order: np.ndarray, dropout_masks: Masks = None) -> float:
        """The epoch's full batches in one jitted lax.scan, then a partial last batch through the jitted step.

        Shapes are the same every epoch of a fit, so nothing is traced again after the first.
        """
        order = np.asarray(order, dtype=np.int64)
        masks = dropout_masks or {}
        batch_size = self.train_spec.batch_size
        full = len(order) // batch_size
        end = full * batch_size
        weighted = 0.0
        if full:
            self.trainable, self.stats, self.opt_state, total = self.functions.epoch(
                self.trainable,
                self.stats,
                self.opt_state,
                data.x,
                data.y,
                self._labels(order[:end].reshape(full, batch_size)),
                {key: self._floats(mask[:end].reshape(full, batch_size, -1)) for key, mask in masks.items()},
            )
            weighted += float(total) * batch_size
        if end < len(order):
            rows = self._labels(order[end:])
            self.trainable, self.stats, self.opt_state, loss = self.functions.step(
                self.trainable,
                self.stats,
                self.opt_state,
                data.x[rows],
                data.y[rows],
                {key: self._floats(mask[end:]) for key, mask in masks.items()},
            )
            weighted += float(loss) * (len(order) - end)
        self.steps_taken += len(batch_slices(len(order), batch_size))
        return weighted / len(order)

    @_under_x64
    def evaluate(self, data: DeviceData) -> tuple[float, float]:
        n = len(data.y)
        loss_sum, correct = 0.0, 0
        for rows in batch_slices(n, EVAL_BATCH_ROWS):
            rows_loss, rows_correct = self.functions.evaluate_rows(
                self.trainable, self.stats, data.x[rows], data.y[rows]
            )
            loss_sum += float(rows_loss)
            correct += int(rows_correct)
        penalty = l2_penalty(self.model_spec.l2, kernels(self.model_spec, self.trainable))
        return loss_sum / n + float(penalty), correct / n

    def synchronize(self) -> None:
        jax.block_until_ready((self.trainable, self.stats, self.opt_state))
