"""What a run will cost, known before it starts: bounds on its inputs, the memory its largest cell needs (from the
sizes), and how long it will take (from NumPy training steps timed on this machine just before the run).

A run that cannot fit in memory is refused with the figure and a fix; one with an absurd length is refused; a
batch larger than the training set is allowed (it is full-batch training) but said.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.core.batching import dropout_masks
from harness.core.errors import RunTooLargeError
from harness.core.specs import ModelSpec, TrainSpec
from harness.data.preprocess import SplitArrays

MAX_EPOCHS = 10_000
"""More epochs than any study here uses by two orders of magnitude; 10**9 is a typo, not an experiment."""
OPTIMIZER_COPIES = 4
"""Copies of the parameters a cell holds while training: the parameters, their gradients and up to two optimiser
slots (Adam's m and v)."""
ACTIVATION_COPIES = 3
"""Copies of each layer's output kept for the backward pass: pre-activation, activation and its gradient."""
TIMED_STEPS = 3


def check_lengths(train_specs: Sequence[tuple[str, TrainSpec]], n_train: int) -> list[str]:
    """Refuse (RunTooLargeError) more than MAX_EPOCHS epochs; one warning line per variant whose batch is larger
    than the training set. `train_specs` holds (variant name, TrainSpec) pairs."""
    warnings = []
    for name, train in dict(train_specs).items():
        if train.epochs > MAX_EPOCHS:
            raise RunTooLargeError(
                f"variant {name!r} asks for {train.epochs:,} epochs; at most {MAX_EPOCHS:,} are allowed: "
                "give --epochs N (or epochs = N in the TOML) with a realistic length"
            )
        if train.batch_size > n_train:
            warnings.append(
                f"variant {name!r}: batch size {train.batch_size:,} is larger than the {n_train:,} training examples, "
                f"so every epoch is one full batch of {n_train:,}"
            )
    return warnings


def cell_memory_bytes(model: ModelSpec, train: TrainSpec, n_eval: int) -> int:
    """Bytes one training model holds: parameters with gradients and optimiser slots, plus the activations of the
    larger of a training batch and the evaluation set."""
    sizes = model.layer_sizes
    itemsize = np.dtype(train.dtype).itemsize
    parameters = sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    activations = max(train.batch_size, n_eval) * sum(sizes[1:])
    return itemsize * (OPTIMIZER_COPIES * parameters + ACTIVATION_COPIES * activations)


def check_memory(specs: Sequence[tuple[ModelSpec, TrainSpec]], arrays: Sequence[SplitArrays], jobs: int) -> None:
    """Refuse (RunTooLargeError, with the figures and a fix) a run whose data plus `jobs` of its largest cell do
    not fit in the memory available now."""
    available = available_memory_bytes()
    if available is None or not specs:
        return
    data = sum(array.nbytes for split in arrays for array in vars(split).values() if array is not None)
    n_eval = max(len(split.x_test) for split in arrays)
    largest_model, largest_train = max(specs, key=lambda pair: cell_memory_bytes(pair[0], pair[1], n_eval))
    per_cell = cell_memory_bytes(largest_model, largest_train, n_eval)
    processes = jobs + 1 if jobs > 1 else 1  # each worker process loads the data again
    needed = processes * data + jobs * per_cell
    if needed > available:
        layers = "-".join(map(str, largest_model.layer_sizes))
        raise RunTooLargeError(
            f"this run needs about {_gib(needed)} of memory ({_gib(per_cell)} per cell for the largest model, "
            f"{layers} in {largest_train.dtype}, × {jobs} job(s), plus {_gib(data)} of data per process) but "
            f"{_gib(available)} are available; use smaller hidden sizes, float32, a smaller batch or fewer --jobs"
        )


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else free physical pages, else None when neither is known."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class DurationEstimate:
    """Seconds the remaining cells should take, from NumPy steps timed now (other frameworks are of the same
    order on a CPU); `cells` and `epochs` are what it covers."""

    seconds: float
    cells: int
    epochs: int

    def describe(self) -> str:
        return (
            f"estimated duration about {_duration(self.seconds)} for {self.cells} cells ({self.epochs:,} epochs), "
            "from NumPy training steps timed now; Ctrl-C stops it and the same command resumes"
        )


def estimate_duration(
    cells: Sequence[tuple[ModelSpec, TrainSpec]], arrays: dict[str, SplitArrays], jobs: int
) -> DurationEstimate:
    """Time TIMED_STEPS NumPy train_steps of each distinct (model, training) setup among `cells` on its data
    (`arrays` by dtype) and scale by each cell's steps per epoch and epochs; divided between `jobs` processes."""
    from harness.core.build import build_model
    from harness.core.frameworks import model_class, reference_name
    from harness.core.initializers import initial_params

    reference = model_class(reference_name())
    step_seconds: dict[tuple[ModelSpec, TrainSpec], float] = {}
    total = 0.0
    for model, train in cells:
        setup = (model, replace(train, seed=0, epochs=1))
        split = arrays[train.dtype]
        n_train = len(split.x_train)
        if setup not in step_seconds:
            mlp = build_model(reference, model, setup[1], initial_params(model, 0, train.dtype))
            rows = min(train.batch_size, n_train)
            x, y = split.x_train[:rows], split.y_train[:rows]
            masks = dropout_masks(model, rows, seed=0, epoch=0)
            mlp.train_step(x, y, masks)  # the first step allocates
            start = time.perf_counter()
            for _ in range(TIMED_STEPS):
                mlp.train_step(x, y, masks)
            step_seconds[setup] = (time.perf_counter() - start) / TIMED_STEPS
        steps = train.epochs * train.steps_per_epoch(n_train)
        if train.max_steps is not None:
            steps = min(steps, train.max_steps)
        total += steps * step_seconds[setup]
    return DurationEstimate(total / jobs, len(cells), sum(train.epochs for _, train in cells))


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
