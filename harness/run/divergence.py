"""How far each framework's parameters drift from the reference framework's during a run.

The cells of a (dataset, variant, seed) start from the same parameters and train on the same batches with the same
dropout masks in every framework, so any distance between their parameters after a step comes from rounding and
from the frameworks' own arithmetic. The matrix's first framework is the reference: its cell saves its parameters
at a few optimiser steps (<run>/snapshots/, deleted once every other framework of the group has compared), and
every other framework's cell writes its distance to them at the same steps (<run>/divergence/<cell key>.json, which
the report plots).

Snapshots never cut a steady epoch: inside the first epoch (whose time already includes compiling) at steps 1, 10
and 100, and otherwise only at epoch ends, where the shared loop stops anyway. Epochs cut into segments need a
constant learning rate (FrameworkModel.fit), so a variant with a schedule is compared at epoch ends only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.core.specs import TrainSpec
from harness.run.runner import Cell
from harness.run.snapshots import SnapshotPlan

FIRST_EPOCH_STEPS = (1, 10, 100)
"""Steps inside the first epoch at which parameters are compared, when the learning rate is constant."""
SNAPSHOTS_DIR = "snapshots"
DIVERGENCE_DIR = "divergence"


def divergence_steps(train_spec: TrainSpec, n_train: int) -> tuple[int, ...]:
    """The optimiser steps (0: the initial parameters) at which a cell trained by `train_spec` on `n_train` rows
    is compared: FIRST_EPOCH_STEPS that fall inside the first epoch (constant learning rate only) and every epoch's
    end."""
    per_epoch = train_spec.steps_per_epoch(n_train)
    total = per_epoch * train_spec.epochs
    if train_spec.max_steps is not None:
        total = min(total, train_spec.max_steps)
    ends = {min(epoch * per_epoch, total) for epoch in range(1, train_spec.epochs + 1)}
    inside = {step for step in FIRST_EPOCH_STEPS if step < min(per_epoch, total)}
    if train_spec.schedule.kind != "constant":
        inside = set()
    return tuple(sorted({0, *inside, *ends}))


def snapshot_path(run_dir: Path, reference_key: str) -> Path:
    return run_dir / SNAPSHOTS_DIR / f"{reference_key}.npz"


def divergence_path(run_dir: Path, key: str) -> Path:
    return run_dir / DIVERGENCE_DIR / f"{key}.json"


def divergence_plans(cells: Sequence[Cell], run_dir: Path, n_train: int) -> Callable[[Cell], SnapshotPlan | None]:
    """What each cell of a run does with its snapshots: the reference framework's cell (the first framework of
    `cells`) saves them, every other framework's cell of the same dataset, variant, seed and mode compares with
    them. None (nothing to compare) when the run has one framework."""
    reference = reference_framework(cells)
    reference_keys = {_group(cell): cell.key for cell in cells if cell.framework == reference}
    several = len({cell.framework for cell in cells}) > 1

    def plan_of(cell: Cell) -> SnapshotPlan | None:
        reference_key = reference_keys.get(_group(cell))
        if not several or reference_key is None:
            return None
        steps = divergence_steps(cell.train_spec, n_train)
        saved = str(snapshot_path(run_dir, reference_key))
        if cell.key == reference_key:
            return SnapshotPlan(steps, "save", saved)
        # The reference cell may have failed or diverged, or trained before snapshots were kept: then there is
        # nothing to compare with, which is no reason to fail this cell.
        return SnapshotPlan(steps, "compare", str(divergence_path(run_dir, cell.key)), reference=saved, required=False)

    return plan_of


def release_snapshots(cells: Sequence[Cell], run_dir: Path) -> list[Path]:
    """Delete every reference snapshot file whose group's other cells have all written their distances (they are
    about 1 MB per snapshot of a 784-256-256-10 MLP and are needed only until then); returns the deleted paths."""
    reference = reference_framework(cells)
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(_group(cell), []).append(cell)
    deleted = []
    for members in groups.values():
        saving = [cell for cell in members if cell.framework == reference]
        others = [cell for cell in members if cell.framework != reference]
        if not saving:
            continue
        path = snapshot_path(run_dir, saving[0].key)
        if path.is_file() and all(divergence_path(run_dir, cell.key).is_file() for cell in others):
            path.unlink()
            deleted.append(path)
    with contextlib.suppress(OSError):  # absent, or still holding a snapshot a failed cell needs
        (run_dir / SNAPSHOTS_DIR).rmdir()
    return deleted


def reference_framework(cells: Sequence[Cell]) -> str:
    """The framework every other is compared with: the first of the run's cells (the matrix's first framework)."""
    return cells[0].framework


def _group(cell: Cell) -> tuple[str, str, int, str]:
    return (cell.dataset, cell.variant, cell.seed, cell.mode)
