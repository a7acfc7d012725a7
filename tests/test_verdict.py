"""The verdict a report opens with, on cells tables built here: a planted shift between two frameworks is called a
difference with an interval that holds it, seed noise and identical results are not, the fastest framework and the
failures are named; Holm's adjustment is checked against its definition worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.report import stats
from harness.report.verdict import run_verdict

SEEDS = range(6)
# Seed-to-seed spread of a fictitious variant's accuracy, and a noise whose mean over SEEDS is 0.
BASE = [0.951, 0.957, 0.949, 0.962, 0.955, 0.953]
JITTER = [0.0012, -0.0008, 0.0005, -0.0011, 0.0004, -0.0002]
SHIFT = 0.02


def cells(accuracy: dict[str, list[float]], seconds: dict[str, float], failed: str | None = None) -> pd.DataFrame:
    """A cells table (harness.report.tables.load_run's columns that the verdict reads) of one variant."""
    rows = []
    for framework, values in accuracy.items():
        for seed, value in zip(SEEDS, values, strict=True):
            status = "failed" if framework == failed and seed == 0 else "ok"
            rows.append(
                {
                    "dataset": "digits",
                    "variant": "relu-he",
                    "framework": framework,
                    "seed": seed,
                    "status": status,
                    "message": "RuntimeError: planted" if status == "failed" else "",
                    "test_accuracy": value if status == "ok" else math.nan,
                    "test_loss": 1.0 - value if status == "ok" else math.nan,
                    "steady_epoch_median_s": seconds[framework] * (1 + 0.01 * seed),
                    "first_epoch_s": 2 * seconds[framework],
                    "contended_epochs": 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_a_planted_shift_is_a_difference_with_an_interval_that_holds_it() -> None:
    shifted = [value + SHIFT + jitter for value, jitter in zip(BASE, JITTER, strict=True)]
    verdict = run_verdict(cells({"numpy": BASE, "torch": shifted}, {"numpy": 1.0, "torch": 0.5}))
    accuracy = verdict.comparisons.set_index("metric").loc["accuracy"]
    assert accuracy["call"] == "differs" and accuracy["n_pairs"] == len(SEEDS)
    assert accuracy["low"] < SHIFT < accuracy["high"]
    assert accuracy["difference"] == pytest.approx(SHIFT + sum(JITTER) / len(JITTER))
    assert verdict.frameworks_differ
    assert "torch − numpy on relu-he: accuracy +2.00 pp" in verdict.headline[0]


def test_the_speed_sentence_gives_the_fastest_epochs_over_the_machine_limit() -> None:
    table = cells({"numpy": BASE, "torch": BASE}, {"numpy": 1.5, "torch": 0.5})
    timing = pd.DataFrame(
        {
            "dataset": ["digits", "digits"],
            "variant": ["relu-he", "relu-he"],
            "framework": ["numpy", "torch"],
            "steady_x_limit": [30.0, 12.0],
        }
    )
    verdict = run_verdict(table, timing)
    assert verdict.fastest.iloc[0]["fastest_x_limit"] == 12.0  # torch's, the fastest framework
    # One variant: one figure, not a range from a number to itself.
    assert "take 12.0× the machine limit" in verdict.headline[1]
    assert "runner-up takes 3.00× the fastest's" in verdict.headline[1]
    assert "machine limit" not in run_verdict(table).headline[1]  # a run without the limit says nothing of it


def test_seed_noise_and_identical_results_are_not_differences() -> None:
    noisy = [value + jitter for value, jitter in zip(BASE, JITTER, strict=True)]
    verdict = run_verdict(
        cells({"numpy": BASE, "torch": noisy, "keras": BASE}, {f: 1.0 for f in ("numpy", "torch", "keras")})
    )
    calls = verdict.comparisons.set_index(["metric", "framework_a", "framework_b"])["call"]
    assert calls[("accuracy", "numpy", "torch")] == "within noise"
    assert calls[("accuracy", "numpy", "keras")] == "identical"
    assert not verdict.frameworks_differ
    assert verdict.headline[0].startswith("Frameworks: no framework differs from another beyond seed noise")
    assert verdict.to_json()["frameworks_differ"] is False


def test_fastest_framework_and_failures_are_named() -> None:
    verdict = run_verdict(cells({"numpy": BASE, "torch": BASE}, {"numpy": 1.5, "torch": 0.5}, failed="numpy"))
    fastest = verdict.fastest.iloc[0]
    assert fastest["fastest"] == "torch"
    # Medians over the ok seeds: numpy lost seed 0.
    numpy_median = 1.5 * (1 + 0.01 * pd.Series(range(1, 6)).median())
    torch_median = 0.5 * (1 + 0.01 * pd.Series(SEEDS).median())
    assert fastest["numpy_s"] == pytest.approx(numpy_median)
    assert f"{numpy_median / torch_median:.2f}×" in verdict.headline[1]
    assert verdict.headline[-1].startswith("Failures: 1 of 12 cells did not finish ok (1 failed)")
    assert "relu-he/numpy/seed 0: RuntimeError: planted" in verdict.headline[-1]
    # The failed seed is left out of the pairing.
    assert verdict.comparisons["n_pairs"].eq(5).all()


def test_holm_adjustment_by_hand() -> None:
    # Sorted: 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 raised to the running maximum 0.06.
    assert stats.holm([0.04, 0.01, math.nan, 0.03]) == pytest.approx([0.06, 0.03, math.nan, 0.06], nan_ok=True)


def test_one_seed_is_not_testable() -> None:
    difference = stats.difference({0: 0.95}, {0: 0.96})
    assert math.isnan(difference.p_value) and difference.test == "none"
    assert stats.call(difference.identical, math.nan) == "not testable"


@pytest.mark.parametrize("paired", [True, False], ids=["paired-t", "welch-t"])
def test_t_tests_give_scipy_stats_numbers(paired: bool) -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    a = {seed: 0.97 + 0.001 * math.sin(seed) for seed in range(10)}
    b = {seed if paired else seed + 100: 0.968 + 0.0013 * math.cos(3 * seed) for seed in range(10 if paired else 7)}
    found = stats.difference(a, b)
    if paired:
        expected = scipy_stats.ttest_1samp([b[seed] - a[seed] for seed in a], 0.0)
    else:
        expected = scipy_stats.ttest_ind(list(b.values()), list(a.values()), equal_var=False)
    interval = expected.confidence_interval(stats.CONFIDENCE)
    assert found.test == ("paired t" if paired else "Welch t")
    assert found.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert (found.low, found.high) == pytest.approx((interval.low, interval.high), rel=1e-9)
