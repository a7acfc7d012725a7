"""The reproduction summary over several run directories: one row per published number with each framework's
verdict, and the headline counts (how many published numbers each framework reproduces)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.report import tables


@dataclass(frozen=True)
class ReproductionSummary:
    """numbers: the reproduction_table rows of every run, with the run directory they come from; text: the same
    as display text; headline: one line per framework ('<framework>: 9 of 14 reproduced') plus the all-framework
    count."""

    numbers: pd.DataFrame
    text: pd.DataFrame
    headline: list[str]


def reproduction_summary(run_dirs: Sequence[Path | str]) -> ReproductionSummary:
    """Load each run (RunRecordError if one cannot be read) and put their reproduction tables together."""
    parts, frameworks = [], []
    for run_dir in run_dirs:
        records = tables.load_run(run_dir)
        table = tables.reproduction_table(records.cells)
        if table is None:
            raise tables.RunRecordError(f"{run_dir} has no cell with a published number to reproduce")
        parts.append(table.assign(run=Path(run_dir).name))
        frameworks += [name for name in records.cells["framework"].unique() if name not in frameworks]
    numbers = pd.concat(parts, ignore_index=True)
    for framework in frameworks:
        if f"{framework}_verdict" not in numbers:
            numbers[f"{framework}_verdict"] = "not run"
        numbers[f"{framework}_verdict"] = numbers[f"{framework}_verdict"].fillna("not run")
    text = tables.reproduction_display(numbers, frameworks).assign(run=numbers["run"])
    return ReproductionSummary(numbers, text, _headline(numbers, frameworks))


def _headline(numbers: pd.DataFrame, frameworks: list[str]) -> list[str]:
    counted = numbers[~numbers["illustrative"].astype(bool)]
    lines = []
    for framework in frameworks:
        verdicts = counted[f"{framework}_verdict"]
        lines.append(
            f"{framework}: {(verdicts == 'reproduced').sum()} of {len(counted)} published numbers reproduced"
            + (f" ({(verdicts == 'not run').sum()} not run)" if (verdicts == "not run").any() else "")
        )
    everywhere = (counted[[f"{framework}_verdict" for framework in frameworks]] == "reproduced").all(axis=1)
    lines.append(f"all {len(frameworks)} frameworks: {int(everywhere.sum())} of {len(counted)}")
    illustrative = len(numbers) - len(counted)
    if illustrative:
        lines.append(f"{illustrative} illustrative number(s) shown apart, counted neither way")
    return lines
