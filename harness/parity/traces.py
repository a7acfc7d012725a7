"""Traces: every tensor the parity engine compares, read from one freshly built model."""

from __future__ import annotations

import numpy as np

from harness.core.interface import FrameworkModel
from harness.parity.inputs import PARITY_STEPS_PER_EPOCH, ParityBatches

Trace = dict[str, dict[str, np.ndarray]]
"""check -> tensor name -> array, tensors in layer order."""


def trace_model(model: FrameworkModel, batches: ParityBatches, steps: int) -> Trace:
    """Every tensor the engine compares, from a freshly built `model` (its state advances by `steps` steps)."""
    x0, y0, masks0 = batches.batch(0)
    trace: Trace = {
        "forward-train": model.activations(x0, True, masks0),
        "forward-inference": model.activations(x0, False),
    }
    loss, grads = model.loss_and_grads(x0, y0, masks0)
    trace["loss"] = {"loss": np.asarray(loss)}
    trace["gradient"] = grads
    losses = [model.train_step(*batches.batch(k)) for k in range(steps)]
    trace["step-losses"] = {"train_step losses": np.asarray(losses, dtype=np.float64)}
    trace["params-after-steps"] = model.get_params()
    trace["optimizer-state-after-steps"] = model.optimizer_state()
    x_held, y_held, masks_held = batches.batch(steps)
    trace["forward-inference-after-steps"] = model.activations(x_held, False)
    trace["loss-after-steps"] = {"held-out loss": np.asarray(model.loss_and_grads(x_held, y_held, masks_held)[0])}
    return trace


def fit_path_trace(model: FrameworkModel, batches: ParityBatches, steps: int) -> dict[str, np.ndarray]:
    """Parameters after train_epoch over the K training batches, one call per epoch of PARITY_STEPS_PER_EPOCH
    batches (order = arange, masks given), and "train_epoch losses" (n_epochs,): what each call returned."""
    epoch_losses = []
    for start in range(0, steps, PARITY_STEPS_PER_EPOCH):
        x, y, masks = batches.rows(start, start + PARITY_STEPS_PER_EPOCH)
        epoch_losses.append(model.train_epoch(model.upload(x, y), np.arange(len(x)), masks))
    return {**model.get_params(), "train_epoch losses": np.asarray(epoch_losses, dtype=np.float64)}


def epoch_means(step_losses: np.ndarray) -> np.ndarray:
    """Mean train_step loss (K,) per epoch -> (K / PARITY_STEPS_PER_EPOCH,); with full batches only, the
    sample-weighted mean train_epoch returns is the plain one."""
    return step_losses.reshape(-1, PARITY_STEPS_PER_EPOCH).mean(axis=1)
