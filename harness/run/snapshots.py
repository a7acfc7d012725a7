"""Parameter snapshots during training, and how far one run's trajectory is from another's.

A cell of the conventions study either saves its parameters at given optimiser steps (the aligned run of a seed:
one .npz per cell, kept beside the run, not published), or compares its own parameters at those steps with such a
saved run and writes only the distances (a small JSON file). So each arm costs one training, and the aligned runs'
snapshots are the only arrays stored.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.core.atomic import write_atomic, write_json_atomic
from harness.core.errors import RunDirectoryError
from harness.core.interface import Params
from harness.core.params import is_trainable

SNAPSHOT_STEPS = (0, 1, 10, 100, 1000)
"""Optimiser steps after which parameters are compared (0: the initial parameters); 3 MNIST epochs at batch 128
are 1,407 steps."""
SNAPSHOT_ROLES = ("save", "compare")


@dataclass(frozen=True)
class SnapshotPlan:
    """What a cell does with its parameters at `steps`: role 'save' writes them to `path` (.npz); role 'compare'
    reads the saved run at `reference` and writes the distances to `path` (.json, read_distances' form).
    required: whether a missing reference file (or step in it) is an error; when False, the steps without a
    reference get no distance, and no file is written when none has one."""

    steps: tuple[int, ...]
    role: str
    path: str
    reference: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if self.role not in SNAPSHOT_ROLES:
            raise ValueError(f"SnapshotPlan role {self.role!r}; choose one of {', '.join(SNAPSHOT_ROLES)}")
        if self.role == "compare" and self.reference is None:
            raise ValueError("a SnapshotPlan that compares needs the reference snapshots' path")


@dataclass
class SnapshotRecorder:
    """Collects what `plan` asks for during one fit (`record` is fit's on_snapshot) and writes it (`finish`)."""

    plan: SnapshotPlan
    saved: dict[int, Params] = field(default_factory=dict)
    distances: dict[int, dict[str, float]] = field(default_factory=dict)
    _reference: dict[int, Params] | None = None

    def record(self, step: int, params: Params) -> None:
        if self.plan.role == "save":
            self.saved[step] = params
            return
        if self._reference is None:
            reference = Path(str(self.plan.reference))
            self._reference = load_snapshots(reference) if self.plan.required or reference.is_file() else {}
        if step not in self._reference:
            if not self.plan.required:
                return
            raise RunDirectoryError(
                f"{self.plan.reference} has no snapshot at step {step}; delete it and rerun the study to remake it"
            )
        self.distances[step] = distance(params, self._reference[step])

    def finish(self) -> None:
        """Write the snapshots or the distances, atomically."""
        path = Path(self.plan.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.plan.role == "save":
            buffer = io.BytesIO()
            np.savez(
                buffer,
                # Parameters are numeric arrays; named, the flag also cannot be taken for one of them by the stubs.
                allow_pickle=False,
                **{f"{step}/{key}": value for step, params in self.saved.items() for key, value in params.items()},
            )
            write_atomic(path, buffer.getvalue())
        elif self.distances or self.plan.required:
            write_json_atomic(path, {str(step): values for step, values in sorted(self.distances.items())})


def load_snapshots(path: Path) -> dict[int, Params]:
    """{step: trainable params} of a saved run."""
    try:
        with np.load(path) as stored:
            snapshots: dict[int, Params] = {}
            for name in stored.files:
                step, _, key = name.partition("/")
                snapshots.setdefault(int(step), {})[key] = stored[name]
    except (OSError, ValueError) as error:
        raise RunDirectoryError(
            f"cannot read the aligned run's snapshots {path} ({error}); delete it and rerun"
        ) from error
    return snapshots


def distance(params: Params, reference: Params) -> dict[str, float]:
    """How far `params` are from `reference` (canonical dicts), in float64: 'l2' = ‖θ − θ_ref‖₂ over every
    trainable tensor together and 'relative' = that / ‖θ_ref‖₂; with batch norm also 'running_stats_relative', the
    same relative distance over the running means and variances (which a BN convention may change while the
    trainable parameters stay equal)."""
    trainable = [key for key in reference if is_trainable(key)]
    found = _distances(params, reference, trainable)
    running = [key for key in reference if not is_trainable(key)]
    if running:
        found["running_stats_relative"] = _distances(params, reference, running)["relative"]
    return found


def _distances(params: Params, reference: Params, keys: list[str]) -> dict[str, float]:
    squared = sum(float(np.sum((params[key].astype(np.float64) - reference[key]) ** 2)) for key in keys)
    norm = sum(float(np.sum(reference[key].astype(np.float64) ** 2)) for key in keys)
    return {"l2": squared**0.5, "relative": (squared / norm) ** 0.5 if norm > 0 else float("nan")}


def read_distances(path: Path) -> dict[int, dict[str, float]]:
    """The distances a comparing cell wrote ({} when there is no file)."""
    if not path.is_file():
        return {}
    return {int(step): values for step, values in json.loads(path.read_text(encoding="utf-8")).items()}
