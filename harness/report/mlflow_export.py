"""A run directory logged to MLflow: the matrix as a parent run, every cell record as one child run.

A child run holds the cell's flattened specs, identity and library versions as parameters, its per-epoch numbers as
metric histories (step = the record's epoch index), its final numbers as metrics, its status as the run status and a
tag, and the record itself as an artifact; the parent holds the matrix, the status counts and report.md/report.html.

Exporting is idempotent: the parent is found again by a digest of config.json (tag fwcompare.run), each child by its
cell key (tag fwcompare.cell_key) under that parent, and a child whose record has not changed (tag
fwcompare.record_digest, set last, so a child cut short by an error is redone) is left as it is. A record that
changed since (a failed cell trained again) replaces its child run, which is deleted. MLflow is optional
(`pip install 'fwcompare[mlflow]'`) and imported only here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.core.errors import FwcompareError
from harness.report.tables import load_run

EXPERIMENT = "fwcompare"
RUN_TAG = "fwcompare.run"
CELL_TAG = "fwcompare.cell_key"
RECORD_TAG = "fwcompare.record_digest"
STATUS_TAG = "fwcompare.status"
PARENT_TAG = "mlflow.parentRunId"
EPOCH_METRICS = {
    "train_loss": "train_loss",
    "val_accuracy": "eval_accuracy",
    "val_loss": "eval_loss",
    "train_time_s": "epoch_seconds",
    "eval_time_s": "eval_seconds",
    "lr": "lr",
}
"""Record history field -> the metric its values are logged under, one value per epoch."""
FINAL_METRICS = ("test_accuracy", "test_loss", "epochs_run")
TIMING_METRICS = (
    "build_s",
    "first_epoch_s",
    "steady_epoch_median_s",
    "eval_median_s",
    "samples_per_s",
    "time_to_target_s",
    "epoch_gemm_flops",
)
REPORT_FILES = ("report.md", "report.html", "config.json", "environment.json")
# MLflow's limits per log_batch call and per parameter value (mlflow.utils.validation).
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
PARAM_VALUE_LENGTH = 6000
CHECK_TIMEOUT_S = 10
"""Seconds the reachability check waits for a tracking server (once, no retries) before `run` trains anything."""


class MlflowExportError(FwcompareError):
    """MLflow is not installed, or the tracking store cannot be reached or written."""


@dataclass(frozen=True)
class MlflowExport:
    """What export_run did: the parent run, and how many child runs it created, replaced or found unchanged."""

    tracking_uri: str
    experiment: str
    parent_run_id: str
    created: int
    replaced: int
    unchanged: int

    def describe(self) -> str:
        return (
            f"MLflow: experiment {self.experiment!r} at {self.tracking_uri}, parent run {self.parent_run_id}: "
            f"{self.created} cell run(s) logged, {self.replaced} replaced, {self.unchanged} already there"
        )


def default_tracking_uri(run_dir: Path) -> str:
    """A SQLite store beside the run directory, shared by every run written to the same parent folder."""
    return f"sqlite:///{run_dir.resolve().parent / 'mlflow.db'}"


def check_tracking_uri(tracking_uri: str) -> None:
    """Raise MlflowExportError (one line, with the fix) unless MLflow is installed and the store answers."""
    _check_reachable(
        _client(tracking_uri),
        tracking_uri,
        "nothing was trained: start the store, give another --mlflow URI, or run without --mlflow and log the run "
        "later with `fwcompare export mlflow RUN_DIR`",
    )


def export_run(run_dir: Path | str, tracking_uri: str, experiment: str = EXPERIMENT) -> MlflowExport:
    """Log `run_dir` (checked as `fwcompare report` checks it) to the MLflow store at `tracking_uri`."""
    run_dir = Path(run_dir)
    stored = load_run(run_dir)  # raises RunRecordError naming every unreadable record, before anything is logged
    records = [json.loads(path.read_text(encoding="utf-8")) for path in sorted((run_dir / "cells").glob("*.json"))]
    client = _client(tracking_uri)
    kept = (
        f"the run directory is kept as it is: start the store or choose another, then run `fwcompare export mlflow "
        f"{run_dir} --tracking-uri URI` (runs already logged are not duplicated)"
    )
    _check_reachable(client, tracking_uri, kept)
    with _as_export_error(tracking_uri, "cannot be written", kept):
        experiment_id = _experiment_id(client, experiment, tracking_uri)
        parent_id = _parent_run(client, experiment_id, run_dir, stored.config, stored.environment)
        children = {run.data.tags.get(CELL_TAG): run for run in _runs(client, experiment_id, PARENT_TAG, parent_id)}
        created = replaced = unchanged = 0
        for record in records:
            digest = _digest(record)
            existing = children.get(record["key"])
            if existing is not None and existing.data.tags.get(RECORD_TAG) == digest:
                unchanged += 1
                continue
            if existing is not None:
                client.delete_run(existing.info.run_id)
                replaced += 1
            else:
                created += 1
            _log_cell(client, experiment_id, parent_id, record, digest, stored.environment, run_dir)
        _finish_parent(client, parent_id, records, run_dir)
    return MlflowExport(tracking_uri, experiment, parent_id, created, replaced, unchanged)


# --- the parent run and the child runs ---------------------------------------------------------------------------


def _parent_run(
    client: Any, experiment_id: str, run_dir: Path, config: dict[str, Any], environment: dict[str, Any]
) -> str:
    identity = _digest(config) if config else _digest(sorted(path.stem for path in (run_dir / "cells").glob("*.json")))
    found = list(_runs(client, experiment_id, RUN_TAG, identity))
    if found:
        return found[0].info.run_id
    matrix = config.get("matrix") or {}
    parent = client.create_run(experiment_id, run_name=run_dir.name, tags={RUN_TAG: identity})
    params = {
        "matrix": matrix.get("name"),
        "dataset": matrix.get("dataset"),
        "frameworks": matrix.get("frameworks"),
        "seeds": matrix.get("seeds"),
        "epochs": matrix.get("epochs"),
        "variants": [row.get("variant") for row in matrix.get("rows") or [] if isinstance(row, dict)],
        **{f"flags.{name}": value for name, value in (config.get("flags") or {}).items()},
        **_versions(environment),
    }
    _log_batch(client, parent.info.run_id, params=params)
    return parent.info.run_id


def _finish_parent(client: Any, parent_id: str, records: list[dict[str, Any]], run_dir: Path) -> None:
    statuses = [record["status"] for record in records]
    tags = {f"fwcompare.cells.{status}": str(statuses.count(status)) for status in dict.fromkeys(statuses)}
    _log_batch(client, parent_id, tags={**tags, "fwcompare.cells": str(len(records))})
    for name in REPORT_FILES:
        if (run_dir / name).is_file():
            client.log_artifact(parent_id, str(run_dir / name))
    client.set_terminated(parent_id, status="FINISHED")


def _log_cell(
    client: Any,
    experiment_id: str,
    parent_id: str,
    record: dict[str, Any],
    digest: str,
    environment: dict[str, Any],
    run_dir: Path,
) -> None:
    hardware = record.get("hardware") or {}
    tags = {
        PARENT_TAG: parent_id,
        CELL_TAG: record["key"],
        STATUS_TAG: record["status"],
        "fwcompare.framework": record["framework"],
        "fwcompare.variant": record["variant"],
        **{f"fwcompare.{name}": str(value) for name, value in hardware.items() if value is not None},
    }
    if record.get("message"):
        tags["fwcompare.message"] = str(record["message"])[:PARAM_VALUE_LENGTH]
    run = client.create_run(
        experiment_id,
        start_time=_milliseconds(record.get("started_at")),
        run_name=f"{record['variant']} · {record['framework']} · seed {record['seed']}",
        tags=tags,
    )
    run_id = run.info.run_id
    _log_batch(
        client,
        run_id,
        params=cell_params(record, environment),
        metrics=cell_metrics(record),
        timestamp=_milliseconds(record.get("finished_at")) or 0,
    )
    client.log_artifact(run_id, str(run_dir / "cells" / f"{record['key']}.json"))
    client.set_tag(run_id, RECORD_TAG, digest)  # last: a child without it was cut short and is logged again
    client.set_terminated(
        run_id,
        status="FINISHED" if record["status"] == "ok" else "FAILED",
        end_time=_milliseconds(record.get("finished_at")),
    )


def cell_params(record: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """A cell's MLflow parameters: identity, the specs it ran (flattened: model_spec.hidden_sizes, ...), the
    published number it is compared with, and the library versions of the run."""
    identity = {name: record.get(name) for name in ("variant", "framework", "seed", "dataset", "mode", "eval_split")}
    return {
        **identity,
        **_flattened("model_spec", record.get("model_spec")),
        **_flattened("train_spec", record.get("train_spec")),
        **_flattened("published", record.get("published")),
        **_versions(environment),
    }


def cell_metrics(record: dict[str, Any]) -> list[tuple[str, float, int]]:
    """(name, value, step) of every epoch's numbers (step = the epoch index stored in the record) and of the final
    result and timings (step 0); values the record holds as null (not measured, or non-finite) are left out."""
    metrics = [
        (metric, float(epoch[field]), int(epoch["epoch"]))
        for epoch in record.get("history") or []
        for field, metric in EPOCH_METRICS.items()
        if isinstance(epoch.get(field), int | float)
    ]
    finals = {**(record.get("timing") or {}), **(record.get("result") or {})}
    metrics += [
        (name, float(finals[name]), 0)
        for name in (*FINAL_METRICS, *TIMING_METRICS)
        if isinstance(finals.get(name), int | float) and not isinstance(finals.get(name), bool)
    ]
    return metrics


# --- MLflow plumbing ---------------------------------------------------------------------------------------------


def _client(tracking_uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as error:
        raise MlflowExportError(
            f"MLflow is not installed here ({error}); install it with `pip install 'fwcompare[mlflow]'`"
        ) from error
    return MlflowClient(tracking_uri=tracking_uri)


def _check_reachable(client: Any, tracking_uri: str, consequence: str) -> None:
    """One quick request, so a store that is down is reported at once rather than after MLflow's minutes of
    retries (which the export itself keeps, for a store that fails for a moment)."""
    with _quick_requests(), _as_export_error(tracking_uri, "is unreachable", consequence):
        client.search_experiments(max_results=1)


def _experiment_id(client: Any, name: str, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # A local SQLite store keeps its artifacts beside the database, not in ./mlruns of whatever folder ran this.
    location = None
    if tracking_uri.startswith("sqlite:///"):
        location = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlflow-artifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def _runs(client: Any, experiment_id: str, tag: str, value: str) -> Iterator[Any]:
    """Every active run of the experiment whose tag `tag` is `value` (all pages)."""
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=f"tags.`{tag}` = '{value}'", max_results=1000, page_token=token
        )
        yield from page
        token = page.token
        if not token:
            return


def _log_batch(
    client: Any,
    run_id: str,
    *,
    params: dict[str, Any] | None = None,
    metrics: list[tuple[str, float, int]] | None = None,
    tags: dict[str, str] | None = None,
    timestamp: int = 0,
) -> None:
    """log_batch in pieces within MLflow's per-call limits; metrics carry `timestamp` (ms since the epoch)."""
    from mlflow.entities import Metric, Param, RunTag

    param_list = [Param(name, _param_text(value)) for name, value in (params or {}).items()]
    tag_list = [RunTag(name, value) for name, value in (tags or {}).items()]
    metric_list = [Metric(name, value, timestamp, step) for name, value, step in metrics or []]
    for start in range(0, len(param_list), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=param_list[start : start + PARAMS_PER_BATCH])
    for start in range(0, len(tag_list), PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=tag_list[start : start + PARAMS_PER_BATCH])
    for start in range(0, len(metric_list), METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metric_list[start : start + METRICS_PER_BATCH])


def _flattened(prefix: str, value: Any) -> dict[str, Any]:
    """{"prefix.a.b": leaf} of nested dicts; lists and other leaves are kept whole."""
    if isinstance(value, dict):
        return {key: leaf for name, item in value.items() for key, leaf in _flattened(f"{prefix}.{name}", item).items()}
    return {prefix: value}


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:PARAM_VALUE_LENGTH]


def _versions(environment: dict[str, Any]) -> dict[str, str]:
    libraries = environment.get("libraries") or {}
    return {f"version.{name}": version for name, version in libraries.items() if version is not None}


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def _milliseconds(timestamp: str | None) -> int | None:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None


@contextlib.contextmanager
def _quick_requests() -> Iterator[None]:
    """One HTTP attempt with a short timeout (MLflow retries 7 times over minutes by default)."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(CHECK_TIMEOUT_S))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _as_export_error(tracking_uri: str, problem: str, consequence: str) -> Iterator[None]:
    """MLflow's and the network's exceptions as one MlflowExportError line: the problem, then what was kept and the
    fix."""
    try:
        yield
    except MlflowExportError:
        raise
    except Exception as error:  # MLflow raises MlflowException, requests' and SQLAlchemy's errors alike
        first_line = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise MlflowExportError(
            f"the MLflow tracking store {tracking_uri} {problem} ({first_line[:300]}); {consequence}"
        ) from error
