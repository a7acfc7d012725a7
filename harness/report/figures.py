"""The report's figures, drawn only when what decides their pixels changed, the changed ones in parallel.

A figure's digest covers all that decides its pixels: the plotting code (plots.py), the plotted tables and the
other arguments, the frameworks' colour order, the matplotlib settings in effect (matplotlibrc, MPL* variables)
and the versions of matplotlib, pandas and numpy. plots/.digests.json keeps, per PNG, that digest and the hash of
the PNG written; a figure whose digest and PNG are both unchanged is not drawn again, so rebuilding the report of
an unchanged run draws nothing and does not import matplotlib's drawing code. The fonts installed are not in the
digest: after changing them, delete plots/.digests.json to redraw.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib  # only its settings (about 0.1 s); the drawing code is imported when a figure is drawn
import numpy as np
import pandas as pd

from harness.core.frameworks import framework_names

DIGESTS = ".digests.json"
"""The file in plots/ that keeps each figure's digest and its PNG's hash."""

PlotFunction = Literal["plot_accuracy_bars", "plot_timing_bars", "plot_learning_curves", "plot_divergence"]
"""The harness.report.plots functions a figure is drawn by, each called as function(*inputs, path)."""


@dataclass(frozen=True)
class FigureJob:
    """One PNG of the report: its file name in plots/, the plots function that draws it and that function's
    arguments before the path (DataFrames, strings, numbers, and dicts or tuples of them)."""

    png: str
    plot: PlotFunction
    inputs: tuple[Any, ...]


def curves_filename(dataset: str, variant: str) -> str:
    """The learning-curve PNG name of one dataset × variant (characters unsafe in file names replaced)."""
    return "curves_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dataset}_{variant}") + ".png"


def draw_figures(jobs: list[FigureJob], plots_dir: Path, processes: int = 1) -> list[FigureJob]:
    """Draw into `plots_dir` each job whose digest differs from the one stored, or whose PNG is missing or not the
    one written; returns the jobs drawn. With processes > 1 they are drawn by that many forked processes: only a
    process without framework threads (which a fork would copy mid-use) may ask for that."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    stored = _read_digests(plots_dir / DIGESTS)
    setting = _drawing_setting()
    digests = {job.png: _digest(job, setting) for job in jobs}
    hashes = {job.png: _file_hash(plots_dir / job.png) for job in jobs}
    stale = [job for job in jobs if stored.get(job.png) != {"inputs": digests[job.png], "png": hashes[job.png]}]
    _draw(stale, plots_dir, processes)
    hashes.update({job.png: _file_hash(plots_dir / job.png) for job in stale})
    kept = {png: {"inputs": digests[png], "png": hashes[png]} for png in digests}
    (plots_dir / DIGESTS).write_text(json.dumps(kept, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return stale


def _draw(jobs: list[FigureJob], plots_dir: Path, processes: int) -> None:
    if not jobs:
        return
    # Imported here: matplotlib's drawing code takes about 0.3 s to import, which a report with nothing to draw
    # should not cost.
    from harness.report import plots

    calls = [(getattr(plots, job.plot), (*job.inputs, plots_dir / job.png)) for job in jobs]
    workers = min(processes, len(calls))
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        # Forked, not spawned: a forked worker starts with pandas and matplotlib imported, a spawned one would
        # spend about 0.9 s importing them again. The only other thread here is OpenBLAS' pool, which numpy
        # started and which OpenBLAS stops before a fork (pthread_atfork).
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.starmap(_call, calls, chunksize=1)
    else:
        for function, arguments in calls:
            function(*arguments)


def _call(function: Callable[..., None], arguments: tuple[Any, ...]) -> None:
    function(*arguments)


def _drawing_setting() -> str:
    """What decides every figure's pixels besides its own inputs, as text."""
    plots_source = Path(__file__).with_name("plots.py").read_bytes()
    # dict.items reads the settings as stored: RcParams' own lookup would resolve the backend, importing pyplot.
    # The backend is left out: the figures are painted on the Agg canvas whatever it is.
    settings = sorted((key, value) for key, value in dict.items(matplotlib.rcParams) if key != "backend")
    versions = (matplotlib.__version__, pd.__version__, np.__version__)
    return repr((hashlib.sha256(plots_source).hexdigest(), framework_names(), versions, settings))


def _digest(job: FigureJob, setting: str) -> str:
    digest = hashlib.sha256(setting.encode())
    digest.update(job.plot.encode())
    for value in job.inputs:
        digest.update(_value_bytes(value))
    return digest.hexdigest()


def _value_bytes(value: Any) -> bytes:
    """The bytes of a figure's input: a DataFrame's columns, dtypes, index and values (pandas' per-row hashes of
    the index and every value); anything else by repr, which gives every float exactly."""
    if isinstance(value, pd.DataFrame):
        layout = repr((list(value.columns), [str(dtype) for dtype in value.dtypes], value.index.names))
        rows = pd.util.hash_pandas_object(value, index=True).to_numpy()
        return layout.encode() + rows.tobytes()
    if isinstance(value, str | int | float | dict | tuple | list):
        return repr(value).encode()
    raise TypeError(f"a figure input of type {type(value).__name__} has no digest; pass a DataFrame or plain values")


def _file_hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _read_digests(path: Path) -> dict[str, dict[str, str]]:
    """The stored digests; none (every figure is drawn) when the file is missing or not one this module wrote."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) and all(isinstance(entry, dict) for entry in stored.values()) else {}
