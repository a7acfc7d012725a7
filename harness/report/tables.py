"""A run directory's stored results as pandas tables: the cell records loaded and checked, and the report's
accuracy, timing, reproduction, parity and status tables computed from them.

Statistics over seeds use only cells whose status is "ok"; every other cell is counted in `n_excluded` and listed
with its message in the status table. Standard deviations are sample standard deviations (ddof=1), so one seed
gives no std (NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, cast

import pandas as pd

from harness.catalog.variants import all_variants
from harness.core.errors import RecordError, RunRecordError
from harness.core.frameworks import framework_names
from harness.core.interface import EpochRecord
from harness.core.names import clip_text
from harness.core.record import STATUSES, CellRecord, CellTiming

PARITY_STATUSES = ("OK", "NOT OK", "EXPLAINED")
GROUP = ["dataset", "variant", "framework"]
"""The columns one row of the accuracy and timing tables stands for (one mean over seeds)."""
TIMING_GROUP = [*GROUP, "hardware"]
"""Timings are only comparable on the same hardware: a timing row stands for one group on one kind of machine."""
UNRECORDED_HARDWARE = "not recorded"

TIMING_FIELDS = tuple(
    field.name for field in fields(CellTiming) if field.name.endswith("_s") and field.name != "time_to_target_s"
)
"""The timings of a cell record that the timing table takes medians of over all ok seeds (seconds, and samples/s);
time to accuracy has its own median, over the seeds that reached the target."""
HISTORY_FIELDS = tuple(
    field.name for field in fields(EpochRecord) if field.name not in ("epoch", "others_cpu_share", "contended")
)
"""The per-epoch numbers of the learning-curve table."""
PARITY_FIELDS = (
    "pair",
    "variant",
    "dtype",
    "check",
    "tensor",
    "max_abs_diff",
    "max_rel_diff",
    "rtol",
    "atol",
    "status",
)


@dataclass(frozen=True)
class RunRecords:
    """Everything stored in a run directory, checked and loaded.

    cells: one row per cell record (identity, status, result, timing, published number, spec summary).
    curves: one row per (ok cell, epoch) with the epoch's losses, accuracy and times; epoch is 1-based.
    parity: one row per parity.json row, or None when the run has no parity.json.
    records: every cell record as read, by its cells/ file name (the `file` column of `cells`).
    """

    run_dir: Path
    config: dict[str, Any]
    environment: dict[str, Any]
    cells: pd.DataFrame
    curves: pd.DataFrame
    parity: pd.DataFrame | None
    records: dict[str, CellRecord]


def load_run(run_dir: Path | str) -> RunRecords:
    """Read config.json, environment.json (both optional), every cells/*.json and parity.json (optional).

    Every record is checked before anything is returned; all unreadable records are named in one error, and no
    file in the run directory is changed.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunRecordError(
            f"run directory {run_dir} does not exist; pass the folder that `fwcompare run` wrote "
            "(its --out, by default results/runs/<timestamp>-<matrix>)"
        )
    cell_paths = sorted((run_dir / "cells").glob("*.json"))
    if not cell_paths:
        raise RunRecordError(
            f"no cell records in {run_dir / 'cells'}; is {run_dir} a run directory? "
            f"Run `fwcompare run --out {run_dir}` to produce them"
        )
    rows, histories, problems = [], [], []
    records: dict[str, CellRecord] = {}
    for path in cell_paths:
        try:
            record = CellRecord.from_json(_read_json(path))
        except (RunRecordError, RecordError) as error:
            problems.append(f"{path}: {error}")
            continue
        rows.append({**_cell_row(record), "file": path.name})
        histories.append(record.history)
        records[path.name] = record
    if problems:
        raise RunRecordError(
            f"{len(problems)} of {len(cell_paths)} cell records cannot be read: " + "; ".join(problems) + ". "
            f"Move the named file(s) out of {run_dir / 'cells'} and rerun `fwcompare run` with --out {run_dir} "
            "to redo those cells (the other records are kept)"
        )
    config = _read_optional_json(run_dir / "config.json")
    environment = _read_optional_json(run_dir / "environment.json")
    variant_order = _matrix_variants(config)
    integers = {"threads": "Int64", "epochs": "Int64", "epochs_run": "Int64"}
    cells = _in_report_order(pd.DataFrame(rows).astype(integers), variant_order)
    # Records written before the hardware was stored ran on the machine environment.json describes.
    cells["hardware"] = cells["hardware"].fillna(str(environment.get("cpu_model") or UNRECORDED_HARDWARE))
    _require_unique_cells(cells, run_dir)
    curves = _in_report_order(_curves_frame(rows, histories), variant_order)
    return RunRecords(
        run_dir=run_dir,
        config=config,
        environment=environment,
        cells=cells,
        curves=curves,
        parity=_load_parity(run_dir / "parity.json"),
        records=records,
    )


def accuracy_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per dataset × variant × framework: final test accuracy (fraction) mean/std/min/max over ok seeds, final
    test loss mean, n_seeds (ok cells counted) and n_excluded (cells of any other status)."""
    ok = cells[cells["status"] == "ok"]
    stats = ok.groupby(GROUP, sort=False).agg(
        n_seeds=("seed", "size"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        test_accuracy_min=("test_accuracy", "min"),
        test_accuracy_max=("test_accuracy", "max"),
        test_loss_mean=("test_loss", "mean"),
    )
    return _with_every_group(cells, stats, "n_seeds")


def timing_table(cells: pd.DataFrame, peak_gflops: dict[str, float] | None = None) -> pd.DataFrame:
    """Per dataset × variant × framework × hardware (harness.core.record.CellHardware.label), over ok seeds: the
    median of each stored timing (seconds; samples/s), the min and max steady-state epoch time, the threads, device
    and execution mode used (distinct values joined), time to accuracy: the target (NaN when no record names one),
    how many seeds recorded one (n_target) and reached it (n_target_reached), and the median time to it over the
    seeds that reached it; and the machine limit. Cells of one group that ran on different hardware give one row
    each.

    peak_gflops: {dtype: the best library's peak GEMM rate} of the run (harness.run.gemm.best_peak_gflops). The
    machine limit of a CPU cell's epoch is its GEMM FLOPs / that rate (limit_epoch_s, NaN for a record without
    FLOPs, a run without the rate, or a GPU cell); steady_x_limit and first_x_limit are the median steady-state
    and first epoch over it.
    """
    peak = pd.Series(peak_gflops or {}, dtype=float)
    ok = cells[cells["status"] == "ok"]
    ok = ok.assign(
        has_target=ok["target_accuracy"].notna(),
        reached_target=ok["time_to_target_s"].notna(),
        limit_epoch_s=ok["epoch_gemm_flops"] / (ok["dtype"].map(peak).astype(float) * 1e9).where(ok["device"] == "cpu"),
    )
    aggregations = {name: (name, "median") for name in TIMING_FIELDS}
    stats = ok.groupby(TIMING_GROUP, sort=False).agg(
        n_seeds=("seed", "size"),
        **aggregations,
        steady_epoch_min_s=("steady_epoch_median_s", "min"),
        steady_epoch_max_s=("steady_epoch_median_s", "max"),
        contended_epochs=("contended_epochs", lambda counts: counts.sum(min_count=1)),
        threads=("threads", _distinct),
        device=("device", _distinct),
        mode=("mode", _distinct),
        target_accuracy=("target_accuracy", "max"),
        n_target=("has_target", "sum"),
        n_target_reached=("reached_target", "sum"),
        time_to_target_median_s=("time_to_target_s", "median"),
        limit_epoch_s=("limit_epoch_s", "median"),
    )
    stats["steady_x_limit"] = stats["steady_epoch_median_s"] / stats["limit_epoch_s"]
    stats["first_x_limit"] = stats["first_epoch_s"] / stats["limit_epoch_s"]
    return _with_every_group(cells, stats, "n_seeds", TIMING_GROUP)


def hardware_kinds(cells: pd.DataFrame) -> list[str]:
    """The distinct hardware labels of the ok cells, in report order: more than one means timings must not be
    compared across the whole table."""
    return list(dict.fromkeys(cells.loc[cells["status"] == "ok", "hardware"]))


REPRODUCED_WITHIN_POINTS = 0.003
"""A mean within 0.3 percentage points of the published number reproduces it, whatever the spread over seeds."""
REPRODUCED_WITHIN_STDS = 2.0
"""... as does a mean within this many standard deviations over seeds (a one-run number is one draw of that
spread)."""
VERDICTS = ("reproduced", "not reproduced", "illustrative", "not run")


def reproduction_verdict(published: float, mean: float, std: float, n: int, illustrative: bool) -> str:
    """One of VERDICTS for a framework's mean ± std over n seeds against a published accuracy."""
    if illustrative:
        return "illustrative"
    if n == 0 or pd.isna(mean):
        return "not run"
    gap = abs(mean - published)
    within_spread = n > 1 and not pd.isna(std) and gap <= REPRODUCED_WITHIN_STDS * std
    return "reproduced" if gap <= REPRODUCED_WITHIN_POINTS or within_spread else "not reproduced"


def reproduction_table(cells: pd.DataFrame) -> pd.DataFrame | None:
    """One row per dataset × variant that carries a published number: the number, the metric it is
    (harness.core.record.PUBLISHED_METRICS), its source and note, whether it is illustrative, and per framework f
    the columns f_mean, f_std, f_n (ok seeds), f_minus_published, f_gap_in_std (the difference in units of
    f_std), f_verdict (reproduction_verdict) and f_epochs_run (how many epochs each seed trained, e.g. '20×4, 30').
    Accuracies are fractions. None when no cell carries a published number."""
    published = cells.dropna(subset=["published_value"])
    if published.empty:
        return None
    table = published.groupby(["dataset", "variant"], sort=False).agg(
        source=("published_source", "first"),
        metric=("published_metric", "first"),
        published_accuracy=("published_value", "first"),
        illustrative=("published_illustrative", "first"),
        note=("published_note", "first"),
    )
    ok = published[published["status"] == "ok"]
    measured = ok["test_accuracy"].where(ok["published_metric"] == "test_accuracy", ok["final_val_accuracy"])
    frameworks = list(cells["framework"].unique())
    grouped = ok.assign(measured=measured).groupby(GROUP)["measured"].agg(["mean", "std", "size"])
    # GROUP indexes the rows, so unstacking its last level gives a frame (the stubs allow for a Series).
    stats = cast(pd.DataFrame, grouped.unstack("framework")).reindex(
        index=table.index, columns=pd.MultiIndex.from_product([["mean", "std", "size"], frameworks])
    )
    for framework in frameworks:
        table[f"{framework}_mean"] = stats[("mean", framework)]
        table[f"{framework}_std"] = stats[("std", framework)]
        table[f"{framework}_n"] = stats[("size", framework)].fillna(0).astype(int)
        table[f"{framework}_minus_published"] = table[f"{framework}_mean"] - table["published_accuracy"]
        table[f"{framework}_gap_in_std"] = table[f"{framework}_minus_published"] / table[f"{framework}_std"]
        table[f"{framework}_verdict"] = [
            reproduction_verdict(published, mean, std, n, bool(illustrative))
            for published, mean, std, n, illustrative in zip(
                table["published_accuracy"],
                table[f"{framework}_mean"],
                table[f"{framework}_std"],
                table[f"{framework}_n"],
                table["illustrative"],
                strict=True,
            )
        ]
        epochs = ok[ok["framework"] == framework].groupby(["dataset", "variant"], sort=False)["epochs_run"]
        table[f"{framework}_epochs_run"] = epochs.agg(_counted).reindex(table.index).astype(object).fillna(MISSING)
    return table.reset_index()


def _counted(values: pd.Series) -> str:
    """'20×4, 30' for the values 20, 20, 30, 20, 20 (ascending)."""
    counts = values.value_counts().sort_index()
    return ", ".join(str(value) if count == 1 else f"{value}×{count}" for value, count in counts.items())


def parity_table(parity: pd.DataFrame) -> pd.DataFrame:
    """Per pair × dtype: the number of rows with each parity status, and the worst (largest; NaN counts as
    worst) max relative difference with the variant/check/tensor where it occurred."""
    groups = pd.MultiIndex.from_frame(parity[["pair", "dtype"]].drop_duplicates())
    counts = pd.crosstab([parity["pair"], parity["dtype"]], parity["status"])
    counts = counts.reindex(index=groups, columns=list(PARITY_STATUSES), fill_value=0)
    counts.columns.name = None
    worst = (
        parity.sort_values("max_rel_diff", ascending=False, na_position="first", kind="stable")
        .groupby(["pair", "dtype"], sort=False)
        .first()
    )
    counts["worst_max_rel_diff"] = worst["max_rel_diff"]
    counts["worst_at"] = worst[["variant", "check", "tensor"]].astype(str).agg(" / ".join, axis=1)
    return counts.reset_index()


def status_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Every cell: identity, status, epochs run and message, in report order."""
    columns = [*GROUP, "seed", "status", "epochs_run", "message", "file"]
    return cells[columns].reset_index(drop=True)


def status_counts(cells: pd.DataFrame) -> dict[str, int]:
    """{status: number of cells} for the statuses present, in harness.core.record.STATUSES order."""
    counts = cells["status"].value_counts()
    return {status: int(counts[status]) for status in STATUSES if status in counts}


# --- reading and checking records ------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RunRecordError(f"not valid JSON ({error}); the file is truncated or corrupt") from error
    except (OSError, UnicodeDecodeError) as error:
        raise RunRecordError(f"cannot be read ({error})") from error


def _read_optional_json(path: Path) -> dict[str, Any]:
    """The object in `path`, or {} when the file does not exist."""
    if not path.exists():
        return {}
    try:
        data = _read_json(path)
    except RunRecordError as error:
        raise RunRecordError(f"{path}: {error}; rerun `fwcompare run --out {path.parent}` to rewrite it") from error
    if not isinstance(data, dict):
        raise RunRecordError(f"{path} holds a {type(data).__name__}, not a JSON object; rerun `fwcompare run`")
    return data


def _matrix_variants(config: dict[str, Any]) -> list[str]:
    """The variant names in the order config.json's matrix rows list them ([] when it has none)."""
    matrix = config.get("matrix")
    rows = matrix.get("rows") if isinstance(matrix, dict) else None
    if not isinstance(rows, list):
        return []
    return [row["variant"] for row in rows if isinstance(row, dict) and isinstance(row.get("variant"), str)]


def _cell_row(record: CellRecord) -> dict[str, Any]:
    """One flat row of the cells table from a cell record."""
    result, timing, published = record.result, record.timing, record.published
    return {
        "key": record.key,
        "dataset": record.dataset,
        "variant": record.variant,
        "framework": record.framework,
        "seed": record.seed,
        "mode": record.mode,
        "status": record.status,
        "message": clip_text(record.message or ""),
        "eval_split": record.eval_split,
        "loss": record.loss,
        "epochs": record.epochs,
        "dtype": (record.train_spec or {}).get("dtype"),
        "test_accuracy": result.test_accuracy if result else math.nan,
        "test_loss": result.test_loss if result else math.nan,
        "epochs_run": result.epochs_run if result else len(record.history),
        "stopped_early": result.stopped_early if result else None,
        **{name: _number_or_nan(getattr(timing, name) if timing else None) for name in TIMING_FIELDS},
        "threads": timing.threads if timing else None,
        "device": timing.device if timing else None,
        "hardware": record.hardware.label(timing.device if timing else "cpu") if record.hardware else None,
        # Records written before load was measured have no count, before time to accuracy no target, and before
        # the machine limit no GEMM FLOPs.
        "contended_epochs": _number_or_nan(timing.contended_epochs if timing else None),
        "target_accuracy": _number_or_nan(timing.target_accuracy if timing else None),
        "time_to_target_s": _number_or_nan(timing.time_to_target_s if timing else None),
        "epoch_gemm_flops": _number_or_nan(timing.epoch_gemm_flops if timing else None),
        "published_value": published.value if published else math.nan,
        "published_source": clip_text(published.source) if published else None,
        "published_note": clip_text(published.note) if published else "",
        "published_metric": published.metric if published else None,
        "published_illustrative": bool(published and published.illustrative),
        "final_val_accuracy": record.final_validation_accuracy(),
    }


def _number_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _load_parity(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    data = _read_optional_json(path)
    rows = data.get("rows")
    fix = "rerun `fwcompare parity` to rewrite it, or move it out of the run directory"
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise RunRecordError(f"{path} has no 'rows' list of objects; {fix}")
    missing = sorted({name for row in rows for name in PARITY_FIELDS if name not in row})
    if missing:
        raise RunRecordError(f"{path}: rows lack field(s) {', '.join(missing)}; {fix}")
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(PARITY_FIELDS))
    unknown = sorted(set(frame["status"]) - set(PARITY_STATUSES))
    if unknown:
        raise RunRecordError(f"{path}: unknown status(es) {unknown}; valid: {', '.join(PARITY_STATUSES)}; {fix}")
    frame["max_rel_diff"] = pd.to_numeric(frame["max_rel_diff"], errors="coerce")
    return frame


def _curves_frame(rows: list[dict[str, Any]], histories: list[tuple[EpochRecord, ...]]) -> pd.DataFrame:
    """One row per epoch of every ok cell; `epoch` made 1-based (EpochRecord.epoch counts from 0)."""
    identity = ("key", *GROUP, "seed", "eval_split", "loss")
    epochs = [
        {
            **{name: row[name] for name in identity},
            "epoch": epoch.epoch + 1,
            **{name: _number_or_nan(getattr(epoch, name)) for name in HISTORY_FIELDS},
        }
        for row, history in zip(rows, histories, strict=True)
        if row["status"] == "ok"
        for epoch in history
    ]
    return pd.DataFrame(epochs, columns=[*identity, "epoch", *HISTORY_FIELDS])


def _in_report_order(cells: pd.DataFrame, variant_order: list[str]) -> pd.DataFrame:
    """Cells (or curves) sorted by dataset, then variant (in `variant_order`, then registry order, then
    alphabetically), then framework in registry order, then seed (then epoch, for curves)."""
    variant_rank = {name: rank for rank, name in enumerate(dict.fromkeys([*variant_order, *all_variants()]))}
    framework_rank = {name: rank for rank, name in enumerate(framework_names())}

    def rank(column: pd.Series) -> pd.Series:
        if column.name == "variant":
            return column.map(lambda name: (variant_rank.get(name, len(variant_rank)), name))
        if column.name == "framework":
            return column.map(lambda name: (framework_rank.get(name, len(framework_rank)), name))
        return column

    order = [column for column in ("dataset", "variant", "framework", "seed", "epoch") if column in cells]
    return cells.sort_values(order, key=rank, kind="stable").reset_index(drop=True)


def _require_unique_cells(cells: pd.DataFrame, run_dir: Path) -> None:
    duplicated = cells[cells.duplicated([*GROUP, "seed"], keep=False)]
    if not duplicated.empty:
        raise RunRecordError(
            f"{run_dir / 'cells'} holds several records for the same dataset/variant/framework/seed: "
            f"{', '.join(duplicated['file'])}; they come from different runs written to one --out. Move the "
            "records of the run you do not want out of the folder"
        )


def _with_every_group(
    cells: pd.DataFrame, stats: pd.DataFrame, count_column: str, group: list[str] = GROUP
) -> pd.DataFrame:
    """`stats` (indexed by `group`, ok cells only) reindexed to every group present in `cells`, with count 0 where
    a group has no ok cell, and n_excluded: that group's cells of any other status."""
    groups = pd.MultiIndex.from_frame(cells[group].drop_duplicates())
    table = stats.reindex(groups)
    table[count_column] = table[count_column].fillna(0).astype(int)
    excluded = cells[cells["status"] != "ok"].groupby(group).size()
    table["n_excluded"] = excluded.reindex(groups, fill_value=0).astype(int).to_numpy()
    return table.reset_index()


def _distinct(values: pd.Series) -> str:
    return ", ".join(str(value) for value in dict.fromkeys(values))


# --- human-readable forms (the .md and .html tables) -------------------------------------------------------------

MISSING = "–"


def span_text(values: Iterable[float], spec: str) -> str:
    """'1.08–1.36' for a range of values formatted with spec (".2f", ".1e", ...), one figure when all print alike."""
    printed = [format(value, spec) for value in sorted(values)]
    return printed[0] if printed[0] == printed[-1] else f"{printed[0]}–{printed[-1]}"


def accuracy_display(table: pd.DataFrame) -> pd.DataFrame:
    """accuracy_table as text: accuracies in %, mean ± std over seeds."""
    return pd.DataFrame(
        {
            "dataset": table["dataset"],
            "variant": table["variant"],
            "framework": table["framework"],
            "test accuracy % (mean ± std)": [
                _mean_std_percent(mean, std, n)
                for mean, std, n in zip(
                    table["test_accuracy_mean"], table["test_accuracy_std"], table["n_seeds"], strict=True
                )
            ],
            "min–max %": [
                MISSING if pd.isna(low) else f"{100 * low:.2f}–{100 * high:.2f}"
                for low, high in zip(table["test_accuracy_min"], table["test_accuracy_max"], strict=True)
            ],
            "seeds": table["n_seeds"],
            "excluded": table["n_excluded"],
            "test loss (mean)": table["test_loss_mean"].map(lambda value: _fixed(value, 4)),
        }
    )


def timing_display(table: pd.DataFrame) -> pd.DataFrame:
    """timing_table as text: seconds to 3 significant digits, samples/s as whole numbers."""
    seconds = {
        "build (s)": "build_s",
        "first epoch incl. compile (s)": "first_epoch_s",
        "steady epoch, median (s)": "steady_epoch_median_s",
        "eval, median (s)": "eval_median_s",
    }
    return pd.DataFrame(
        {
            "dataset": table["dataset"],
            "variant": table["variant"],
            "framework": table["framework"],
            "seeds": table["n_seeds"],
            "mode": table["mode"].map(_text),
            **{title: table[column].map(_seconds) for title, column in seconds.items()},
            "machine limit (s)": table["limit_epoch_s"].map(_seconds),
            "steady × limit": table["steady_x_limit"].map(lambda value: _fixed(value, 1)),
            "first × limit": table["first_x_limit"].map(lambda value: _fixed(value, 1)),
            "samples/s": table["samples_per_s"].map(lambda value: MISSING if pd.isna(value) else f"{value:,.0f}"),
            "target accuracy %": table["target_accuracy"].map(lambda value: _fixed(100 * value, 1)),
            "time to target (s)": [
                _time_to_target(*values)
                for values in zip(
                    table["time_to_target_median_s"], table["n_target_reached"], table["n_target"], strict=True
                )
            ],
            "contended epochs": table["contended_epochs"].map(
                lambda value: MISSING if pd.isna(value) else f"{value:.0f}"
            ),
            "threads": table["threads"].map(_text),
            "device": table["device"].map(_text),
            "hardware": table["hardware"].map(_text),
        }
    )


def reproduction_display(table: pd.DataFrame, frameworks: list[str]) -> pd.DataFrame:
    """reproduction_table as text: the published accuracy, then per framework its mean ± std, the difference from
    the published number in percentage points and in standard deviations, the verdict and the epochs each seed
    ran."""
    columns: dict[str, Any] = {
        "dataset": table["dataset"],
        "variant": table["variant"],
        "source": table["source"],
        "metric": table["metric"].str.replace("_", " "),
        "published %": table["published_accuracy"].map(lambda value: f"{100 * value:.2f}"),
    }
    for framework in frameworks:
        columns[f"{framework} % (mean ± std)"] = [
            _mean_std_percent(mean, std, n)
            for mean, std, n in zip(
                table[f"{framework}_mean"], table[f"{framework}_std"], table[f"{framework}_n"], strict=True
            )
        ]
        columns[f"{framework} − published (pp)"] = table[f"{framework}_minus_published"].map(
            lambda value: MISSING if pd.isna(value) else f"{100 * value:+.2f}"
        )
        columns[f"{framework} gap (std)"] = table[f"{framework}_gap_in_std"].map(lambda value: _fixed(value, 1))
        columns[f"{framework} verdict"] = table[f"{framework}_verdict"]
        columns[f"{framework} epochs run"] = table[f"{framework}_epochs_run"]
    columns["note"] = table["note"]
    return pd.DataFrame(columns)


def parity_display(table: pd.DataFrame) -> pd.DataFrame:
    """parity_table as text: the worst relative difference in scientific notation."""
    return table.assign(worst_max_rel_diff=table["worst_max_rel_diff"].map(lambda value: f"{value:.2e}")).rename(
        columns={"worst_max_rel_diff": "worst max rel diff", "worst_at": "worst at (variant / check / tensor)"}
    )


def status_display(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={"epochs_run": "epochs run", "file": "record"})


def _mean_std_percent(mean: float, std: float, n: int) -> str:
    if n == 0:
        return "no ok cell"
    if n == 1:
        return f"{100 * mean:.2f} (1 seed, no std)"
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _time_to_target(median_s: float, reached: float, recorded: float) -> str:
    """The median time to the target over the seeds that reached it, with how many did when not all."""
    if pd.isna(recorded) or recorded == 0:
        return MISSING
    if reached == 0:
        return "not reached"
    return _seconds(median_s) + ("" if reached == recorded else f" ({reached:.0f}/{recorded:.0f} seeds)")


def _text(value: Any) -> str:
    return MISSING if pd.isna(value) else str(value)


def _seconds(value: float) -> str:
    return MISSING if pd.isna(value) else f"{value:.3g}"


def _fixed(value: float, digits: int) -> str:
    return MISSING if pd.isna(value) else f"{value:.{digits}f}"
