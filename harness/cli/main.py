"""The `fwcompare` command line. Each subcommand lives in its own module exposing `add_parser(subparsers)`;
errors raised on purpose (FwcompareError) become one line on stderr and exit code 2, among them a framework registry
that cannot be read (harness.core.frameworks.plugins), which building the parser already meets."""

from __future__ import annotations

import argparse
import sys

from harness.core.errors import FwcompareError
from harness.core.specs import SpecError


def build_parser() -> argparse.ArgumentParser:
    # Imported here, not with this module: the catalogue and the help texts read the framework registry as they
    # load, and main reports a registry that cannot be read as one line.
    from harness.cli import compare, data, export, listing, parity, port, report, reproduction, run, study

    parser = argparse.ArgumentParser(
        prog="fwcompare",
        description="Train the same MLPs in every registered framework; check parity; compare accuracy and speed.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (run, parity, port, report, compare, reproduction, listing, data, export, study):
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except FwcompareError as error:
        print(f"fwcompare: error: {error}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (FwcompareError, SpecError) as error:
        print(f"fwcompare {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fwcompare {args.command}: interrupted; finished cells are kept", file=sys.stderr)
        return 130
