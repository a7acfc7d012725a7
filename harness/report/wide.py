"""Tables for reading: one row per dataset × variant, one column per framework, the best marked, numbers rounded
to what their spread over seeds supports. The long tables (harness.report.tables) stay the machines' form."""

from __future__ import annotations

import math

import pandas as pd

from harness.report.tables import MISSING

BEST = "★"
DEFAULT_DECIMALS = 2
"""Decimals of an accuracy in % when the seeds give no spread to round to (one seed, or identical results)."""


def accuracy_wide(accuracy: pd.DataFrame) -> pd.DataFrame:
    """harness.report.tables.accuracy_table as dataset × variant rows and a column per framework: mean ± std in %,
    both rounded to the std's first significant digit (97.5 ± 0.2, 97.57 ± 0.05), BEST after the highest mean of
    the row (every framework tied at the shown precision is marked)."""
    frameworks = list(dict.fromkeys(accuracy["framework"]))
    rows = []
    for (dataset, variant), group in accuracy.groupby(["dataset", "variant"], sort=False):
        by_framework = group.set_index("framework")
        means, stds = by_framework["test_accuracy_mean"], by_framework["test_accuracy_std"]
        n_seeds = by_framework["n_seeds"]
        texts = {
            framework: _mean_std(100 * means[framework], 100 * stds[framework])
            if framework in by_framework.index and n_seeds[framework] > 0
            else (MISSING, math.nan)
            for framework in frameworks
        }
        best = max((rounded for _, rounded in texts.values() if not math.isnan(rounded)), default=math.nan)
        rows.append(
            {
                "dataset": dataset,
                "variant": variant,
                **{
                    framework: f"{text} {BEST}" if rounded == best else text
                    for framework, (text, rounded) in texts.items()
                },
            }
        )
    return pd.DataFrame(rows, columns=["dataset", "variant", *frameworks])


def decimals(std: float) -> int:
    """Decimals that show a number down to its spread's first significant digit (0.18 → 1, 0.05 → 2, 3 → 0)."""
    if math.isnan(std) or std <= 0:
        return DEFAULT_DECIMALS
    return max(0, -math.floor(math.log10(float(f"{std:.1g}"))))  # 0.0099 shows as 0.01, not 0.010


def _mean_std(mean: float, std: float) -> tuple[str, float]:
    """('97.5 ± 0.2', 97.5): the text and the rounded mean the best is chosen on."""
    if math.isnan(mean):
        return MISSING, math.nan
    places = decimals(std)
    rounded = round(mean, places)
    if math.isnan(std):
        return f"{rounded:.{places}f}", rounded
    return f"{rounded:.{places}f} ± {std:.{places}f}", rounded
