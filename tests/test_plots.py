"""save_figure: the report's figures are laid out by constrained layout and painted in one draw; the timing
plot's machine-limit marks."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report import plots


def _draw_panels(figure: Figure) -> None:
    """Two log-log panels on shared axes (many unlabelled minor ticks), titles, labels and a legend below them."""
    left, right = figure.subplots(1, 2, sharex=True, sharey=True)
    steps = np.array([1, 10, 100, 469, 938, 1407])
    for axes, growth in ((left, 1.6), (right, 0.3)):
        axes.plot(steps, 6e-8 * steps**growth, marker="o", label="torch vs numpy")
        axes.set(xscale="log", yscale="log", xlabel="optimiser step", title=f"growth {growth}")
    left.set_ylabel("relative distance")
    figure.legend(*left.get_legend_handles_labels(), loc="outside lower center")
    figure.suptitle("a figure whose margins only a layout gets right")


def test_save_figure_paints_what_constrained_layout_and_savefig_paint(tmp_path: Path) -> None:
    figure = plots.new_figure(8, 3.5)
    _draw_panels(figure)
    plots.save_figure(figure, tmp_path / "fast.png")

    reference = Figure(figsize=(8, 3.5), dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(reference)
    _draw_panels(reference)
    reference.savefig(tmp_path / "reference.png", format="png")

    assert np.array_equal(
        matplotlib.image.imread(tmp_path / "fast.png"), matplotlib.image.imread(tmp_path / "reference.png")
    )


def test_save_figure_draws_the_figure_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(1) or original(self, renderer))
    figure = plots.new_figure(8, 3.5)
    _draw_panels(figure)
    plots.save_figure(figure, tmp_path / "figure.png")
    assert len(draws) == 1


def test_limit_ratio_labels_sit_above_the_whiskers() -> None:
    # The ratio is the bar's (median over the limit), but its label goes above the whisker where one reaches higher,
    # so the whisker does not run through the text.
    figure = plots.new_figure(6, 3)
    axes = figure.subplots()
    heights = pd.DataFrame({"numpy": [1.0, 2.0], "torch": [1.5, 3.0]}, index=["a", "b"])
    tops = pd.DataFrame({"numpy": [1.4, 2.0], "torch": [1.5, 3.6]}, index=["a", "b"])
    limit = pd.DataFrame({"numpy": [0.5, 0.5], "torch": [0.5, np.nan]}, index=["a", "b"])
    plots._limit_marks(axes, heights, limit, tops)
    labels = {(text.get_text(), round(text.xy[1], 6)) for text in axes.texts}
    assert labels == {("×2.0", 1.4), ("×4.0", 2.0), ("×3.0", 1.5)}  # torch on b has no limit, so no label
