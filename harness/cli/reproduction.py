"""`fwcompare reproduction RUN_DIR... [--out FILE]`: one table of every published number over several runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduction",
        help="put the reproduction tables of several run directories together, with verdicts and headline counts",
        description="Read the cell records of each RUN_DIR (e.g. results/repro-*) and print one table with a row "
        "per published number: each framework's mean ± std over seeds, the gap in points and in standard "
        "deviations, the verdict and the epochs each seed ran; then how many numbers each framework reproduces.",
    )
    parser.add_argument("run_dirs", metavar="RUN_DIR", type=Path, nargs="+", help="run directories to summarise")
    parser.add_argument("--out", type=Path, help="also write the table as Markdown to this file (and CSV beside it)")
    parser.set_defaults(handler=_reproduction)


def _reproduction(args: argparse.Namespace) -> int:
    # Imported here: pandas takes about half a second, which a refused command should not cost.
    from harness.report.reproduction import reproduction_summary

    summary = reproduction_summary(args.run_dirs)
    table = summary.text.to_markdown(index=False, disable_numparse=True)
    headline = "\n".join(f"- {line}" for line in summary.headline)
    print(table)
    print()
    print(headline)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"{headline}\n\n{table}\n", encoding="utf-8")
        summary.numbers.to_csv(args.out.with_suffix(".csv"), index=False)
        print(f"\nwritten: {args.out} and {args.out.with_suffix('.csv')}")
    return 0
