"""A run's answer, first: does any framework differ from another beyond seed noise on any variant, which framework
is fastest per variant and by how much, whether their parameters drifted apart from identical starts, and what
failed. report.md and report.html open with it; verdict.json holds
it for machines.

Frameworks are compared in pairs, per dataset × variant, on final test accuracy and test loss, paired by seed (a
matrix's cells of one seed share initial weights, batch orders and dropout masks: harness.report.stats), with
Holm's adjustment over every pair, variant and metric of the run. Speed is the median over ok seeds of the
steady-state epoch time (the first epoch's time where a cell ran only one).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.core.names import clip_text
from harness.report import stats
from harness.report.divergence import divergence_headline
from harness.report.tables import MISSING, span_text

VERDICT_SCHEMA = 1
METRICS = {"test_accuracy": "accuracy", "test_loss": "loss"}
"""The cell results compared, by cells-table column, with the word the headline uses."""
LISTED = 5
"""Headline lines name at most this many differences; the table holds all."""


@dataclass(frozen=True)
class Verdict:
    """comparisons: one row per dataset × variant × metric × framework pair (framework_b − framework_a, means,
    difference with its interval, p, Holm-adjusted p, call in stats.CALLS). fastest: one row per dataset × variant
    (fastest framework, its seconds per epoch, and each slower framework's time as a multiple of it). failures:
    every cell whose status is not ok. headline: the answer in sentences. divergence: one row per dataset ×
    variant × framework with its parameters' distance to the reference framework's (harness.report.divergence;
    empty when the run kept none)."""

    comparisons: pd.DataFrame
    fastest: pd.DataFrame
    failures: pd.DataFrame
    n_cells: int
    contended_epochs: int | None
    """Epochs timed while other processes used the CPU; None when the records predate that measurement."""
    headline: tuple[str, ...]
    divergence: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def frameworks_differ(self) -> bool:
        return bool((self.comparisons["call"] == "differs").any()) if not self.comparisons.empty else False

    def to_json(self) -> dict[str, Any]:
        """verdict.json: the headline, then every table as a list of objects (NaN as null)."""
        return {
            "schema": VERDICT_SCHEMA,
            "headline": list(self.headline),
            "frameworks_differ": self.frameworks_differ,
            "alpha": stats.ALPHA,
            "confidence": stats.CONFIDENCE,
            "cells": self.n_cells,
            "failed_cells": len(self.failures),
            "contended_epochs": self.contended_epochs,
            "comparisons": records(self.comparisons),
            "fastest": records(self.fastest),
            "failures": records(self.failures),
            "divergence": records(self.divergence),
        }


def run_verdict(
    cells: pd.DataFrame, timing: pd.DataFrame | None = None, divergence: pd.DataFrame | None = None
) -> Verdict:
    """The verdict over a run's cells table (harness.report.tables.load_run); with its timing table
    (harness.report.tables.timing_table), the fastest framework's epoch time also as a multiple of the machine
    limit; with its divergence table (harness.report.divergence.divergence_table), which variants' parameters
    drifted apart."""
    frameworks = list(dict.fromkeys(cells["framework"]))
    ok = cells[cells["status"] == "ok"]
    comparisons = _comparisons(ok, frameworks)
    fastest = _fastest(ok, frameworks, timing)
    failures = cells.loc[cells["status"] != "ok", ["dataset", "variant", "framework", "seed", "status", "message"]]
    failures = failures.reset_index(drop=True)
    contended = int(ok["contended_epochs"].sum()) if ok["contended_epochs"].notna().any() else None
    divergence = divergence if divergence is not None else pd.DataFrame()
    drift = divergence_headline(divergence)
    headline = (
        _differences_sentence(comparisons, ok),
        *([drift] if drift else []),
        *_speed_sentences(fastest, contended),
        _failures_sentence(failures, len(cells)),
    )
    return Verdict(comparisons, fastest, failures, len(cells), contended, tuple(headline), divergence)


def comparisons_display(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as text (mean_text, difference_text, p_text)."""
    if comparisons.empty:
        return pd.DataFrame(columns=["dataset", "variant", "metric", "b − a", "seeds paired", "call"])
    rows = []
    for row in comparisons.to_dict(orient="records"):
        rows.append(
            {
                "dataset": row["dataset"],
                "variant": row["variant"],
                "metric": row["metric"],
                "b − a": f"{row['framework_b']} − {row['framework_a']}",
                "mean a": mean_text(row["metric"], row["mean_a"]),
                "mean b": mean_text(row["metric"], row["mean_b"]),
                f"difference [{100 * stats.CONFIDENCE:.0f} % interval]": difference_text(
                    row["metric"], row["difference"], row["low"], row["high"]
                ),
                "in seed spreads": MISSING if pd.isna(row["in_spreads"]) else f"{row['in_spreads']:.1f}",
                "seeds paired": row["n_pairs"],
                "p": p_text(row["p_value"]),
                "p (Holm)": p_text(row["p_holm"]),
                "call": row["call"],
            }
        )
    return pd.DataFrame(rows)


def fastest_display(fastest: pd.DataFrame) -> pd.DataFrame:
    """The fastest framework per variant, and every framework's epoch time as a multiple of the fastest's."""
    frameworks = [column.removesuffix("_s") for column in fastest.columns if column.endswith("_s")]
    return pd.DataFrame(
        {
            "dataset": fastest["dataset"],
            "variant": fastest["variant"],
            "fastest": fastest["fastest"],
            "timed": fastest["timed"],
            **{
                f"{framework} s (× fastest)": [
                    MISSING if pd.isna(seconds) else f"{seconds:.3g} ({seconds / best:.2f}×)"
                    for seconds, best in zip(fastest[f"{framework}_s"], fastest["fastest_seconds"], strict=True)
                ]
                for framework in frameworks
            },
        }
    )


def failures_display(failures: pd.DataFrame) -> pd.DataFrame:
    return failures.assign(message=failures["message"].map(lambda text: clip_text(str(text or ""))))


# --- the tests -------------------------------------------------------------------------------------------------


def _comparisons(ok: pd.DataFrame, frameworks: list[str]) -> pd.DataFrame:
    rows = []
    for (dataset, variant), group in ok.groupby(["dataset", "variant"], sort=False):
        rows_of = dict(tuple(group.groupby("framework", sort=False)))
        present = [framework for framework in frameworks if framework in rows_of]
        for framework_a, framework_b in itertools.combinations(present, 2):
            for column, metric in METRICS.items():
                a = _by_seed(rows_of[framework_a], column)
                b = _by_seed(rows_of[framework_b], column)
                rows.append(
                    {
                        "dataset": dataset,
                        "variant": variant,
                        "metric": metric,
                        "framework_a": framework_a,
                        "framework_b": framework_b,
                        **stats.difference_fields(a, b),
                    }
                )
    columns = [
        "dataset", "variant", "metric", "framework_a", "framework_b", "n_pairs", "mean_a", "mean_b", "difference",
        "low", "high", "spread", "in_spreads", "test", "p_value", "identical", "p_holm", "call",
    ]  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows)
    table["p_holm"] = stats.holm(list(table["p_value"]))
    table["call"] = [
        stats.call(identical, p_holm) for identical, p_holm in zip(table["identical"], table["p_holm"], strict=True)
    ]
    return table[columns]


def _by_seed(rows: pd.DataFrame, column: str) -> dict[int, float]:
    """{seed: value of `column`} over the rows of one framework."""
    return {int(seed): float(value) for seed, value in zip(rows["seed"], rows[column], strict=True)}


def _fastest(ok: pd.DataFrame, frameworks: list[str], timing: pd.DataFrame | None) -> pd.DataFrame:
    rows = []
    for (dataset, variant), group in ok.groupby(["dataset", "variant"], sort=False):
        steady = group.groupby("framework")["steady_epoch_median_s"].median()
        timed = "steady epoch" if steady.notna().any() else "first epoch"
        seconds = steady if timed == "steady epoch" else group.groupby("framework")["first_epoch_s"].median()
        seconds = seconds.dropna()
        if seconds.empty:
            continue
        rows.append(
            {
                "dataset": dataset,
                "variant": variant,
                "timed": timed,
                "fastest": seconds.idxmin(),
                "fastest_seconds": float(seconds.min()),
                "fastest_x_limit": _x_limit(timing, str(dataset), str(variant), str(seconds.idxmin()), timed),
                **{f"{framework}_s": float(seconds.get(framework, math.nan)) for framework in frameworks},
            }
        )
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["dataset", "variant", "timed", "fastest"])


def _x_limit(timing: pd.DataFrame | None, dataset: str, variant: str, framework: str, timed: str) -> float:
    """The median of `framework`'s timed epoch over the machine limit (the timing table's steady_x_limit or
    first_x_limit, over its hardware rows); NaN without one."""
    column = "steady_x_limit" if timed == "steady epoch" else "first_x_limit"
    if timing is None or column not in timing:
        return math.nan
    rows = timing[(timing["dataset"] == dataset) & (timing["variant"] == variant) & (timing["framework"] == framework)]
    return float(rows[column].median()) if rows[column].notna().any() else math.nan


# --- the sentences ---------------------------------------------------------------------------------------------


def _differences_sentence(comparisons: pd.DataFrame, ok: pd.DataFrame) -> str:
    if comparisons.empty:
        return "Frameworks: nothing to compare (fewer than two frameworks finished ok on any variant)."
    n_variants = comparisons[["dataset", "variant"]].drop_duplicates().shape[0]
    seeds = ok.groupby(["dataset", "variant", "framework"])["seed"].nunique()
    seed_text = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    scope = (
        f"{len(comparisons)} paired comparisons of test accuracy and loss over {seed_text} seeds, "
        f"Holm-adjusted at {stats.ALPHA:g}"
    )
    differ = comparisons[comparisons["call"] == "differs"].sort_values("p_holm", kind="stable")
    untestable = int((comparisons["call"] == "not testable").sum())
    identical = comparisons[(comparisons["call"] == "identical") & (comparisons["metric"] == "accuracy")]
    extra = []
    if len(identical):
        pairs = []
        for (framework_b, framework_a), variants in identical.groupby(["framework_b", "framework_a"], sort=False):
            names = "every variant" if len(variants) == n_variants else ", ".join(variants["variant"])
            pairs.append(f"{framework_b} and {framework_a} on {names}")
        extra.append(f"accuracies identical seed for seed: {'; '.join(pairs)}")
    if untestable:
        extra.append(f"{untestable} not testable (fewer than 2 seeds)")
    tail = f" ({'; '.join(extra)})" if extra else ""
    if differ.empty:
        accuracy = comparisons[comparisons["metric"] == "accuracy"].dropna(subset=["difference"])
        largest = accuracy.iloc[accuracy["difference"].abs().argmax()] if not accuracy.empty else None
        largest_text = (
            f"; the largest accuracy difference is {_pair_difference(largest)}" if largest is not None else ""
        )
        return (
            f"Frameworks: no framework differs from another beyond seed noise on any of {n_variants} variant(s) "
            f"({scope}){largest_text}{tail}."
        )
    listed = "; ".join(_pair_difference(row) for _, row in differ.head(LISTED).iterrows())
    more = f"; and {len(differ) - LISTED} more (see the table)" if len(differ) > LISTED else ""
    n_differing = differ[["dataset", "variant"]].drop_duplicates().shape[0]
    return (
        f"Frameworks: {len(differ)} difference(s) beyond seed noise, on {n_differing} of {n_variants} variant(s) "
        f"({scope}): {listed}{more}{tail}."
    )


def _pair_difference(row: pd.Series) -> str:
    """'fw-b − fw-a on relu-he: accuracy −0.31 pp [−0.50, −0.12], Holm p = 0.01'."""
    interval = difference_text(row["metric"], row["difference"], row["low"], row["high"])
    return (
        f"{row['framework_b']} − {row['framework_a']} on {row['variant']}: {row['metric']} {interval}, "
        f"Holm p = {p_text(row['p_holm'])}"
    )


def _speed_sentences(fastest: pd.DataFrame, contended: int | None) -> list[str]:
    if fastest.empty:
        return ["Speed: no cell finished ok, so nothing was timed."]
    wins = fastest["fastest"].value_counts()
    frameworks = [column.removesuffix("_s") for column in fastest.columns if column.endswith("_s")]
    margins = []
    for row in fastest.to_dict(orient="records"):
        others = [row[f"{framework}_s"] / row["fastest_seconds"] for framework in frameworks]
        others = [ratio for ratio in others if not math.isnan(ratio) and ratio > 1.0]
        if others:
            margins.append(min(others))
    counts = ", ".join(f"{framework} on {n} of {len(fastest)}" for framework, n in wins.items())
    margin = f"; the runner-up takes {span_text(margins, '.2f')}× the fastest's epoch time" if margins else ""
    timed = "/".join(dict.fromkeys(fastest["timed"]))
    limits = [ratio for ratio in fastest.get("fastest_x_limit", pd.Series(dtype=float)) if math.isfinite(ratio)]
    if limits:
        margin += (
            f"; the fastest epochs take {span_text(limits, '.1f')}× the machine limit (its GEMM work at the "
            "best measured peak rate)"
        )
    sentences = [f"Speed (median {timed} time per variant): fastest is {counts} variant(s){margin}."]
    if contended is None:
        sentences.append(
            "The records predate the measurement of CPU contention: whether other processes slowed "
            "some epochs is not known."
        )
    elif contended:
        sentences.append(
            f"Caution: {contended} epoch(s) were timed while other processes used the CPU (see Timing): timing "
            "ratios from a contended run are not comparable."
        )
    return sentences


def _failures_sentence(failures: pd.DataFrame, n_cells: int) -> str:
    if failures.empty:
        return f"Failures: none; all {n_cells} cells finished ok."
    counts = ", ".join(f"{n} {status}" for status, n in failures["status"].value_counts().items())
    named = "; ".join(
        f"{row.variant}/{row.framework}/seed {row.seed}: {clip_text(str(row.message or row.status), 80)}"
        for row in failures.head(LISTED).itertuples()
    )
    more = f"; and {len(failures) - LISTED} more (see Status)" if len(failures) > LISTED else ""
    return f"Failures: {len(failures)} of {n_cells} cells did not finish ok ({counts}): {named}{more}."


# --- text ------------------------------------------------------------------------------------------------------


def mean_text(metric: str, value: float) -> str:
    """An accuracy in % to 2 decimals, a loss to 4."""
    if pd.isna(value):
        return MISSING
    return f"{100 * value:.2f}" if metric == "accuracy" else f"{value:.4f}"


def difference_text(metric: str, value: float, low: float, high: float) -> str:
    """'+0.31 pp [+0.12, +0.50]' for accuracy (percentage points), '+6.2e-05 [+5.9e-05, +6.5e-05]' for loss (3
    significant digits: loss differences span many orders of magnitude)."""
    if pd.isna(value):
        return MISSING

    def number(x: float) -> str:
        return f"{100 * x:+.2f}" if metric == "accuracy" else f"{x:+.3g}"

    unit = " pp" if metric == "accuracy" else ""
    if pd.isna(low):
        return f"{number(value)}{unit} (no interval)"
    return f"{number(value)}{unit} [{number(low)}, {number(high)}]"


def p_text(value: float) -> str:
    return MISSING if pd.isna(value) else f"{value:.3g}"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-ready objects, NaN as null."""
    return json.loads(frame.to_json(orient="records"))
