"""`fwcompare run`: train a comparison matrix (named or from a TOML file), resumably, then build its report.

Exit status: 0 when every cell of the matrix is ok, 1 when any cell diverged, failed or had no framework (they
are listed on stderr), 2 for a usage or setup error (unknown name, missing data, a run directory of another run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from harness.catalog.matrices import MATRICES, MATRIX_ALIASES, get_matrix
from harness.cli.args import accuracy_fraction, comma_names, epoch_count, positive_int
from harness.cli.parity import add_impl_arguments, register_impls
from harness.core.errors import FwcompareError, ImplementationError
from harness.core.frameworks import DEVICE_CHOICES, check_device, default_framework_names, framework_names
from harness.core.interface import MODES
from harness.core.load import machine_is_busy
from harness.data.registry import DATASETS
from harness.run.divergence import divergence_plans, release_snapshots
from harness.run.environment import collect_environment
from harness.run.estimate import estimate_duration
from harness.run.executor import Executor, available_cores, make_executor, threads_per_worker
from harness.run.gemm import RUN_SECONDS_PER_RATE
from harness.run.runner import CellEvent, RunDirectory, RunResult, execute_run, iter_statuses, plan_run

EXECUTORS = ("local", "ray")
DEFAULT_TRACKING = "default"
"""--mlflow without a URI: the local store harness.report.mlflow_export.default_tracking_uri gives."""
LONG_RUN_S = 60.0
"""A run expected to take longer than this prints its estimated duration before it starts."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="train a comparison matrix in every framework and write a run directory with its report",
        description="Train every cell (variant × framework × seed) of a matrix through the shared training loop, "
        "writing one record per finished cell; rerunning with the same --out trains only the cells without a "
        "record (and retries failed/unavailable ones). Ends with report.md and a summary table.",
    )
    parser.add_argument(
        "--matrix",
        default="default",
        metavar="NAME|PATH",
        help=f"a named matrix ({', '.join(MATRICES)}) or a TOML file (see examples/matrix.toml); default: default",
    )
    parser.add_argument("--dataset", choices=tuple(DATASETS), help="train on this data set instead of the matrix's")
    parser.add_argument("--data-dir", help="folder with the data set's files (tried before the cache)")
    parser.add_argument(
        "--frameworks",
        type=comma_names,
        metavar="A,B",
        help=f"only these frameworks, of {','.join(framework_names())} "
        f"(default: {','.join(default_framework_names())})",
    )
    parser.add_argument("--variants", type=comma_names, metavar="A,B", help="only these variants (any registered name)")
    parser.add_argument("--seeds", type=positive_int, metavar="N", help="N seeds counting up from the matrix's first")
    parser.add_argument("--epochs", type=epoch_count, metavar="N", help="train every cell for N epochs")
    parser.add_argument(
        "--target-accuracy",
        type=accuracy_fraction,
        metavar="F",
        help="record each cell's time until its evaluation accuracy first reaches F (a fraction, e.g. 0.97); "
        "default: the matrix's target_accuracy",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="execution mode: exact (default; the path parity checks) or fast (each framework's fastest path: Keras "
        "compiles its epoch loop with XLA; `fwcompare parity --mode fast` measures its parity)",
    )
    parser.add_argument("--out", type=Path, help="run directory; default results/runs/<timestamp>-<matrix>")
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="device of the frameworks that can use a GPU; the NumPy reference runs on the CPU (default auto)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="threads for NumPy's BLAS and every framework alike, split between --jobs (default: all cores); "
        "with --executor ray, the threads (and Ray CPUs) of each cell (default 1)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="cells run at once in N worker processes (default 1; each framework's cells get fresh workers, so a run "
        "holds one framework's library in memory at a time)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="train every cell in this process instead of worker processes (for a debugger; implied by --impl)",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where cells train: local (this machine, --jobs processes) or ray (one Ray task per cell)",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="Ray cluster to run on with --executor ray (host:port of its head node, or 'auto'); "
        "default $RAY_ADDRESS, else a Ray instance started on this machine for the run",
    )
    parser.add_argument(
        "--mlflow",
        nargs="?",
        const=DEFAULT_TRACKING,
        metavar="TRACKING_URI",
        help="also log the run to MLflow: the matrix as a parent run, each cell as a child run; default store: "
        "sqlite:///<parent of the run directory>/mlflow.db",
    )
    add_impl_arguments(parser)
    parser.add_argument(
        "--wait", action="store_true", help="if another run holds --out, wait for it to finish instead of stopping"
    )
    parser.add_argument(
        "--no-divergence",
        action="store_true",
        help="do not compare the frameworks' parameters during training (the report's divergence plots need it; it "
        "cuts each cell's first epoch at steps 1, 10 and 100, which adds compiles to compiled paths' first epoch)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary instead of a table")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    # Everything that can be refused is checked before a framework is imported (an in-process executor imports
    # them).
    if args.impl and (args.executor == "ray" or (args.jobs or 1) > 1):
        # A user's network is registered in this process only; spawned workers and Ray nodes would not know it.
        raise ImplementationError("--impl runs in one process: leave out --jobs and --executor ray")
    if args.in_process and (args.executor == "ray" or (args.jobs or 1) > 1):
        raise FwcompareError("--in-process trains one cell at a time here: leave out --jobs and --executor ray")
    if args.matrix in MATRIX_ALIASES:
        _say(f"warning: the matrix name {args.matrix!r} is deprecated; it is now {MATRIX_ALIASES[args.matrix]!r}")
    impls, impl_failures = register_impls(args.impl, args.impl_time_limit)
    for target, message in impl_failures.items():
        _say(f"error: --impl {target}: {message}; the other frameworks run without it")
    matrix = get_matrix(args.matrix)
    frameworks = [*(args.frameworks or matrix.frameworks), *impls]
    matrix = matrix.narrowed(
        frameworks=list(dict.fromkeys(frameworks)),
        variants=args.variants,
        seeds=args.seeds,
        epochs=args.epochs,
        dataset=args.dataset,
        target_accuracy=args.target_accuracy,
        mode=args.mode,
    )
    threads, jobs = _threads_and_jobs(args)
    if args.executor == "local" and args.threads is not None and args.threads > available_cores():
        _say(
            f"warning: --threads {args.threads} is more than the {available_cores()} cores available here; the extra "
            "threads compete for them and slow every framework (the count is recorded in environment.json)"
        )
    if args.data_dir is not None and not DATASETS[matrix.dataset].is_idx:
        _say(f"warning: --data-dir {args.data_dir} is not used: {matrix.dataset} comes bundled with scikit-learn")
    if args.executor == "local":
        check_device(args.device, matrix.frameworks)  # on Ray, the cluster's nodes are asked instead
    out = args.out or Path("results") / "runs" / f"{datetime.now():%Y%m%d-%H%M%S}-{matrix.name}"
    run_dir = RunDirectory(out)
    tracking_uri = _tracking_uri(args.mlflow, out)
    with run_dir.locked(wait=args.wait, on_wait=_say):
        environment = collect_environment(
            threads=threads,
            jobs=jobs,
            threads_per_worker=threads_per_worker(jobs, threads),
            device=args.device,
        )
        plan = plan_run(
            matrix,
            run_dir,
            data_dir=args.data_dir,
            device=args.device,
            threads=threads,
            jobs=jobs,
            environment=environment,
        )
        for line in (*plan.set_aside, *plan.warnings):
            _say(f"warning: {line}")
        duration = estimate_duration([(cell.model_spec, cell.train_spec) for cell in plan.todo], plan.arrays(), jobs)
        if duration.seconds > LONG_RUN_S and args.executor == "local":
            _say(duration.describe())
        executor = _executor(args, threads, jobs, matrix.frameworks)
        done = len(plan.cells) - len(plan.todo)
        _say(
            f"matrix {matrix.name!r}, {len(plan.cells)} cells"
            + (f" ({done} already finished)" if done else "")
            + f" → {out}"
        )
        if plan.environment_changes:
            _say(
                f"warning: resuming on a different environment ({', '.join(plan.environment_changes)} changed); "
                "environment.json describes the first start"
            )
        if machine_is_busy():
            _say(
                f"warning: the load average ({os.getloadavg()[0]:.1f}) exceeds the {os.cpu_count()} cores; epochs "
                "timed while other processes run are flagged as contended and their times are not comparable"
            )
        n_train = len(next(iter(plan.arrays().values())).x_train)
        snapshots_of = None if args.no_divergence else divergence_plans(plan.cells, out, n_train)
        progress = CellProgress(len(plan.todo))
        try:
            result = execute_run(plan, executor, progress, gemm_seconds=RUN_SECONDS_PER_RATE, snapshots_of=snapshots_of)
        finally:
            progress.close()
            release_snapshots(plan.cells, out)
        # Imported here: pandas and matplotlib take about half a second, which a refused command should not cost.
        from harness.report.build import build_report

        report = build_report(out)
        if tracking_uri is not None:
            from harness.report.mlflow_export import export_run

            exported = export_run(out, tracking_uri)
            _say(exported.describe())
    failed = result.not_ok()
    if args.json:
        print(json.dumps(_json_summary(result, report.summary.to_dict(orient="records")), indent=2))
    else:
        print(report.summary.to_markdown(index=False, tablefmt="simple", disable_numparse=True))
        counts = ", ".join(f"{n} {status}" for status, n in iter_statuses(result.records))
        print(f"\ncells: {counts} ({len(result.trained)} trained now, {len(result.skipped)} already finished)")
        print(f"report: {out / 'report.md'}")
    if failed:
        _say(f"{len(failed)} of {len(result.records)} cells did not succeed:")
        for record in failed:
            print(f"  {record.key}: {record.status}: {record.message}", file=sys.stderr)
        return 1
    return 1 if impl_failures else 0


def _threads_and_jobs(args: argparse.Namespace) -> tuple[int, int]:
    """(threads, jobs) with their defaults: all cores in one process locally; one thread per cell on Ray, where
    --jobs does not apply (Ray runs as many cells at once as the cluster's CPUs allow)."""
    if args.executor == "ray":
        if args.jobs is not None:
            _say(
                f"warning: --jobs {args.jobs} is not used with --executor ray: Ray runs as many cells at once as the "
                "cluster has CPUs for (--threads per cell)"
            )
        return args.threads or 1, 1
    if args.ray_address is not None:
        _say(f"warning: --ray-address {args.ray_address} is not used without --executor ray")
    return args.threads or available_cores(), args.jobs or 1


def _executor(args: argparse.Namespace, threads: int, jobs: int, frameworks: tuple[str, ...]) -> Executor:
    if args.executor == "ray":
        from harness.run.ray_executor import RayExecutor

        return RayExecutor(args.ray_address, threads, frameworks, args.device)
    return make_executor(jobs, threads, frameworks, in_process=args.in_process or bool(args.impl))


def _tracking_uri(requested: str | None, out: Path) -> str | None:
    """The MLflow tracking URI of --mlflow (None without it), checked reachable before anything trains."""
    if requested is None:
        return None
    from harness.report.mlflow_export import check_tracking_uri, default_tracking_uri

    if requested == DEFAULT_TRACKING:
        out.parent.mkdir(parents=True, exist_ok=True)  # the store lives beside the run directory
        requested = default_tracking_uri(out)
    check_tracking_uri(requested)
    return requested


def _say(line: str) -> None:
    print(f"fwcompare run: {line}", file=sys.stderr, flush=True)


def _json_summary(result: RunResult, summary_rows: list[dict]) -> dict:
    return {
        "run_dir": str(result.run_dir),
        "report": str(result.run_dir / "report.md"),
        "cells": dict(iter_statuses(result.records)),
        "trained": len(result.trained),
        "skipped": len(result.skipped),
        "not_ok": [
            {"key": record.key, "status": record.status, "message": record.message} for record in result.not_ok()
        ],
        "summary": summary_rows,
    }


class CellProgress:
    """A tqdm bar per running cell (epoch, loss, accuracy) and one line per finished cell, on stderr.

    Called from a listener thread when cells run in worker processes, hence the lock.
    """

    def __init__(self, total_cells: int) -> None:
        self.total_cells = total_cells
        self.finished = 0
        self.bars: dict[str, tqdm] = {}
        self.lock = threading.Lock()

    def __call__(self, event: CellEvent) -> None:
        with self.lock:
            if event.kind == "start":
                if event.key in self.bars:  # started again: an executor retried the cell after its worker died
                    self.bars.pop(event.key).close()
                # disable=None: no bars when stderr is not a terminal (logs, CI); the per-cell lines remain.
                self.bars[event.key] = tqdm(
                    total=event.total_epochs, desc=event.label, unit="epoch", leave=False, file=sys.stderr, disable=None
                )
            elif event.kind == "epoch":
                bar = self.bars[event.key]
                bar.update(1)
                postfix = {"loss": f"{event.train_loss:.4f}"}
                if event.val_accuracy is not None:
                    postfix["acc"] = f"{event.val_accuracy:.4f}"
                bar.set_postfix(postfix)
            elif event.kind == "end":
                self.bars.pop(event.key).close()
                self.finished += 1
                outcome = (
                    f"test accuracy {event.test_accuracy:.4f}"
                    if event.status == "ok"
                    else f"{event.status}: {event.message}"
                )
                tqdm.write(f"[{self.finished}/{self.total_cells}] {event.label}: {outcome}", file=sys.stderr)

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()
