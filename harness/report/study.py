"""The conventions study's report (harness.run.study wrote the directory): every arm against the aligned run of the
same seeds, ranked by effect size, with its divergence over the steps.

<out>/report.md                 the answer first (largest effects, what is noise), then the ranked table
<out>/effects.csv, effects.json one row per arm: paired accuracy difference to aligned with its 95 % interval,
                                Holm-adjusted p over every arm, call, and the mean parameter distance at each step
<out>/conventions.csv           one row per convention: arms, how many differ beyond noise, its largest effect
<out>/accuracies.csv            per finished cell (an arm's cells_variant, framework, seed): final test accuracy and
                                loss, from which every paired difference can be recomputed
<out>/curves.csv                per arm and epoch: mean training loss and test accuracy over the seeds
<out>/distances.csv             per arm, seed and snapshot step: the parameter distance to the aligned run
<out>/plots/                    accuracy_differences.png, curves_largest_effects.png, and divergence_<switch>.png
                                per switch
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.catalog.studies import ALIGNED, ALL
from harness.core.conventions import defaults_markdown
from harness.core.errors import RunRecordError
from harness.report import stats
from harness.report.plots import new_figure, save_figure
from harness.report.tables import load_run
from harness.run.snapshots import read_distances
from harness.run.study import PASSES, distances_path

EFFECT_COLUMNS = ("variant", "arm", "runs_in", "switch", "framework", "convention", "changed")
CALL_COLOURS = {"differs": "#D55E00", "within noise": "#0072B2", "identical": "#009E73", "not testable": "#999999"}
HEADLINE_EFFECTS = 3
CURVE_PANELS = 6
"""The training-curve figure shows the arms with the largest effects, this many."""


@dataclass(frozen=True)
class StudyReport:
    """The loaded study: effects (one row per arm and where it ran), accuracies (one row per finished cell), curves,
    distances."""

    out: Path
    config: dict[str, Any]
    effects: pd.DataFrame
    accuracies: pd.DataFrame
    curves: pd.DataFrame
    distances: pd.DataFrame
    headline: tuple[str, ...]

    def by_convention(self) -> pd.DataFrame:
        """by_convention(effects) of this study."""
        return by_convention(self.effects, self.config["reference"])

    def by_convention_markdown(self) -> str:
        table = self.by_convention()
        shown = pd.DataFrame(
            {
                "convention": table["convention"],
                "arms differing beyond noise": [
                    f"{d} of {n}" for d, n in zip(table["differ"], table["arms"], strict=True)
                ],
                "largest Δ accuracy (points) [95 % CI]": [
                    f"{_points(d)} [{_points(lo)}, {_points(hi)}]"
                    for d, lo, hi in zip(table["largest"], table["low"], table["high"], strict=True)
                ],
                "where": table["where"],
            }
        )
        return shown.to_markdown(index=False)

    def ranked_markdown(self, limit: int | None = None) -> str:
        """The effects table, largest effect first, as Markdown (`limit` rows at most)."""
        if self.effects.empty:
            return "(no arm has finished yet)"
        table = _display(self.effects if limit is None else self.effects.head(limit), self.config["snapshot_steps"])
        return table.to_markdown(index=False)


def load_study(out: Path) -> StudyReport:
    """Read study.json, every pass's run directory and the distance files; RunRecordError names what is missing."""
    config_path = out / "study.json"
    if not config_path.is_file():
        raise RunRecordError(f"{out} has no study.json; run `fwcompare study conventions --out {out}` first")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    # One row per arm of study.json, with the settings it changes joined as the tables show them.
    arms = pd.DataFrame([{**arm, "changed": "; ".join(arm["changed"])} for arm in config["arms"]])
    cells: list[pd.DataFrame] = []
    run_curves: list[pd.DataFrame] = []
    for run_dir in sorted((out / "runs").glob("*")):
        if run_dir.name.split("-")[0] not in PASSES or not (run_dir / "cells").is_dir():
            continue
        run = load_run(run_dir)
        cells.append(run.cells)
        run_curves.append(run.curves)
    if not cells:
        raise RunRecordError(f"{out / 'runs'} holds no finished cells; run `fwcompare study conventions --out {out}`")
    all_cells = pd.concat(cells, ignore_index=True)
    all_curves = pd.concat(run_curves, ignore_index=True)
    distances = _distances(out, all_cells)
    effects = _effects(arms, all_cells, distances, config)
    accuracies = all_cells.loc[
        all_cells["status"] == "ok", ["variant", "framework", "seed", "test_accuracy", "test_loss", "epochs_run"]
    ].rename(columns={"variant": "cells_variant"})
    curves = _arm_curves(arms, all_curves)
    return StudyReport(out, config, effects, accuracies, curves, distances, _headline(effects, config))


def _accuracies(cells: pd.DataFrame, cells_variant: str, framework: str) -> dict[int, float]:
    """{seed: test accuracy} of the ok cells of one arm in one framework."""
    chosen = cells[(cells["variant"] == cells_variant) & (cells["framework"] == framework) & (cells["status"] == "ok")]
    return dict(zip(chosen["seed"].astype(int), chosen["test_accuracy"].astype(float), strict=True))


def _effects(arms: pd.DataFrame, cells: pd.DataFrame, distances: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    reference = config["reference"]
    rows = []
    for variant, group in arms.groupby("variant", sort=False):
        aligned_variant = group.loc[group["arm"] == ALIGNED, "cells_variant"].iloc[0]
        aligned = _accuracies(cells, aligned_variant, reference)
        for arm in group[group["arm"] != ALIGNED].itertuples():
            places = [reference] + (
                [arm.framework] if arm.switch == ALL and arm.framework in config["in_frameworks"] else []
            )
            for runs_in in places:
                found = stats.difference(aligned, _accuracies(cells, str(arm.cells_variant), runs_in))
                keys = cells.loc[(cells["variant"] == arm.cells_variant) & (cells["framework"] == runs_in), "key"]
                steps = distances[distances["key"].isin(keys)].groupby("step")["relative"].mean()
                rows.append(
                    {
                        "variant": variant,
                        "arm": arm.arm,
                        "runs_in": runs_in,
                        "switch": arm.switch,
                        "framework": arm.framework,
                        "convention": arm.convention or "",
                        "changed": arm.changed,
                        "cells_variant": arm.cells_variant,
                        "n_pairs": found.n_pairs,
                        "aligned_accuracy": stats.mean_of(aligned),
                        "arm_accuracy": found.mean + stats.mean_of(aligned) if found.n_pairs else math.nan,
                        "difference": found.mean,
                        "low": found.low,
                        "high": found.high,
                        "in_spreads": found.in_spreads,
                        "p_value": found.p_value,
                        "identical": found.identical,
                        **{f"distance_step{step}": steps.get(step, math.nan) for step in config["snapshot_steps"]},
                    }
                )
    effects = pd.DataFrame(rows)
    if effects.empty:
        return effects
    # Holm's family: the arms trained in the reference; the same arms trained in a framework (a check of the
    # reference's "all" arms) are a second family, so running them leaves the reference's calls as they were.
    effects["p_holm"] = math.nan
    for _, family in effects.groupby(effects["runs_in"] == config["reference"]):
        effects.loc[family.index, "p_holm"] = stats.holm(list(family["p_value"]))
    effects["call"] = [stats.call(i, p) for i, p in zip(effects["identical"], effects["p_holm"], strict=True)]
    order = effects["difference"].abs().sort_values(ascending=False, na_position="last").index
    return effects.loc[order].reset_index(drop=True)


def _distances(out: Path, cells: pd.DataFrame) -> pd.DataFrame:
    rows = [
        {"key": key, "variant": variant, "framework": framework, "seed": seed, "step": step, **values}
        for key, variant, framework, seed in cells[["key", "variant", "framework", "seed"]].itertuples(index=False)
        for step, values in read_distances(distances_path(out, key)).items()
    ]
    columns = ["key", "variant", "framework", "seed", "step", "l2", "relative", "running_stats_relative"]
    return pd.DataFrame(rows, columns=columns)


def _arm_curves(arms: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Mean training loss and test accuracy per (variant, arm, framework, epoch) over the seeds."""
    per_cells = curves.groupby(["variant", "framework", "epoch"], sort=False)[["train_loss", "val_accuracy"]].mean()
    rows = []
    for arm in arms.itertuples():
        if arm.cells_variant not in per_cells.index.get_level_values("variant"):
            continue
        arm_cells = per_cells.loc[str(arm.cells_variant)]
        for (framework, epoch), train_loss, val_accuracy in zip(
            arm_cells.index, arm_cells["train_loss"], arm_cells["val_accuracy"], strict=True
        ):
            rows.append(
                {
                    "variant": arm.variant,
                    "arm": arm.arm,
                    "framework": framework,
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "val_accuracy": val_accuracy,
                }
            )
    return pd.DataFrame(rows)


def by_convention(effects: pd.DataFrame, reference_framework: str) -> pd.DataFrame:
    """One row per switch (the single-convention arms run in the reference, and the 'all' arms as 'all'): how
    many of its arms have results and how many of those differ beyond noise, and its largest effect (signed,
    with interval, variant and framework), largest first."""
    rows = []
    # An empty effects table has no columns to select by.
    reference = effects[effects["runs_in"] == reference_framework] if not effects.empty else effects
    for switch, arms in reference.groupby("switch", sort=False) if len(reference) else []:
        largest = arms.iloc[arms["difference"].abs().argmax()] if arms["difference"].notna().any() else None
        rows.append(
            {
                "convention": switch,
                "arms": len(arms),
                "differ": int((arms["call"] == "differs").sum()),
                "largest": largest["difference"] if largest is not None else math.nan,
                "low": largest["low"] if largest is not None else math.nan,
                "high": largest["high"] if largest is not None else math.nan,
                "where": f"{largest['variant']} · {largest['arm']}" if largest is not None else "",
            }
        )
    table = pd.DataFrame(rows, columns=["convention", "arms", "differ", "largest", "low", "high", "where"])
    return table.reindex(table["largest"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def _headline(effects: pd.DataFrame, config: dict[str, Any]) -> tuple[str, ...]:
    if effects.empty:
        return ("No arm has finished yet.",)
    single = effects[(effects["switch"] != ALL) & (effects["runs_in"] == config["reference"])]
    naive_ref = effects[(effects["switch"] == ALL) & (effects["runs_in"] == config["reference"])]
    differ = single[single["call"] == "differs"]
    lines = [
        f"{len(differ)} of {len(single)} single-convention arms change the final test accuracy beyond seed noise "
        f"(paired t over {config['seeds'][-1] + 1} seeds, Holm-adjusted over all {len(single) + len(naive_ref)} arms "
        f"trained in the {config['reference']} reference, "
        f"α = {stats.ALPHA})."
    ]
    conventions = by_convention(effects, config["reference"])
    conventions = conventions[conventions["convention"] != ALL]
    top = conventions.head(HEADLINE_EFFECTS)
    for row, largest, low, high in zip(top.itertuples(), top["largest"], top["low"], top["high"], strict=True):
        call = single.loc[(single["variant"] + " · " + single["arm"]) == row.where, "call"].iloc[0]
        lines.append(
            f"{row.convention}: largest effect {_points(largest)} points [{_points(low)}, "
            f"{_points(high)}] ({row.where}, {call}); {row.differ} of {row.arms} of its arms differ beyond noise."
        )
    by_switch = single.groupby("switch")["call"].agg(lambda calls: (calls == "differs").any())
    noise = sorted(by_switch[~by_switch].index)
    if noise:
        lines.append(f"Within noise on every variant: {', '.join(noise)}.")
    unfinished = effects[effects["n_pairs"] < len(config["seeds"])]
    if not unfinished.empty:
        lines.append(
            f"{len(unfinished)} arms have fewer than {len(config['seeds'])} finished seeds (fewer pairs, wider "
            "intervals; none: not testable); rerun the same command to finish them."
        )
    if not naive_ref.empty:
        worst = naive_ref.iloc[0]
        lines.append(
            f"All defaults at once (the naive port): largest gap {_points(worst['difference'])} points "
            f"({worst['arm']} on {worst['variant']}); {int((naive_ref['call'] == 'differs').sum())} of "
            f"{len(naive_ref)} such arms differ beyond noise."
        )
    in_frameworks = effects[effects["runs_in"] != config["reference"]]
    if not in_frameworks.empty:
        paired = in_frameworks.merge(naive_ref, on=["variant", "arm"], suffixes=("", "_reference"))
        gap = (paired["difference"] - paired["difference_reference"]).abs().max()
        lines.append(
            f"The same {len(in_frameworks)} 'all' arms trained in the frameworks themselves "
            f"({', '.join(sorted(set(in_frameworks['runs_in'])))}) move the accuracy as the reference's do, within "
            f"{100 * gap:.2f} points."
        )
    return tuple(lines)


def _points(fraction: float) -> str:
    return "nan" if math.isnan(fraction) else f"{100 * fraction:+.2f}"


def _display(effects: pd.DataFrame, steps: list[int]) -> pd.DataFrame:
    """The effects table for people: accuracy in points with the interval, distances at the steps, the call."""
    table = pd.DataFrame(
        {
            "variant": effects["variant"],
            "arm": effects["arm"],
            "runs in": effects["runs_in"],
            "changes": effects["changed"],
            "Δ accuracy (points) [95 % CI]": [
                f"{_points(d)} [{_points(lo)}, {_points(hi)}]"
                for d, lo, hi in zip(effects["difference"], effects["low"], effects["high"], strict=True)
            ],
            "Holm p": [f"{p:.2g}" for p in effects["p_holm"]],
            "call": effects["call"],
        }
    )
    for step in steps:
        table[f"rel. distance @{step}"] = [f"{v:.2g}" for v in effects[f"distance_step{step}"]]
    return table


def plot_accuracy_differences(effects: pd.DataFrame, path: Path) -> None:
    """Every arm's paired accuracy difference to aligned with its 95 % interval, largest effect on top."""
    labels = [
        f"{row.variant} · {row.arm}" + (f" ({row.runs_in})" if row.switch == ALL else "")
        for row in effects.itertuples()
    ]
    figure = new_figure(9, 1.2 + 0.22 * len(effects))
    axes = figure.subplots()
    positions = np.arange(len(effects))[::-1]
    for position, call, difference, low, high in zip(
        positions, effects["call"], effects["difference"], effects["low"], effects["high"], strict=True
    ):
        colour = CALL_COLOURS.get(call, "#999999")
        axes.errorbar(
            100 * difference,
            position,
            xerr=[[100 * (difference - low)], [100 * (high - difference)]],
            fmt="o",
            color=colour,
            markersize=4,
            capsize=2,
        )
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(positions, labels, fontsize=7)
    axes.set_xlabel("test accuracy difference to the aligned run (percentage points, paired by seed, 95 % CI)")
    axes.set_title("Each convention switched to a library default: effect on final test accuracy")
    for call, colour in CALL_COLOURS.items():
        axes.plot([], [], "o", color=colour, label=call)
    axes.legend(loc="lower right", fontsize=8)
    save_figure(figure, path)


def plot_divergence(effects: pd.DataFrame, distances: pd.DataFrame, switch: str, path: Path) -> None:
    """One line per arm of `switch` (variant × framework): the mean relative distance of the trainable parameters
    to the aligned run of the same seed after each snapshot step (solid), and of the BN running statistics where
    the variant has them (dotted); step 0 drawn at 0.5 on the log axis, zero distances left out (a log axis cannot
    show them), the seeds' range as a band."""
    chosen = effects[effects["switch"] == switch]
    # The legend sits right of the axes, one line per arm and measure: the figure grows with it.
    figure: Figure = new_figure(13, max(4.8, 1.5 + 0.16 * 2 * len(chosen)))
    axes = figure.subplots()
    drawn = 0
    for row in chosen.itertuples():
        arm_cells = distances[(distances["variant"] == row.cells_variant) & (distances["framework"] == row.runs_in)]
        for column, style, what in (("relative", "-", "parameters"), ("running_stats_relative", ":", "BN statistics")):
            grouped = arm_cells[arm_cells[column] > 0].groupby("step")[column]
            if not len(grouped):
                continue
            steps = np.array([max(step, 0.5) for step in grouped.mean().index])
            label = f"{row.variant} · {row.arm} ({row.runs_in}): {what}"
            line = axes.plot(steps, grouped.mean().to_numpy(), style, marker="o", label=label)
            band = (grouped.min().to_numpy(), grouped.max().to_numpy())
            axes.fill_between(steps, *band, color=line[0].get_color(), alpha=0.15)
            drawn += 1
    if not drawn:
        axes.text(
            0.5, 0.5, "identical to the aligned run at every snapshot step", ha="center", transform=axes.transAxes
        )
    else:
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.set_xlabel("optimiser steps (0 drawn at 0.5)")
    axes.set_ylabel("‖θ_arm − θ_aligned‖ / ‖θ_aligned‖ (mean over seeds)")
    axes.set_title(f"Divergence from the aligned run: {switch}")
    save_figure(figure, path)


def build_study_report(out: Path | str) -> StudyReport:
    """Load the study under `out` and write its report files (module docstring); returns what was loaded."""
    out = Path(out)
    report = load_study(out)
    report.effects.to_csv(out / "effects.csv", index=False)
    (out / "effects.json").write_text(
        json.dumps(
            {
                "headline": list(report.headline),
                "alpha": stats.ALPHA,
                "confidence": stats.CONFIDENCE,
                "effects": json.loads(report.effects.to_json(orient="records")),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    report.accuracies.to_csv(out / "accuracies.csv", index=False, float_format="%.6g")
    report.by_convention().to_csv(out / "conventions.csv", index=False)
    report.curves.to_csv(out / "curves.csv", index=False, float_format="%.6g")
    report.distances.drop(columns="key").to_csv(out / "distances.csv", index=False, float_format="%.6g")
    plots = out / "plots"
    if not report.effects.empty:
        plot_accuracy_differences(report.effects, plots / "accuracy_differences.png")
    if not report.effects.empty and not report.curves.empty:
        plot_top_curves(report.effects, report.curves, plots / "curves_largest_effects.png")
    switches = list(dict.fromkeys(report.effects["switch"])) if not report.effects.empty else []
    for switch in switches:
        plot_divergence(report.effects, report.distances, switch, plots / f"divergence_{switch}.png")
    (out / "report.md").write_text(_markdown(report, switches), encoding="utf-8")
    return report


def _markdown(report: StudyReport, switches: list[str]) -> str:
    config = report.config
    seeds = len(config["seeds"])
    lines = [
        f"# Conventions study: {config['study']}",
        "",
        *[f"- {line}" for line in report.headline],
        "",
        f"{config['description']}. Seeds 0–{seeds - 1}, {config['epochs']} epochs on {config['dataset']}. Each arm "
        "starts from the aligned specs of its variant and switches one convention to one library's default "
        f"({', '.join(config['defaults_of'])}); `all=<framework>` switches every applicable default at once. "
        f"Every arm trains in the {config['reference']} reference, which runs every rule form and which "
        "`fwcompare parity` proves equal to each framework once aligned, so an arm's effect is the convention's "
        "alone; arms marked with another framework under 'runs in' trained in that framework itself. Differences are "
        "paired by seed (the same initial weights where the initialiser is not switched, the same batch orders and "
        "dropout masks), with 95 % intervals and Holm's adjustment over every arm trained in the reference (the arms "
        "trained in a framework are a second family).",
        "",
        "## By convention, largest effect first",
        "",
        "Single-convention arms in the reference ('all': every default at once), over every variant they apply to.",
        "",
        report.by_convention_markdown(),
        "",
        "## Effects, largest first",
        "",
        "Relative distance: ‖θ_arm − θ_aligned‖/‖θ_aligned‖ over the trainable parameters after that many optimiser "
        "steps, mean over seeds (step 0: the initial parameters). A batch norm convention that acts only on the "
        "running statistics leaves the trainable parameters equal (distance 0) and changes inference only; "
        "distances.csv and its divergence plot give the running statistics' distance too.",
        "",
        report.ranked_markdown(),
        "",
        "![accuracy differences](plots/accuracy_differences.png)",
        "",
        "## Training curves of the largest effects",
        "",
        "![training curves](plots/curves_largest_effects.png)",
        "",
        "## Divergence over the steps",
        "",
        *[f"![divergence: {switch}](plots/divergence_{switch}.png)" for switch in switches],
        "",
        "## Not switched",
        "",
        *[f"- {note}" for note in config["not_switched"]],
        "",
        "## The libraries' defaults",
        "",
        defaults_markdown(),
        "Files: effects.csv / effects.json (every arm), accuracies.csv (every cell's final test accuracy and loss), "
        "curves.csv (mean training loss and test accuracy per epoch), "
        "distances.csv (every arm, seed and step), study.json (the arms and their specs).",
        "",
    ]
    return "\n".join(lines)


def plot_top_curves(effects: pd.DataFrame, curves: pd.DataFrame, path: Path) -> None:
    """Training loss and test accuracy per epoch (means over seeds) of the CURVE_PANELS arms with the largest
    effects, each beside the aligned run of its variant."""
    top = effects[effects["n_pairs"] > 0].head(CURVE_PANELS)
    figure = new_figure(12, 2.6 * max(1, len(top)))
    panels = figure.subplots(max(1, len(top)), 2, squeeze=False)
    for (loss_axes, accuracy_axes), row in zip(panels, top.itertuples(), strict=False):
        for arm, style in ((ALIGNED, "--"), (row.arm, "-")):
            framework = row.runs_in
            chosen = curves[(curves["variant"] == row.variant) & (curves["arm"] == arm)]
            chosen = chosen[chosen["framework"] == (framework if arm != ALIGNED else chosen["framework"].iloc[0])]
            label = f"{arm} ({framework})" if arm != ALIGNED else ALIGNED
            loss_axes.plot(chosen["epoch"], chosen["train_loss"], style, marker="o", label=label)
            accuracy_axes.plot(chosen["epoch"], 100 * chosen["val_accuracy"], style, marker="o", label=label)
        loss_axes.set_title(f"{row.variant}: training loss", fontsize=9)
        accuracy_axes.set_title(f"{row.variant}: test accuracy (%)", fontsize=9)
        loss_axes.legend(fontsize=7)
        for axes in (loss_axes, accuracy_axes):
            axes.set_xlabel("epoch")
    save_figure(figure, path)
