"""`fwcompare compare RUN_A RUN_B [--json] [--out DIR]`: what changed between two runs; exit 1 when a spec or a
status differs or a result differs beyond seed noise, so CI can gate on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXIT_CHANGED = 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare two run directories cell by cell: specs, results against seed noise, timings, versions",
        description="Match the cells of RUN_A and RUN_B by data set, variant, framework and seed; report the spec "
        "fields that differ, the accuracy and loss differences tested against the seed-to-seed spread (paired by "
        "seed, Holm-adjusted), timing ratios where both ran on the same hardware, the library versions that "
        "differ, and the cells only one run holds. Exit code 0: the same; 1: a spec or status differs or a result "
        "differs beyond seed noise; 2: the runs cannot be compared.",
    )
    parser.add_argument("run_a", metavar="RUN_A", type=Path, help="the reference run directory")
    parser.add_argument("run_b", metavar="RUN_B", type=Path, help="the run directory compared with it")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON instead of Markdown")
    parser.add_argument(
        "--out", type=Path, help="also write comparison.md, comparison.html and comparison.json to this folder"
    )
    parser.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    # Imported here: pandas and scipy take about a second, which a refused command should not cost.
    from harness.report.compare import compare_runs, comparison_markdown, write_comparison

    comparison = compare_runs(args.run_a, args.run_b)
    if args.json:
        print(json.dumps(comparison.to_json(), indent=1))
    else:
        print(comparison_markdown(comparison), end="")
    if args.out is not None:
        files = write_comparison(comparison, args.out)
        if not args.json:
            print(f"\nwritten: {', '.join(map(str, files))}")
    return EXIT_CHANGED if comparison.changed else 0
