"""The one interface every framework package implements (the registered ones, harness.core.frameworks), each as a
class named `MLP`.

Everything crosses this boundary as NumPy arrays: inputs x (n, input_size) in the spec's dtype, labels y (n,)
int64 class indices (losses one-hot them), parameters as the canonical dict of harness/core/params.py, dropout masks
as {"dropout{i}": (n, hidden_sizes[i]) 0/1 arrays} (harness/core/batching.py). The training loop itself (`fit`: epoch
orders, timing, evaluation, early stopping, history) is written once here; each framework supplies only its fast
`train_epoch` and `evaluate`.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from harness.core.batching import dropout_masks, epoch_order
from harness.core.errors import DivergedError
from harness.core.load import LoadMeter
from harness.core.specs import ModelSpec, TrainSpec

Params = dict[str, np.ndarray]
MODES = ("exact", "fast")
"""Execution modes of train_epoch: `exact` (the default) is the path parity checks at the stated tolerances;
`fast` is each framework's fastest path (FrameworkModel.fast_options), whose parity is measured apart."""
Masks = dict[str, np.ndarray] | None


def mode_options(model_class: type[FrameworkModel], mode: str) -> dict[str, Any]:
    """The constructor options that make `model_class` train in execution `mode`."""
    if mode not in MODES:
        raise ValueError(f"execution mode {mode!r} is not valid; choose one of: {', '.join(MODES)}")
    return dict(model_class.fast_options) if mode == "fast" else {}


@dataclass
class EpochRecord:
    """One finished epoch. Times are wall-clock seconds read after the device was synchronised."""

    epoch: int
    train_loss: float
    train_time_s: float
    lr: float
    val_loss: float | None = None
    val_accuracy: float | None = None
    eval_time_s: float | None = None
    others_cpu_share: float | None = None
    """Share of all cores' time other processes took during the training epoch (harness.core.load)."""
    contended: bool | None = None
    """True when others_cpu_share (or hypervisor steal) exceeded harness.core.load.CONTENDED_SHARE: not comparable."""


@dataclass
class FitResult:
    """What `fit` did: per-epoch records, whether early stopping fired, and which epoch's weights are kept."""

    history: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None


class FrameworkModel(ABC):
    """An MLP built from (ModelSpec, TrainSpec, canonical params) in one framework, with its optimiser."""

    framework: ClassVar[str]
    """Its name in the framework registry (harness.core.frameworks)."""
    fast_options: ClassVar[dict[str, Any]] = {}
    """Constructor options of the `fast` execution mode (MODES); empty where the fast mode is the exact path."""

    def __init__(
        self,
        model_spec: ModelSpec,
        train_spec: TrainSpec,
        params: Params,
        *,
        device: str = "cpu",
        steps_per_epoch: int = 1,
    ) -> None:
        """Build the model in train_spec.dtype on `device`, load `params` (checked), make the optimiser.

        steps_per_epoch fixes the learning-rate schedule's clock (epoch = step // steps_per_epoch).
        """
        self.model_spec = model_spec
        self.train_spec = train_spec
        self.device = device
        self.steps_per_epoch = steps_per_epoch

    # --- per-tensor access, used by the parity engine -------------------------------------------------------

    @abstractmethod
    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        """Every layer's output in order: dense{i} (pre-activation), bn{i}, act{i}, dropout{i}, ..., logits.

        Each value is (n, width). Does not change any state (BN running statistics are left as they were).
        """

    def forward(self, x: np.ndarray, training: bool = False, dropout_masks: Masks = None) -> np.ndarray:
        """Logits (n, output_size); no state change."""
        return self.activations(x, training, dropout_masks)["logits"]

    @abstractmethod
    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        """Training-mode loss (including the L2 term) and its gradient per trainable canonical key; no update."""

    @abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        """One optimiser step on one batch (updates BN running statistics); returns the batch loss."""

    @abstractmethod
    def get_params(self) -> Params:
        """A copy of every canonical parameter, BN running statistics included."""

    @abstractmethod
    def set_params(self, params: Params) -> None:
        """Load a canonical dict (checked against the spec; raises ParamMismatchError)."""

    def optimizer_state(self) -> Params:
        """Optimiser slots comparable across frameworks, keyed '<param key>/<slot>'; empty when not exposed."""
        return {}

    # --- the fast path, used for timed runs --------------------------------------------------------------

    def upload(self, x: np.ndarray, y: np.ndarray) -> Any:
        """Put a data set where `train_epoch` / `evaluate` read it (device tensors, cast arrays); once per fit."""
        return x, y

    @abstractmethod
    def train_epoch(self, data: Any, order: np.ndarray, dropout_masks: Masks = None) -> float:
        """Train one epoch through the framework's idiomatic fast path.

        data: from `upload`; order: (n,) sample indices, batched consecutively by train_spec.batch_size (last
        batch partial); dropout_masks rows follow `order` positions. Returns the sample-weighted mean batch loss.
        """

    @abstractmethod
    def evaluate(self, data: Any) -> tuple[float, float]:
        """Inference-mode (loss including L2, accuracy in [0, 1]) over a data set from `upload`."""

    def synchronize(self) -> None:
        """Wait for queued device work, so a clock read afterwards measures it (CUDA); no-op elsewhere."""

    def learning_rate(self, step: int) -> float:
        """The learning rate the optimiser uses at 0-based optimiser step `step`."""
        from harness.core.schedules import learning_rate

        return learning_rate(self.train_spec, step, self.steps_per_epoch)

    # --- the training loop, shared by all frameworks ---------------------------------------------------------

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        on_epoch_end: Callable[[EpochRecord], None] | None = None,
        snapshot_steps: Sequence[int] = (),
        on_snapshot: Callable[[int, Params], None] | None = None,
    ) -> FitResult:
        """Train for train_spec.epochs (or max_steps) on (x (n, d), y (n,)), epoch orders and dropout masks from
        the seed.

        With `validation`, evaluates after every epoch (with early stopping: every `eval_every` epochs and the
        last); early stopping (if enabled) looks at the validation loss every `eval_every` epochs and stops after
        `patience` looks without improvement, restoring the best weights if asked. Raises DivergedError on a
        non-finite training loss.

        on_snapshot(step, params) is called with a copy of the parameters after each optimiser step count in
        `snapshot_steps` that training reaches (0: before the first step); the epochs are then trained in segments
        cut at those steps (same batches, same order; with a learning-rate schedule only epoch ends are allowed),
        and the copies are not timed.
        """
        spec = self.train_spec
        stopping = spec.early_stopping
        if stopping.enabled and validation is None:
            raise ValueError("early stopping needs a validation set; pass validation=(x_val, y_val)")
        cutting = [step for step in snapshot_steps if step % self.steps_per_epoch and step != spec.max_steps]
        if cutting and spec.schedule.kind != "constant":
            # A framework's schedule clock may count an epoch's batches per train_epoch call.
            raise ValueError(
                f"parameter snapshots at steps {cutting} cut epochs into segments, which needs a constant learning "
                "rate; with a schedule, snapshot at epoch ends only"
            )
        snapshot = on_snapshot or (lambda step, params: None)
        if 0 in snapshot_steps:
            snapshot(0, self.get_params())
        steps_done = 0
        train_data = self.upload(x, y)
        val_data = self.upload(*validation) if validation is not None else None
        result = FitResult()
        best_loss, best_params, looks_without_gain = np.inf, None, 0
        n = len(x)
        for epoch in range(spec.epochs):
            rows = spec.epoch_rows(n, epoch)
            if rows == 0:
                break  # max_steps reached at the end of the previous epoch
            order = epoch_order(n, spec.seed, epoch, spec.sampling)[:rows]
            masks = dropout_masks(self.model_spec, n, spec.seed, epoch)
            masks = None if masks is None else {key: mask[:rows] for key, mask in masks.items()}
            batches = math.ceil(rows / spec.batch_size)
            cuts = sorted(
                min(rows, (step - steps_done) * spec.batch_size)
                for step in set(snapshot_steps)
                if steps_done < step <= steps_done + batches
            )
            segment_losses: list[tuple[float, int]] = []  # (mean loss, rows) of each segment
            train_time_s = 0.0
            with LoadMeter() as load:
                for begin, end in zip([0, *cuts], [*cuts, rows], strict=True):
                    if begin == end:
                        continue
                    segment_masks = None if masks is None else {key: mask[begin:end] for key, mask in masks.items()}
                    self.synchronize()
                    start = time.perf_counter()
                    segment_losses.append((self.train_epoch(train_data, order[begin:end], segment_masks), end - begin))
                    self.synchronize()
                    train_time_s += time.perf_counter() - start
                    if end in cuts:
                        snapshot(steps_done + math.ceil(end / spec.batch_size), self.get_params())
            steps_done += batches
            # One segment (no snapshot in this epoch): the epoch's own mean, not re-weighted by its row count.
            train_loss = (
                segment_losses[0][0]
                if len(segment_losses) == 1
                else sum(loss * count for loss, count in segment_losses) / rows
            )
            record = EpochRecord(
                epoch=epoch,
                train_loss=float(train_loss),
                train_time_s=train_time_s,
                lr=self.learning_rate(epoch * self.steps_per_epoch + math.ceil(rows / spec.batch_size) - 1),
                others_cpu_share=load.measured.others_share,
                contended=load.measured.contended,
            )
            if not np.isfinite(record.train_loss):
                raise DivergedError(
                    f"training loss became {record.train_loss} in epoch {epoch + 1}; "
                    "lower the learning rate or check the initialisation"
                )
            # With early stopping, only the epochs it looks at are evaluated, as lincoln's Trainer does (an
            # evaluation of a 10,000-row test set can cost as much as a training epoch).
            looks = not stopping.enabled or (epoch + 1) % stopping.eval_every == 0 or epoch == spec.epochs - 1
            if val_data is not None and looks:
                start = time.perf_counter()
                record.val_loss, record.val_accuracy = self.evaluate(val_data)
                record.eval_time_s = time.perf_counter() - start
            result.history.append(record)
            if on_epoch_end is not None:
                on_epoch_end(record)
            if not stopping.enabled or (epoch + 1) % stopping.eval_every:
                continue
            val_loss = record.val_loss
            if val_loss is None:  # fit refuses early stopping without validation data, so every look evaluates
                raise RuntimeError(f"early stopping looked at epoch {epoch + 1}, which was not evaluated")
            if val_loss < best_loss:
                best_loss, best_params, looks_without_gain = val_loss, self.get_params(), 0
                result.best_epoch = epoch
            else:
                looks_without_gain += 1
                if looks_without_gain >= stopping.patience:
                    result.stopped_early = True
                    break
        if stopping.enabled and stopping.restore_best and best_params is not None:
            self.set_params(best_params)
        return result
