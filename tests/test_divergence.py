"""The frameworks' parameter divergence in a run: which steps are compared, who saves and who compares, what the
report makes of it, and that a planted difference in one framework shows up as divergence where rounding does
not. Runs are small (digits, in process, one thread)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harness.run.runner
from harness.catalog.variants import get_variant
from harness.cli.main import main
from harness.core.build import build_model
from harness.core.frameworks import model_class
from harness.core.initializers import initial_params
from harness.core.specs import ScheduleSpec
from harness.report.divergence import divergence_headline
from harness.run.divergence import divergence_path, divergence_steps, snapshot_path
from tests.planted import breaking_model_class

MNIST_STEPS = 469  # 60,000 rows at batch 128
RUN = ["run", "--dataset", "digits", "--variants", "relu-he,sigmoid-xavier", "--seeds", "2", "--epochs", "3"]


def test_steps_inside_the_first_epoch_then_every_epochs_end():
    train = replace(get_variant("relu-he").train, epochs=3)
    assert divergence_steps(train, 60_000) == (0, 1, 10, 100, MNIST_STEPS, 2 * MNIST_STEPS, 3 * MNIST_STEPS)


def test_a_short_epoch_or_max_steps_bounds_the_steps():
    train = replace(get_variant("relu-he").train, epochs=3)
    assert divergence_steps(train, 128 * 12) == (0, 1, 10, 12, 24, 36)
    assert divergence_steps(replace(train, max_steps=30), 128 * 12) == (0, 1, 10, 12, 24, 30)


def test_a_schedule_is_compared_at_epoch_ends_only():
    train = replace(get_variant("relu-he").train, epochs=2, schedule=ScheduleSpec("step", step_size=1, gamma=0.5))
    assert divergence_steps(train, 60_000) == (0, MNIST_STEPS, 2 * MNIST_STEPS)


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_with_a_schedule_fit_snapshots_at_epoch_ends_but_refuses_to_cut_an_epoch(framework):
    variant = get_variant("relu-he").for_data(16, 3)
    train = replace(variant.train, epochs=2, batch_size=8, schedule=ScheduleSpec("step", step_size=1, gamma=0.5))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 16)).astype(np.float32), rng.integers(0, 3, 32)

    def model():
        params = initial_params(variant.model, 0, train.dtype)
        return build_model(model_class(framework), variant.model, train, params, device="cpu", steps_per_epoch=4)

    seen: list[int] = []
    model().fit(x, y, snapshot_steps=(0, 4, 8), on_snapshot=lambda step, params: seen.append(step))
    assert seen == [0, 4, 8]
    with pytest.raises(ValueError, match=r"steps \[1\] cut epochs .* epoch ends only"):
        model().fit(x, y, snapshot_steps=(0, 1, 4), on_snapshot=lambda step, params: None)


def _cells(out: Path) -> dict[tuple[str, str, int], dict]:
    records = [json.loads(path.read_text()) for path in (out / "cells").glob("*.json")]
    return {(record["variant"], record["framework"], record["seed"]): record for record in records}


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("divergence") / "run"
    code = main([*RUN, "--frameworks", "numpy,torch,keras", "--threads", "1", "--in-process", "--out", str(out)])
    assert code == 0
    return out


def test_the_reference_saves_the_others_compare_and_the_snapshots_are_released(diverged_run):
    cells = _cells(diverged_run)
    for (variant, framework, seed), record in cells.items():
        written = divergence_path(diverged_run, record["key"])
        assert written.is_file() == (framework != "numpy"), (variant, framework, seed)
        reference = cells[variant, "numpy", seed]["key"]
        assert not snapshot_path(diverged_run, reference).exists()  # every other framework compared
    assert not (diverged_run / "snapshots").exists()


def test_identical_starts_then_rounding_or_the_convention(diverged_run):
    """torch trains in the reference's forms, so only rounding separates them; keras runs Adam in its epsilon-hat
    form, whose first step already differs by far more than rounding."""
    cells = _cells(diverged_run)
    for (variant, framework, seed), record in cells.items():
        if framework == "numpy":
            continue
        distances = json.loads(divergence_path(diverged_run, record["key"]).read_text())
        # digits: 1,437 training rows → 12 steps per epoch at batch 128
        assert [int(step) for step in distances] == [0, 1, 10, 12, 24, 36]
        assert distances["0"]["relative"] == 0.0
        if framework == "torch":
            assert 0 < distances["1"]["relative"] < 1e-6, (variant, seed)
            assert distances["36"]["relative"] < 1e-5, (variant, seed)
        else:
            assert distances["1"]["relative"] > 1e-5, (variant, seed)


def test_the_report_opens_with_the_divergence_and_draws_it(diverged_run):
    report = (diverged_run / "report.md").read_text()
    verdict_section = report.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "From identical starts, the parameters of torch (the reference's arithmetic forms" in verdict_section
    assert "## Divergence" in report and "(plots/divergence.png)" in report
    assert (diverged_run / "plots" / "divergence.png").read_bytes().startswith(b"\x89PNG")
    assert "keras trains in other forms than numpy (adam form epsilon-hat vs eps-outside-root)" in verdict_section
    rows = json.loads((diverged_run / "verdict.json").read_text())["divergence"]
    assert {(row["variant"], row["framework"], row["reference"], row["forms_differ"]) for row in rows} == {
        (variant, framework, "numpy", forms)
        for variant in ("relu-he", "sigmoid-xavier")
        for framework, forms in (("torch", ""), ("keras", "adam form epsilon-hat vs eps-outside-root"))
    }


def _table_row(variant: str, framework: str, forms: str, first_step: int, first: float, dtype: str) -> dict:
    return {
        "dataset": "mnist", "variant": variant, "framework": framework, "reference": "numpy",
        "forms_differ": forms, "seeds": 5, "dtype": dtype, "first_step": first_step,
        "relative_first": first, "last_step": 50_000, "relative_last": 0.5, "growth": 0.5 / first,
    }  # fmt: skip


def test_other_forms_are_called_a_convention_only_when_the_first_step_shows_it():
    """torch's momentum buffer equals the velocity form up to rounding at a constant learning rate (lincoln's
    rows: 1.9e-17 after step 1 in float64); Keras' Adam form is 1e-3 away (float32); variants with a schedule
    have no step-1 distance, and their epoch-end distance must not be quoted as the form's."""
    momentum, adam = "momentum form gradient-buffer vs velocity", "adam form epsilon-hat vs eps-outside-root"
    table = pd.DataFrame(
        [
            _table_row("row-e", "torch", momentum, 1, 1.9e-17, "float64"),
            _table_row("row-f", "torch", momentum, 1000, 0.16, "float64"),
            _table_row("relu-he", "keras", adam, 1, 1.2e-3, "float32"),
        ]
    )
    headline = divergence_headline(table)
    assert (
        "torch trains in other forms than numpy (momentum form gradient-buffer vs velocity): after the first step "
        "it is 1.9e-17 away, rounding's size: the forms agree there; row-f compared at epoch ends only."
    ) in headline
    assert "1.6e-01" not in headline
    assert (
        "keras trains in other forms than numpy (adam form epsilon-hat vs eps-outside-root): its distance after "
        "the first step is already 1.2e-03, the convention's size rather than rounding's."
    ) in headline


def test_a_planted_learning_rate_error_drifts_apart(tmp_path, monkeypatch):
    """torch trained with a learning rate 1 % too high: its distance to the reference after 36 steps is far above
    what rounding gave the correct frameworks."""
    correct = tmp_path / "correct"
    argv = [*RUN[:4], "relu-he", "--seeds", "1", "--epochs", "3", "--frameworks", "numpy,torch", "--threads", "1"]
    assert main([*argv, "--in-process", "--out", str(correct)]) == 0

    def planted_model_class(name):
        base = model_class(name)
        if name != "torch":
            return base

        class TooFast(base):
            def learning_rate(self, step):
                return 1.01 * super().learning_rate(step)

        return TooFast

    monkeypatch.setattr(harness.run.runner, "model_class", planted_model_class)
    planted = tmp_path / "planted"
    assert main([*argv, "--in-process", "--out", str(planted)]) == 0

    def last_distance(out: Path) -> float:
        (torch_record,) = [record for key, record in _cells(out).items() if key[1] == "torch"]
        return json.loads(divergence_path(out, torch_record["key"]).read_text())["36"]["relative"]

    assert last_distance(planted) > 100 * last_distance(correct)


def test_a_missing_reference_leaves_the_cell_ok_without_distances(tmp_path, monkeypatch):
    monkeypatch.setattr(harness.run.runner, "model_class", breaking_model_class("numpy", "planted failure"))
    out = tmp_path / "run"
    argv = [*RUN[:4], "relu-he", "--seeds", "1", "--epochs", "1", "--frameworks", "numpy,torch", "--threads", "1"]
    assert main([*argv, "--in-process", "--out", str(out)]) == 1  # the numpy cell failed
    cells = _cells(out)
    assert cells["relu-he", "numpy", 0]["status"] == "failed"
    assert cells["relu-he", "torch", 0]["status"] == "ok"
    assert not divergence_path(out, cells["relu-he", "torch", 0]["key"]).exists()
    assert "## Divergence" not in (out / "report.md").read_text()


def test_no_divergence_keeps_nothing(tmp_path):
    out = tmp_path / "run"
    argv = [*RUN[:4], "relu-he", "--seeds", "1", "--epochs", "1", "--frameworks", "numpy,torch", "--threads", "1"]
    assert main([*argv, "--in-process", "--no-divergence", "--out", str(out)]) == 0
    assert not (out / "divergence").exists() and not (out / "snapshots").exists()
