"""Per-epoch sample order and dropout masks, made once in NumPy from the seed so every framework in a cell sees
the same batches and drops the same units."""

from __future__ import annotations

import numpy as np

from harness.core.specs import ModelSpec

# Streams of np.random.default_rng([seed, stream, epoch]); distinct so orders and masks never share draws.
_ORDER_STREAM = 1
_MASK_STREAM = 2


def epoch_order(n_samples: int, seed: int, epoch: int, sampling: str = "permutation") -> np.ndarray:
    """Sample indices (n_samples,) int64 for 0-based `epoch`: a permutation, or uniform draws with replacement
    (TrainSpec.sampling)."""
    rng = np.random.default_rng([seed, _ORDER_STREAM, epoch])
    if sampling == "with_replacement":
        return rng.integers(0, n_samples, n_samples)
    return rng.permutation(n_samples)


def batch_slices(n_samples: int, batch_size: int) -> list[slice]:
    """Consecutive batches over positions 0..n_samples-1; the last one may be partial (as Keras fit keeps it)."""
    return [slice(start, min(start + batch_size, n_samples)) for start in range(0, n_samples, batch_size)]


def dropout_masks(spec: ModelSpec, n_rows: int, seed: int, epoch: int) -> dict[str, np.ndarray] | None:
    """Keep-masks {"dropout{i}": (n_rows, hidden_sizes[i]) float 0/1} for one epoch, or None without dropout.

    Row j belongs to the j-th sample of that epoch's order, so batch b uses rows batch_slices(...)[b].
    Keep probability is 1 − rate; layers with rate 0 get no key.
    """
    if not spec.has_dropout:
        return None
    rng = np.random.default_rng([seed, _MASK_STREAM, epoch])
    masks = {}
    for i, width in enumerate(spec.hidden_sizes):
        rate = spec.dropout_rate(i)
        if rate > 0:
            masks[f"dropout{i}"] = (rng.random((n_rows, width)) >= rate).astype(np.float32)
    return masks


def slice_masks(masks: dict[str, np.ndarray] | None, rows: slice) -> dict[str, np.ndarray] | None:
    """The masks of one batch."""
    return None if masks is None else {k: m[rows] for k, m in masks.items()}


def missing_masks_error(key: str) -> ValueError:
    """The error a framework raises when training with dropout gets no keep-mask for `key`."""
    return ValueError(
        f"training with dropout needs an injected keep-mask for {key!r}; masks come from "
        "harness.core.batching.dropout_masks(spec, n_rows, seed, epoch), sliced per batch with "
        "harness.core.batching.slice_masks"
    )
