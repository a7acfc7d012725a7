"""Is a difference between two sets of results larger than what re-drawing the seeds gives? The tests the verdict
and `fwcompare compare` share: a paired t-test across seeds where both sides ran the same seeds (the cells of one
seed share initial weights, batch orders and dropout masks, so pairing removes most of the seed-to-seed spread),
Welch's t-test where they did not, the 95 % interval of the mean difference, and Holm's adjustment for testing
many differences at once.

The t distribution comes from scipy.special (stdtr, stdtrit) rather than scipy.stats, whose import alone takes
longer than the rest of `fwcompare report`; the tests check both give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

ALPHA = 0.05
"""The family-wise error rate: after Holm's adjustment, a difference is called real when its p-value is below."""
CONFIDENCE = 0.95
CALLS = ("differs", "within noise", "identical", "not testable")
"""What a difference is called (`call`)."""


@dataclass(frozen=True)
class Difference:
    """b − a over seeds: n_a and n_b results, n_pairs of them paired by seed (0 when the test is unpaired), the
    mean difference with its CONFIDENCE interval, the test's p-value (NaN when untestable) and which test ran
    ('paired t', 'Welch t' or 'none'). identical: every paired difference is exactly 0 (the same numbers, bit for
    bit); spread: the seed-to-seed standard deviation of the results themselves (a's and b's variances pooled;
    NaN with fewer than 2 seeds)."""

    n_a: int
    n_b: int
    n_pairs: int
    mean: float
    low: float
    high: float
    p_value: float
    test: str
    identical: bool
    spread: float

    @property
    def testable(self) -> bool:
        return not math.isnan(self.p_value)

    @property
    def in_spreads(self) -> float:
        """The mean difference in units of the seed-to-seed spread (NaN when there is no spread)."""
        return self.mean / self.spread if self.spread > 0 else math.nan


def difference(a: dict[int, float], b: dict[int, float]) -> Difference:
    """b − a for results keyed by seed: paired over the common seeds when there are at least 2 of them, else
    Welch's test over all of each side's seeds, else untested (p NaN). Non-finite results are left out."""
    a = {seed: value for seed, value in a.items() if math.isfinite(value)}
    b = {seed: value for seed, value in b.items() if math.isfinite(value)}
    spread = pooled_std([list(a.values()), list(b.values())])
    common = sorted(set(a) & set(b))
    if len(common) >= 2:
        diffs = np.array([b[seed] - a[seed] for seed in common])
        mean, low, high, p_value = _one_sample(diffs)
        identical = bool(np.all(diffs == 0))
        return Difference(len(a), len(b), len(common), mean, low, high, p_value, "paired t", identical, spread)
    values_a, values_b = np.array(list(a.values())), np.array(list(b.values()))
    identical = len(common) == 1 and a[common[0]] == b[common[0]] and len(a) == len(b) == 1
    mean = float(values_b.mean() - values_a.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return Difference(len(a), len(b), len(common), mean, math.nan, math.nan, math.nan, "none", identical, spread)
    if np.ptp(values_a) == 0 and np.ptp(values_b) == 0:
        # No spread on either side: any difference is beyond it (the t statistic is 0/0 here).
        p_value = 1.0 if mean == 0 else 0.0
        return Difference(len(a), len(b), 0, mean, mean, mean, p_value, "Welch t", False, spread)
    var_a, var_b = values_a.var(ddof=1) / len(a), values_b.var(ddof=1) / len(b)
    dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))  # Welch–Satterthwaite
    _, low, high, p_value = _t_interval(mean, math.sqrt(var_a + var_b), dof)
    return Difference(len(a), len(b), 0, mean, low, high, p_value, "Welch t", False, spread)


def difference_fields(a: dict[int, float], b: dict[int, float]) -> dict[str, Any]:
    """`difference(a, b)` with both means, as the columns of one row of a comparison table."""
    found = difference(a, b)
    return {
        "n_a": found.n_a,
        "n_b": found.n_b,
        "n_pairs": found.n_pairs,
        "mean_a": mean_of(a),
        "mean_b": mean_of(b),
        "difference": found.mean,
        "low": found.low,
        "high": found.high,
        "spread": found.spread,
        "in_spreads": found.in_spreads,
        "test": found.test,
        "p_value": found.p_value,
        "identical": found.identical,
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of `p_values` (NaN entries stay NaN and are not counted): an adjusted p below
    ALPHA keeps the chance of calling any true null different below ALPHA."""
    tested = [(p, index) for index, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[index] = running
    return adjusted


def call(identical: bool, p_holm: float) -> str:
    """One of CALLS: identical (every seed's result equal bit for bit), not testable (fewer than 2 seeds on a side),
    differs (Holm-adjusted p below ALPHA) or within noise."""
    if identical:
        return "identical"
    if math.isnan(p_holm):
        return "not testable"
    return "differs" if p_holm < ALPHA else "within noise"


def mean_of(values: dict[int, float]) -> float:
    """The mean of the finite values (NaN when there is none)."""
    finite = [value for value in values.values() if math.isfinite(value)]
    return sum(finite) / len(finite) if finite else math.nan


def _one_sample(diffs: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, low, high, p) of a paired difference: a one-sample t-test of `diffs` against 0."""
    mean = float(diffs.mean())
    if np.ptp(diffs) == 0:
        # Every seed moved by exactly the same amount (or not at all): no spread to test against, and the t statistic is
        # 0/0. A constant non-zero shift is a change, not noise.
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    return _t_interval(mean, float(diffs.std(ddof=1)) / math.sqrt(len(diffs)), len(diffs) - 1)


def _t_interval(mean: float, standard_error: float, dof: float) -> tuple[float, float, float, float]:
    """(mean, low, high, p) for an estimate `mean` with `standard_error` and a t distribution of `dof` degrees of
    freedom: the CONFIDENCE interval and the two-sided p-value of mean = 0."""
    half_width = float(special.stdtrit(dof, 0.5 + CONFIDENCE / 2)) * standard_error
    p_value = 2.0 * float(special.stdtr(dof, -abs(mean) / standard_error))
    return mean, mean - half_width, mean + half_width, min(1.0, p_value)


def pooled_std(samples: list[list[float]]) -> float:
    """The square root of the samples' variances (ddof 1) averaged with their degrees of freedom as weights."""
    usable = [np.asarray(sample) for sample in samples if len(sample) >= 2]
    if not usable:
        return math.nan
    dof = sum(len(sample) - 1 for sample in usable)
    return float(math.sqrt(sum((len(sample) - 1) * sample.var(ddof=1) for sample in usable) / dof))
