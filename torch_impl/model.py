"""The PyTorch MLP: harness.core.interface.FrameworkModel for framework 'torch'.

Runs torch's native forms only (torch.optim update rules, unbiased BN running variance); the module is built in
train_spec.dtype on the resolved device, without touching torch's global default dtype. The fast path keeps data,
epoch order, masks and the running loss on the device and reads the loss back once per epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from harness.core.batching import batch_slices, slice_masks
from harness.core.conventions import require_native
from harness.core.interface import FrameworkModel, Masks, Params
from harness.core.specs import ModelSpec, TrainSpec
from torch_impl.device import resolve_device
from torch_impl.layers import MLPNetwork, TensorDict
from torch_impl.losses import batch_loss, l2_penalty, per_sample_eval_loss
from torch_impl.optimizers import TORCH_SLOTS, make_optimizer, set_learning_rate, slot_tensors
from torch_impl.params import export_params, load_params, to_canonical, trainable_tensors

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# Rows per inference batch in evaluate: bounds device memory (10k × 256 activations per layer) while keeping the
# number of launches small; inference results do not depend on how rows are batched.
EVAL_BATCH_ROWS = 10_000


class DeviceData(NamedTuple):
    """A data set on the model's device: x (n, input_size) in the model dtype, y (n,) int64."""

    x: torch.Tensor
    y: torch.Tensor


class MLP(FrameworkModel):
    """The network of a ModelSpec as torch modules, trained with the torch.optim optimiser of the TrainSpec."""

    framework = "torch"

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
        self.torch_device = resolve_device(device)
        super().__init__(model_spec, train_spec, params, device=str(self.torch_device), steps_per_epoch=steps_per_epoch)
        self.dtype = TORCH_DTYPES[train_spec.dtype]
        self.network = MLPNetwork(model_spec, self.dtype, self.torch_device)
        load_params(self.network, params)
        self.trainable = trainable_tensors(self.network)
        self.optimizer = make_optimizer(train_spec.optimizer, self.trainable.values())
        self.steps_taken = 0

    # --- conversions -----------------------------------------------------------------------------------------

    # torch.tensor copies: the model never aliases the caller's arrays, and read-only arrays raise no warning.
    def _floats(self, array: np.ndarray) -> torch.Tensor:
        """The array as a tensor in the model dtype on the device; on the CPU in the same dtype it shares the
        array's memory (data sets and masks are only read), so a 60,000-row data set is not held twice. A
        read-only array is copied: torch warns about sharing it."""
        array = np.asarray(array)
        share = torch.as_tensor if array.flags.writeable else torch.tensor
        return share(array, dtype=self.dtype, device=self.torch_device)

    def _labels(self, labels: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.asarray(labels), dtype=torch.int64, device=self.torch_device)

    def _masks(self, masks: Masks) -> TensorDict | None:
        return None if masks is None else {key: self._floats(mask) for key, mask in masks.items()}

    # --- one batch -------------------------------------------------------------------------------------------

    def _loss(self, x: torch.Tensor, y: torch.Tensor, masks: TensorDict | None, update_stats: bool) -> torch.Tensor:
        logits = self.network(x, masks, update_stats=update_stats)
        return batch_loss(self.model_spec, logits, y, self.network.kernels())

    def _step(self, x: torch.Tensor, y: torch.Tensor, masks: TensorDict | None) -> torch.Tensor:
        """One optimiser step in training mode; returns the batch loss as a detached device tensor (no sync)."""
        set_learning_rate(self.optimizer, self.learning_rate(self.steps_taken))
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(x, y, masks, update_stats=True)
        loss.backward()
        self.optimizer.step()
        self.steps_taken += 1
        return loss.detach()

    # --- per-tensor access -----------------------------------------------------------------------------------

    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        self.network.train(training)
        record: TensorDict = {}
        with torch.no_grad():
            self.network(self._floats(x), self._masks(dropout_masks), update_stats=False, record=record)
        return {key: np.array(value.cpu().numpy()) for key, value in record.items()}

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        self.network.train(True)
        loss = self._loss(self._floats(x), self._labels(y), self._masks(dropout_masks), update_stats=False)
        grads = torch.autograd.grad(loss, list(self.trainable.values()))
        return loss.item(), {key: to_canonical(key, grad) for key, grad in zip(self.trainable, grads, strict=True)}

    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        self.network.train(True)
        return self._step(self._floats(x), self._labels(y), self._masks(dropout_masks)).item()

    def get_params(self) -> Params:
        return export_params(self.network)

    def set_params(self, params: Params) -> None:
        load_params(self.network, params)

    def optimizer_state(self) -> Params:
        name = self.train_spec.optimizer.name
        slots = {key: slot_tensors(self.optimizer, name, param) for key, param in self.trainable.items()}
        # Slot-major order, as the reference reports it.
        return {
            f"{key}/{slot}": to_canonical(key, slots[key][slot]) for slot in TORCH_SLOTS[name] for key in self.trainable
        }

    # --- the fast path ---------------------------------------------------------------------------------------

    def upload(self, x: np.ndarray, y: np.ndarray) -> DeviceData:
        return DeviceData(self._floats(x), self._labels(y))

    def train_epoch(self, data: DeviceData, order: np.ndarray, dropout_masks: Masks = None) -> float:
        self.network.train(True)
        order_on_device = self._labels(order)
        masks = self._masks(dropout_masks)
        loss_sum = torch.zeros((), dtype=self.dtype, device=self.torch_device)
        for rows in batch_slices(len(order), self.train_spec.batch_size):
            batch = order_on_device[rows]
            loss = self._step(data.x[batch], data.y[batch], slice_masks(masks, rows))
            loss_sum += loss * (rows.stop - rows.start)
        return loss_sum.item() / len(order)

    def evaluate(self, data: DeviceData) -> tuple[float, float]:
        self.network.train(False)
        n = len(data.y)
        with torch.no_grad():
            loss_sum = torch.zeros((), dtype=self.dtype, device=self.torch_device)
            correct = torch.zeros((), dtype=torch.int64, device=self.torch_device)
            for rows in batch_slices(n, EVAL_BATCH_ROWS):
                logits = self.network(data.x[rows])
                loss_sum += per_sample_eval_loss(self.model_spec, logits, data.y[rows]).sum()
                correct += (logits.argmax(dim=1) == data.y[rows]).sum()
            loss = loss_sum / n + l2_penalty(self.model_spec.l2, self.network.kernels())
        return float(loss.item()), correct.item() / n

    def synchronize(self) -> None:
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize(self.torch_device)
