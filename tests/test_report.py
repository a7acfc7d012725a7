"""The report builder on a small synthetic run directory: 2 variants × 2 frameworks × 2 seeds, one failed cell,
a published number and a parity.json. The records are test data written here in the run-record schema (not a
published result); every expected value is computed in the test from those inputs, independently of
harness.report.tables.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import statistics
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from harness.cli.main import main
from harness.core.interface import EpochRecord
from harness.core.record import CellRecord, CellResult, CellTiming, Published
from harness.report.build import build_report
from harness.report.tables import RunRecordError, reproduction_verdict

VARIANTS = ("relu-he", "tanh-xavier")
FRAMEWORKS = ("numpy", "torch")
SEEDS = (0, 1)
EPOCHS = 3
# Final test accuracy of each (variant, framework, seed); arbitrary distinct values.
ACCURACY = {
    ("relu-he", "numpy", 0): 0.9781,
    ("relu-he", "numpy", 1): 0.9803,
    ("relu-he", "torch", 0): 0.9779,
    ("relu-he", "torch", 1): 0.9810,
    ("tanh-xavier", "numpy", 0): 0.9702,
    ("tanh-xavier", "numpy", 1): 0.9688,
    ("tanh-xavier", "torch", 0): 0.9711,
    ("tanh-xavier", "torch", 1): 0.9695,
}
FAILED = ("relu-he", "torch", 2)
FAILED_MESSAGE = "RuntimeError: out of memory while building the model"
PUBLISHED = Published(0.9790, "a test source", "1 epoch, Adam")
PARITY_ROWS = [
    ("numpy-vs-torch", "float64", "OK", 1e-13),
    ("numpy-vs-torch", "float64", "OK", 3e-12),
    ("numpy-vs-torch", "float64", "EXPLAINED", 2e-9),
    ("numpy-vs-torch", "float32", "OK", 4e-7),
    ("numpy-vs-torch", "float32", "NOT OK", 5e-3),
    ("numpy-vs-keras", "float32", "OK", 6e-7),
]


def cell_timing(variant: str, framework: str, seed: int) -> CellTiming:
    """Distinct timings per cell so that medians over seeds are checkable."""
    base = 1.0 + VARIANTS.index(variant) + 0.5 * FRAMEWORKS.index(framework) + 0.1 * seed
    return CellTiming(
        build_s=0.01 * base,
        first_epoch_s=2.0 * base,
        steady_epoch_median_s=base,
        eval_median_s=0.1 * base,
        samples_per_s=60000 / base,
        threads=2,
        device="cpu",
    )


def cell_record(variant: str, framework: str, seed: int, status: str = "ok", message: str | None = None) -> CellRecord:
    ok = status == "ok"
    accuracy = ACCURACY.get((variant, framework, seed), 0.0)
    history = tuple(
        EpochRecord(
            epoch=epoch,
            train_loss=0.5 / (epoch + 1) + 0.01 * seed,
            train_time_s=cell_timing(variant, framework, seed).steady_epoch_median_s,
            lr=1e-3,
            val_loss=0.3 / (epoch + 1),
            val_accuracy=accuracy - 0.01 * (EPOCHS - 1 - epoch),
            eval_time_s=0.1,
        )
        for epoch in range(EPOCHS)
    )
    return CellRecord(
        key=f"{variant}-{framework}-s{seed}",
        variant=variant,
        framework=framework,
        seed=seed,
        dataset="mnist",
        eval_split="test",
        status=status,
        message=message,
        model_spec={"loss": "softmax_ce"},
        train_spec={"epochs": EPOCHS},
        published=PUBLISHED if variant == "relu-he" else None,
        history=history if ok else (),
        result=CellResult(test_loss=0.1 + (1 - accuracy), test_accuracy=accuracy, epochs_run=EPOCHS) if ok else None,
        timing=cell_timing(variant, framework, seed) if ok else None,
        started_at="2025-01-01T00:00:00+00:00",
        finished_at="2025-01-01T00:01:00+00:00",
    )


def write_record(run_dir: Path, record: CellRecord, name: str | None = None) -> Path:
    """The record in its stored form, as cells/<key>.json (or cells/<name>)."""
    path = run_dir / "cells" / (name or f"{record.key}.json")
    path.write_text(json.dumps(record.to_json()))
    return path


def write_run(run_dir: Path) -> None:
    (run_dir / "cells").mkdir(parents=True)
    records = [cell_record(*cell) for cell in ACCURACY]
    records.append(cell_record(*FAILED, status="failed", message=FAILED_MESSAGE))
    for record in records:
        write_record(run_dir, record)
    config = {
        "matrix": {
            "name": "test-matrix",
            "description": "two variants",
            "notes": ["a note kept whole"],
            # Listed against the registry's order (relu-he comes first there): the report follows the matrix.
            "rows": [{"variant": "tanh-xavier"}, {"variant": "relu-he"}],
        },
        "flags": {"device": "cpu", "threads": 2, "jobs": 1},
        "cells": [f"{variant}-{framework}-s{seed}" for variant, framework, seed in ACCURACY],
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    environment = {"python": "3.11.9", "versions": {"numpy": "2.1.0", "torch": "2.13.0"}, "cpu": "Test CPU"}
    (run_dir / "environment.json").write_text(json.dumps(environment))
    parity = {
        "rows": [
            {
                "pair": pair,
                "variant": "relu-he",
                "dtype": dtype,
                "check": "gradients",
                "tensor": f"dense{i}.W",
                "max_abs_diff": rel / 10,
                "max_rel_diff": rel,
                "rtol": 1e-5,
                "atol": 1e-5,
                "status": status,
                "note": "",
            }
            for i, (pair, dtype, status, rel) in enumerate(PARITY_ROWS)
        ],
        "summary": {},
    }
    (run_dir / "parity.json").write_text(json.dumps(parity))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run directory with its report built once for the module."""
    run_dir = tmp_path_factory.mktemp("run")
    write_run(run_dir)
    build_report(run_dir)
    return run_dir


def table(run_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run_dir / "tables" / f"{name}.csv")


def row(frame: pd.DataFrame, **where) -> pd.Series:
    selected = frame
    for column, value in where.items():
        selected = selected[selected[column] == value]
    assert len(selected) == 1, f"expected one row for {where}, got {len(selected)}"
    return selected.iloc[0]


def test_accuracy_table_means_and_stds_over_ok_seeds(run_dir: Path) -> None:
    accuracy = table(run_dir, "accuracy")
    assert len(accuracy) == len(VARIANTS) * len(FRAMEWORKS)
    for variant in VARIANTS:
        for framework in FRAMEWORKS:
            values = [ACCURACY[(variant, framework, seed)] for seed in SEEDS]
            got = row(accuracy, variant=variant, framework=framework)
            assert got["n_seeds"] == len(SEEDS)
            assert got["test_accuracy_mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
            assert got["test_accuracy_std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
            losses = [0.1 + (1 - value) for value in values]
            assert got["test_loss_mean"] == pytest.approx(statistics.mean(losses), rel=1e-12)
            expected_excluded = 1 if (variant, framework) == FAILED[:2] else 0
            assert got["n_excluded"] == expected_excluded
    markdown = (run_dir / "tables" / "accuracy.md").read_text()
    values = [ACCURACY[("relu-he", "torch", seed)] for seed in SEEDS]
    assert f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}" in markdown


def test_tables_follow_the_matrix_order_of_variants_then_framework_then_seed(run_dir: Path) -> None:
    accuracy = table(run_dir, "accuracy")
    assert list(zip(accuracy["variant"], accuracy["framework"], strict=True)) == [
        ("tanh-xavier", "numpy"),
        ("tanh-xavier", "torch"),
        ("relu-he", "numpy"),
        ("relu-he", "torch"),
    ]
    status = table(run_dir, "status")
    relu_torch = status[(status["variant"] == "relu-he") & (status["framework"] == "torch")]
    assert list(relu_torch["seed"]) == [0, 1, 2]


def test_timing_table_medians(run_dir: Path) -> None:
    timing = table(run_dir, "timing")
    got = row(timing, variant="tanh-xavier", framework="torch")
    per_seed = [cell_timing("tanh-xavier", "torch", seed) for seed in SEEDS]
    for field in ("build_s", "first_epoch_s", "steady_epoch_median_s", "eval_median_s", "samples_per_s"):
        assert got[field] == pytest.approx(statistics.median(getattr(t, field) for t in per_seed), rel=1e-12), field
    assert got["threads"] == 2
    assert got["device"] == "cpu"
    # The failed cell has no timing and must not change the relu-he/torch medians.
    relu_torch = row(timing, variant="relu-he", framework="torch")
    expected = statistics.median(cell_timing("relu-he", "torch", seed).first_epoch_s for seed in SEEDS)
    assert relu_torch["first_epoch_s"] == pytest.approx(expected, rel=1e-12)


def test_records_without_a_target_show_no_time_to_target(run_dir: Path) -> None:
    # These records predate time to accuracy: they load, and the column says there is nothing to show.
    text = (run_dir / "tables" / "timing.md").read_text()
    assert "time to target (s)" in text
    assert table(run_dir, "timing")["n_target"].eq(0).all()
    # ... and they ran the exact path, the only one there was.
    assert set(table(run_dir, "timing")["mode"]) == {"exact"} and "| mode " in text


def test_time_to_target_is_the_median_over_the_seeds_that_reached_it(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    times = {0: 4.0, 1: None, 2: 6.0}  # seed 1 did not reach the target
    for seed, seconds in times.items():
        record = cell_record("relu-he", "numpy", seed)
        write_record(tmp_path, _with_timing(record, target_accuracy=0.97, time_to_target_s=seconds))
    write_record(tmp_path, _with_timing(cell_record("relu-he", "torch", 0), target_accuracy=0.97))
    build_report(tmp_path)
    timing = table(tmp_path, "timing")
    numpy_row = row(timing, variant="relu-he", framework="numpy")
    assert numpy_row["time_to_target_median_s"] == 5.0
    assert (numpy_row["n_target_reached"], numpy_row["n_target"]) == (2, 3)
    text = (tmp_path / "tables" / "timing.md").read_text()
    assert "| 5 (2/3 seeds)" in text and "| not reached" in text and "| 97.0 " in text


def test_the_timing_table_and_plot_show_the_machine_limit(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    flops = 72_700_000_000
    for framework in FRAMEWORKS:
        for seed in SEEDS:
            record = replace(cell_record("relu-he", framework, seed), train_spec={"epochs": EPOCHS, "dtype": "float32"})
            # The torch cells ran on a GPU, measured against no CPU rate: no limit.
            device = "cuda" if framework == "torch" else "cpu"
            write_record(tmp_path, _with_timing(record, epoch_gemm_flops=flops, device=device))
    rates = [
        {"library": "numpy", "dtype": "float32", "gflops": 180.0},
        {"library": "tensorflow", "dtype": "float32", "gflops": 200.0},
        {"library": "numpy", "dtype": "float64", "gflops": 90.0},
    ]
    gemm_peak = {"size": 2048, "seconds_per_rate": 0.3, "rates": rates}
    (tmp_path / "environment.json").write_text(json.dumps({"gemm_peak": gemm_peak}))
    build_report(tmp_path)
    timing = table(tmp_path, "timing")
    numpy_row = row(timing, variant="relu-he", framework="numpy")
    limit = flops / 200e9  # the best float32 rate of any library
    steady = statistics.median(cell_timing("relu-he", "numpy", seed).steady_epoch_median_s for seed in SEEDS)
    assert numpy_row["limit_epoch_s"] == pytest.approx(limit)
    assert numpy_row["steady_x_limit"] == pytest.approx(steady / limit)
    assert pd.isna(row(timing, variant="relu-he", framework="torch")["limit_epoch_s"])
    text = (tmp_path / "tables" / "timing.md").read_text()
    assert "machine limit (s)" in text and f"| {limit:.3g} " in text and f"| {steady / limit:.1f} " in text
    assert "tensorflow float32 200" in (tmp_path / "report.md").read_text()
    assert matplotlib.image.imread(tmp_path / "plots" / "timing.png").shape[2] in (3, 4)


def _with_timing(record: CellRecord, **fields: object) -> CellRecord:
    assert record.timing is not None
    return replace(record, timing=replace(record.timing, **fields))


def test_reproduction_table_sets_published_beside_each_framework(run_dir: Path) -> None:
    reproduction = table(run_dir, "reproduction")
    assert list(reproduction["variant"]) == ["relu-he"]
    got = reproduction.iloc[0]
    assert got["published_accuracy"] == PUBLISHED.value
    assert got["source"] == PUBLISHED.source
    for framework in FRAMEWORKS:
        mean = statistics.mean(ACCURACY[("relu-he", framework, seed)] for seed in SEEDS)
        assert got[f"{framework}_mean"] == pytest.approx(mean, rel=1e-12)
        assert got[f"{framework}_n"] == len(SEEDS)
        assert got[f"{framework}_minus_published"] == pytest.approx(mean - PUBLISHED.value, rel=1e-9)
    torch_mean = statistics.mean(ACCURACY[("relu-he", "torch", seed)] for seed in SEEDS)
    assert f"{100 * (torch_mean - PUBLISHED.value):+.2f}" in (run_dir / "tables" / "reproduction.md").read_text()
    # numpy: 0.9792 vs 0.9790 is within 0.3 points; torch: 0.97945, also within; both ran 3 epochs per seed
    assert got["numpy_verdict"] == got["torch_verdict"] == "reproduced"
    assert got["numpy_epochs_run"] == f"{EPOCHS}×{len(SEEDS)}"
    numpy_std = statistics.stdev(ACCURACY[("relu-he", "numpy", seed)] for seed in SEEDS)
    numpy_mean = statistics.mean(ACCURACY[("relu-he", "numpy", seed)] for seed in SEEDS)
    assert got["numpy_gap_in_std"] == pytest.approx((numpy_mean - PUBLISHED.value) / numpy_std)


@pytest.mark.parametrize(
    ("mean", "std", "n", "illustrative", "verdict"),
    [
        (0.9700, 0.0010, 5, False, "reproduced"),  # 0.2 points: within 0.3
        (0.9640, 0.0010, 5, False, "not reproduced"),  # 0.8 points, 8 std
        (0.9640, 0.0050, 5, False, "reproduced"),  # 0.8 points, 1.6 std
        (0.9640, float("nan"), 1, False, "not reproduced"),  # one seed has no spread to be within
        (0.9100, 0.0010, 5, True, "illustrative"),
        (float("nan"), float("nan"), 0, False, "not run"),
    ],
)
def test_reproduction_verdict(mean: float, std: float, n: int, illustrative: bool, verdict: str) -> None:
    assert reproduction_verdict(0.9720, mean, std, n, illustrative) == verdict


def test_parity_table_counts_and_worst(run_dir: Path) -> None:
    parity = table(run_dir, "parity")
    assert len(parity) == 3
    for pair, dtype in {(pair, dtype) for pair, dtype, _, _ in PARITY_ROWS}:
        rows = [(status, rel) for p, d, status, rel in PARITY_ROWS if (p, d) == (pair, dtype)]
        got = row(parity, pair=pair, dtype=dtype)
        for status in ("OK", "NOT OK", "EXPLAINED"):
            assert got[status] == sum(s == status for s, _ in rows), (pair, dtype, status)
        assert got["worst_max_rel_diff"] == max(rel for _, rel in rows)


def test_failed_cell_is_in_the_status_table_only(run_dir: Path) -> None:
    status = table(run_dir, "status")
    assert len(status) == len(ACCURACY) + 1
    variant, framework, seed = FAILED
    failed = row(status, variant=variant, framework=framework, seed=seed)
    assert failed["status"] == "failed"
    assert failed["message"] == FAILED_MESSAGE
    assert (status["status"] == "ok").sum() == len(ACCURACY)
    assert FAILED_MESSAGE in (run_dir / "tables" / "status.md").read_text()
    assert FAILED_MESSAGE in (run_dir / "report.md").read_text()


def test_every_file_exists_and_plots_are_images(run_dir: Path) -> None:
    for name in ("accuracy", "timing", "reproduction", "parity", "status"):
        assert (run_dir / "tables" / f"{name}.csv").is_file(), name
        assert (run_dir / "tables" / f"{name}.md").is_file(), name
    expected_plots = {"accuracy.png", "timing.png", *(f"curves_mnist_{variant}.png" for variant in VARIANTS)}
    # plots/ holds the PNGs and the digests that spare redrawing unchanged ones (harness.report.figures)
    assert {path.name for path in (run_dir / "plots").iterdir()} == {*expected_plots, ".digests.json"}
    for name in expected_plots:
        image = matplotlib.image.imread(run_dir / "plots" / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400, name


def test_report_links_every_plot_and_table(run_dir: Path) -> None:
    markdown = (run_dir / "report.md").read_text()
    page = (run_dir / "report.html").read_text()
    for path in (run_dir / "plots").glob("*.png"):
        assert f"](plots/{path.name})" in markdown
        # report.html stands alone: each plot is embedded byte for byte
        assert f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"' in page
    assert 'src="plots/' not in page
    for heading in ("Accuracy", "Timing", "Learning curves", "Reproduction", "Parity", "Status", "Environment"):
        assert f"## {heading}" in markdown
        assert f"<h2>{heading}</h2>" in page
    assert "Test CPU" in markdown and "versions.torch" in markdown
    assert "test-matrix — two variants" in markdown
    assert "a note kept whole" in markdown and "flags.threads" in markdown


def test_report_opens_with_its_verdict_also_in_verdict_json(run_dir: Path) -> None:
    markdown = (run_dir / "report.md").read_text()
    page = (run_dir / "report.html").read_text()
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert markdown.split("\n\n")[1] == "## Verdict"
    assert page.index("<h2>Verdict</h2>") < page.index("<h2>Run</h2>")
    for line in verdict["headline"]:
        assert f"- {line}" in markdown
        assert f"<li>{html.escape(line)}</li>" in page
    assert verdict["failed_cells"] == 1 and verdict["headline"][-1].startswith("Failures: 1 of 9 cells")
    assert {row["call"] for row in verdict["comparisons"]} <= {"within noise", "not testable", "differs"}


COMMITTED_RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.mark.skipif(not (COMMITTED_RESULTS / "default-mnist").is_dir(), reason="no committed results/ in this checkout")
def test_the_committed_default_run_rebuilds_into_its_committed_report_opening_with_the_verdict(tmp_path: Path) -> None:
    # The records rebuilt now give the report that is committed: it is current, and it answers first.
    run = tmp_path / "default-mnist"
    for part in ("cells", "divergence"):
        shutil.copytree(COMMITTED_RESULTS / "default-mnist" / part, run / part)
    for name in ("config.json", "environment.json"):
        shutil.copy(COMMITTED_RESULTS / "default-mnist" / name, run / name)
    build_report(run)
    markdown = (run / "report.md").read_text()
    assert markdown == (COMMITTED_RESULTS / "default-mnist" / "report.md").read_text()
    assert markdown.split("\n\n")[1] == "## Verdict"
    headline = json.loads((run / "verdict.json").read_text())["headline"]
    assert headline[0].startswith("Frameworks: ") and headline[-1] == "Failures: none; all 63 cells finished ok."


@pytest.mark.skipif(not COMMITTED_RESULTS.is_dir(), reason="no committed results/ in this checkout")
def test_every_committed_run_report_opens_with_its_verdict() -> None:
    reports = sorted(COMMITTED_RESULTS.glob("*/report.md"))
    assert len(reports) >= 7
    for path in reports:
        assert path.read_text().split("\n\n")[1] == "## Verdict", path
        assert (path.parent / "verdict.json").is_file(), path


@pytest.mark.skipif(not COMMITTED_RESULTS.is_dir(), reason="no committed results/ in this checkout")
def test_every_committed_run_report_shows_the_machine_limit() -> None:
    # Each run measured its libraries' peak GEMM rates, so every CPU row of its timing table has a limit and a
    # ratio to it, and the report names the rates (the plot draws the line wherever the table has a limit).
    runs = sorted(path.parent for path in COMMITTED_RESULTS.glob("*/report.md"))
    assert len(runs) >= 7
    for run in runs:
        assert json.loads((run / "environment.json").read_text())["gemm_peak"]["rates"], run
        timing = pd.read_csv(run / "tables" / "timing.csv")
        cpu = timing[timing["device"] == "cpu"]
        assert not cpu.empty and (cpu["limit_epoch_s"] > 0).all() and (cpu["first_x_limit"] > 1).all(), run
        assert "Peak GEMM rates (2048³, GFLOP/s): " in (run / "report.md").read_text(), run


def test_cli_prints_the_summary_table(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    values = [ACCURACY[("tanh-xavier", "torch", seed)] for seed in SEEDS]
    mean_std = f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"
    assert any("tanh-xavier" in line and "torch" in line and mean_std in line for line in out.splitlines())
    assert "cells: 8 ok, 1 failed" in out


def test_corrupt_record_names_the_file_and_keeps_the_others(tmp_path: Path, capsys) -> None:
    write_run(tmp_path)
    before = {path.name: path.read_bytes() for path in (tmp_path / "cells").iterdir()}
    (tmp_path / "cells" / "broken.json").write_text('{"schema": 1, "key": "x", "vari')
    with pytest.raises(RunRecordError, match=r"broken\.json: not valid JSON.*rerun `fwcompare run`"):
        build_report(tmp_path)
    assert {name: (tmp_path / "cells" / name).read_bytes() for name in before} == before
    assert not (tmp_path / "report.md").exists()
    assert main(["report", str(tmp_path)]) == 2
    assert "broken.json" in capsys.readouterr().err


def test_record_without_a_result_field_is_named(tmp_path: Path) -> None:
    write_run(tmp_path)
    path = tmp_path / "cells" / "relu-he-numpy-s0.json"
    record = json.loads(path.read_text())
    del record["result"]["test_accuracy"]
    path.write_text(json.dumps(record))
    with pytest.raises(RunRecordError, match=r"relu-he-numpy-s0\.json: lacks field\(s\) result\.test_accuracy"):
        build_report(tmp_path)


def test_missing_run_dir_and_empty_cells_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RunRecordError, match=r"nowhere does not exist; pass the folder that `fwcompare run` wrote"):
        build_report(tmp_path / "nowhere")
    with pytest.raises(RunRecordError, match=r"no cell records in .*cells"):
        build_report(tmp_path)


def test_two_records_of_one_cell_are_refused(tmp_path: Path) -> None:
    write_run(tmp_path)
    write_record(tmp_path, replace(cell_record("relu-he", "numpy", 0), key="other"), "other-run.json")
    with pytest.raises(RunRecordError, match=r"several records for the same .*other-run\.json"):
        build_report(tmp_path)


def test_published_validation_accuracy_is_compared_with_the_final_validation_accuracy(tmp_path: Path) -> None:
    (tmp_path / "cells").mkdir()
    final_val = {}
    for variant, framework, seed in ACCURACY:
        record = cell_record(variant, framework, seed)
        # A validation accuracy apart from the test accuracy, so that using one for the other would show.
        last = replace(record.history[-1], val_accuracy=ACCURACY[(variant, framework, seed)] - 0.003 - 0.001 * seed)
        final_val[(variant, framework, seed)] = last.val_accuracy
        record = replace(
            record,
            eval_split="validation",
            published=replace(PUBLISHED, metric="validation_accuracy") if variant == "relu-he" else None,
            history=(*record.history[:-1], last),
        )
        write_record(tmp_path, record)
    build_report(tmp_path)
    got = table(tmp_path, "reproduction").iloc[0]
    assert got["metric"] == "validation_accuracy"
    for framework in FRAMEWORKS:
        values = [final_val[("relu-he", framework, seed)] for seed in SEEDS]
        assert got[f"{framework}_mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
        assert got[f"{framework}_std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        assert got[f"{framework}_minus_published"] == pytest.approx(statistics.mean(values) - PUBLISHED.value)


def test_run_without_an_ok_cell_still_reports_its_statuses(tmp_path: Path, capsys) -> None:
    (tmp_path / "cells").mkdir()
    message = "framework 'torch' is unavailable here (No module named 'torch')"
    for seed in SEEDS:
        write_record(tmp_path, cell_record("relu-he", "torch", seed, status="unavailable", message=message))
    assert main(["report", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cells"] == {"unavailable": len(SEEDS)}
    assert [(row["variant"], row["framework"], row["seeds"]) for row in summary["summary"]] == [("relu-he", "torch", 0)]
    accuracy = table(tmp_path, "accuracy")
    assert list(accuracy["n_seeds"]) == [0] and list(accuracy["n_excluded"]) == [len(SEEDS)]
    assert accuracy["test_accuracy_mean"].isna().all()
    assert not (tmp_path / "plots").exists()
    assert message in (tmp_path / "report.md").read_text()
