"""The run report: tables (CSV + Markdown) and plots (PNG) rebuilt from a run directory's stored records, and
report.md / report.html that put them together with the run's configuration and environment. report.html embeds
its plots, so it stands alone.

The report opens with the run's verdict (harness.report.verdict), also written to verdict.json.

`build_report(run_dir)` is what `fwcompare run` calls at the end of every run and what `fwcompare report RUN_DIR`
calls on its own; it only reads the records and (re)writes tables/, plots/, report.md and report.html.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.names import clip_text
from harness.report import divergence, figures, tables, verdict, wide
from harness.run.gemm import best_peak_gflops

TITLE = "fwcompare report"
VALUE_WIDTH = 200
"""Lists in config.json/environment.json (cell keys, specs of every row) are cut to this many characters in the
report; the JSON files hold them whole."""


DIVERGENCE_TEXT = (
    "The cells of one seed start from the same parameters and train on the same batches with the same dropout "
    "masks in every framework. Per variant: the relative distance ‖θ − θ_ref‖₂ / ‖θ_ref‖₂ of each framework's "
    "parameters to the reference framework's (the matrix's first) at the same optimiser step, median over seeds "
    "(band: min–max), compared at steps 1, 10 and 100 and at every epoch's end; the dotted line is one rounding of "
    "the dtype. A framework that trains in the reference's arithmetic forms differs from it by rounding only: a "
    "smooth network (sigmoid, tanh) keeps that difference rounding-sized, while in a ReLU network a hidden unit "
    "whose input lies within a rounding of 0 is on in one framework and off in the other, its whole gradient term "
    "differs, and the runs part (measured in docs/divergence.md). A framework that trains in other forms (column "
    "'forms that differ') starts at that convention's distance."
)


@dataclass(frozen=True)
class Section:
    """One part of the report: a heading, an explanatory paragraph, tables (caption → text table) and plots
    (caption → path relative to the run directory)."""

    heading: str
    text: str
    tables: dict[str, pd.DataFrame]
    plots: dict[str, str]


@dataclass(frozen=True)
class BuiltReport:
    """What build_report wrote. summary: one row per dataset × variant × framework with accuracy and epoch time,
    as text (the table `fwcompare report` prints); status_counts: {status: number of cells}; verdict: the answer
    the report opens with."""

    run_dir: Path
    files: list[Path]
    summary: pd.DataFrame
    status_counts: dict[str, int]
    verdict: verdict.Verdict


def build_report(run_dir: Path | str, processes: int = 1) -> BuiltReport:
    """Load every record of `run_dir` (raising RunRecordError, and writing nothing, if any cannot be read), then
    write tables/*.csv|md, plots/*.png, verdict.json, report.md and report.html into it. Plots whose inputs did not
    change are kept; the others are drawn by `processes` forked processes, which only a process without framework
    threads may ask for (harness.report.figures)."""
    records = tables.load_run(run_dir)
    run_dir = records.run_dir
    cells = records.cells
    frameworks = list(dict.fromkeys(cells["framework"]))
    accuracy = tables.accuracy_table(cells)
    timing = tables.timing_table(cells, best_peak_gflops(records.environment.get("gemm_peak")))
    drift = divergence.load_divergence(records)
    drift_table = divergence.divergence_table(drift)
    answer = verdict.run_verdict(cells, timing, drift_table)
    # name -> (numbers for the CSV, text for the Markdown/HTML), all computed before anything is written
    computed = {
        "accuracy_wide": (wide.accuracy_wide(accuracy), wide.accuracy_wide(accuracy)),
        "framework_differences": (answer.comparisons, verdict.comparisons_display(answer.comparisons)),
        "fastest": (answer.fastest, verdict.fastest_display(answer.fastest)),
        "accuracy": (accuracy, tables.accuracy_display(accuracy)),
        "timing": (timing, tables.timing_display(timing)),
    }
    if not drift_table.empty:
        computed["divergence"] = (drift_table, divergence.divergence_display(drift_table))
    reproduction = tables.reproduction_table(cells)
    if reproduction is not None:
        computed["reproduction"] = (reproduction, tables.reproduction_display(reproduction, frameworks))
    if records.parity is not None:
        parity = tables.parity_table(records.parity)
        computed["parity"] = (parity, tables.parity_display(parity))
    status = tables.status_table(cells)
    computed["status"] = (status, tables.status_display(status))

    written: list[Path] = []
    (run_dir / "tables").mkdir(exist_ok=True)
    for name, (numbers, text) in computed.items():
        numbers.to_csv(run_dir / "tables" / f"{name}.csv", index=False)
        (run_dir / "tables" / f"{name}.md").write_text(_markdown(text) + "\n", encoding="utf-8")
        written += [run_dir / "tables" / f"{name}.csv", run_dir / "tables" / f"{name}.md"]
    table_texts = {name: text for name, (_, text) in computed.items()}

    plot_paths = _write_plots(records, accuracy, timing, drift, processes)
    written += [run_dir / path for section in plot_paths.values() for path in section.values()]
    sections = [_verdict_section(answer, table_texts), *_sections(records, table_texts, plot_paths)]
    title = f"{TITLE}: {run_dir.name}"
    (run_dir / "verdict.json").write_text(json.dumps(answer.to_json(), indent=1) + "\n", encoding="utf-8")
    (run_dir / "report.md").write_text(report_markdown(title, sections), encoding="utf-8")
    (run_dir / "report.html").write_text(report_html(title, sections, run_dir), encoding="utf-8")
    written.extend([run_dir / "verdict.json", run_dir / "report.md", run_dir / "report.html"])
    return BuiltReport(
        run_dir=run_dir,
        files=written,
        summary=summary_table(table_texts["accuracy"], table_texts["timing"]),
        status_counts=tables.status_counts(cells),
        verdict=answer,
    )


def _peak_rates_line(gemm_peak: dict | None) -> str:
    """' Peak GEMM rates here: numpy float32 202 GFLOP/s, ...' from environment.json's gemm_peak, or ''."""
    if not gemm_peak:
        return ""
    rates = ", ".join(f"{rate['library']} {rate['dtype']} {rate['gflops']:.0f}" for rate in gemm_peak["rates"])
    return f" Peak GEMM rates ({gemm_peak['size']}³, GFLOP/s): {rates}."


def summary_table(accuracy_text: pd.DataFrame, timing_text: pd.DataFrame) -> pd.DataFrame:
    """The short text table printed at the end of a command: per dataset × variant × framework, test accuracy
    mean ± std over ok seeds, and the median first-epoch and steady-state epoch times. From the accuracy and timing
    tables as text (tables.accuracy_display, tables.timing_display), which are left as they are."""
    times = ["first epoch incl. compile (s)", "steady epoch, median (s)"]
    timing_text = timing_text[[*tables.GROUP, *times]]
    # A group trained on several kinds of hardware has no one time: the timing table has a row per hardware.
    several = timing_text.duplicated(tables.GROUP, keep=False)
    timing_text.loc[several, times] = "per hardware: see timing"
    timing_text = timing_text.drop_duplicates(tables.GROUP)
    return accuracy_text[[*tables.GROUP, "test accuracy % (mean ± std)", "seeds", "excluded"]].merge(
        timing_text, on=tables.GROUP, how="left", sort=False
    )


def _write_plots(
    records: tables.RunRecords, accuracy: pd.DataFrame, timing: pd.DataFrame, drift: pd.DataFrame, processes: int
) -> dict[str, dict[str, str]]:
    """Draw every plot whose inputs changed (harness.report.figures); returns {section heading: {caption: path
    relative to the run directory}} ({} when no cell finished ok)."""
    if accuracy["n_seeds"].sum() == 0:
        return {}
    # The divergence figure, the slowest to draw, goes first: drawn in parallel, the other figures fill the
    # remaining processes meanwhile.
    jobs = []
    divergence_plot: dict[str, dict[str, str]] = {}
    if (drift["step"] > 0).any():
        jobs.append(figures.FigureJob("divergence.png", "plot_divergence", (drift, divergence.UNIT_ROUNDOFF)))
        divergence_plot["Divergence"] = {
            "Parameter distance to the reference framework by step": "plots/divergence.png"
        }
    jobs += [
        figures.FigureJob("accuracy.png", "plot_accuracy_bars", (accuracy,)),
        figures.FigureJob("timing.png", "plot_timing_bars", (timing,)),
    ]
    curves: dict[str, str] = {}
    for (dataset, variant), runs in records.curves.groupby(["dataset", "variant"], sort=False):
        name = figures.curves_filename(str(dataset), str(variant))
        jobs.append(figures.FigureJob(name, "plot_learning_curves", (runs, str(dataset), str(variant))))
        curves[f"Learning curves: {variant} ({dataset})"] = f"plots/{name}"
    figures.draw_figures(jobs, records.run_dir / "plots", processes)
    return {
        "Accuracy": {"Final test accuracy": "plots/accuracy.png"},
        "Timing": {"Training time per epoch": "plots/timing.png"},
        "Learning curves": curves,
        **divergence_plot,
    }


def _verdict_section(answer: verdict.Verdict, table_texts: dict[str, pd.DataFrame]) -> Section:
    return Section(
        "Verdict",
        "\n".join(f"- {line}" for line in answer.headline),
        {
            f"Test accuracy % over seeds ({wide.BEST}: the highest mean; whether it differs beyond noise is in the "
            "framework differences below)": table_texts["accuracy_wide"],
            "Framework differences (b − a, paired by seed)": table_texts["framework_differences"],
            "Fastest framework per variant": table_texts["fastest"],
            **({"Failed cells": verdict.failures_display(answer.failures)} if not answer.failures.empty else {}),
        },
        {},
    )


def _sections(
    records: tables.RunRecords, table_texts: dict[str, pd.DataFrame], plot_paths: dict[str, dict[str, str]]
) -> list[Section]:
    counts = tables.status_counts(records.cells)
    excluded = sum(n for status, n in counts.items() if status != "ok")
    sections = [
        Section("Run", "What ran, as stored in the cell records.", {"run": _run_summary(records)}, {}),
        Section(
            "Accuracy",
            "Final test accuracy of each variant × framework: mean ± sample standard deviation (ddof 1) over seeds, "
            "in %. Only cells with status ok count; "
            f"{excluded} cell(s) with another status are left out (column 'excluded'; see Status).",
            {"accuracy": table_texts["accuracy"]},
            plot_paths.get("Accuracy", {}),
        ),
        Section(
            "Timing",
            "Medians over the ok seeds of each cell's timings: model build, the first epoch (compile/trace "
            "included), the median of the later epochs (steady state; none with 1 epoch), the median evaluation "
            "pass, training samples per second, and time to accuracy: the build and training time (compile "
            "included, evaluation passes left out) until the evaluation accuracy first reached the matrix's target, "
            "median over the seeds that reached it ('not reached' when none did; – for records without a target). "
            "The machine limit is the epoch's GEMM work (forward, ∂W and ∂x products; element-wise work left out) "
            "at the best peak GEMM rate any of the run's libraries reached on this machine (measured at the run's "
            "start, environment.json gemm_peak): no implementation can train an epoch faster; '× limit' is each "
            "median epoch time over it (– for GPU cells and runs recorded before it was measured)."
            + _peak_rates_line(records.environment.get("gemm_peak"))
            + _hardware_note(tables.hardware_kinds(records.cells)),
            {"timing": table_texts["timing"]},
            plot_paths.get("Timing", {}),
        ),
        Section(
            "Learning curves",
            "Per variant: training loss and the per-epoch evaluation accuracy (on the split each record names) "
            "by epoch; lines are means over seeds, bands span the seeds' min to max."
            if plot_paths
            else "No cell finished with status ok, so there is nothing to plot.",
            {},
            plot_paths.get("Learning curves", {}),
        ),
    ]
    if "divergence" in table_texts:
        sections.append(
            Section(
                "Divergence",
                DIVERGENCE_TEXT,
                {"divergence": table_texts["divergence"]},
                plot_paths.get("Divergence", {}),
            )
        )
    if "reproduction" in table_texts:
        sections.append(
            Section(
                "Reproduction",
                "The published accuracy of each reproduced experiment beside each framework's mean ± std over "
                "seeds of the same metric (final test accuracy, or final validation accuracy where the metric "
                "column says so), the difference (framework mean − published) in percentage points and in "
                "standard deviations, and the verdict: reproduced when the mean is within "
                f"{100 * tables.REPRODUCED_WITHIN_POINTS:.1f} points or {tables.REPRODUCED_WITHIN_STDS:g} standard "
                "deviations of the published number; illustrative numbers (no reproducible source) are never "
                "counted either way. 'epochs run' lists how many epochs each seed trained (early stopping).",
                {"reproduction": table_texts["reproduction"]},
                {},
            )
        )
    parity = records.parity
    if parity is not None:  # then table_texts has its table
        failures = parity[parity["status"] == "NOT OK"].drop(columns=["status"], errors="ignore")
        sections.append(
            Section(
                "Parity",
                "Per framework pair and dtype: how many per-tensor checks agree within tolerance (OK), disagree "
                "(NOT OK) or differ by a documented framework convention (EXPLAINED), and the largest relative "
                "difference seen.",
                {"parity": table_texts["parity"], **({"NOT OK rows": failures} if not failures.empty else {})},
                {},
            )
        )
    sections += [
        Section("Status", "Every cell record with its status and message.", {"status": table_texts["status"]}, {}),
        Section(
            "Environment",
            "From environment.json." if records.environment else "environment.json was not written for this run.",
            {"environment": _key_values(records.environment)} if records.environment else {},
            {},
        ),
        Section(
            "Configuration",
            "From config.json." if records.config else "config.json was not written for this run.",
            {"configuration": _key_values(records.config)} if records.config else {},
            {},
        ),
    ]
    return sections


def _hardware_note(kinds: list[str]) -> str:
    if len(kinds) <= 1:
        return f" All ok cells ran on one kind of hardware ({kinds[0]})." if kinds else ""
    return (
        f" The ok cells ran on {len(kinds)} kinds of hardware ({'; '.join(kinds)}): timings are only comparable on "
        "the same hardware, so every timing row and every bar group is one kind; compare times within it, not "
        "across."
    )


def _run_summary(records: tables.RunRecords) -> pd.DataFrame:
    """Two columns (item, value): matrix, datasets, variants, frameworks, seeds, epochs, threads, device, cells.
    The run directory's path is left out: like environment.json, a report may be published."""
    cells = records.cells
    counts = tables.status_counts(cells)
    items = {
        "matrix": _matrix_name(records.config),
        "dataset": _joined(cells["dataset"]),
        "variants": f"{cells['variant'].nunique()}: {_joined(cells['variant'])}",
        "frameworks": _joined(cells["framework"]),
        "seeds": _joined(sorted(cells["seed"])),
        "epochs": _joined(cells["epochs"].dropna().astype(int)),
        "threads": _joined(cells["threads"].dropna()),
        "device": _joined(cells["device"].dropna()),
        "cells": ", ".join(f"{n} {status}" for status, n in counts.items()),
    }
    return pd.DataFrame({"item": list(items), "value": [str(value) for value in items.values()]})


def _matrix_name(config: dict[str, Any]) -> str:
    """The matrix name and description from config.json's "matrix" (an object, as the runner writes it, or a
    name)."""
    matrix = config.get("matrix")
    if isinstance(matrix, dict):
        return clip_text(" — ".join(str(matrix[key]) for key in ("name", "description") if matrix.get(key)))
    return clip_text(str(matrix)) if matrix else "not recorded"


def _key_values(data: dict[str, Any]) -> pd.DataFrame:
    """A nested JSON object as two columns: key (dotted path) and value as text. Strings are kept whole up to
    harness.core.names.MAX_TEXT_LENGTH; lists are joined ('; ' between entries, objects as key=value) and cut to
    VALUE_WIDTH characters."""
    flat = pd.json_normalize(data, sep=".").to_dict(orient="records")[0]
    return pd.DataFrame({"key": list(flat), "value": [_value_text(value) for value in flat.values()]})


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return clip_text(value)
    if value is None:
        return tables.MISSING
    if isinstance(value, list):
        entries = [
            " ".join(f"{key}={item}" for key, item in entry.items()) if isinstance(entry, dict) else str(entry)
            for entry in value
        ]
        text = ("; " if any(isinstance(entry, dict) for entry in value) else ", ").join(entries)
        if len(text) > VALUE_WIDTH:
            return text[:VALUE_WIDTH] + f"… ({len(value)} entries)"
        return text
    return json.dumps(value)


def _joined(values: Any) -> str:
    return ", ".join(str(value) for value in dict.fromkeys(values)) or "not recorded"


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, disable_numparse=True)


def report_markdown(title: str, sections: list[Section]) -> str:
    """A Markdown page: the title, then each section's heading, text, tables and plot links."""
    parts = [f"# {title}"]
    for section in sections:
        parts += [f"## {section.heading}", section.text]
        for caption, table in section.tables.items():
            if len(section.tables) > 1:
                parts.append(f"**{caption}**")
            parts.append(_markdown(table))
        parts += [f"![{caption}]({path})" for caption, path in section.plots.items()]
    return "\n\n".join(parts) + "\n"


HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
th {{ background: #f0f0f0; }}
tr:nth-child(even) td {{ background: #fafafa; }}
img {{ max-width: 100%; margin: 0.5em 0 1.5em; display: block; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def report_html(title: str, sections: list[Section], plots_dir: Path) -> str:
    """A self-contained HTML page of `sections`, their plots (paths relative to `plots_dir`) embedded."""
    body = []
    for section in sections:
        body += [f"<h2>{html.escape(section.heading)}</h2>", _html_text(section.text)]
        for caption, table in section.tables.items():
            if len(section.tables) > 1:
                body.append(f"<h3>{html.escape(caption)}</h3>")
            body.append(table.to_html(index=False, border=0, na_rep=tables.MISSING))
        body += [
            f'<figure><img src="{_data_uri(plots_dir / path)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for caption, path in section.plots.items()
        ]
    return HTML_PAGE.format(title=html.escape(title), body="\n".join(body))


def _html_text(text: str) -> str:
    """A paragraph, or a list when every line of `text` starts with '- ' (as the verdict's do)."""
    lines = text.split("\n")
    if all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{html.escape(text)}</p>"


def _data_uri(png: Path) -> str:
    """The PNG embedded as a data: URI, so report.html is one self-contained file to mail or attach to CI."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")
