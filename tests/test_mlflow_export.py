"""MLflow export of a real digits run into a real local SQLite store, read back with MlflowClient.

One child run per cell under one parent; parameters, metric histories and final metrics equal the records; exporting
again duplicates nothing, and a record that changed replaces its child run. An unreachable tracking server is one
line and loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="MLflow is not installed; install the extra with `pip install -e '.[mlflow]'`")

from mlflow.tracking import MlflowClient

from harness.catalog.matrices import get_matrix
from harness.cli.main import main
from harness.report.build import build_report
from harness.report.mlflow_export import (
    CELL_TAG,
    EPOCH_METRICS,
    EXPERIMENT,
    PARENT_TAG,
    RECORD_TAG,
    cell_params,
    export_run,
)
from harness.run.executor import InProcessExecutor
from harness.run.runner import RunDirectory, run_matrix

pytestmark = pytest.mark.slow  # about 20 s of CPU: a training run, MLflow's SQLite schema set up four times

MATRIX = get_matrix("default").narrowed(
    frameworks=("numpy",), variants=("relu-he", "relu-he-dropout"), seeds=2, epochs=3, dataset="digits"
)
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mlflow") / "runs" / "digits"
    run_matrix(MATRIX, RunDirectory(out), InProcessExecutor(1, MATRIX.frameworks), data_dir=None)
    build_report(out)
    return out


def records_of(run_dir: Path) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in (run_dir / "cells").glob("*.json")}


def children(client: MlflowClient, parent_id: str) -> dict[str, object]:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'")
    return {run.data.tags[CELL_TAG]: run for run in runs}


def test_one_child_run_per_cell_with_the_records_params_and_metric_histories(run_dir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    exported = export_run(run_dir, uri)
    assert (exported.created, exported.replaced, exported.unchanged) == (4, 0, 0)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert len(client.search_runs([experiment.experiment_id])) == 5  # the parent and four cells
    parent = client.get_run(exported.parent_run_id)
    assert parent.data.params["matrix"] == "default" and parent.data.params["dataset"] == "digits"
    assert {item.path for item in client.list_artifacts(exported.parent_run_id)} >= {"report.md", "report.html"}

    environment = json.loads((run_dir / "environment.json").read_text())
    runs = children(client, exported.parent_run_id)
    records = records_of(run_dir)
    assert sorted(runs) == sorted(records)
    for key, record in records.items():
        run = runs[key]
        assert run.info.status == "FINISHED" and run.data.tags["fwcompare.status"] == "ok"
        assert run.data.params["framework"] == "numpy" and run.data.params["variant"] == record["variant"]
        assert run.data.params["seed"] == str(record["seed"])
        assert run.data.params["train_spec.optimizer.lr"] == str(record["train_spec"]["optimizer"]["lr"])
        assert run.data.params["model_spec.hidden_sizes"] == json.dumps(record["model_spec"]["hidden_sizes"])
        assert run.data.params["version.numpy"] == environment["libraries"]["numpy"]
        assert len(run.data.params) == len(cell_params(record, environment))
        for field, metric in EPOCH_METRICS.items():
            history = client.get_metric_history(run.info.run_id, metric)
            expected = [(epoch["epoch"], epoch[field]) for epoch in record["history"] if epoch[field] is not None]
            assert sorted((point.step, point.value) for point in history) == expected, metric
        assert run.data.metrics["test_accuracy"] == record["result"]["test_accuracy"]
        assert run.data.metrics["test_loss"] == record["result"]["test_loss"]
        assert run.data.metrics["steady_epoch_median_s"] == record["timing"]["steady_epoch_median_s"]
        assert run.data.tags["fwcompare.cpu_model"] == record["hardware"]["cpu_model"]
        assert [item.path for item in client.list_artifacts(run.info.run_id)] == [f"{key}.json"]


def test_exporting_again_duplicates_nothing_and_replaces_a_changed_record(run_dir, tmp_path):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    first = export_run(run_dir, uri)
    client = MlflowClient(tracking_uri=uri)
    before = {key: run.info.run_id for key, run in children(client, first.parent_run_id).items()}

    again = export_run(run_dir, uri)
    assert again.parent_run_id == first.parent_run_id
    assert (again.created, again.replaced, again.unchanged) == (0, 0, 4)
    assert {key: run.info.run_id for key, run in children(client, first.parent_run_id).items()} == before

    # A copy of the run directory whose one record was trained again (here: marked failed) replaces that child only.
    changed_dir = tmp_path / "changed"
    changed_dir.mkdir()
    for name in ("config.json", "environment.json"):
        (changed_dir / name).write_text((run_dir / name).read_text())
    (changed_dir / "cells").mkdir()
    records = records_of(run_dir)
    changed_key = sorted(records)[0]
    for key, record in records.items():
        if key == changed_key:
            record = {**record, "status": "failed", "message": "RuntimeError: a test failure"}
        (changed_dir / "cells" / f"{key}.json").write_text(json.dumps(record))
    third = export_run(changed_dir, uri)
    assert third.parent_run_id == first.parent_run_id  # same config.json: the same matrix run
    assert (third.created, third.replaced, third.unchanged) == (0, 1, 3)
    after = children(client, first.parent_run_id)
    assert sorted(after) == sorted(before)
    assert after[changed_key].info.run_id != before[changed_key]
    assert after[changed_key].info.status == "FAILED"
    assert after[changed_key].data.tags["fwcompare.message"] == "RuntimeError: a test failure"
    assert all(after[key].info.run_id == before[key] for key in before if key != changed_key)
    assert RECORD_TAG in after[changed_key].data.tags


def test_run_with_mlflow_logs_to_a_store_beside_the_run_directory(tmp_path, capsys):
    out = tmp_path / "runs" / "one"
    argv = ["run", "--dataset", "digits", "--frameworks", "numpy", "--variants", "relu-he", "--seeds", "2"]
    argv += ["--epochs", "2", "--threads", "1", "--out", str(out), "--mlflow"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "2 cell run(s) logged" in capsys.readouterr().err
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert len(client.search_runs([experiment.experiment_id])) == 3
    assert (tmp_path / "runs" / "mlflow-artifacts").is_dir()

    assert main(["export", "mlflow", str(out)]) == 0
    assert "0 cell run(s) logged, 0 replaced, 2 already there" in capsys.readouterr().out
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_an_unreachable_tracking_server_is_one_line_and_loses_nothing(run_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--dataset", "digits", "--frameworks", "numpy", "--variants", "relu-he", "--seeds", "1"]
    assert main([*argv, "--epochs", "1", "--out", str(out), "--mlflow", UNREACHABLE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"the MLflow tracking store {UNREACHABLE} is unreachable" in err[0]
    assert "nothing was trained" in err[0]

    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    assert main(["export", "mlflow", str(run_dir), "--tracking-uri", UNREACHABLE]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the run directory is kept as it is" in err[0]
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
