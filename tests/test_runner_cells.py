"""Running cells in process on `digits`: the same batches for every framework, records, failure isolation and
unavailable frameworks. Small matrices, a few epochs, one thread."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import harness.core.frameworks
import harness.run.runner
from harness.catalog.matrix import Matrix, Row
from harness.catalog.variants import get_variant
from harness.cli import main as cli
from harness.core.frameworks import FrameworkPlugin, model_class, plugin
from harness.core.interface import EpochRecord
from harness.core.record import RECORD_SCHEMA, CellRecord
from harness.core.specs import OptimizerSpec
from harness.run.executor import InProcessExecutor
from harness.run.runner import RunDirectory, run_matrix, time_to_target
from tests.planted import breaking_model_class

DIVERGING = replace(
    get_variant("relu-he"),
    name="relu-he-lr-1e6",
    description="relu-he with SGD lr 1e6: overflows to NaN in the first epoch",
    train=replace(get_variant("relu-he").train, optimizer=OptimizerSpec("sgd", lr=1e6)),
)


class MissingKeras(FrameworkPlugin):
    """A registration of keras whose module and library do not exist: keras is unavailable."""

    name = "keras"
    label = "Keras"
    model = "no_such_module_for_the_test.model:MLP"
    modules = ("no_such_module_for_the_test",)
    requirement = "keras"


MISSING_KERAS = MissingKeras()


def _matrix(variants, frameworks, *, epochs=2, seeds=(3,), target_accuracy=None) -> Matrix:
    return Matrix(
        "test",
        "a small matrix for the tests",
        tuple(Row(variant) for variant in variants),
        frameworks=tuple(frameworks),
        seeds=seeds,
        dataset="digits",
        epochs=epochs,
        target_accuracy=target_accuracy,
    )


def _run(matrix: Matrix, out) -> harness.run.runner.RunResult:
    return run_matrix(matrix, RunDirectory(out), InProcessExecutor(1, matrix.frameworks), data_dir=None)


def test_every_framework_sees_the_same_batch_order_and_dropout_masks(tmp_path, monkeypatch):
    seen: dict[tuple[str, int], tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def recording_model_class(name):
        base = model_class(name)

        class Recording(base):
            def train_epoch(self, data, order, dropout_masks=None):
                epoch = sum(1 for framework, _ in seen if framework == name)
                seen[name, epoch] = (order.copy(), {k: v.copy() for k, v in (dropout_masks or {}).items()})
                return super().train_epoch(data, order, dropout_masks)

        return Recording

    monkeypatch.setattr(harness.run.runner, "model_class", recording_model_class)
    # Plain SGD: its update rule is the same in every framework's native form (Adam's is not: conventions.py).
    dropout = get_variant("relu-he-dropout")
    sgd_dropout = replace(dropout, train=replace(dropout.train, optimizer=OptimizerSpec("sgd", lr=0.1)))
    result = _run(_matrix([sgd_dropout], ["numpy", "torch", "keras"]), tmp_path / "run")

    assert sorted(seen) == [(f, e) for f in ("keras", "numpy", "torch") for e in (0, 1)]
    for epoch in (0, 1):
        order, masks = seen["numpy", epoch]
        assert sorted(order) == list(range(1500))  # digits: 1500 training images, each once per epoch
        assert set(masks) == {"dropout0", "dropout1"}
        for framework in ("torch", "keras"):
            other_order, other_masks = seen[framework, epoch]
            np.testing.assert_array_equal(other_order, order)
            for key, mask in masks.items():
                np.testing.assert_array_equal(other_masks[key], mask)
    assert not np.array_equal(seen["numpy", 0][0], seen["numpy", 1][0])

    # Same weights, batches, masks and update rule: the first-epoch losses agree to float32 rounding.
    records = list(result.records.values())
    assert [r.status for r in records] == ["ok"] * 3
    first_losses = [r.history[0].train_loss for r in records]
    np.testing.assert_allclose(first_losses, first_losses[0], rtol=1e-5)


def test_a_cell_record_holds_native_specs_history_result_and_timing(tmp_path):
    variant = get_variant("relu-he")
    result = _run(_matrix([variant], ["torch"], epochs=3, target_accuracy=0.5), tmp_path / "run")
    (record,) = result.records.values()
    path = tmp_path / "run" / "cells" / f"{record.key}.json"
    stored = json.loads(path.read_text())
    assert stored == record.to_json() and CellRecord.from_json(stored) == record
    assert stored["schema"] == RECORD_SCHEMA and "seed" not in stored["train_spec"]  # the seed is carried once
    assert record.status == "ok" and record.message is None
    assert record.train_spec["optimizer"]["form"] == plugin("torch").optimizer_forms["adam"]  # native_specs
    assert record.model_spec["input_size"] == 64 and record.train_spec["epochs"] == 3
    assert [epoch.epoch for epoch in record.history] == [0, 1, 2]
    assert record.eval_split == "test" and record.published is None
    assert record.result.epochs_run == 3 and 0.5 < record.result.test_accuracy <= 1.0
    # The last epoch's val_* numbers measure the test set, the same as the final test evaluation.
    assert record.history[-1].val_accuracy == record.result.test_accuracy
    timing = record.timing
    steady = sorted(epoch.train_time_s for epoch in record.history[1:])
    assert timing.first_epoch_s == record.history[0].train_time_s
    assert timing.steady_epoch_median_s == pytest.approx(sum(steady) / 2)
    assert timing.samples_per_s == pytest.approx(1500 / timing.steady_epoch_median_s)
    assert timing.threads == 1 and timing.device == "cpu"
    # Time to accuracy: build and training time up to the first epoch whose accuracy reached the target.
    reached = next(i for i, epoch in enumerate(record.history) if epoch.val_accuracy >= 0.5)
    training = sum(epoch.train_time_s for epoch in record.history[: reached + 1])
    assert timing.target_accuracy == 0.5 and timing.target_epoch == reached + 1
    assert timing.time_to_target_s == pytest.approx(timing.build_s + training)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["cells"] == [record.key] and config["matrix"]["rows"][0]["variant"] == "relu-he"
    assert (tmp_path / "run" / "environment.json").is_file()


def test_a_fast_run_builds_each_model_with_its_fast_options_and_records_the_mode(tmp_path, monkeypatch):
    built = []

    def recording_model_class(name):
        class Recording(model_class(name)):
            fast_options: ClassVar[dict[str, int]] = {"unroll": 4} if name == "torch" else {}

            def __init__(self, *args, unroll=1, **kwargs):
                built.append((name, unroll))
                super().__init__(*args, **kwargs)

        return Recording

    monkeypatch.setattr(harness.run.runner, "model_class", recording_model_class)
    matrix = replace(_matrix([get_variant("relu-he")], ["numpy", "torch"], epochs=1), mode="fast")
    result = _run(matrix, tmp_path / "run")
    assert sorted(built) == [("numpy", 1), ("torch", 4)]
    assert {record.mode for record in result.records.values()} == {"fast"}
    assert all(key.endswith("--fast") for key in result.records)


def test_time_to_target_counts_training_until_the_first_evaluated_epoch_that_reaches_it():
    def epoch(index, accuracy):
        return EpochRecord(index, train_loss=1.0, train_time_s=2.0 + index, lr=1e-3, val_accuracy=accuracy)

    history = [epoch(0, 0.80), epoch(1, None), epoch(2, 0.95), epoch(3, 0.99)]
    assert time_to_target(history, 0.5, 0.95) == {"target_accuracy": 0.95, "time_to_target_s": 9.5, "target_epoch": 3}
    assert time_to_target(history, 0.5, 0.999)["time_to_target_s"] is None
    nothing = {"target_accuracy": None, "time_to_target_s": None, "target_epoch": None}
    assert time_to_target(history, 0.5, None) == nothing


def test_a_diverging_and_a_failing_cell_are_recorded_while_the_others_finish(tmp_path, monkeypatch, capsys):
    matrix_file = tmp_path / "matrix.toml"
    matrix_file.write_text(
        """
        dataset = "digits"
        frameworks = ["numpy", "torch"]
        seeds = 1
        epochs = 2
        variants = ["relu-he"]
        [[variant]]
        name = "relu-he-lr-1e6"
        base = "relu-he"
        train = { optimizer = { name = "sgd", lr = 1e6 } }
        """
    )

    monkeypatch.setattr(
        harness.run.runner, "model_class", breaking_model_class("torch", "simulated crash inside torch")
    )
    out = tmp_path / "run"
    # In process: the patched model class exists in this process only, not in a worker's.
    code = cli.main(["run", "--matrix", str(matrix_file), "--out", str(out), "--threads", "1", "--in-process"])
    assert code == 1
    stored = [CellRecord.from_json(json.loads(path.read_text())) for path in (out / "cells").glob("*.json")]
    records = {(r.variant, r.framework): r for r in stored}
    assert records["relu-he", "numpy"].status == "ok"
    assert records["relu-he-lr-1e6", "numpy"].status == "diverged"
    assert "nan" in records["relu-he-lr-1e6", "numpy"].message
    for variant in ("relu-he", "relu-he-lr-1e6"):
        failed = records[variant, "torch"]
        assert failed.status == "failed"
        assert "RuntimeError: simulated crash inside torch" in failed.message
    stderr = capsys.readouterr().err
    assert "3 of 4 cells did not succeed" in stderr
    assert records["relu-he-lr-1e6", "numpy"].key in stderr
    assert (out / "report.md").is_file()  # the report is built from whatever finished


def test_an_unavailable_framework_is_recorded_as_such_and_the_others_run(tmp_path, monkeypatch):
    monkeypatch.setitem(harness.core.frameworks.plugins(), "keras", MISSING_KERAS)
    result = _run(_matrix([get_variant("relu-xavier")], ["numpy", "keras"], epochs=1), tmp_path / "run")
    statuses = {r.framework: r for r in result.records.values()}
    assert statuses["numpy"].status == "ok"
    assert statuses["keras"].status == "unavailable"
    assert "framework 'keras' is unavailable here" in statuses["keras"].message
    assert [r.framework for r in result.not_ok()] == ["keras"]


def test_a_rerun_retries_failed_and_unavailable_cells_but_keeps_ok_and_diverged_ones(tmp_path, monkeypatch):
    out = tmp_path / "run"
    matrix = _matrix([get_variant("relu-xavier"), DIVERGING], ["numpy", "keras"], epochs=1)
    with monkeypatch.context() as patch:
        patch.setitem(harness.core.frameworks.plugins(), "keras", MISSING_KERAS)
        first = _run(matrix, out)
    assert sorted(r.status for r in first.records.values()) == ["diverged", "ok", "unavailable", "unavailable"]
    second = _run(matrix, out)
    assert sorted(r.status for r in second.records.values()) == ["diverged", "diverged", "ok", "ok"]
    retried = {second.records[key].framework for key in second.trained}
    assert retried == {"keras"} and len(second.skipped) == 2
    assert len(list((out / "cells").glob("*.json"))) == 4


def test_a_run_directory_of_another_matrix_is_refused(tmp_path):
    out = tmp_path / "run"
    _run(_matrix([get_variant("relu-xavier")], ["numpy"], epochs=1), out)
    with pytest.raises(Exception, match=r"holds another run .* give a new --out"):
        _run(_matrix([get_variant("relu-xavier")], ["numpy"], epochs=2), out)


def test_json_flag_prints_a_machine_readable_summary(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--matrix", "repro-lecture", "--dataset", "digits", "--frameworks", "numpy"]
    argv += ["--variants", "relu-xavier,tanh-xavier", "--seeds", "2", "--threads", "1", "--out", str(out), "--json"]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_dir"] == str(out) and summary["cells"] == {"ok": 4}
    assert summary["trained"] == 4 and summary["skipped"] == 0 and summary["not_ok"] == []
    rows = {row["variant"]: row for row in summary["summary"]}
    assert set(rows) == {"relu-xavier", "tanh-xavier"} and rows["tanh-xavier"]["seeds"] in (2, "2")
    # The run measured numpy's peak GEMM rate (float32: repro-lecture's dtype), so its report shows the limit.
    (rate,) = json.loads((out / "environment.json").read_text())["gemm_peak"]["rates"]
    assert (rate["library"], rate["dtype"]) == ("numpy", "float32") and rate["gflops"] > 0
    timing = pd.read_csv(out / "tables" / "timing.csv")
    record = json.loads(next((out / "cells").glob("*tanh-xavier*")).read_text())
    limit = record["timing"]["epoch_gemm_flops"] / (rate["gflops"] * 1e9)
    assert timing["limit_epoch_s"].iloc[-1] == pytest.approx(limit)
