"""What changed between two runs: `fwcompare compare RUN_A RUN_B`.

Cells are matched by dataset, variant, framework and seed. For each matched pair: the spec fields that differ
(model and train spec as harness.core.specs normalises them, and the evaluated split), a status that changed, and
the test accuracy and loss differences (b − a). Per dataset × variant × framework the differences are tested
against the seed-to-seed spread (harness.report.stats: paired by seed where both runs ran the same seeds, which
share initial weights, batch orders and dropout masks; Holm's adjustment over every group and metric). Timing
ratios only where both runs ran on the same hardware and thread settings (environment.json); the library versions
that differ. `changed` (a spec, a status or a result beyond noise) is what the command's exit code reports.

Two runs of different data sets, or of different preprocessing (config.json's scaling and validation), are
refused: their numbers do not measure the same thing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.errors import RunsNotComparableError
from harness.core.record import CellRecord, train_spec_without_seed
from harness.core.specs import ModelSpec, SpecError, TrainSpec, spec_from_dict, spec_to_dict
from harness.report import stats, tables, verdict
from harness.report.build import Section, report_html, report_markdown

COMPARISON_SCHEMA = 1
IDENTITY = ["dataset", "variant", "framework", "seed"]
METRICS = {"test_accuracy": "accuracy", "test_loss": "loss"}
PREPROCESSING = ("scaling", "validation")
"""config.json's matrix fields that change the data every cell sees."""
HARDWARE = ("machine", "cpu_model", "cpu_cores_available", "gpu_model", "device", "threads.total", "threads.jobs")
"""environment.json fields that must agree before two runs' timings are compared."""
BEYOND_SPREAD = 2.0 * math.sqrt(2.0)
"""A single cell's difference is marked beyond the spread when it exceeds this many seed-to-seed standard
deviations: two independent draws differ by more than 2·√2·σ about 5 % of the time."""
ABSENT = "(absent)"


@dataclass(frozen=True)
class RunComparison:
    """Every finding of compare_runs; each table may be empty.

    missing: per dataset × variant × framework, the cells of one run that the other lacks (`only_in`: 'a' or
    'b'; `seeds` joined, `cells` counted).
    spec_differences: one row per dataset × variant × framework × field whose value differs (the seeds it differs
    on joined). status_changes: matched cells whose status differs. cells: one row per matched cell ok in both
    runs, with the differences and whether each is beyond the spread. groups: one row per dataset × variant ×
    framework × metric with the test (harness.report.stats.Difference's fields, p_holm, call). timing: per dataset
    × variant × framework the median steady epoch time of each run and b/a (empty when the hardware differs:
    `hardware_differences` says how). library_differences: name, a, b for every version that differs.
    """

    run_a: Path
    run_b: Path
    notes: tuple[str, ...]
    missing: pd.DataFrame
    spec_differences: pd.DataFrame
    status_changes: pd.DataFrame
    cells: pd.DataFrame
    groups: pd.DataFrame
    timing: pd.DataFrame
    hardware_differences: pd.DataFrame
    library_differences: pd.DataFrame
    n_matched: int

    @property
    def results_differ(self) -> bool:
        return bool((self.groups["call"] == "differs").any()) if not self.groups.empty else False

    @property
    def changed(self) -> bool:
        """A spec or a status differs, or a result differs beyond seed noise: the exit code's question."""
        return not self.spec_differences.empty or not self.status_changes.empty or self.results_differ

    def headline(self) -> list[str]:
        """The answer in sentences, first the one a CI gate reads."""
        lines = [
            f"{'CHANGED' if self.changed else 'SAME'}: {self.n_matched} matched cell(s); "
            f"{self.spec_differences['field'].nunique()} spec field(s) differ; {len(self.status_changes)} "
            f"status(es) changed; {int((self.groups['call'] == 'differs').sum()) if not self.groups.empty else 0} of "
            f"{len(self.groups)} result(s) differ beyond seed noise (Holm-adjusted at {stats.ALPHA:g})."
        ]
        if not self.spec_differences.empty:
            fields = ", ".join(dict.fromkeys(self.spec_differences["field"]))
            lines.append(f"Spec fields that differ: {fields}.")
        differ = self.groups[self.groups["call"] == "differs"] if not self.groups.empty else self.groups
        for row in differ.head(verdict.LISTED).to_dict(orient="records"):
            lines.append(f"{row['variant']}/{row['framework']}: {_metric_difference(row)}.")
        if len(differ) > verdict.LISTED:
            lines.append(f"... and {len(differ) - verdict.LISTED} more (see Results).")
        calls = self.groups["call"].value_counts() if not self.groups.empty else pd.Series(dtype=int)
        if len(calls):
            lines.append("Results by call: " + ", ".join(f"{call} {n}" for call, n in calls.items()) + ".")
        if not self.missing.empty:
            only_a = int(self.missing.loc[self.missing["only_in"] == "a", "cells"].sum())
            only_b = int(self.missing.loc[self.missing["only_in"] == "b", "cells"].sum())
            lines.append(f"Cells in one run only: {only_a} only in A, {only_b} only in B (see Missing cells).")
        if self.timing.empty:
            lines.append("Timing: not compared (" + _hardware_reason(self.hardware_differences) + ").")
        else:
            ratios = self.timing["ratio"].dropna()
            if len(ratios):
                lines.append(
                    f"Timing (same hardware): B takes {ratios.median():.2f}× A's steady epoch time (median over "
                    f"{len(ratios)} variant × framework; range {ratios.min():.2f}–{ratios.max():.2f})."
                )
            contended = self.timing[["contended_epochs_a", "contended_epochs_b"]].sum().sum()
            if contended > 0:
                lines.append(
                    f"Caution: {contended:.0f} epoch(s) were timed while other processes used the CPU: those "
                    "ratios measure the load as much as the code."
                )
        if not self.library_differences.empty:
            changes = ", ".join(
                f"{row.name} {row.a} → {row.b}" for row in self.library_differences.itertuples(index=False)
            )
            lines.append(f"Versions that differ: {changes}.")
        lines += list(self.notes)
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": COMPARISON_SCHEMA,
            "run_a": str(self.run_a),
            "run_b": str(self.run_b),
            "changed": self.changed,
            "headline": self.headline(),
            "alpha": stats.ALPHA,
            "confidence": stats.CONFIDENCE,
            "matched_cells": self.n_matched,
            **{
                name: verdict.records(getattr(self, name))
                for name in (
                    "missing",
                    "spec_differences",
                    "status_changes",
                    "groups",
                    "cells",
                    "timing",
                    "hardware_differences",
                    "library_differences",
                )
            },
        }


def compare_runs(run_a: Path | str, run_b: Path | str) -> RunComparison:
    """Load both runs (harness.report.tables.load_run) and compare them; RunsNotComparableError when they hold
    different data sets or preprocessing, or share no cell."""
    a, b = tables.load_run(run_a), tables.load_run(run_b)
    notes = _require_comparable(a, b)
    matched = a.cells.merge(b.cells, on=IDENTITY, how="inner", suffixes=("_a", "_b"))
    if matched.empty:
        raise RunsNotComparableError(
            f"{a.run_dir} and {b.run_dir} share no cell (dataset, variant, framework, seed): A has variant(s) "
            f"{_names(a.cells['variant'])}, B has {_names(b.cells['variant'])}; compare two runs of one matrix"
        )
    groups = _group_differences(matched)
    hardware = _hardware(a, b)
    return RunComparison(
        run_a=a.run_dir,
        run_b=b.run_dir,
        notes=tuple(notes),
        missing=_missing(a.cells, b.cells),
        spec_differences=_spec_differences(matched, a.records, b.records),
        status_changes=matched.loc[
            matched["status_a"] != matched["status_b"], [*IDENTITY, "status_a", "status_b", "message_b"]
        ].reset_index(drop=True),
        cells=_cell_differences(matched, groups),
        groups=groups,
        timing=_timing(matched) if hardware.empty else pd.DataFrame(),
        hardware_differences=hardware,
        library_differences=_library_differences(a.environment, b.environment),
        n_matched=len(matched),
    )


# --- refusals --------------------------------------------------------------------------------------------------


def _require_comparable(a: tables.RunRecords, b: tables.RunRecords) -> list[str]:
    """Refuse runs of other data sets or preprocessing; the notes say what could not be checked."""
    datasets_a, datasets_b = set(a.cells["dataset"]), set(b.cells["dataset"])
    if datasets_a != datasets_b:
        raise RunsNotComparableError(
            f"{a.run_dir} holds data set(s) {_names(datasets_a)} and {b.run_dir} {_names(datasets_b)}; results on "
            "different data sets are not comparable: compare two runs of the same data set"
        )
    matrix_a, matrix_b = _matrix(a.config), _matrix(b.config)
    unrecorded = [
        run.run_dir for run, matrix in ((a, matrix_a), (b, matrix_b)) if not set(PREPROCESSING) <= set(matrix)
    ]
    notes = [
        f"Preprocessing ({', '.join(PREPROCESSING)}) not recorded in {run_dir}/config.json: assumed the same."
        for run_dir in unrecorded
    ]
    for name in PREPROCESSING:
        value_a, value_b = matrix_a.get(name), matrix_b.get(name)
        if value_a is not None and value_b is not None and value_a != value_b:
            raise RunsNotComparableError(
                f"{a.run_dir} was preprocessed with {name}={value_a!r} and {b.run_dir} with {name}={value_b!r}; "
                "results on differently preprocessed data are not comparable: compare runs made with the same "
                f"--matrix {name}"
            )
    return notes


def _matrix(config: dict[str, Any]) -> dict[str, Any]:
    matrix = config.get("matrix")
    return matrix if isinstance(matrix, dict) else {}


# --- cells and specs -------------------------------------------------------------------------------------------


def _missing(cells_a: pd.DataFrame, cells_b: pd.DataFrame) -> pd.DataFrame:
    both = cells_a[IDENTITY].merge(cells_b[IDENTITY], on=IDENTITY, how="outer", indicator=True)
    missing = both[both["_merge"] != "both"]
    only_in = missing["_merge"].map({"left_only": "a", "right_only": "b"}).astype(str).to_numpy()
    grouped = missing[IDENTITY].assign(only_in=only_in).groupby(["only_in", *IDENTITY[:3]], sort=False)["seed"]
    return grouped.agg(seeds=lambda seeds: ", ".join(map(str, seeds)), cells="size").reset_index()


def _spec_differences(
    matched: pd.DataFrame, records_a: dict[str, CellRecord], records_b: dict[str, CellRecord]
) -> pd.DataFrame:
    """One row per dataset × variant × framework × field that differs, with the seeds it differs on."""
    rows = []
    for cell in matched.to_dict(orient="records"):
        fields_a = _spec_fields(records_a[cell["file_a"]])
        fields_b = _spec_fields(records_b[cell["file_b"]])
        for name in sorted(set(fields_a) | set(fields_b)):
            value_a, value_b = fields_a.get(name, ABSENT), fields_b.get(name, ABSENT)
            if value_a != value_b:
                rows.append({**{key: cell[key] for key in IDENTITY}, "field": name, "a": value_a, "b": value_b})
    if not rows:
        return pd.DataFrame(columns=["dataset", "variant", "framework", "field", "a", "b", "seeds"])
    frame = pd.DataFrame(rows)
    frame["a"], frame["b"] = frame["a"].map(_text), frame["b"].map(_text)
    group = ["dataset", "variant", "framework", "field", "a", "b"]
    seeds = frame.groupby(group, sort=False)["seed"].agg(lambda values: ", ".join(map(str, values)))
    return seeds.rename("seeds").reset_index()


def _spec_fields(record: CellRecord) -> dict[str, Any]:
    """{dotted field name: value} of a record's specs as this fwcompare reads them (older form names and fields
    added since get today's names and defaults), and its evaluated split."""
    fields = {"eval_split": record.eval_split}
    fields.update(_flat("model_spec", _normalised(ModelSpec, record.model_spec)))
    fields.update(_flat("train_spec", _normalised(TrainSpec, record.train_spec)))
    return fields


def _normalised(cls: type, data: dict[str, Any] | None) -> dict[str, Any]:
    """`data` through the spec class and back; as stored when this fwcompare cannot read it."""
    if data is None:
        return {}
    try:
        normalised = spec_to_dict(spec_from_dict(cls, data))
    except (SpecError, TypeError):
        return data
    return train_spec_without_seed(normalised) if cls is TrainSpec else normalised


def _flat(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, dict):
            flat.update(_flat(f"{prefix}.{name}", value))
        else:
            flat[f"{prefix}.{name}"] = value
    return flat


def _text(value: Any) -> str:
    return value if value == ABSENT else json.dumps(value)


# --- results ---------------------------------------------------------------------------------------------------


def _cell_differences(matched: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Matched cells ok in both runs: each metric in a and b, b − a, and b − a in units of its group's seed-to-seed
    spread (`groups`' spread), marked beyond the spread past BEYOND_SPREAD."""
    both_ok = matched[(matched["status_a"] == "ok") & (matched["status_b"] == "ok")]
    frame = both_ok[IDENTITY].reset_index(drop=True)
    for column, metric in METRICS.items():
        spreads = groups[groups["metric"] == metric].set_index(["dataset", "variant", "framework"])["spread"]
        spread = spreads.reindex(pd.MultiIndex.from_frame(frame[["dataset", "variant", "framework"]])).to_numpy()
        a, b = both_ok[f"{column}_a"].to_numpy(), both_ok[f"{column}_b"].to_numpy()
        frame[f"{metric}_a"], frame[f"{metric}_b"], frame[f"{metric}_difference"] = a, b, b - a
        frame[f"{metric}_in_spreads"] = [d / s if s > 0 else math.nan for d, s in zip(b - a, spread, strict=True)]
        frame[f"{metric}_beyond_spread"] = frame[f"{metric}_in_spreads"].abs() > BEYOND_SPREAD
    return frame


def _group_differences(matched: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × variant × framework × metric: harness.report.stats.difference over the seeds ok in each run,
    Holm-adjusted over all rows."""
    rows = []
    for (dataset, variant, framework), group in matched.groupby(["dataset", "variant", "framework"], sort=False):
        for column, metric in METRICS.items():
            a = _by_seed(group, "a", column)
            b = _by_seed(group, "b", column)
            rows.append(
                {
                    "dataset": dataset,
                    "variant": variant,
                    "framework": framework,
                    "metric": metric,
                    **stats.difference_fields(a, b),
                }
            )
    table = pd.DataFrame(rows)
    table["p_holm"] = stats.holm(list(table["p_value"]))
    table["call"] = [stats.call(same, p) for same, p in zip(table["identical"], table["p_holm"], strict=True)]
    return table


def _by_seed(group: pd.DataFrame, side: str, column: str) -> dict[int, float]:
    ok = group[group[f"status_{side}"] == "ok"]
    return {int(seed): float(value) for seed, value in zip(ok["seed"], ok[f"{column}_{side}"], strict=True)}


# --- timing and environment ------------------------------------------------------------------------------------


def _hardware(a: tables.RunRecords, b: tables.RunRecords) -> pd.DataFrame:
    """field, a, b for every HARDWARE field that differs, or that a run did not record."""
    if not a.environment or not b.environment:
        written = {True: "written", False: "not written"}
        row = {"field": "environment.json", "a": written[bool(a.environment)], "b": written[bool(b.environment)]}
        return pd.DataFrame([row])
    flat_a, flat_b = _flat("", a.environment), _flat("", b.environment)
    rows = [
        {"field": name, "a": _text(flat_a.get(f".{name}", ABSENT)), "b": _text(flat_b.get(f".{name}", ABSENT))}
        for name in HARDWARE
        if flat_a.get(f".{name}", ABSENT) != flat_b.get(f".{name}", ABSENT)
    ]
    return pd.DataFrame(rows, columns=["field", "a", "b"])


def _timing(matched: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × variant × framework: the median steady epoch time over the seeds ok in each run, and b/a,
    where both runs' cells used the same threads and device."""
    both_ok = matched[(matched["status_a"] == "ok") & (matched["status_b"] == "ok")]
    same = both_ok[(both_ok["threads_a"] == both_ok["threads_b"]) & (both_ok["device_a"] == both_ok["device_b"])]
    table = same.groupby(["dataset", "variant", "framework"], sort=False).agg(
        steady_epoch_a_s=("steady_epoch_median_s_a", "median"),
        steady_epoch_b_s=("steady_epoch_median_s_b", "median"),
        contended_epochs_a=("contended_epochs_a", lambda counts: counts.sum(min_count=1)),
        contended_epochs_b=("contended_epochs_b", lambda counts: counts.sum(min_count=1)),
    )
    table["ratio"] = table["steady_epoch_b_s"] / table["steady_epoch_a_s"]
    return table.reset_index()


def _library_differences(environment_a: dict[str, Any], environment_b: dict[str, Any]) -> pd.DataFrame:
    """name, a, b for Python, every library in either environment.json, and the git commit, where they differ."""
    versions = []
    for environment in (environment_a, environment_b):
        libraries = environment.get("libraries")
        git = environment.get("git")
        versions.append(
            {
                "python": environment.get("python"),
                **(libraries if isinstance(libraries, dict) else {}),
                "git commit": git.get("commit") if isinstance(git, dict) else None,
            }
        )
    if not environment_a or not environment_b:
        return pd.DataFrame(columns=["name", "a", "b"])
    names = dict.fromkeys([*versions[0], *versions[1]])
    rows = [
        {"name": name, "a": str(versions[0].get(name)), "b": str(versions[1].get(name))}
        for name in names
        if versions[0].get(name) != versions[1].get(name)
    ]
    return pd.DataFrame(rows, columns=["name", "a", "b"])


# --- the report ------------------------------------------------------------------------------------------------


def write_comparison(comparison: RunComparison, out: Path) -> list[Path]:
    """comparison.md, comparison.html and comparison.json in the folder `out` (made if need be)."""
    out.mkdir(parents=True, exist_ok=True)
    sections, title = comparison_sections(comparison), comparison_title(comparison)
    files = {
        "comparison.md": report_markdown(title, sections),
        "comparison.html": report_html(title, sections, out),
        "comparison.json": json.dumps(comparison.to_json(), indent=1) + "\n",
    }
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / name for name in files]


def comparison_title(comparison: RunComparison) -> str:
    return f"fwcompare compare: {comparison.run_a} (A) vs {comparison.run_b} (B)"


def comparison_markdown(comparison: RunComparison) -> str:
    return report_markdown(comparison_title(comparison), comparison_sections(comparison))


def comparison_sections(comparison: RunComparison) -> list[Section]:
    """The report: the verdict first, then specs, results, cells, missing cells, timing, versions."""
    verdict = "\n".join(f"- {line}" for line in comparison.headline())
    return [
        Section("Verdict", verdict, {}, {}),
        Section(
            "Spec differences",
            "Fields of the matched cells' specs whose values differ (A, B), with the seeds they differ on."
            if not comparison.spec_differences.empty
            else "Every matched cell ran the same spec.",
            _table("spec differences", comparison.spec_differences),
            {},
        ),
        Section(
            "Status changes",
            "Matched cells whose status differs." if not comparison.status_changes.empty else "No status changed.",
            _table("status changes", comparison.status_changes),
            {},
        ),
        Section(
            "Results",
            "Per variant × framework, B − A of the final test accuracy (percentage points) and test loss: the mean "
            f"difference with its {100 * stats.CONFIDENCE:.0f} % interval, in units of the seed-to-seed spread, "
            "the test (paired by seed where both runs ran the same seeds), p and Holm-adjusted p, and the call.",
            {"results": _groups_display(comparison.groups)},
            {},
        ),
        Section(
            "Cells",
            "Every matched cell ok in both runs: B − A, and whether it exceeds "
            f"{BEYOND_SPREAD:.1f} seed-to-seed standard deviations (the range two independent seeds stay within "
            "about 95 % of the time).",
            {"cells": _cells_display(comparison.cells)},
            {},
        ),
        Section(
            "Missing cells",
            "Cells that only one run holds." if not comparison.missing.empty else "Both runs hold the same cells.",
            _table("missing cells", comparison.missing),
            {},
        ),
        Section(
            "Timing",
            "Median steady-state epoch time over the seeds ok in both runs, and B / A."
            if not comparison.timing.empty
            else f"Not compared: {_hardware_reason(comparison.hardware_differences)}.",
            {"timing": _timing_display(comparison.timing)}
            if not comparison.timing.empty
            else _table("hardware", comparison.hardware_differences),
            {},
        ),
        Section(
            "Versions",
            "Python, library and code versions that differ between the runs' environment.json."
            if not comparison.library_differences.empty
            else "The same versions (or no environment.json to tell).",
            _table("versions", comparison.library_differences),
            {},
        ),
    ]


def _table(caption: str, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {caption: frame.astype(str)} if not frame.empty else {}


def _groups_display(groups: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for row in groups.to_dict(orient="records"):
        rows.append(
            {
                "dataset": row["dataset"],
                "variant": row["variant"],
                "framework": row["framework"],
                "metric": row["metric"],
                "seeds A/B/paired": f"{row['n_a']}/{row['n_b']}/{row['n_pairs']}",
                "mean A": verdict.mean_text(row["metric"], row["mean_a"]),
                "mean B": verdict.mean_text(row["metric"], row["mean_b"]),
                "B − A [interval]": _metric_difference(row, with_p=False),
                "in spreads": _fixed(row["in_spreads"], 1),
                "test": row["test"],
                "p": verdict.p_text(row["p_value"]),
                "p (Holm)": verdict.p_text(row["p_holm"]),
                "call": row["call"],
            }
        )
    return pd.DataFrame(rows)


def _cells_display(cells: pd.DataFrame) -> pd.DataFrame:
    frame = cells[IDENTITY].copy()
    frame["accuracy A %"] = (100 * cells["accuracy_a"]).map(lambda value: _fixed(value, 2))
    frame["accuracy B %"] = (100 * cells["accuracy_b"]).map(lambda value: _fixed(value, 2))
    frame["B − A (pp)"] = (100 * cells["accuracy_difference"]).map(lambda value: f"{value:+.2f}")
    frame["in spreads"] = cells["accuracy_in_spreads"].map(lambda value: _fixed(value, 1))
    frame["loss B − A"] = cells["loss_difference"].map(lambda value: f"{value:+.4f}")
    frame["loss in spreads"] = cells["loss_in_spreads"].map(lambda value: _fixed(value, 1))
    frame["beyond spread"] = [
        ", ".join(metric for metric, flag in (("accuracy", acc), ("loss", loss)) if flag) or "no"
        for acc, loss in zip(cells["accuracy_beyond_spread"], cells["loss_beyond_spread"], strict=True)
    ]
    return frame


def _timing_display(timing: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": timing["dataset"],
            "variant": timing["variant"],
            "framework": timing["framework"],
            "A steady epoch (s)": timing["steady_epoch_a_s"].map(lambda value: _fixed(value, 3)),
            "B steady epoch (s)": timing["steady_epoch_b_s"].map(lambda value: _fixed(value, 3)),
            "B / A": timing["ratio"].map(lambda value: _fixed(value, 2)),
            "contended epochs A, B": [
                f"{_fixed(a, 0)}, {_fixed(b, 0)}"
                for a, b in zip(timing["contended_epochs_a"], timing["contended_epochs_b"], strict=True)
            ],
        }
    )


def _metric_difference(row: Mapping[Hashable, Any], *, with_p: bool = True) -> str:
    """'accuracy +1.20 pp [+0.80, +1.60], Holm p = 0.003'."""
    text = verdict.difference_text(row["metric"], row["difference"], row["low"], row["high"])
    return f"{row['metric']} {text}, Holm p = {verdict.p_text(row['p_holm'])}" if with_p else text


def _hardware_reason(differences: pd.DataFrame) -> str:
    if differences.empty:
        return "no cell ok in both runs"
    return "the runs differ in " + ", ".join(
        f"{row.field} ({row.a} vs {row.b})" for row in differences.itertuples(index=False)
    )


def _fixed(value: float, digits: int) -> str:
    return tables.MISSING if pd.isna(value) else f"{value:.{digits}f}"


def _names(values: Any) -> str:
    return ", ".join(sorted(map(str, set(values)))) or "none"
