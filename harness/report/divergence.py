"""How far each framework's parameters drifted from the reference framework's during a run, from the distance
files its cells wrote (harness.run.divergence): loaded, summarised per variant × framework, and put in words.

Distances are relative: ‖θ_framework − θ_reference‖₂ / ‖θ_reference‖₂ over every trainable tensor, at the same
optimiser step of the same seed. Rounding alone puts two float32 models about 1e-7 apart after a step; what
happens next depends on whether the network amplifies that difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.core.record import CellRecord
from harness.report.tables import MISSING, RunRecords, span_text
from harness.run.divergence import divergence_path
from harness.run.snapshots import read_distances

COLUMNS = ["dataset", "variant", "framework", "reference", "forms_differ", "seed", "dtype", "step", "relative"]
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
"""Half the spacing of floating-point numbers at 1: the size of one rounding, relative."""
DRIFTED_ROUNDINGS = 1000.0
"""A last distance above this many roundings of the dtype is "drifted apart". Measured on MNIST
(docs/divergence.md): runs in which no ReLU unit flipped ended within 22 roundings, runs that parted at 3·10⁴ and
more; growth since step 1 does not separate them, as a step-1 distance may be far below one rounding."""


def load_divergence(records: RunRecords) -> pd.DataFrame:
    """One row per (ok cell that compared itself with the reference, step): COLUMNS, in report order. Empty when
    the run kept no divergence (one framework, --no-divergence, or recorded before it was kept)."""
    reference = _reference_framework(records.config)
    by_identity = {
        (record.dataset, record.variant, record.framework, record.seed, record.mode): record
        for record in records.records.values()
    }
    rows = []
    for _, cell in records.cells[records.cells["status"] == "ok"].iterrows():
        record = by_identity[cell["dataset"], cell["variant"], cell["framework"], cell["seed"], cell["mode"]]
        reference_record = by_identity.get((record.dataset, record.variant, reference, record.seed, record.mode))
        forms = _forms_that_differ(record, reference_record) if reference_record is not None else ""
        for step, values in sorted(read_distances(divergence_path(records.run_dir, record.key)).items()):
            rows.append(
                {
                    "dataset": cell["dataset"],
                    "variant": cell["variant"],
                    "framework": cell["framework"],
                    "reference": reference,
                    "forms_differ": forms,
                    "seed": cell["seed"],
                    "dtype": cell["dtype"],
                    "step": step,
                    "relative": float(values["relative"]),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def divergence_table(divergence: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × variant × framework (against the reference): the median over seeds of the relative distance
    after the first step, at the end of the first epoch's comparisons and at the last step, and the growth from
    the first step to the last (last / first)."""
    rows = []
    for (dataset, variant, framework), group in divergence.groupby(["dataset", "variant", "framework"], sort=False):
        by_step = group[group["step"] > 0].groupby("step")["relative"].median()
        if by_step.empty:
            continue
        first_step, last_step = int(by_step.index[0]), int(by_step.index[-1])
        rows.append(
            {
                "dataset": dataset,
                "variant": variant,
                "framework": framework,
                "reference": group["reference"].iloc[0],
                "forms_differ": group["forms_differ"].iloc[0],
                "seeds": group["seed"].nunique(),
                "dtype": group["dtype"].iloc[0],
                "first_step": first_step,
                "relative_first": float(by_step.iloc[0]),
                "last_step": last_step,
                "relative_last": float(by_step.iloc[-1]),
                "growth": float(by_step.iloc[-1] / by_step.iloc[0]) if by_step.iloc[0] > 0 else math.inf,
            }
        )
    return pd.DataFrame(rows)


def divergence_display(table: pd.DataFrame) -> pd.DataFrame:
    """divergence_table as text: distances in scientific notation, the growth as a factor."""
    return pd.DataFrame(
        {
            "dataset": table["dataset"],
            "variant": table["variant"],
            "framework vs reference": table["framework"] + " vs " + table["reference"],
            "seeds": table["seeds"].astype(str),
            "first step compared": [
                _distance(value, step) for value, step in zip(table["relative_first"], table["first_step"], strict=True)
            ],
            "at the last step": [
                _distance(value, step) for value, step in zip(table["relative_last"], table["last_step"], strict=True)
            ],
            "growth": [growth_text(value) for value in table["growth"]],
            "forms that differ": table["forms_differ"].replace("", "none (rounding only)"),
        }
    )


def divergence_headline(table: pd.DataFrame) -> str | None:
    """One or two sentences: among frameworks that train in the reference's forms (so only rounding separates
    them), in which variants the last distance exceeds DRIFTED_ROUNDINGS roundings of the dtype (drifted apart)
    and in which it does not; then which frameworks train in other forms, whose distance is
    the convention's. None without divergence data."""
    if table.empty:
        return None
    sentences = []
    same = table[table["forms_differ"] == ""]
    if not same.empty:
        worst = same.loc[same.groupby("variant", sort=False)["relative_last"].idxmax()]
        last_step = int(same["last_step"].max())
        roundings = worst["relative_last"] / worst["dtype"].map(UNIT_ROUNDOFF).astype(float)
        apart = worst[roundings > DRIFTED_ROUNDINGS].sort_values("relative_last", ascending=False)
        together = worst[~(roundings > DRIFTED_ROUNDINGS)].sort_values("relative_last")
        parts = []
        if not apart.empty:
            parts.append(f"drifted apart in {_variants_text(apart)}")
        if not together.empty:
            parts.append(f"stayed within rounding in {_variants_text(together)}")
        frameworks = ", ".join(dict.fromkeys(same["framework"]))
        sentences.append(
            f"From identical starts, the parameters of {frameworks} (the reference's arithmetic forms, so only "
            f"rounding separates them from {same['reference'].iloc[0]}) {' and '.join(parts)} (relative distance "
            f"after up to {last_step:,} steps, median over seeds, and its growth since the first step compared; see "
            "Divergence; why: docs/divergence.md)."
        )
    other = table[table["forms_differ"] != ""]
    for framework, rows in other.groupby("framework", sort=False):
        sentences.append(_other_forms_sentence(str(framework), rows))
    return " ".join(sentences)


def _other_forms_sentence(framework: str, rows: pd.DataFrame) -> str:
    """What the distance after the first step says of a framework whose arithmetic forms differ from the
    reference's: a convention's size (above DRIFTED_ROUNDINGS roundings), or rounding's where the two forms are
    equivalent on these variants (e.g. torch's momentum buffer with a constant learning rate). Variants compared
    at epoch ends only (those with a schedule) have no first-step distance: they are named as such."""
    forms = "; ".join(dict.fromkeys(part for forms in rows["forms_differ"] for part in forms.split("; ")))
    opening = f"{framework} trains in other forms than {rows['reference'].iloc[0]} ({forms})"
    stepped = rows[rows["first_step"] == 1]
    unstepped = rows[rows["first_step"] != 1]
    roundings = stepped["relative_first"] / stepped["dtype"].map(UNIT_ROUNDOFF).astype(float)
    convention, rounding = stepped[roundings > DRIFTED_ROUNDINGS], stepped[~(roundings > DRIFTED_ROUNDINGS)]
    parts = []
    if not convention.empty:
        distance = span_text(convention["relative_first"], ".1e")
        parts.append(
            f"its distance after the first step is already {distance}, the convention's size rather than "
            f"rounding's{_where(convention, stepped)}"
        )
    if not rounding.empty:
        distance = span_text(rounding["relative_first"], ".1e")
        parts.append(
            f"after the first step it is {distance} away, rounding's size: the forms agree there"
            f"{_where(rounding, stepped)}"
        )
    if not unstepped.empty:
        parts.append(f"{', '.join(dict.fromkeys(unstepped['variant']))} compared at epoch ends only")
    return f"{opening}: {'; '.join(parts)}."


def _where(rows: pd.DataFrame, of: pd.DataFrame) -> str:
    """' (in a, b)' when rows hold only some of the variants in of, else ''."""
    if len(rows) == len(of):
        return ""
    return f" (in {', '.join(dict.fromkeys(rows['variant']))})"


def _variants_text(rows: pd.DataFrame) -> str:
    return ", ".join(
        f"{variant} ({distance:.1e}, {growth_text(growth)})"
        for variant, distance, growth in zip(rows["variant"], rows["relative_last"], rows["growth"], strict=True)
    )


def growth_text(growth: float) -> str:
    """'×6', '×180', '×1.4e+06': a factor with as many digits as a distance that noisy supports."""
    if not np.isfinite(growth):
        return MISSING
    return f"×{growth:.0f}" if growth < 1000 else f"×{growth:.1e}"


def _forms_that_differ(record: CellRecord, reference: CellRecord) -> str:
    """The arithmetic forms (harness.core.conventions) in which the cell's framework trained differently from the
    reference's cell ('' when none): each framework runs its native forms, so such a distance includes the
    convention as well as rounding."""
    differences = []
    optimizer = (record.train_spec or {}).get("optimizer", {})
    reference_optimizer = (reference.train_spec or {}).get("optimizer", {})
    if optimizer.get("form") != reference_optimizer.get("form"):
        differences.append(f"{optimizer.get('name')} form {optimizer.get('form')} vs {reference_optimizer.get('form')}")
    batch_norm = (record.model_spec or {}).get("batch_norm") or {}
    reference_batch_norm = (reference.model_spec or {}).get("batch_norm") or {}
    if batch_norm.get("running_var") != reference_batch_norm.get("running_var"):
        differences.append(
            f"BN running_var {batch_norm.get('running_var')} vs {reference_batch_norm.get('running_var')}"
        )
    return "; ".join(differences)


def _distance(value: float, step: int) -> str:
    return f"{value:.1e} (step {step:,})"


def _reference_framework(config: dict[str, Any]) -> str:
    """The framework the others were compared with: the matrix's first (harness.run.divergence)."""
    matrix = config.get("matrix")
    frameworks = matrix.get("frameworks") if isinstance(matrix, dict) else None
    return str(frameworks[0]) if frameworks else MISSING
