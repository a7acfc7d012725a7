"""`fwcompare export mlflow RUN_DIR`: log a finished (or partial) run directory to an MLflow tracking store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="log a run directory to an experiment tracker (mlflow)",
        description="Log the cell records of a run directory to an experiment tracker; exporting again adds only "
        "what changed.",
    )
    targets = parser.add_subparsers(dest="target", required=True)
    mlflow = targets.add_parser(
        "mlflow",
        help="the matrix as a parent run, each cell as a child run (params, metric histories, status, artifacts)",
        description="Log RUN_DIR to MLflow: the matrix as a parent run with the report as artifacts, each cell "
        "record as a child run. Runs already logged with the same record are left as they are, so exporting again "
        "duplicates nothing.",
    )
    mlflow.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory written by `fwcompare run`")
    mlflow.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="MLflow tracking URI (http://host:5000, sqlite:///path/mlflow.db, ...); default "
        "sqlite:///<parent of RUN_DIR>/mlflow.db, the store `fwcompare run --mlflow` uses",
    )
    mlflow.set_defaults(handler=_export_mlflow)


def _export_mlflow(args: argparse.Namespace) -> int:
    from harness.report.mlflow_export import default_tracking_uri, export_run

    exported = export_run(args.run_dir, args.tracking_uri or default_tracking_uri(args.run_dir))
    print(exported.describe())
    return 0
