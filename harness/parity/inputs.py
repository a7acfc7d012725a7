"""The inputs every model of a parity case shares: the parity specs, synthetic batches with their dropout masks,
and the bounds on the number of steps K."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from harness.catalog.variants import Variant
from harness.core.batching import dropout_masks
from harness.core.specs import ModelSpec, TrainSpec

DEFAULT_STEPS = 10
PARITY_SEED = 0
# Parity compares arithmetic, not statistics: 32 rows exercise every kernel (BN's N/(N−1) included) and keep the
# 2-core CI fast.
PARITY_BATCH_SIZE = 32
# Several epochs inside K steps, so per-epoch schedules change the lr and train_epoch is called more than once;
# K must be a multiple of it, because train_epoch runs whole epochs only.
PARITY_STEPS_PER_EPOCH = 2


@dataclass(frozen=True)
class ParityBatches:
    """steps + 1 batches: x (steps + 1, batch, input_size) in [0, 1), y (steps + 1, batch) int64 labels, and
    keep-masks {"dropout{i}": ((steps + 1)·batch, width)} (None without dropout). Batches 0..steps−1 train;
    batch `steps` is held out for the after-steps checks."""

    x: np.ndarray
    y: np.ndarray
    masks: dict[str, np.ndarray] | None

    @property
    def batch_size(self) -> int:
        return self.x.shape[1]

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        """Batches start..stop−1 concatenated: x (n, input_size), y (n,), masks for those rows."""
        b = self.batch_size
        x = self.x[start:stop].reshape(-1, self.x.shape[2])
        y = self.y[start:stop].reshape(-1)
        masks = None if self.masks is None else {k: m[start * b : stop * b] for k, m in self.masks.items()}
        return x, y, masks

    def with_training_rows_permuted(self, steps: int, rows: np.ndarray) -> ParityBatches:
        """The same batches with the rows of batches 0..steps−1 taken in the order `rows` (batch,), masks alike;
        the held-out batch is kept as it is."""
        n_batches, b = self.x.shape[:2]
        x, y = self.x.copy(), self.y.copy()
        x[:steps], y[:steps] = self.x[:steps, rows], self.y[:steps, rows]
        masks = None
        if self.masks is not None:
            masks = {}
            for key, mask in self.masks.items():
                per_batch = mask.reshape(n_batches, b, -1).copy()
                per_batch[:steps] = per_batch[:steps, rows]
                masks[key] = per_batch.reshape(mask.shape)
        return ParityBatches(x, y, masks)

    def with_training_inputs_nudged(self, steps: int, seed: int) -> ParityBatches:
        """The same batches with every input of batches 0..steps−1 moved by one unit in the last place, up or down
        at random (np.random.default_rng(seed)): a perturbation of exactly the size one rounding makes."""
        x = self.x.copy()
        upward = np.random.default_rng(seed).random(x[:steps].shape) < 0.5
        x[:steps] = np.nextafter(x[:steps], np.where(upward, np.inf, -np.inf).astype(x.dtype))
        return ParityBatches(x, self.y, self.masks)

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        return self.rows(index, index + 1)


def parity_batches(model_spec: ModelSpec, dtype: str, steps: int, batch_size: int = PARITY_BATCH_SIZE) -> ParityBatches:
    """Synthetic inputs and labels from np.random.default_rng(PARITY_SEED), masks from harness.core.batching."""
    rng = np.random.default_rng(PARITY_SEED)
    n_batches = steps + 1
    x = rng.random((n_batches, batch_size, model_spec.input_size)).astype(dtype)
    y = rng.integers(0, model_spec.output_size, (n_batches, batch_size)).astype(np.int64)
    masks = dropout_masks(model_spec, n_batches * batch_size, PARITY_SEED, epoch=0)
    return ParityBatches(x, y, masks)


def parity_specs(variant: Variant, dtype: str, steps: int) -> tuple[ModelSpec, TrainSpec]:
    """The variant's specs in `dtype`, with the parity batch size and seed, and epochs covering `steps` steps."""
    epochs = steps // PARITY_STEPS_PER_EPOCH
    train = replace(variant.train, dtype=dtype, batch_size=PARITY_BATCH_SIZE, epochs=epochs, seed=PARITY_SEED)
    return variant.model, train


MAX_STEPS = 1000
"""Parity holds every one of its K + 1 batches in memory and traces several models through all K steps: it is for
short trajectories. K = 1000 holds 0.2 GiB of 784-input float64 batches; K = 100000 would hold 18.7 GiB."""


def parity_batches_bytes(steps: int, input_size: int = 784, dtype: str = "float64") -> int:
    """Bytes of the inputs parity_batches makes for `steps` steps (the largest array it holds)."""
    return (steps + 1) * PARITY_BATCH_SIZE * input_size * np.dtype(dtype).itemsize


def check_steps(steps: int) -> None:
    """Raise ValueError unless `steps` is a positive multiple of PARITY_STEPS_PER_EPOCH, at most MAX_STEPS."""
    if steps < 1 or steps % PARITY_STEPS_PER_EPOCH:
        raise ValueError(
            f"steps={steps}: parity needs a positive multiple of {PARITY_STEPS_PER_EPOCH} (whole epochs of "
            f"{PARITY_STEPS_PER_EPOCH} steps for train_epoch), e.g. {DEFAULT_STEPS}"
        )
    if steps > MAX_STEPS:
        raise ValueError(
            f"steps={steps:,}: parity keeps all {steps + 1:,} batches in memory "
            f"({parity_batches_bytes(steps) / 2**30:.1f} GiB of 784-input float64 inputs) and is meant for short "
            f"trajectories; use at most {MAX_STEPS:,} (training curves over longer runs come from `fwcompare run`)"
        )
