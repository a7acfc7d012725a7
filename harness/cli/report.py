"""`fwcompare report RUN_DIR [--json]`: rebuild a run's tables, plots and report from its stored records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.run.executor import available_cores
from harness.run.lock import run_lock


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="rebuild tables, plots, report.md and report.html of a run directory from its stored records",
        description="Rebuild tables/, plots/, report.md and report.html of RUN_DIR from its cell records, "
        "config.json, environment.json and parity.json; nothing else in RUN_DIR is changed.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory written by `fwcompare run`")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary instead of a table")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    # Imported here: pandas and matplotlib take about half a second, which a refused command should not cost.
    from harness.report.build import build_report

    if args.run_dir.is_dir():
        # The report's files are written into the run directory: not while a run writes them too. This process
        # loads no framework, so its figures may be drawn by forked processes, one per core.
        with run_lock(args.run_dir):
            report = build_report(args.run_dir, processes=available_cores())
    else:
        report = build_report(args.run_dir)  # says that the directory is missing
    if args.json:
        summary = {
            "run_dir": str(report.run_dir),
            "report": str(report.run_dir / "report.md"),
            "cells": report.status_counts,
            "verdict": report.verdict.to_json(),
            "summary": report.summary.to_dict(orient="records"),
            "files": [str(path) for path in report.files],
        }
        print(json.dumps(summary, indent=2))
        return 0
    print("\n".join(report.verdict.headline) + "\n")
    print(report.summary.to_markdown(index=False, tablefmt="simple", disable_numparse=True))
    counts = ", ".join(f"{n} {status}" for status, n in report.status_counts.items())
    print(f"\ncells: {counts}")
    print(f"report: {report.run_dir / 'report.md'} (and report.html, tables/, plots/)")
    return 0
