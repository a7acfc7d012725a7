"""`fwcompare compare` on small real runs (digits, 2 epochs, 4 seeds, the NumPy reference, 1 thread): a planted
change of Adam's epsilon is flagged (the spec field, and the results beyond seed noise; exit code 1), results moved
by seed-sized noise are not (exit 0), two runs of the same spec and seeds are identical (exit 0), a run against
itself too, and cells only one run holds, runs of another data set and another preprocessing are reported or
refused as the command promises."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.errors import RunsNotComparableError
from harness.core.record import CellRecord
from harness.report.compare import compare_runs

PLANTED_EPS = 0.1
MATRIX = """
name = "compare-test"
dataset = "digits"
scaling = "unit"
frameworks = ["numpy"]
seeds = 4
epochs = 2

[[variant]]
name = "adam-eps"
base = "relu-he"
model = {{ hidden_sizes = [32] }}
train = {{ batch_size = 64, optimizer = {{ eps = {eps} }} }}
"""


def _run(tmp_path: Path, name: str, *, eps: float = 1e-7) -> Path:
    matrix = tmp_path / f"{name}.toml"
    matrix.write_text(MATRIX.format(eps=eps))
    out = tmp_path / name
    assert main(["run", "--matrix", str(matrix), "--out", str(out), "--threads", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("compare")
    return {
        "a": _run(tmp_path, "a"),
        "same": _run(tmp_path, "same"),
        "planted": _run(tmp_path, "planted", eps=PLANTED_EPS),
    }


def test_a_planted_adam_epsilon_is_flagged(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    comparison = compare_runs(runs["a"], runs["planted"])
    differences = comparison.spec_differences
    assert list(differences["field"]) == ["train_spec.optimizer.eps"]
    assert (differences["a"].iloc[0], differences["b"].iloc[0]) == ("1e-07", str(PLANTED_EPS))
    assert differences["seeds"].iloc[0] == "0, 1, 2, 3"
    groups = comparison.groups.set_index("metric")
    assert groups.loc["loss", "call"] == "differs" and groups.loc["loss", "n_pairs"] == 4
    # An epsilon of 0.1 next to √v of about 1e-3 scales every step down: the test loss rises on every seed.
    assert (comparison.cells["loss_difference"] > 0).all()
    assert groups.loc["loss", "low"] > 0
    assert comparison.changed
    assert main(["compare", str(runs["a"]), str(runs["planted"])]) == 1
    out = capsys.readouterr().out
    assert out.startswith("# fwcompare compare:") and "\n- CHANGED:" in out and "train_spec.optimizer.eps" in out


def test_the_same_spec_and_seeds_are_identical(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    comparison = compare_runs(runs["a"], runs["same"])
    assert comparison.spec_differences.empty and comparison.status_changes.empty
    assert set(comparison.groups["call"]) == {"identical"}
    assert (comparison.cells["accuracy_difference"] == 0).all() and (comparison.cells["loss_difference"] == 0).all()
    assert not comparison.changed
    # Same machine, same threads: the timings are compared.
    assert len(comparison.timing) == 1 and comparison.timing["ratio"].iloc[0] > 0
    assert main(["compare", str(runs["a"]), str(runs["same"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changed"] is False and report["matched_cells"] == 4
    assert report["headline"][0].startswith("SAME: 4 matched cell(s)")


def test_a_run_against_itself_is_the_same(runs: dict[str, Path], tmp_path: Path) -> None:
    assert main(["compare", str(runs["a"]), str(runs["a"]), "--out", str(tmp_path / "out")]) == 0
    for name in ("comparison.md", "comparison.html", "comparison.json"):
        assert (tmp_path / "out" / name).is_file()
    assert "<h2>Verdict</h2>" in (tmp_path / "out" / "comparison.html").read_text()


def test_a_result_moved_beyond_noise_is_flagged_with_the_same_spec(runs: dict[str, Path], tmp_path: Path) -> None:
    # Run B's records with every accuracy lowered by 5 points: same spec, results that seed noise cannot explain.
    moved = tmp_path / "moved"
    shutil.copytree(runs["same"], moved)
    for path in (moved / "cells").glob("*.json"):
        record = CellRecord.from_json(json.loads(path.read_text()))
        result = replace(record.result, test_accuracy=record.result.test_accuracy - 0.05)
        path.write_text(json.dumps(replace(record, result=result).to_json()))
    comparison = compare_runs(runs["a"], moved)
    assert comparison.spec_differences.empty
    calls = comparison.groups.set_index("metric")["call"]
    assert calls["accuracy"] == "differs" and calls["loss"] == "identical"
    assert comparison.groups.set_index("metric").loc["accuracy", "difference"] == pytest.approx(-0.05)
    assert main(["compare", str(runs["a"]), str(moved)]) == 1


def test_a_result_moved_by_seed_noise_is_not_flagged(runs: dict[str, Path], tmp_path: Path) -> None:
    # Run B's accuracies moved per seed by about half their seed-to-seed spread, up on some seeds and down on others
    # (as a different summation order or library version moves them): within noise, and the exit code says SAME.
    accuracies = compare_runs(runs["a"], runs["a"]).cells.sort_values("seed")["accuracy_a"]
    spread = float(accuracies.std())
    assert spread > 0
    jitter = dict(enumerate(factor * spread for factor in (0.6, -0.4, 0.5, -0.6)))
    noisy = tmp_path / "noisy"
    shutil.copytree(runs["same"], noisy)
    for path in (noisy / "cells").glob("*.json"):
        record = CellRecord.from_json(json.loads(path.read_text()))
        result = replace(record.result, test_accuracy=record.result.test_accuracy + jitter[record.seed])
        path.write_text(json.dumps(replace(record, result=result).to_json()))
    comparison = compare_runs(runs["a"], noisy)
    calls = comparison.groups.set_index("metric")["call"]
    assert calls["accuracy"] == "within noise" and calls["loss"] == "identical"
    assert not comparison.changed
    assert main(["compare", str(runs["a"]), str(noisy)]) == 0


def test_cells_only_one_run_holds_are_listed(runs: dict[str, Path], tmp_path: Path) -> None:
    fewer = tmp_path / "fewer"
    shutil.copytree(runs["same"], fewer)
    removed = sorted((fewer / "cells").glob("*seed3*.json"))
    assert len(removed) == 1
    removed[0].unlink()
    comparison = compare_runs(runs["a"], fewer)
    assert comparison.missing[["only_in", "variant", "seeds", "cells"]].values.tolist() == [["a", "adam-eps", "3", 1]]
    assert comparison.n_matched == 3 and not comparison.changed


def test_a_cell_that_failed_in_one_run_is_a_status_change(runs: dict[str, Path], tmp_path: Path) -> None:
    failed = tmp_path / "failed"
    shutil.copytree(runs["same"], failed)
    path = sorted((failed / "cells").glob("*seed0*.json"))[0]
    record = CellRecord.from_json(json.loads(path.read_text()))
    path.write_text(json.dumps(replace(record, status="failed", message="planted", result=None, timing=None).to_json()))
    comparison = compare_runs(runs["a"], failed)
    changes = comparison.status_changes
    assert changes[["seed", "status_a", "status_b", "message_b"]].values.tolist() == [[0, "ok", "failed", "planted"]]
    # The three seeds ok in both runs are still paired, and identical.
    assert set(comparison.groups["n_pairs"]) == {3} and set(comparison.groups["call"]) == {"identical"}
    assert comparison.changed and main(["compare", str(runs["a"]), str(failed)]) == 1


def test_other_data_sets_and_preprocessing_are_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    # The config of run A as if it had been run with another scaling (training it again would take seconds).
    rescaled = tmp_path / "rescaled"
    shutil.copytree(runs["a"], rescaled)
    config = json.loads((rescaled / "config.json").read_text())
    config["matrix"]["scaling"] = "standardize"
    (rescaled / "config.json").write_text(json.dumps(config))
    with pytest.raises(RunsNotComparableError, match=r"scaling='unit'.*scaling='standardize'"):
        compare_runs(runs["a"], rescaled)
    other = tmp_path / "other-dataset"
    shutil.copytree(runs["a"], other)
    for path in (other / "cells").glob("*.json"):
        record = CellRecord.from_json(json.loads(path.read_text()))
        path.write_text(json.dumps(replace(record, dataset="mnist").to_json()))
    assert main(["compare", str(runs["a"]), str(other)]) == 2
    with pytest.raises(RunsNotComparableError, match="data set"):
        compare_runs(runs["a"], other)
