"""The comparison-matrix runner: cells, one training run per cell, and the resumable run directory.

A cell is (variant, framework, seed, data set). Every framework in a cell trains from the canonical initial
parameters of (variant, seed) through the shared `FrameworkModel.fit` loop, on the same preprocessed arrays, so
the batch order and dropout masks are the same for all. A cell's record is written atomically (temporary file +
os.replace) into <run>/cells/<key>.json the moment it finishes, so a run killed at any point keeps every finished
cell and a rerun with the same --out trains only the rest.

A record is a harness.core.record.CellRecord (its fields and stored form are described there).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from harness.catalog.matrix import Matrix
from harness.core.atomic import dead_temporaries, write_json_atomic
from harness.core.build import build_model
from harness.core.conventions import native_specs
from harness.core.errors import DivergedError, FrameworkUnavailableError, RecordError, RunDirectoryError
from harness.core.frameworks import cells_per_worker, model_class
from harness.core.initializers import initial_params
from harness.core.interface import EpochRecord, FrameworkModel
from harness.core.names import check_name, inside
from harness.core.record import STATUSES, CellRecord, CellResult, CellTiming, Published, train_spec_without_seed
from harness.core.specs import ModelSpec, TrainSpec, spec_key, spec_to_dict
from harness.data.loader import load_dataset
from harness.data.preprocess import SplitArrays, evaluated_split, prepare_arrays
from harness.data.registry import dataset_info
from harness.run.environment import collect_environment, node_hardware
from harness.run.estimate import check_lengths, check_memory
from harness.run.executor import Executor
from harness.run.gemm import PeakRateJob, epoch_gemm_flops, measure_peak_rates, merge_peak_rates
from harness.run.lock import run_lock
from harness.run.snapshots import SnapshotPlan, SnapshotRecorder

CONFIG_SCHEMA = 1
RETRIED_STATUSES = ("failed", "unavailable")
"""Records a rerun trains again: a failure may have been fixed, a framework installed. ok and diverged are final."""


@dataclass(frozen=True)
class Preprocessing:
    """How a data set becomes arrays: scaling and validation split names of harness.data.preprocess."""

    scaling: str
    validation: str


@dataclass(frozen=True)
class Cell:
    """One training run: canonical specs (sized for the data set, seed and epochs applied) and where it comes from.

    `model_spec` and `train_spec` are framework-neutral; the runner passes them through native_specs before
    training and records the specs actually run. The cell's seed is its train_spec's.
    """

    variant: str
    framework: str
    dataset: str
    model_spec: ModelSpec
    train_spec: TrainSpec
    preprocessing: Preprocessing
    published: Published | None
    target_accuracy: float | None = None
    """The matrix's target accuracy (time to accuracy); not part of the key, as it changes nothing trained."""
    mode: str = "exact"
    """The execution mode (harness.core.interface.MODES); a fast cell's key says so."""

    @property
    def seed(self) -> int:
        return self.train_spec.seed

    @property
    def eval_split(self) -> str:
        return evaluated_split(self.preprocessing.validation)

    @property
    def key(self) -> str:
        """Stable file-safe name: data set, variant, framework, seed, and a digest of specs + preprocessing."""
        digest = spec_key(self.model_spec, self.train_spec, self.preprocessing)
        mode = "" if self.mode == "exact" else f"--{self.mode}"
        return f"{self.dataset}--{self.variant}--{self.framework}--seed{self.seed}--{digest}{mode}"

    @property
    def label(self) -> str:
        return f"{self.variant} · {self.framework} · seed {self.seed}"


@dataclass(frozen=True)
class CellJob:
    """A cell with what running it needs besides the specs (picklable, so a worker process can take it)."""

    cell: Cell
    data_dir: str | None
    device: str
    threads: int
    snapshots: SnapshotPlan | None = None
    """Parameters to save or compare at some optimiser steps (harness.run.snapshots); None for none."""


@dataclass(frozen=True)
class CellEvent:
    """Progress of one cell: kind 'start' (total_epochs set), 'epoch' (the epoch's numbers) or 'end' (status)."""

    kind: str
    key: str
    label: str
    total_epochs: int
    epoch: int | None = None
    train_loss: float | None = None
    val_accuracy: float | None = None
    status: str | None = None
    message: str | None = None
    test_accuracy: float | None = None


def matrix_cells(matrix: Matrix) -> list[Cell]:
    """rows × frameworks × seeds, in that order, each variant sized for the matrix's data set."""
    info = dataset_info(matrix.dataset)
    input_size = int(np.prod(info.image_shape))
    output_size = len(info.class_names)
    preprocessing = Preprocessing(matrix.scaling, matrix.validation)
    cells = []
    for row, framework, seed in itertools.product(matrix.rows, matrix.frameworks, matrix.seeds):
        variant = row.variant.for_data(input_size, output_size)
        epochs = matrix.epochs if matrix.epochs is not None else variant.train.epochs
        cells.append(
            Cell(
                variant=variant.name,
                framework=framework,
                dataset=matrix.dataset,
                model_spec=variant.model,
                train_spec=replace(variant.train, seed=seed, epochs=epochs),
                preprocessing=preprocessing,
                published=row.published,
                target_accuracy=matrix.target_accuracy,
                mode=matrix.mode,
            )
        )
    return cells


# --- one cell ------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def cell_arrays(dataset: str, data_dir: str | None, preprocessing: Preprocessing, dtype: str) -> SplitArrays:
    """The preprocessed arrays of a data set, made once per process and shared by every cell that uses them."""
    return prepare_arrays(load_dataset(dataset, data_dir), preprocessing.scaling, preprocessing.validation, dtype)


@dataclass
class _Measured:
    """What a cell's training produced so far; a failure keeps what was measured before it."""

    model_spec: dict[str, Any] | None = None
    train_spec: dict[str, Any] | None = None
    history: list[EpochRecord] = field(default_factory=list)
    result: CellResult | None = None
    timing: CellTiming | None = None


def run_cell(job: CellJob, on_event: Callable[[CellEvent], None]) -> CellRecord:
    """Train one cell and return its record.

    Never raises for a training problem: an unavailable framework, an exception or a non-finite loss becomes the
    record's status and message, so the matrix goes on.
    """
    cell = job.cell
    started_at = _now()
    total_epochs = cell.train_spec.epochs
    on_event(CellEvent("start", cell.key, cell.label, total_epochs))
    measured = _Measured()
    status, message = "ok", None
    try:
        model_cls = model_class(cell.framework)
        model_spec, train_spec = native_specs(cell.model_spec, cell.train_spec, cell.framework)
        measured.model_spec = spec_to_dict(model_spec)
        measured.train_spec = train_spec_without_seed(spec_to_dict(train_spec))
        _train(job, model_cls, model_spec, train_spec, measured, on_event)
    except FrameworkUnavailableError as error:
        status, message = "unavailable", str(error)
    except DivergedError as error:
        status, message = "diverged", str(error)
    except Exception as error:  # a cell's failure must not stop the matrix; the record says what happened
        lines = traceback.format_exception_only(type(error), error)
        where = traceback.extract_tb(error.__traceback__)[-1]
        status = "failed"
        message = f"{''.join(lines).strip()} (at {Path(where.filename).name}:{where.lineno} in {where.name})"
    record = _new_record(
        cell,
        status=status,
        message=message,
        model_spec=measured.model_spec or spec_to_dict(cell.model_spec),
        train_spec=measured.train_spec or train_spec_without_seed(spec_to_dict(cell.train_spec)),
        history=tuple(measured.history),
        result=measured.result,
        timing=measured.timing,
        hardware=node_hardware(job.threads),
        started_at=started_at,
        finished_at=_now(),
    )
    on_event(
        CellEvent(
            "end",
            cell.key,
            cell.label,
            total_epochs,
            status=record.status,
            message=record.message,
            test_accuracy=record.result.test_accuracy if record.result else None,
        )
    )
    return record


def _train(
    job: CellJob,
    model_cls: type[FrameworkModel],
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    measured: _Measured,
    on_event: Callable[[CellEvent], None],
) -> None:
    """Build, fit and test one model, filling `measured`'s history, result and timing."""
    cell = job.cell
    arrays = cell_arrays(cell.dataset, job.data_dir, cell.preprocessing, train_spec.dtype)
    evaluation = arrays.split(cell.eval_split)
    n_train = len(arrays.x_train)
    params = initial_params(cell.model_spec, cell.seed, train_spec.dtype)

    start = time.perf_counter()
    model = build_model(
        model_cls,
        model_spec,
        train_spec,
        params,
        device=job.device,
        steps_per_epoch=train_spec.steps_per_epoch(n_train),
        mode=cell.mode,
    )
    model.synchronize()
    build_s = time.perf_counter() - start

    def epoch_done(epoch: EpochRecord) -> None:
        measured.history.append(epoch)
        on_event(
            CellEvent(
                "epoch",
                cell.key,
                cell.label,
                train_spec.epochs,
                epoch=epoch.epoch,
                train_loss=epoch.train_loss,
                val_accuracy=epoch.val_accuracy,
            )
        )

    recorder = SnapshotRecorder(job.snapshots) if job.snapshots is not None else None
    fit = model.fit(
        arrays.x_train,
        arrays.y_train,
        validation=evaluation,
        on_epoch_end=epoch_done,
        snapshot_steps=job.snapshots.steps if job.snapshots is not None else (),
        on_snapshot=recorder.record if recorder is not None else None,
    )
    if recorder is not None:
        recorder.finish()
    test_loss, test_accuracy = model.evaluate(model.upload(arrays.x_test, arrays.y_test))
    measured.result = CellResult(
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        epochs_run=len(measured.history),
        stopped_early=fit.stopped_early,
        best_epoch=fit.best_epoch,
    )
    measured.timing = replace(
        _timing(measured.history, build_s, n_train, job.threads, str(model.device)),
        **time_to_target(measured.history, build_s, cell.target_accuracy),
        epoch_gemm_flops=epoch_gemm_flops(model_spec, train_spec, n_train),
    )
    if not math.isfinite(test_loss):
        raise DivergedError(f"the test loss is {test_loss} after training; lower the learning rate")


def _timing(history: list[EpochRecord], build_s: float, n_train: int, threads: int, device: str) -> CellTiming:
    """Build time, the first epoch (which includes any tracing/compilation) apart from the steady-state median."""
    steady = [epoch.train_time_s for epoch in history[1:]]
    evals = [epoch.eval_time_s for epoch in history if epoch.eval_time_s is not None]
    steady_median = statistics.median(steady) if steady else None
    epoch_s = steady_median if steady_median is not None else history[0].train_time_s
    return CellTiming(
        build_s=build_s,
        first_epoch_s=history[0].train_time_s,
        steady_epoch_median_s=steady_median,
        eval_median_s=statistics.median(evals) if evals else None,
        samples_per_s=n_train / epoch_s if epoch_s > 0 else None,
        contended_epochs=sum(bool(epoch.contended) for epoch in history),
        threads=threads,
        device=device,
    )


def time_to_target(history: list[EpochRecord], build_s: float, target: float | None) -> dict[str, Any]:
    """Time to accuracy: {target_accuracy, time_to_target_s, target_epoch (1-based)}.

    time_to_target_s is the build time plus every training epoch (the first with its compile/trace) up to and
    including the first evaluated epoch whose accuracy reaches `target`; evaluation passes are left out, as they
    depend on how often a run evaluates. None (and target_epoch None) when no epoch reached it or there is no target.
    """
    elapsed = build_s
    for epoch in history:
        elapsed += epoch.train_time_s
        if target is not None and epoch.val_accuracy is not None and epoch.val_accuracy >= target:
            return {"target_accuracy": target, "time_to_target_s": elapsed, "target_epoch": epoch.epoch + 1}
    return {"target_accuracy": target, "time_to_target_s": None, "target_epoch": None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the run directory ---------------------------------------------------------------------------------------------


class RunDirectory:
    """<run>/config.json, environment.json and cells/<key>.json; every file written atomically, by one process.

    `locked()` holds the directory's lock (harness.run.lock) around a whole run; `prepare` and the writes below
    expect it held. A stored file that cannot be read (cut short, not JSON, another schema, a key that is not its
    file name) is moved aside to <file>.corrupt and reported, and what it held is made again.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.cells_dir = self.path / "cells"
        self._locked = False

    @contextlib.contextmanager
    def locked(self, *, wait: bool = False, on_wait: Callable[[str], None] = lambda line: None) -> Iterator[None]:
        """Create the folders and hold the directory's lock inside the block (RunDirectoryBusyError if held)."""
        try:
            self.cells_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirectoryError(
                f"cannot create the run directory {self.path} ({error}); choose another --out"
            ) from error
        with run_lock(self.path, wait=wait, on_wait=on_wait):
            self._locked = True
            try:
                yield
            finally:
                self._locked = False

    def prepare(self, config: dict[str, Any]) -> list[str]:
        """Write config.json, or check that an existing one describes the same cells; return what was set aside."""
        if not self._locked:
            raise RuntimeError("RunDirectory.prepare needs the directory's lock: call it inside `with locked():`")
        self._remove_dead_temporaries()
        config_path = self.path / "config.json"
        existing, set_aside = self._read_or_set_aside(config_path, _config, "it is written again")
        if existing is not None:
            if sorted(existing["cells"]) != sorted(config["cells"]):
                theirs, ours = set(existing["cells"]), set(config["cells"])
                raise RunDirectoryError(
                    f"{self.path} holds another run (matrix {existing.get('matrix', {}).get('name')!r}: "
                    f"{len(theirs - ours)} of its cells are not in this run, {len(ours - theirs)} of this run's are "
                    "not in it); repeat that run's flags to resume it, or give a new --out"
                )
            return set_aside
        self._write(config_path, config)
        return set_aside

    def environment(self) -> dict[str, Any]:
        """environment.json as written (written by plan_run before this is asked)."""
        return json.loads((self.path / "environment.json").read_text(encoding="utf-8"))

    def add_to_environment(self, key: str, value: Any) -> None:
        """Add one measured field to environment.json (e.g. the run's peak GEMM rates)."""
        self._write(self.path / "environment.json", {**self.environment(), key: value})

    def write_environment(self, environment: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Write environment.json on the first start; on a resume keep it. Returns (the fields that changed since
        the first start, what was set aside)."""
        path = self.path / "environment.json"
        previous, set_aside = self._read_or_set_aside(path, _environment, "it is written again")
        if previous is not None:
            return sorted(key for key in environment if previous.get(key) != environment[key]), set_aside
        self._write(path, environment)
        return [], set_aside

    def finished_records(self) -> tuple[dict[str, CellRecord], list[str]]:
        """({key: record} of every readable stored record, one line per record set aside as unreadable)."""
        records, set_aside = {}, []
        for path in sorted(self.cells_dir.glob("*.json")):
            record, lines = self._read_or_set_aside(path, _record, "its cell is trained again")
            set_aside += lines
            if record is not None:
                records[record.key] = record
        return records, set_aside

    def write_record(self, record: CellRecord) -> Path:
        path = inside(self.cells_dir, f"{check_name('cell key', record.key, max_length=MAX_KEY_LENGTH)}.json")
        self._write(path, record.to_json())
        return path

    def _write(self, path: Path, data: Any) -> None:
        try:
            write_json_atomic(inside(self.path, str(path.relative_to(self.path))), data)
        except OSError as error:
            raise RunDirectoryError(
                f"cannot write {path} ({error.strerror or error}); nothing partial was left and every record "
                "written before is kept: fix the cause (free disk space, permissions) and rerun the same command "
                "to resume"
            ) from error

    def _read_or_set_aside(
        self, path: Path, parse: Callable[[Any, Path], Stored], consequence: str
    ) -> tuple[Stored | None, list[str]]:
        """(what `parse` makes of the JSON in `path`, []) if it reads and parses; (None, []) if there is no file;
        else (parse raising RecordError) the file is renamed to <name>.corrupt and (None, [one line saying so])."""
        try:
            return parse(json.loads(path.read_text(encoding="utf-8")), path), []
        except FileNotFoundError:
            return None, []
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            why = f"unreadable: {error}"
        except RecordError as error:
            why = str(error)
        aside = path.with_name(f"{path.name}.corrupt")
        os.replace(path, aside)
        return None, [f"set aside {path.relative_to(self.path)} as {aside.name} ({why}); {consequence}"]

    def _remove_dead_temporaries(self) -> None:
        """Delete the temporary files of processes that no longer run (killed while writing); a live process's
        in-flight file is left to it."""
        for leftover in dead_temporaries([self.path, self.cells_dir]):
            leftover.unlink(missing_ok=True)


MAX_KEY_LENGTH = 240
"""Cell keys are file names: the usual limit is 255 bytes, less '.json' and the temporary file's additions."""


Stored = TypeVar("Stored")


def _record(data: Any, path: Path) -> CellRecord:
    """A stored cell record that can be resumed from (RecordError saying why not)."""
    record = CellRecord.from_json(data)
    if record.key != path.stem:
        raise RecordError(f"its key {record.key[:80]!r} is not its file name")
    return record


def _config(config: Any, path: Path) -> dict[str, Any]:
    if (
        not isinstance(config, dict)
        or config.get("schema") != CONFIG_SCHEMA
        or not isinstance(config.get("cells"), list)
    ):
        raise RecordError(f"not a schema-{CONFIG_SCHEMA} config with a list of cells")
    return config


def _environment(environment: Any, path: Path) -> dict[str, Any]:
    if not isinstance(environment, dict):
        raise RecordError("not a JSON object")
    return environment


# --- a whole matrix ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """What run_matrix did: every record of the run (stored earlier or now), and which keys it trained now."""

    run_dir: Path
    records: dict[str, CellRecord]
    trained: tuple[str, ...]
    skipped: tuple[str, ...]

    def not_ok(self) -> list[CellRecord]:
        return [record for record in self.records.values() if record.status != "ok"]


def run_config(matrix: Matrix, cells: list[Cell], *, device: str, threads: int, jobs: int) -> dict[str, Any]:
    """config.json: the resolved matrix with every row's specs, the flags that shape timings, and the cell keys."""
    return {
        "schema": CONFIG_SCHEMA,
        "created_at": _now(),
        "matrix": matrix.to_dict(),
        "flags": {"device": device, "threads": threads, "jobs": jobs},
        "cells": [cell.key for cell in cells],
    }


@dataclass(frozen=True)
class RunPlan:
    """A prepared run directory: every cell of the matrix, the ones still to train, and the records stored so far.

    environment_changes names the environment.json fields that differ from the first start (on a resume);
    set_aside has one line per damaged file moved aside to <file>.corrupt (its cell is trained again); warnings
    has one line per input that is allowed but probably not meant (harness.run.estimate.check_lengths).
    """

    run_dir: RunDirectory
    cells: tuple[Cell, ...]
    todo: tuple[Cell, ...]
    stored: dict[str, CellRecord]
    data_dir: str | None
    device: str
    environment_changes: tuple[str, ...]
    set_aside: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def arrays(self) -> dict[str, SplitArrays]:
        """The preprocessed data of the plan's cells, by dtype (loaded once by plan_run)."""
        dtypes = sorted({cell.train_spec.dtype for cell in self.cells})
        first = self.cells[0]
        return {dtype: cell_arrays(first.dataset, self.data_dir, first.preprocessing, dtype) for dtype in dtypes}


def plan_run(
    matrix: Matrix,
    run_dir: RunDirectory,
    *,
    data_dir: str | None,
    device: str,
    threads: int,
    jobs: int,
    environment: dict[str, Any],
) -> RunPlan:
    """Load the data set (so a missing one stops the run before any cell starts), write or check config.json and
    environment.json, and find the cells without a final record. Refuses (before writing anything) a run with an
    absurd length or one that cannot fit in memory. Needs `run_dir.locked()` held."""
    cells = matrix_cells(matrix)
    arrays = [
        cell_arrays(matrix.dataset, data_dir, Preprocessing(matrix.scaling, matrix.validation), dtype)
        for dtype in sorted({cell.train_spec.dtype for cell in cells})
    ]
    warnings = check_lengths([(cell.variant, cell.train_spec) for cell in cells], len(arrays[0].x_train))
    check_memory([(cell.model_spec, cell.train_spec) for cell in cells], arrays, jobs)
    set_aside = run_dir.prepare(run_config(matrix, cells, device=device, threads=threads, jobs=jobs))
    changes, environment_set_aside = run_dir.write_environment(environment)
    stored, records_set_aside = run_dir.finished_records()
    todo = tuple(cell for cell in cells if cell.key not in stored or stored[cell.key].status in RETRIED_STATUSES)
    return RunPlan(
        run_dir,
        tuple(cells),
        todo,
        stored,
        data_dir,
        device,
        tuple(changes),
        tuple(set_aside + environment_set_aside + records_set_aside),
        tuple(warnings),
    )


def execute_run(
    plan: RunPlan,
    executor: Executor,
    on_event: Callable[[CellEvent], None],
    *,
    gemm_seconds: float | None = None,
    snapshots_of: Callable[[Cell], SnapshotPlan | None] | None = None,
) -> RunResult:
    """Train the plan's remaining cells through `executor`, writing each record the moment it arrives; with
    snapshots_of, each cell saves or compares its parameters as the plan it gives says (harness.run.snapshots).

    With gemm_seconds, first measures the peak GEMM rate of each framework's library and dtype of the plan (that
    long each, through the executor, so with the cells' threads) into environment.json's "gemm_peak", unless an
    earlier start of the run did.
    """
    # With an executor that starts fresh processes, one run of it per framework: its workers hold one framework's
    # library at a time, and this process keeps no data set while they train.
    frameworks = list(dict.fromkeys(cell.framework for cell in plan.cells))
    batches = [(name,) for name in frameworks] if executor.fresh_processes else [tuple(frameworks)]
    if executor.fresh_processes:
        cell_arrays.cache_clear()
    if gemm_seconds is not None and plan.todo and "gemm_peak" not in plan.run_dir.environment():
        dtypes = tuple(sorted({cell.train_spec.dtype for cell in plan.cells}))
        measured = [
            executor.run(measure_peak_rates, [PeakRateJob(batch, dtypes, gemm_seconds)], lambda event: None, batch)
            for batch in batches
        ]
        outcomes = [outcome for outcomes in measured for outcome in outcomes]
        if all(outcome.error is None for outcome in outcomes):
            plan.run_dir.add_to_environment("gemm_peak", merge_peak_rates([outcome.result for outcome in outcomes]))
    stored = dict(plan.stored)
    trained = []
    for batch in batches:
        cell_jobs = [
            CellJob(
                cell,
                plan.data_dir,
                plan.device,
                executor.threads_per_worker,
                snapshots=snapshots_of(cell) if snapshots_of is not None else None,
            )
            for cell in plan.todo
            if cell.framework in batch
        ]
        for group in _process_groups(cell_jobs, batch, executor):
            for outcome in executor.run(run_cell, group, on_event, batch):
                record = outcome.result if outcome.error is None else _lost_record(outcome.job, outcome.error)
                plan.run_dir.write_record(record)
                stored[record.key] = record
                trained.append(record.key)
    todo_keys = {cell.key for cell in plan.todo}
    return RunResult(
        run_dir=plan.run_dir.path,
        records={cell.key: stored[cell.key] for cell in plan.cells if cell.key in stored},
        trained=tuple(trained),
        skipped=tuple(cell.key for cell in plan.cells if cell.key not in todo_keys),
    )


def _process_groups(jobs: list[CellJob], frameworks: tuple[str, ...], executor: Executor) -> list[list[CellJob]]:
    """The jobs in groups, each trained by fresh worker processes when the executor starts them: at most
    cells_per_worker cells per worker for a framework whose plug-in bounds it (FrameworkPlugin.cells_per_worker)."""
    limit = cells_per_worker(frameworks) if executor.fresh_processes else None
    size = len(jobs) if limit is None else limit * executor.workers
    return [jobs[start : start + size] for start in range(0, len(jobs), max(size, 1))]


def run_matrix(
    matrix: Matrix,
    run_dir: RunDirectory,
    executor: Executor,
    *,
    data_dir: str | None,
    device: str = "cpu",
    threads: int = 1,
    jobs: int = 1,
    environment: dict[str, Any] | None = None,
    on_event: Callable[[CellEvent], None] = lambda event: None,
    snapshots_of: Callable[[Cell], SnapshotPlan | None] | None = None,
) -> RunResult:
    """plan_run then execute_run, holding the directory's lock: train every cell of `matrix` that has no final
    record in `run_dir`."""
    with run_dir.locked():
        plan = plan_run(
            matrix,
            run_dir,
            data_dir=data_dir,
            device=device,
            threads=threads,
            jobs=jobs,
            environment=environment
            or collect_environment(
                threads=threads, jobs=jobs, threads_per_worker=executor.threads_per_worker, device=device
            ),
        )
        return execute_run(plan, executor, on_event, snapshots_of=snapshots_of)


def _lost_record(job: CellJob, error: str) -> CellRecord:
    """The record of a cell whose worker died before returning one."""
    return _new_record(
        job.cell,
        status="failed",
        message=error,
        model_spec=spec_to_dict(job.cell.model_spec),
        train_spec=train_spec_without_seed(spec_to_dict(job.cell.train_spec)),
        finished_at=_now(),
    )


def _new_record(cell: Cell, **measured: Any) -> CellRecord:
    """The record of `cell`: its identity and published number, and `measured` (CellRecord's other fields)."""
    return CellRecord(
        key=cell.key,
        variant=cell.variant,
        framework=cell.framework,
        seed=cell.seed,
        dataset=cell.dataset,
        eval_split=cell.eval_split,
        mode=cell.mode,
        published=cell.published,
        **measured,
    )


def iter_statuses(records: dict[str, CellRecord]) -> Iterator[tuple[str, int]]:
    """(status, count) for each status present, in STATUSES order."""
    for status in STATUSES:
        count = sum(1 for record in records.values() if record.status == status)
        if count:
            yield status, count
