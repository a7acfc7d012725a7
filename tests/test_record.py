"""The typed cell record: its stored form round-trips, schema-1 records (the committed results/) are migrated on
load, and every malformed field is refused with the field named."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from harness.core.errors import RecordError
from harness.core.record import RECORD_SCHEMA, CellRecord, migrate
from tests.test_report import cell_record

RESULTS = Path(__file__).resolve().parent.parent / "results"


def test_the_stored_form_round_trips() -> None:
    record = cell_record("relu-he", "numpy", 1)
    stored = json.loads(json.dumps(record.to_json()))
    assert stored["schema"] == RECORD_SCHEMA
    assert CellRecord.from_json(stored) == record


def test_non_finite_numbers_are_stored_as_null_and_read_back_as_nan() -> None:
    record = cell_record("relu-he", "numpy", 0)
    diverged = replace(
        record,
        status="diverged",
        message="the test loss is nan after training",
        history=(replace(record.history[0], train_loss=math.inf),),
        result=replace(record.result, test_loss=math.nan),
    )
    stored = json.loads(json.dumps(diverged.to_json()))
    assert stored["history"][0]["train_loss"] is None and stored["result"]["test_loss"] is None
    loaded = CellRecord.from_json(stored)
    assert math.isnan(loaded.history[0].train_loss) and math.isnan(loaded.result.test_loss)


def test_a_schema_1_record_is_migrated_in_memory_with_its_seed_carried_once() -> None:
    stored = cell_record("relu-he", "torch", 1).to_json()
    old = {**stored, "schema": 1, "train_spec": {**stored["train_spec"], "seed": 1}}
    loaded = CellRecord.from_json(old)
    assert loaded.seed == 1 and "seed" not in loaded.train_spec
    assert old["train_spec"]["seed"] == 1  # the stored dict is not changed
    with pytest.raises(RecordError, match=r"train_spec\.seed=2 but seed=1"):
        migrate({**old, "train_spec": {**old["train_spec"], "seed": 2}})


def test_mode_time_to_accuracy_and_gemm_flops_round_trip_and_older_records_lack_them() -> None:
    record = cell_record("relu-he", "torch", 0)
    timing = replace(record.timing, target_accuracy=0.95, time_to_target_s=3.5, target_epoch=2, epoch_gemm_flops=7)
    fast = replace(record, mode="fast", timing=timing)
    stored = json.loads(json.dumps(fast.to_json()))
    assert stored["mode"] == "fast" and stored["timing"]["time_to_target_s"] == 3.5
    assert CellRecord.from_json(stored) == fast
    # A record written before modes, time to accuracy and the machine limit: the exact path, nothing measured.
    old = {key: value for key, value in record.to_json().items() if key != "mode"}
    for name in ("target_accuracy", "time_to_target_s", "target_epoch", "epoch_gemm_flops"):
        del old["timing"][name]
    loaded = CellRecord.from_json(old)
    assert loaded.mode == "exact" and loaded.timing.time_to_target_s is None and loaded.timing.epoch_gemm_flops is None


def test_a_record_never_carries_its_seed_twice() -> None:
    with pytest.raises(RecordError, match="carries its seed twice"):
        replace(cell_record("relu-he", "torch", 1), train_spec={"epochs": 3, "seed": 1})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: [r], r"holds a list, not a JSON object"),
        (lambda r: {**r, "schema": 99}, r"has schema 99; this fwcompare reads schema 1 and 2"),
        (lambda r: {key: value for key, value in r.items() if key != "eval_split"}, r"lacks field\(s\) eval_split"),
        (lambda r: {**r, "extra": 1}, r"unknown field\(s\) extra"),
        (lambda r: {**r, "seed": "0"}, r"seed='0'; a seed is an integer"),
        (lambda r: {**r, "status": "done"}, r"status 'done'; valid statuses: ok, diverged"),
        (lambda r: {**r, "eval_split": "train"}, r"eval_split 'train'"),
        (lambda r: {**r, "mode": "turbo"}, r"mode 'turbo'; valid modes: exact, fast"),
        (lambda r: {**r, "result": None}, r"lacks field\(s\) result"),
        (lambda r: {**r, "result": {**r["result"], "test_accuracy": "high"}}, r"non-numeric result\.test_accuracy"),
        (lambda r: {**r, "timing": {**r["timing"], "threads": 1.5}}, r"timing\.threads=1\.5; it must be a whole"),
        (lambda r: {**r, "history": [{"train_loss": 1.0}]}, r"'history' that is not a list of epoch records"),
        (lambda r: {**r, "published": {**r["published"], "value": 97.9}}, r"an accuracy fraction"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_field(change, message) -> None:
    stored = cell_record("relu-he", "numpy", 0).to_json()
    with pytest.raises(RecordError, match=message):
        CellRecord.from_json(change(stored))


def test_a_failed_record_needs_no_result_or_timing() -> None:
    failed = cell_record("relu-he", "torch", 2, status="failed", message="RuntimeError: out of memory")
    assert CellRecord.from_json(failed.to_json()) == failed


def test_final_validation_accuracy_follows_the_restored_best_epoch() -> None:
    record = cell_record("relu-he", "numpy", 0)
    assert math.isnan(record.final_validation_accuracy())  # evaluated on the test set
    validated = replace(record, eval_split="validation")
    assert validated.final_validation_accuracy() == record.history[-1].val_accuracy
    restored = replace(
        validated,
        train_spec={"epochs": 3, "early_stopping": {"enabled": True, "restore_best": True}},
        result=replace(record.result, best_epoch=1),
    )
    assert restored.final_validation_accuracy() == record.history[1].val_accuracy


@pytest.mark.skipif(not RESULTS.is_dir(), reason="no committed results/ folder in this checkout")
def test_every_committed_record_loads() -> None:
    paths = sorted(RESULTS.glob("*/cells/*.json"))
    assert paths, "results/ holds no cell record"
    for path in paths:
        record = CellRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        assert record.key == path.stem
