"""`fwcompare study conventions`: what each framework default costs, measured (harness.catalog.studies), written as
a report directory; rerunning with the same --out trains only what is missing.

Exit status: 0 when every cell is ok, 1 when any cell diverged or failed, 2 for a usage or setup error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.catalog.studies import STUDIES, get_study
from harness.cli.args import comma_names, epoch_count, positive_int
from harness.cli.run import CellProgress
from harness.core.conventions import defaults_frameworks
from harness.core.frameworks import reference_name
from harness.data.registry import DATASETS
from harness.run.executor import available_cores, make_executor
from harness.run.study import run_study


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help="measure what each framework default costs: one convention at a time, then all (a report directory)",
        description="From each variant's aligned specs, switch one convention at a time to a library's default, and "
        "all of them at once (the naive port), over --seeds seeds paired with the aligned run; report the final "
        "test accuracy differences with 95 %% intervals, the training curves and the parameter distance to the "
        "aligned run over the steps. Rerunning with the same --out trains only the cells without a record.",
    )
    parser.add_argument("study", choices=tuple(STUDIES), help="the study to run")
    parser.add_argument(
        "--variants", type=comma_names, metavar="A,B", help="only these variants (default: the study's)"
    )
    parser.add_argument("--seeds", type=positive_int, metavar="N", help="seeds 0..N-1, at least 2 (default 10)")
    parser.add_argument("--epochs", type=epoch_count, metavar="N", help="train every cell for N epochs (default 3)")
    parser.add_argument("--dataset", choices=tuple(DATASETS), help="train on this data set (default mnist)")
    parser.add_argument("--data-dir", help="folder with the data set's files (tried before the cache)")
    parser.add_argument(
        "--in-frameworks",
        type=comma_names,
        metavar="A,B",
        default=[],
        help="also train each of these frameworks' 'all defaults' arm in the framework itself "
        f"(of {','.join(defaults_frameworks())}; default: none, every arm runs in the reference)",
    )
    parser.add_argument("--out", type=Path, help="study directory; default results/studies/<study>")
    parser.add_argument(
        "--threads", type=positive_int, metavar="N", help="threads, split between --jobs (default: all cores)"
    )
    parser.add_argument("--jobs", type=positive_int, metavar="N", help="cells run at once in N processes (default 1)")
    parser.set_defaults(handler=_study)


def _study(args: argparse.Namespace) -> int:
    study = get_study(args.study).narrowed(
        variants=args.variants, seeds=args.seeds, epochs=args.epochs, dataset=args.dataset
    )
    threads, jobs = args.threads or available_cores(), args.jobs or 1
    out = args.out or Path("results") / "studies" / study.name
    frameworks = (reference_name(), *args.in_frameworks)
    executor = make_executor(jobs, threads, frameworks)
    progress = CellProgress(0)

    def on_pass(name: str, cells: int) -> None:
        progress.total_cells += cells
        _say(f"pass {name!r}: {cells} cells → {out / 'runs' / name}")

    try:
        result = run_study(
            study,
            out,
            executor,
            data_dir=args.data_dir,
            threads=threads,
            jobs=jobs,
            in_frameworks=tuple(args.in_frameworks),
            on_event=progress,
            on_pass=on_pass,
        )
    finally:
        progress.close()
    # Imported here: pandas and matplotlib take about half a second, which a refused command should not cost.
    from harness.report.study import build_study_report

    report = build_study_report(out)
    print(report.ranked_markdown(limit=15))
    print(f"\ncells trained now: {result.trained}; report: {out / 'report.md'}")
    failed = result.not_ok()
    if failed:
        _say(f"{len(failed)} cells did not succeed:")
        for record in failed:
            print(f"  {record.key}: {record.status}: {record.message}", file=sys.stderr)
        return 1
    return 0


def _say(line: str) -> None:
    print(f"fwcompare study: {line}", file=sys.stderr, flush=True)
