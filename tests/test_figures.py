"""harness.report.figures: rebuilding a report draws only the figures whose inputs changed (or whose PNG did), and
figures drawn by several processes are the ones drawn in turn. On the synthetic run of tests/test_report.py."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib
import pytest

from harness.report import plots
from harness.report.build import build_report
from harness.report.figures import DIGESTS
from tests.test_report import cell_record, write_record, write_run

ROOT = Path(__file__).resolve().parent.parent
PNGS = {"accuracy.png", "timing.png", "curves_mnist_relu-he.png", "curves_mnist_tanh-xavier.png"}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The synthetic run with its report built once."""
    run_dir = tmp_path / "run"
    write_run(run_dir)
    build_report(run_dir)
    return run_dir


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the PNGs saved from now on in this process (every plots function saves through save_figure)."""
    names: list[str] = []
    original = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda figure, path: names.append(path.name) or original(figure, path))
    return names


def pngs(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (run_dir / "plots").glob("*.png")}


def test_an_unchanged_run_is_rebuilt_without_drawing_a_figure(run_dir: Path, drawn: list[str]) -> None:
    before = pngs(run_dir)
    written = {path.name: path.stat().st_mtime_ns for path in (run_dir / "plots").glob("*.png")}
    build_report(run_dir)
    assert drawn == []
    assert set(before) == PNGS and pngs(run_dir) == before
    assert {path.name: path.stat().st_mtime_ns for path in (run_dir / "plots").glob("*.png")} == written
    assert all(f"](plots/{name})" in (run_dir / "report.md").read_text() for name in PNGS)


def test_a_rebuild_with_nothing_to_draw_does_not_import_the_drawing_code(tmp_path: Path) -> None:
    # Both builds in fresh processes, as two `fwcompare report` calls: this process's registry may hold frameworks
    # other tests registered, which changes the colour order and so every digest.
    run_dir = tmp_path / "run"
    write_run(run_dir)
    probe = (
        "import sys; from harness.report.build import build_report; build_report(sys.argv[1]); "
        "print(sorted(name for name in ('harness.report.plots', 'matplotlib.figure') if name in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    loaded = [
        subprocess.run(
            [sys.executable, "-c", probe, str(run_dir)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert loaded == ["['harness.report.plots', 'matplotlib.figure']", "[]"]


def test_a_changed_record_redraws_only_the_figure_that_shows_the_change(run_dir: Path, drawn: list[str]) -> None:
    before = pngs(run_dir)
    record = cell_record("tanh-xavier", "torch", 1)
    # Twice the training loss: only the learning curves of tanh-xavier plot it.
    history = tuple(replace(epoch, train_loss=2 * epoch.train_loss) for epoch in record.history)
    write_record(run_dir, replace(record, history=history))
    build_report(run_dir)
    assert drawn == ["curves_mnist_tanh-xavier.png"]
    after = pngs(run_dir)
    assert after["curves_mnist_tanh-xavier.png"] != before["curves_mnist_tanh-xavier.png"]
    assert {name: after[name] for name in PNGS - set(drawn)} == {name: before[name] for name in PNGS - set(drawn)}


def test_a_deleted_or_altered_png_is_drawn_again(run_dir: Path, drawn: list[str]) -> None:
    before = pngs(run_dir)
    (run_dir / "plots" / "accuracy.png").unlink()
    (run_dir / "plots" / "timing.png").write_bytes(before["accuracy.png"])
    build_report(run_dir)
    assert sorted(drawn) == ["accuracy.png", "timing.png"]
    assert pngs(run_dir) == before


def test_unreadable_digests_redraw_every_figure(run_dir: Path, drawn: list[str]) -> None:
    before = pngs(run_dir)
    (run_dir / "plots" / DIGESTS).write_text("{not json", encoding="utf-8")
    build_report(run_dir)
    assert sorted(drawn) == sorted(PNGS)
    assert pngs(run_dir) == before


def test_changed_matplotlib_settings_redraw_every_figure(run_dir: Path, drawn: list[str]) -> None:
    before = pngs(run_dir)
    with matplotlib.rc_context({"font.size": 14.0}):
        build_report(run_dir)
    assert sorted(drawn) == sorted(PNGS)
    assert pngs(run_dir)["curves_mnist_relu-he.png"] != before["curves_mnist_relu-he.png"]


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="figures are drawn in turn here")
def test_figures_drawn_by_several_processes_are_the_ones_drawn_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_turn, in_parallel = tmp_path / "in_turn" / "run", tmp_path / "in_parallel" / "run"
    write_run(in_turn)
    write_run(in_parallel)
    build_report(in_turn)
    # Each save leaves a file named by the drawing process's id (the forked workers inherit this patch).
    pids = tmp_path / "pids"
    pids.mkdir()
    original = plots.save_figure
    monkeypatch.setattr(
        plots,
        "save_figure",
        lambda figure, path: (pids / f"{os.getpid()}-{path.name}").touch() or original(figure, path),
    )
    build_report(in_parallel, processes=2)
    drawers = {name.split("-", 1)[0] for name in os.listdir(pids)}
    assert len(os.listdir(pids)) == len(PNGS) and str(os.getpid()) not in drawers
    assert pngs(in_parallel) == pngs(in_turn)
