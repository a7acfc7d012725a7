"""Run a conventions study (harness.catalog.studies): every arm of every variant over the study's seeds, through the
matrix runner, so a study directory resumes like a run directory and an interrupted study loses nothing.

<out>/study.json           the study and its arms (what the report reads)
<out>/runs/aligned/        a run directory: each variant's aligned arm in the reference, saving its parameters at
                           the snapshot steps into <out>/snapshots/ (not published: 1 MB per snapshot of MNIST's MLP)
<out>/runs/arms/           a run directory: every other arm in the reference, writing its distance to the aligned run
                           of the same seed at those steps into <out>/distances/<cell key>.json
<out>/runs/frameworks/     with `in_frameworks`: each framework's "all" arm in that framework itself

The single-switch arms run in the reference, which runs every rule form and which parity proves equal to each
framework once aligned; the "all" arms in a framework (in_frameworks) check that its naive port behaves as the
reference's "all" arm says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.catalog.matrix import Matrix, Row
from harness.catalog.studies import (
    ALIGNED,
    ALL,
    NOT_SWITCHED,
    Arm,
    ConventionsStudy,
    base_variant,
    most_switches_first,
    study_arms,
)
from harness.catalog.variants import Variant
from harness.core.atomic import write_json_atomic
from harness.core.conventions import defaults_frameworks
from harness.core.errors import UnknownNameError
from harness.core.frameworks import reference_name
from harness.core.specs import spec_to_dict
from harness.run.executor import Executor
from harness.run.runner import Cell, CellEvent, RunDirectory, RunResult, run_matrix
from harness.run.snapshots import SnapshotPlan

STUDY_SCHEMA = 1
PASSES = ("aligned", "arms", "frameworks")


@dataclass(frozen=True)
class StudyResult:
    """What run_study did: the study directory and each pass's RunResult."""

    out: Path
    passes: dict[str, RunResult]

    @property
    def trained(self) -> int:
        return sum(len(result.trained) for result in self.passes.values())

    def not_ok(self) -> list[Any]:
        return [record for result in self.passes.values() for record in result.not_ok()]


def all_arms(study: ConventionsStudy) -> list[Arm]:
    """Every arm of every variant of the study, variants in training order (most_switches_first)."""
    return [arm for variant in most_switches_first(study) for arm in study_arms(study, variant)]


def study_config(study: ConventionsStudy, arms: list[Arm], in_frameworks: tuple[str, ...]) -> dict[str, Any]:
    """study.json: the study's settings and every arm with what it changes."""
    return {
        "schema": STUDY_SCHEMA,
        "study": study.name,
        "description": study.description,
        "dataset": study.dataset,
        "seeds": list(range(study.seeds)),
        "epochs": study.epochs,
        "snapshot_steps": list(study.snapshot_steps),
        "reference": reference_name(),
        "defaults_of": list(defaults_frameworks()),
        "in_frameworks": list(in_frameworks),
        "not_switched": list(NOT_SWITCHED),
        "arms": [
            {
                "variant": arm.variant,
                "arm": arm.name,
                "switch": arm.switch,
                "framework": arm.framework,
                "convention": arm.convention,
                "changed": list(arm.changed),
                "cells_variant": arm.cells_variant,
                "model_spec": spec_to_dict(arm.model),
                "train_spec": spec_to_dict(arm.train),
            }
            for arm in arms
        ],
    }


def _matrix(study: ConventionsStudy, name: str, arms: list[Arm], frameworks: tuple[str, ...]) -> Matrix:
    """A matrix whose rows are the arms' cells (one row per distinct cells_variant)."""
    rows = {
        arm.cells_variant: Row(Variant(arm.cells_variant, "; ".join(arm.changed) or ALIGNED, arm.model, arm.train))
        for arm in arms
    }
    return Matrix(
        f"{study.name}-{name}",
        study.description,
        tuple(rows.values()),
        frameworks=frameworks,
        seeds=tuple(range(study.seeds)),
        dataset=study.dataset,
        epochs=study.epochs,
    )


def snapshot_path(out: Path, variant: str, seed: int) -> Path:
    return out / "snapshots" / f"{variant}--seed{seed}.npz"


def distances_path(out: Path, key: str) -> Path:
    return out / "distances" / f"{key}.json"


def run_study(
    study: ConventionsStudy,
    out: Path,
    executor: Executor,
    *,
    data_dir: str | None,
    threads: int,
    jobs: int,
    in_frameworks: tuple[str, ...] = (),
    on_event: Callable[[CellEvent], None] = lambda event: None,
    on_pass: Callable[[str, int], None] = lambda name, cells: None,
) -> StudyResult:
    """Train every arm of `study` not yet recorded under `out` (aligned arms first: the others compare with
    them), then write study.json. in_frameworks: frameworks whose "all" arm also trains in the framework itself.
    on_pass(name, cells) is called as each pass starts."""
    unknown = [name for name in in_frameworks if name not in defaults_frameworks()]
    if unknown:
        raise UnknownNameError(
            f"no library defaults listed for {', '.join(unknown)}; choose from {', '.join(defaults_frameworks())}"
        )
    arms = all_arms(study)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "study.json", study_config(study, arms, in_frameworks))
    aligned = [arm for arm in arms if arm.name == ALIGNED]
    others = [arm for arm in arms if arm.name != ALIGNED and arm.cells_arm == arm.name]
    reference = reference_name()

    def save(cell: Cell) -> SnapshotPlan:
        variant = base_variant(cell.variant)
        return SnapshotPlan(study.snapshot_steps, "save", str(snapshot_path(out, variant, cell.seed)))

    def compare(cell: Cell) -> SnapshotPlan:
        variant = base_variant(cell.variant)
        reference_snapshots = str(snapshot_path(out, variant, cell.seed))
        return SnapshotPlan(
            study.snapshot_steps, "compare", str(distances_path(out, cell.key)), reference=reference_snapshots
        )

    def saved(variant: str, seed: int, key: str) -> Path:
        return snapshot_path(out, base_variant(variant), seed)

    def compared(variant: str, seed: int, key: str) -> Path:
        return distances_path(out, key)

    passes: list[tuple[str, Matrix, Callable[[Cell], SnapshotPlan], Callable[[str, int, str], Path]]] = [
        ("aligned", _matrix(study, "aligned", aligned, (reference,)), save, saved),
        ("arms", _matrix(study, "arms", others, (reference,)), compare, compared),
    ]
    framework_arms = [arm for arm in arms if arm.switch == ALL and arm.framework in in_frameworks]
    for framework in in_frameworks:
        own = [arm for arm in framework_arms if arm.framework == framework]
        if own:
            matrix = _matrix(study, f"frameworks-{framework}", own, (framework,))
            passes.append((f"frameworks-{framework}", matrix, compare, compared))
    results = {}
    for name, matrix, plan_of, file_of in passes:
        run_dir = RunDirectory(out / "runs" / name)
        _forget_cells_without_files(run_dir, file_of)
        on_pass(name, len(matrix.rows) * len(matrix.seeds))
        results[name] = run_matrix(
            matrix,
            run_dir,
            executor,
            data_dir=data_dir,
            threads=threads,
            jobs=jobs,
            on_event=on_event,
            snapshots_of=plan_of,
        )
    return StudyResult(out, results)


def _forget_cells_without_files(run_dir: RunDirectory, file_of: Callable[[str, int, str], Path]) -> None:
    """Delete the records of finished cells whose snapshot or distance file (file_of(variant, seed, key)) is
    missing, so they train again (a record is written after its file: this happens when a file was deleted)."""
    if not run_dir.cells_dir.is_dir():
        return
    for path in run_dir.cells_dir.glob("*.json"):
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # the runner sets unreadable records aside itself
        if stored.get("status") != "ok":
            continue
        if not file_of(str(stored.get("variant")), int(stored.get("seed", -1)), str(stored.get("key"))).is_file():
            path.unlink()
