"""`fwcompare list` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from harness.errors import FwcompareError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="not built yet")
    parser.set_defaults(handler=_not_built)


def _not_built(args: argparse.Namespace) -> int:
    raise FwcompareError("'fwcompare list' is not built yet")
