"""The report's figures as PNG files: learning curves per variant, accuracy bars and timing bars.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, so no global figure state and no
display needed). Frameworks keep one colour in every figure; bar figures grow with the number of variants and
rotate their labels so that matrices of 7 to 20 variants stay readable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator

from harness.core.frameworks import framework_names

DPI = 110
# Colour-blind-safe Okabe–Ito colours, one per registered framework, then a few for unregistered names.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
FRAMEWORK_COLOURS = dict(zip(framework_names(), PALETTE, strict=False))


# Line styles by position in the legend, drawn widest first: frameworks that agree (the point of this project)
# give curves on top of each other, and this keeps each one visible.
LINE_STYLES = (
    {"linestyle": "-", "linewidth": 4.0, "marker": "o", "markersize": 8},
    {"linestyle": "--", "linewidth": 2.5, "marker": "s", "markersize": 5},
    {"linestyle": ":", "linewidth": 1.8, "marker": "^", "markersize": 4},
)


def framework_colour(framework: str, frameworks: list[str]) -> str:
    """The colour of `framework`: fixed for registered frameworks, else by its position among `frameworks`."""
    return FRAMEWORK_COLOURS.get(framework, PALETTE[frameworks.index(framework) % len(PALETTE)])


def plot_learning_curves(curves: pd.DataFrame, dataset: str, variant: str, path: Path) -> None:
    """Two panels for one dataset × variant: training loss and evaluation accuracy (%) per epoch, one line per
    framework (mean over seeds) with a band from the seeds' min to max.

    curves: rows of harness.report.tables.RunRecords.curves (ok cells only) for this dataset and variant.
    """
    frameworks = list(dict.fromkeys(curves["framework"]))
    figure = new_figure(11, 4.2)
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    single_epoch = curves["epoch"].nunique() == 1
    for i, framework in enumerate(frameworks):
        runs = curves[curves["framework"] == framework]
        # One epoch gives one point per framework: set them side by side so that their seed ranges do not overlap.
        dodge = 0.1 * (i - (len(frameworks) - 1) / 2) if single_epoch else 0.0
        colour = framework_colour(framework, frameworks)
        n_seeds = runs["seed"].nunique()
        label = f"{framework} ({n_seeds} seed{'s' if n_seeds != 1 else ''})"
        for axes, column, scale in ((loss_axes, "train_loss", 1.0), (accuracy_axes, "val_accuracy", 100.0)):
            by_epoch = runs.groupby("epoch")[column].agg(["mean", "min", "max"]).dropna() * scale
            if by_epoch.empty:
                continue
            epochs = by_epoch.index + dodge
            style = LINE_STYLES[i % len(LINE_STYLES)]
            # About 15 markers per line at most, so that long runs (200 epochs) stay lines, not rows of blobs.
            markevery = max(1, len(epochs) // 15)
            axes.plot(epochs, by_epoch["mean"], color=colour, label=label, markevery=markevery, **style)
            axes.fill_between(epochs, by_epoch["min"], by_epoch["max"], color=colour, alpha=0.2, lw=0)
            if len(by_epoch) == 1:  # a band over one epoch has no width: show the seeds' range as a whisker
                axes.vlines(epochs, by_epoch["min"], by_epoch["max"], color=colour, lw=1.5)
    split = _one_or_mixed(curves["eval_split"], "evaluation")
    loss_name = _one_or_mixed(curves["loss"], "loss")
    loss_axes.set(title="Training loss", xlabel="epoch", ylabel=f"training loss ({loss_name}, mean over batches)")
    accuracy_axes.set(title=f"{split.capitalize()} accuracy", xlabel="epoch", ylabel=f"{split} accuracy (%)")
    for axes in (loss_axes, accuracy_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.set_xlim(0.5, curves["epoch"].max() + 0.5)
        axes.grid(alpha=0.3)
        if not axes.has_data():
            axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes)
    # One legend for both panels, below them, so that it never hides a curve.
    handles, labels = loss_axes.get_legend_handles_labels()
    figure.legend(handles, labels, title="framework", loc="outside lower center", ncols=len(frameworks))
    legend = "point: mean over seeds; whisker: min–max" if single_epoch else "line: mean over seeds; band: min–max"
    figure.suptitle(f"Learning curves: {variant} on {dataset} ({legend}; identical curves overlap)")
    save_figure(figure, path)


def plot_divergence(divergence: pd.DataFrame, roundoff: dict[str, float], path: Path) -> None:
    """One panel per dataset × variant, on shared log axes: the relative distance of each framework's parameters
    to the reference framework's by optimiser step (median over seeds, band min–max), and a dotted line at one
    rounding of the run's dtype (`roundoff`: dtype → unit roundoff).

    divergence: harness.report.divergence.load_divergence (steps after 0 are drawn).
    """
    drawn = divergence[divergence["step"] > 0]
    panels = list(dict.fromkeys(zip(drawn["dataset"], drawn["variant"], strict=True)))
    frameworks = list(dict.fromkeys(drawn["framework"]))
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    figure = new_figure(3.3 * columns + 0.5, 2.8 * rows + 0.8)
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for axes, (dataset, variant) in zip(grid.flat, panels, strict=False):
        panel = drawn[(drawn["dataset"] == dataset) & (drawn["variant"] == variant)]
        for i, framework in enumerate(frameworks):
            runs = panel[panel["framework"] == framework]
            if runs.empty:
                continue
            by_step = runs.groupby("step")["relative"].agg(["median", "min", "max"])
            colour = framework_colour(framework, frameworks)
            style = {**LINE_STYLES[i % len(LINE_STYLES)], "linewidth": 1.8, "markersize": 4}
            label = f"{framework} vs {runs['reference'].iloc[0]}"
            axes.plot(by_step.index, by_step["median"], color=colour, label=label, **style)
            axes.fill_between(by_step.index, by_step["min"], by_step["max"], color=colour, alpha=0.2, lw=0)
        for dtype in dict.fromkeys(panel["dtype"]):
            axes.axhline(roundoff.get(str(dtype), np.nan), color="grey", linestyle=":", linewidth=1)
        axes.set_title(variant if drawn["dataset"].nunique() == 1 else f"{variant} ({dataset})", fontsize=10)
        axes.set(xscale="log", yscale="log")
        axes.grid(alpha=0.3)
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    for axes in grid[-1, :]:
        axes.set_xlabel("optimiser step")
    for axes in grid[:, 0]:
        axes.set_ylabel("‖θ − θ_ref‖ / ‖θ_ref‖")
    handles, labels = grid.flat[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", linestyle=":", linewidth=1))
    labels.append("one rounding (unit roundoff of the dtype)")
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    figure.suptitle("Divergence from identical starts: relative parameter distance to the reference framework")
    save_figure(figure, path)


def plot_accuracy_bars(accuracy: pd.DataFrame, path: Path) -> None:
    """Grouped bars of final test accuracy (%): one group per variant, one bar per framework, error bars ± one
    std over seeds. The y axis starts just below the lowest bar (stated in the axis label) so that differences of
    a few tenths of a percent stay visible.

    accuracy: harness.report.tables.accuracy_table.
    """
    means = _by_group(accuracy, "test_accuracy_mean") * 100
    stds = _by_group(accuracy, "test_accuracy_std").fillna(0) * 100
    figure, axes = _bar_figure(len(means.index), 1)
    _grouped_bars(axes[0], means, stds, stds)
    low, high = float(np.nanmin((means - stds).to_numpy())), float(np.nanmax((means + stds).to_numpy()))
    margin = 0.3 * max(high - low, 1.0)
    bottom, top = max(0.0, np.floor(low - margin)), min(100.0, np.ceil(high + margin))
    axes[0].set_ylim(bottom, top)
    axes[0].set(
        title="Final test accuracy by variant and framework (bars: mean over seeds; error bars: ± 1 std)",
        ylabel=f"test accuracy (%; axis starts at {bottom:g})",
    )
    _label_groups(axes[0], means.index)
    save_figure(figure, path)


def plot_timing_bars(timing: pd.DataFrame, path: Path) -> None:
    """Grouped bars of training time per epoch (s): steady-state epochs (median over seeds of each cell's median
    epoch; whiskers: min–max over seeds) above, and the first epoch (compile/trace included) below. Runs of one
    epoch have no steady state; then only the first-epoch panel is drawn. Where the machine limit is known, a black
    line across each bar marks it and the bar is labelled with its ratio to it.

    timing: harness.report.tables.timing_table.
    """
    first = _by_group(timing, "first_epoch_s")
    steady = _by_group(timing, "steady_epoch_median_s")
    limit = _by_group(timing, "limit_epoch_s")
    has_steady = steady.notna().any().any()
    figure, panels = _bar_figure(len(first.index), 2 if has_steady else 1)
    if has_steady:
        steady_axes = panels.pop(0)
        steady_max = _by_group(timing, "steady_epoch_max_s")
        _grouped_bars(steady_axes, steady, steady - _by_group(timing, "steady_epoch_min_s"), steady_max - steady)
        _limit_marks(steady_axes, steady, limit, steady_max)
        steady_axes.set(
            title="Steady-state training time per epoch (bars: median over seeds; whiskers: min–max)",
            ylabel="time per epoch (s)",
        )
    (first_axes,) = panels
    _grouped_bars(first_axes, first, None, None)
    _limit_marks(first_axes, first, limit)
    first_axes.set(
        title="First epoch, compile/trace included (median over seeds)"
        + ("" if has_steady else "\nno steady-state epochs: every run had 1 epoch"),
        ylabel="first epoch time (s)",
    )
    legend = first_axes.get_legend()
    if has_steady and legend is not None:
        legend.remove()
    _label_groups(first_axes, first.index)
    save_figure(figure, path)


def _limit_marks(axes: Axes, heights: pd.DataFrame, limit: pd.DataFrame, tops: pd.DataFrame | None = None) -> None:
    """A black line at the machine limit across each bar that has one, and the bar's '×ratio' above it (above
    tops, the whiskers' upper ends, where the bars have whiskers)."""
    frameworks = list(heights.columns)
    width = 0.8 / len(frameworks)
    tops = heights if tops is None else tops.where(tops > heights, heights)
    marked = False
    for i, framework in enumerate(frameworks):
        for position, (height, bound, top) in enumerate(
            zip(heights[framework], limit[framework], tops[framework], strict=True)
        ):
            if pd.isna(height) or pd.isna(bound):
                continue
            centre = position + (i - (len(frameworks) - 1) / 2) * width
            axes.hlines(bound, centre - width / 2, centre + width / 2, colors="black", linewidth=2, zorder=3)
            axes.annotate(f"×{height / bound:.1f}", (centre, top), ha="center", va="bottom", fontsize=7, rotation=90)
            marked = True
    if marked:
        axes.set_ylim(top=axes.get_ylim()[1] * 1.15)  # room for the ratio labels above the tallest bar
        handles, labels = axes.get_legend_handles_labels()
        handles.append(Line2D([], [], color="black", linewidth=2))
        labels.append("machine limit\n(GEMM FLOPs /\npeak GEMM rate)")
        axes.legend(handles, labels, title="framework", loc="upper left", bbox_to_anchor=(1.0, 1.0))


# --- shared figure parts -----------------------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Figure:
    """A figure of width × height inches on the Agg canvas, without a layout engine: save_figure lays it out."""
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.set_layout_engine("none")  # whatever layout matplotlibrc asks for: save_figure's is the one
    FigureCanvasAgg(figure)
    return figure


def _bar_figure(n_groups: int, n_panels: int) -> tuple[Figure, list[Axes]]:
    """A figure wide enough for n_groups bar groups (about 0.9 inch each, 8 inches at least)."""
    figure = new_figure(max(8.0, 2.0 + 0.9 * n_groups), 1.0 + 3.6 * n_panels)
    axes = figure.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    return figure, list(axes)


def _by_group(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column` as a (bar group × framework) frame; bar groups are variants, or 'variant (dataset)' when the table
    holds several datasets. Row and column order follow the table."""
    several_datasets = table["dataset"].nunique() > 1
    groups = table["variant"] + (" (" + table["dataset"] + ")" if several_datasets else "")
    if "hardware" in table and table["hardware"].nunique() > 1:
        # Bars side by side are compared: only cells on the same hardware may stand in one group.
        groups = groups + " [" + table["hardware"].astype(str) + "]"
    wide = table.assign(group=groups).pivot(index="group", columns="framework", values=column)
    return wide.reindex(index=list(dict.fromkeys(groups)), columns=list(dict.fromkeys(table["framework"])))


def _grouped_bars(axes: Axes, heights: pd.DataFrame, below: pd.DataFrame | None, above: pd.DataFrame | None) -> None:
    """One bar per (row, column) of `heights`, rows side by side as groups; `below`/`above` are error-bar
    lengths of the same shape (None for no error bars). A missing value leaves its slot empty."""
    frameworks = list(heights.columns)
    width = 0.8 / len(frameworks)
    positions = np.arange(len(heights.index))
    for i, framework in enumerate(frameworks):
        errors = None
        if below is not None and above is not None:
            errors = np.vstack([below[framework].fillna(0), above[framework].fillna(0)])
        axes.bar(
            positions + (i - (len(frameworks) - 1) / 2) * width,
            heights[framework],
            width=width,
            yerr=errors,
            capsize=2,
            color=framework_colour(framework, frameworks),
            label=framework,
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(title="framework", loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _label_groups(axes: Axes, groups: pd.Index) -> None:
    rotation = 0 if len(groups) <= 4 else 35
    axes.set_xticks(np.arange(len(groups)), list(groups), rotation=rotation, ha="right" if rotation else "center")
    axes.set_xlabel("variant")


def _one_or_mixed(values: pd.Series, fallback: str) -> str:
    distinct = [value for value in dict.fromkeys(values) if value]
    return distinct[0] if len(distinct) == 1 else fallback


def save_figure(figure: Figure, path: Path) -> None:
    """Lay `figure` out and write it as a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _lay_out(figure)
    figure.savefig(path, format="png")


def _lay_out(figure: Figure) -> None:
    """Fit the figure's margins and gaps to its titles, labels and legends (matplotlib's constrained layout).

    The layout runs here, before savefig, because a figure that carries a layout engine is drawn twice by savefig
    (once to lay it out, then to paint it) and the first draw costs about as much as the second; laid out
    beforehand, the same pixels come from one draw. Minor ticks whose labels are all empty (those of a log axis
    spanning more than a decade) take no room but are most of the layout's work on log axes, each tick measured in
    every layout pass, so the layout runs without them."""
    unlabelled = [
        axis
        for axes in figure.axes
        for axis in (axes.xaxis, axes.yaxis)
        if not any(axis.get_minor_formatter().format_ticks(axis.get_minorticklocs().tolist()))
    ]
    locators = [axis.get_minor_locator() for axis in unlabelled]
    for axis in unlabelled:
        axis.minor.locator = NullLocator()
    ConstrainedLayoutEngine().execute(figure)
    for axis, locator in zip(unlabelled, locators, strict=True):
        axis.minor.locator = locator
