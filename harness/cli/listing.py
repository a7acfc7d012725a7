"""`fwcompare list`: the registered variants, the named matrices, the data sets, and which frameworks import here."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tabulate import tabulate

from harness.catalog.matrices import MATRICES, MATRIX_ALIASES
from harness.catalog.matrix import Matrix
from harness.catalog.variants import VARIANT_GROUPS, all_variants
from harness.core.frameworks import available_frameworks
from harness.data.registry import DATASETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="variants, matrices, data sets and frameworks available here")
    parser.add_argument("--json", action="store_true", help="print everything as JSON instead of tables")
    parser.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    frameworks = available_frameworks()
    listing: dict[str, Any] = {
        "variants": [
            {
                "name": variant.name,
                "groups": [group for group, members in VARIANT_GROUPS.items() if variant in members],
                "description": variant.description,
            }
            for variant in all_variants().values()
        ],
        "matrices": [_matrix_summary(matrix) for matrix in MATRICES.values()],
        "matrix_aliases": [
            {"alias": alias, "matrix": name, "note": f"deprecated: use {name}; the alias goes in the next release"}
            for alias, name in MATRIX_ALIASES.items()
        ],
        "datasets": [
            {
                "name": info.name,
                "shape": f"{info.n_train}+{info.n_test} × {info.image_shape[0]}×{info.image_shape[1]}",
                "classes": len(info.class_names),
                "description": info.description,
            }
            for info in DATASETS.values()
        ],
        "frameworks": [
            {"name": name, "available": frameworks[name] is None, "reason": frameworks[name]} for name in frameworks
        ],
    }
    if args.json:
        listing["matrices"] = [matrix.to_dict() for matrix in MATRICES.values()]
        print(json.dumps(listing, indent=2))
        return 0
    variants = [{**row, "groups": ", ".join(row["groups"])} for row in listing["variants"]]
    frameworks_rows = [
        {"name": row["name"], "available": "yes" if row["available"] else f"no: {row['reason']}"}
        for row in listing["frameworks"]
    ]
    for title, rows in (
        ("Variants", variants),
        ("Matrices (fwcompare run --matrix NAME; a .toml file works too)", listing["matrices"]),
        ("Deprecated matrix names (still accepted)", listing["matrix_aliases"]),
        ("Data sets", listing["datasets"]),
        ("Frameworks", frameworks_rows),
    ):
        print(f"{title}\n{tabulate(rows, headers='keys', tablefmt='simple', maxcolwidths=80)}\n")
    return 0


def _matrix_summary(matrix: Matrix) -> dict[str, object]:
    epochs = matrix.epochs if matrix.epochs is not None else "per variant"
    published = sum(row.published is not None for row in matrix.rows)
    return {
        "name": matrix.name,
        "cells": len(matrix.rows) * len(matrix.frameworks) * len(matrix.seeds),
        "variants": len(matrix.rows),
        "seeds": ", ".join(map(str, matrix.seeds)),
        "epochs": epochs,
        "data": f"{matrix.dataset} ({matrix.scaling}, validation {matrix.validation})",
        "published numbers": published,
        "description": matrix.description,
    }
