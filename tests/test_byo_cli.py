"""The worked example (examples/byo) through the command line, as the README runs it: `parity --impl` and
`run --impl`, by file and by module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from byo_registry import restored_registry

from harness.cli.main import main

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "byo"
EXAMPLE = f"{EXAMPLE_DIR / 'adapter.py'}:ScratchAdapter"


@pytest.fixture(autouse=True)
def each_test_leaves_the_registry_as_it_found_it():
    """--impl and assert_parity register frameworks for the process."""
    with restored_registry():
        yield


def test_parity_of_the_example_passes_against_the_reference(capsys, tmp_path):
    argv = ["parity", "--impl", EXAMPLE, "--frameworks", "numpy", "--variants", "relu-he-sgd,relu-he-batchnorm"]
    code = main([*argv, "--dtype", "float64", "--steps", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = json.loads((tmp_path / "parity.json").read_text())["rows"]
    checks = {(r["variant"], r["check"]) for r in rows if r["pair"] == "numpy-vs-scratch"}
    for variant in ("relu-he-sgd", "relu-he-batchnorm"):
        for check in ("forward-train", "gradient", "params-after-steps", "loss-large-logits"):
            assert (variant, check) in checks
    assert all(r["status"] == "OK" for r in rows), [r for r in rows if r["status"] != "OK"]
    assert "parity PASSED" in out


def test_a_variant_the_example_cannot_run_is_skipped_with_its_reason(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    argv = ["parity", "--impl", "adapter:ScratchAdapter", "--frameworks", "numpy", "--variants", "lincoln-000-a"]
    code = main([*argv, "--dtype", "float64", "--steps", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "SKIPPED scratch skipped lincoln-000-a float64: it does not support activation" not in out
    assert "SKIPPED scratch skipped lincoln-000-a float64: it does not support loss 'mse'" in out
    assert "numpy-vs-scratch" not in out


def test_run_trains_the_example_as_one_more_framework(capsys, tmp_path):
    argv = ["run", "--impl", EXAMPLE, "--frameworks", "numpy", "--dataset", "digits", "--variants", "relu-he"]
    code = main([*argv, "--seeds", "1", "--epochs", "1", "--threads", "1", "--out", str(tmp_path), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["cells"] == {"ok": 2}
    records = [json.loads(path.read_text()) for path in (tmp_path / "cells").glob("*.json")]
    accuracy = {record["framework"]: record["result"]["test_accuracy"] for record in records}
    assert accuracy["scratch"] > 0.5
    assert accuracy["scratch"] == pytest.approx(accuracy["numpy"], abs=0.02)


@pytest.mark.parametrize("elsewhere", [["--jobs", "2"], ["--executor", "ray"]], ids=["jobs-2", "executor-ray"])
def test_run_refuses_impl_outside_this_process(capsys, elsewhere):
    code = main(["run", "--impl", EXAMPLE, *elsewhere, "--dataset", "digits"])
    assert code == 2
    assert "--impl runs in one process" in capsys.readouterr().err
