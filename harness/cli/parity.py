"""`fwcompare parity`: per-tensor parity of every pair of registered frameworks (harness/parity/).

Prints a test log (one line per check, or per tensor with --verbose; every tensor that is not OK always, with its
diagnosis when the reference is one side), the first diverging layer of each failure, and summary tables. With
--impl, a user's own network (harness.byo) is one more framework. Exit status: 0 when every tensor is OK or
EXPLAINED, 1 on any NOT OK or an --impl that could not be loaded, 2 for a usage error (unknown variant or framework).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tabulate import tabulate

from harness.byo.adapter import DEFAULT_TIME_LIMIT_S
from harness.byo.load import register_impl
from harness.cli.args import comma_names, positive_seconds, step_count
from harness.cli.port import add_against_argument, add_model_argument, check_models
from harness.core.atomic import write_json_atomic
from harness.core.errors import ImplementationError
from harness.core.frameworks import DEVICE_CHOICES, check_device, check_names, default_framework_names, framework_names
from harness.core.interface import MODES
from harness.core.specs import DTYPES
from harness.parity.inputs import DEFAULT_STEPS, MAX_STEPS, PARITY_STEPS_PER_EPOCH
from harness.parity.results import EXPLAINED, NOT_OK, OK, ParityReport, ParityRow, explained_by
from harness.parity.suite import run_parity
from harness.parity.variants import PARITY_VARIANTS, parity_variants
from harness.run.executor import configure_threads

_SEVERITY = {OK: 0, EXPLAINED: 1, NOT_OK: 2}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "parity",
        help="per-tensor parity of every pair of frameworks on the same weights and batches; exit 1 on any NOT OK",
        description="Start every framework from the same canonical weights, batches and dropout masks; compare each "
        "layer's activations, the loss and every gradient, then parameters, optimiser state and loss after K steps, "
        "for every pair of the frameworks selected, and each framework's timed train_epoch "
        "path against its train_step. Differences the frameworks' own forms explain are reported as EXPLAINED.",
    )
    parser.add_argument(
        "--variants",
        type=comma_names,
        metavar="A,B",
        help="variant names (default: the default matrix, every optimiser and every schedule kind × granularity: "
        f"{len(PARITY_VARIANTS)} variants)",
    )
    parser.add_argument(
        "--frameworks",
        type=comma_names,
        default=list(default_framework_names()),
        metavar="A,B",
        help=f"frameworks to compare pairwise, of {','.join(framework_names())} "
        f"(default: {','.join(default_framework_names())})",
    )
    add_impl_arguments(parser)
    add_model_argument(parser)
    add_against_argument(parser)
    parser.add_argument("--dtype", choices=(*DTYPES, "both"), default="both", help="default: both")
    parser.add_argument(
        "--steps",
        type=step_count,
        default=DEFAULT_STEPS,
        metavar="K",
        help=f"optimiser steps, a multiple of {PARITY_STEPS_PER_EPOCH}, at most {MAX_STEPS} (default {DEFAULT_STEPS})",
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="device of the frameworks that can use a GPU; the NumPy reference runs on the CPU (default auto)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="exact",
        help="execution mode of the train_epoch checks (default exact; fast: each framework's fastest path, as "
        "`fwcompare run --mode fast` trains), at the same tolerances",
    )
    parser.add_argument("--json", action="store_true", help="print parity.json on stdout (the log goes to stderr)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write DIR/parity.json")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML (one test case per tensor) for CI")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every tensor, not one line per check and failures"
    )
    parser.set_defaults(handler=_parity)


def add_impl_arguments(parser: argparse.ArgumentParser) -> None:
    """--impl and --impl-time-limit, shared by `parity` and `run`."""
    parser.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="FILE.py:CLASS",
        help="your own network as one more framework: an adapter class (harness/byo/adapter.py; example: "
        "examples/byo/adapter.py:ScratchAdapter) given as path/to/file.py:ClassName or module:ClassName; repeatable",
    )
    parser.add_argument(
        "--impl-time-limit",
        type=positive_seconds,
        default=DEFAULT_TIME_LIMIT_S,
        metavar="S",
        help="seconds one call into --impl code may take before it counts as hanging "
        f"(default {DEFAULT_TIME_LIMIT_S:g})",
    )


def register_impls(targets: list[str], time_limit_s: float) -> tuple[list[str], dict[str, str]]:
    """Load and register each --impl: (names registered, {target: why it could not be loaded})."""
    names, failures = [], {}
    for target in targets:
        try:
            names.append(register_impl(target, time_limit_s))
        except ImplementationError as error:
            failures[target] = str(error)
    return names, failures


def _parity(args: argparse.Namespace) -> int:
    if args.model or args.against is not None:
        return check_models(args.model, args.against, args.steps, with_parity_options=bool(args.impl or args.variants))
    log = sys.stderr if args.json else sys.stdout
    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    check_names(args.frameworks)
    parity_variants(args.variants)  # an unknown variant is refused before any framework loads
    # A user's network that cannot be loaded is reported at the end; the other frameworks are compared regardless.
    impls, impl_failures = register_impls(args.impl, args.impl_time_limit)
    args.frameworks = [*args.frameworks, *(name for name in impls if name not in args.frameworks)]
    check_device(args.device, args.frameworks)
    # Some libraries take their thread counts only before they start; the engine limits the others itself.
    configure_threads(1, args.frameworks)

    def print_case(rows: list[ParityRow]) -> None:
        for line in log_lines(rows, verbose=args.verbose):
            print(line, file=log, flush=True)

    report = run_parity(
        args.variants, args.frameworks, dtypes, args.steps, args.device, on_rows=print_case, mode=args.mode
    )
    report.unavailable.update({f"--impl {target}": message for target, message in impl_failures.items()})
    for framework, reason in report.unavailable.items():
        print(f"UNAVAILABLE {framework}: its pairs were skipped ({reason})", file=log)
    for line in report.skipped:
        print(f"SKIPPED {line}", file=log)
    document = report.to_json()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "parity.json", document)
        print(f"wrote {args.out / 'parity.json'}", file=log)
    if args.junit is not None:
        write_junit(report, args.junit)
        print(f"wrote {args.junit}", file=log)
    print(summary_text(report, impl_failed=bool(impl_failures)), file=log)
    if args.json:
        print(json.dumps(document, indent=1))
    return 1 if report.failed or impl_failures else 0


def write_junit(report: ParityReport, path: Path) -> None:
    """JUnit XML of `report`: a test suite per pair, a test case per compared tensor (NOT OK as a failure with its
    note and diagnosis, EXPLAINED as a pass whose output says why), an error case per --impl that was not loaded
    and a skipped case per framework not installed here."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.Element("testsuites", name="fwcompare parity")
    suites: dict[str, ElementTree.Element] = {}
    for row in report.rows:
        suite = suites.get(row.pair)
        if suite is None:
            suite = suites[row.pair] = ElementTree.SubElement(root, "testsuite", name=row.pair)
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"{row.pair}.{row.variant}.{row.dtype}", name=f"{row.check} {row.tensor}"
        )
        detail = (
            f"max abs diff {row.max_abs_diff:.1e}, max rel diff {row.max_rel_diff:.1e} "
            f"(rtol {row.rtol:.0e}, atol {row.atol:.0e})"
        )
        if row.status == NOT_OK:
            ElementTree.SubElement(case, "failure", message=row.note or "outside tolerance").text = detail
        elif row.status == EXPLAINED:
            ElementTree.SubElement(case, "system-out").text = f"{detail}; {row.note}"
    for target, message in report.unavailable.items():
        suite = ElementTree.SubElement(root, "testsuite", name=f"unavailable {target}")
        case = ElementTree.SubElement(suite, "testcase", classname="unavailable", name=target)
        ElementTree.SubElement(case, "error" if target.startswith("--impl ") else "skipped", message=message)
    for suite in root:
        cases = list(suite)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
        suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def format_row(row: ParityRow, tensors: int = 1) -> str:
    """One log line: status, pair, variant, dtype, check, tensor, max abs/rel diff, tolerance, note if not OK."""
    tensor = row.tensor if tensors == 1 else f"{row.tensor} (worst of {tensors})"
    line = (
        f"{row.status:<9} {row.pair:<22} {row.variant:<36} {row.dtype:<7} {row.check:<30} {tensor:<34} "
        f"abs {row.max_abs_diff:.1e}  rel {row.max_rel_diff:.1e}  tol rtol {row.rtol:.0e} atol {row.atol:.0e}"
    )
    return line if row.status == OK else f"{line}  | {row.note}"


def log_lines(rows: list[ParityRow], verbose: bool = False) -> list[str]:
    """The log of one case: every row when verbose; else per (pair, check) its worst row, plus each NOT OK row."""
    if verbose:
        return [format_row(row) for row in rows]
    groups: dict[tuple[str, str], list[ParityRow]] = {}
    for row in rows:
        groups.setdefault((row.pair, row.check), []).append(row)
    lines = []
    for group in groups.values():
        worst = max(group, key=lambda r: (_SEVERITY[r.status], r.max_rel_diff))
        lines.append(format_row(worst, len(group)))
        lines += [format_row(r) for r in group if r.status == NOT_OK and r is not worst]
    return lines


def summary_text(report: ParityReport, impl_failed: bool = False) -> str:
    """Summary tables: per pair × dtype counts and the worst OK differences; the explained differences by
    convention; the first diverging layer of each failing case; the verdict (FAILED also when a user's --impl could
    not be loaded: `impl_failed`)."""
    summary = report.summary()
    parts = []
    table = [
        [
            s["pair"],
            s["dtype"],
            s["variants"],
            s["tensors"],
            s[OK],
            s[EXPLAINED],
            s[NOT_OK],
            f"{s['max_abs_diff_ok']:.1e}",
            f"{s['max_rel_diff_ok']:.1e}",
        ]
        for s in summary["by_pair_dtype"]
    ]
    headers = [
        "pair",
        "dtype",
        "variants",
        "tensors",
        OK,
        EXPLAINED,
        NOT_OK,
        "max abs (OK)",
        "max rel (OK, rtol-bound)",
    ]
    parts.append(tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True))
    explained_rows = [r for r in report.rows if r.status == EXPLAINED]
    if explained_rows:
        by_reason: dict[tuple[str, str, str], list[ParityRow]] = {}
        for row in explained_rows:
            by_reason.setdefault((row.pair, row.dtype, ", ".join(explained_by(row))), []).append(row)
        explained = [
            [
                pair,
                dtype,
                reason,
                len({r.variant for r in rows}),
                len(rows),
                f"{max(r.max_abs_diff for r in rows):.1e}",
            ]
            for (pair, dtype, reason), rows in by_reason.items()
        ]
        parts.append(
            "explained differences (the reference reproduces each: in both forms, or retrained on reordered rows):\n"
            + tabulate(
                explained,
                headers=["pair", "dtype", "explained by", "variants", "tensors", "max abs diff"],
                tablefmt="simple",
                disable_numparse=True,
            )
        )
    divergences = [
        f"FIRST DIVERGENCE {d['pair']} {d['variant']} {d['dtype']}: {d['tensor']} ({d['check']})"
        for d in summary["first_divergences"]
    ]
    if divergences:
        parts.append("\n".join(divergences))
    counts = summary["counts"]
    verdict = "FAILED" if report.failed or impl_failed else "PASSED"
    parts.append(
        f"parity {verdict}: {counts[OK]} OK, {counts[EXPLAINED]} EXPLAINED, {counts[NOT_OK]} NOT OK "
        f"({report.steps} steps, device {report.device})"
    )
    return "\n\n".join(parts)
