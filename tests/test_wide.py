"""The wide accuracy table: a row per variant, a column per framework, rounded to the spread, the best marked."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.report.wide import BEST, accuracy_wide, decimals


@pytest.mark.parametrize(
    ("std", "places"), [(0.18, 1), (0.05, 2), (3.0, 0), (0.0099, 2), (0.96, 0), (math.nan, 2), (0.0, 2)]
)
def test_decimals_follow_the_first_significant_digit_of_the_spread(std: float, places: int) -> None:
    assert decimals(std) == places


def test_one_row_per_variant_best_marked_ties_included() -> None:
    accuracy = pd.DataFrame(
        {
            "dataset": ["mnist"] * 6,
            "variant": ["relu-he"] * 3 + ["tanh-xavier"] * 3,
            "framework": ["numpy", "torch", "keras"] * 2,
            "n_seeds": [3, 3, 0, 3, 3, 1],
            "test_accuracy_mean": [0.9757, 0.9749, math.nan, 0.97071, 0.97074, 0.9690],
            "test_accuracy_std": [0.0018, 0.0004, math.nan, 0.0021, 0.0019, math.nan],
        }
    )
    wide = accuracy_wide(accuracy).set_index("variant")
    assert list(wide.columns) == ["dataset", "numpy", "torch", "keras"]
    assert wide.at["relu-he", "numpy"] == f"97.6 ± 0.2 {BEST}"
    assert wide.at["relu-he", "torch"] == "97.49 ± 0.04"
    assert wide.at["relu-he", "keras"] == "–"
    # 97.071 and 97.074 both show as 97.1: tied at the precision the spread supports.
    assert wide.at["tanh-xavier", "numpy"] == f"97.1 ± 0.2 {BEST}"
    assert wide.at["tanh-xavier", "torch"] == f"97.1 ± 0.2 {BEST}"
    assert wide.at["tanh-xavier", "keras"] == "96.90"
