"""`fwcompare data fetch NAME` (obtain and verify a data set) and `fwcompare data info NAME` (describe it).

`fetch` tries every source (harness.data.loader) and reports each attempt on stderr. `info` looks only at local
sources (data dir, cache, system folder), so it never downloads; a data set found nowhere is described as absent
with the reasons, while a broken data dir or corrupt file is an error as in `fetch`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from harness.core.errors import DatasetUnavailableError
from harness.data.loader import load_dataset
from harness.data.registry import DATASETS, Dataset, DatasetInfo
from harness.data.sources import Sources, resolve_cache_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="fetch, verify and describe the data sets")
    actions = parser.add_subparsers(dest="data_command", required=True)
    fetch = actions.add_parser("fetch", help="obtain a data set (trying every source), verify it and cache it")
    fetch.add_argument(
        "--mirror",
        action="append",
        metavar="BASE_URL",
        help="download from BASE_URL/<file>.gz instead of the data set's public mirrors (repeatable)",
    )
    fetch.set_defaults(handler=_fetch)
    info = actions.add_parser("info", help="shape, classes, source, checksums and cache path (local sources only)")
    info.set_defaults(handler=_info)
    for action in (fetch, info):
        action.add_argument("name", choices=list(DATASETS), help="data set name")
        action.add_argument(
            "--data-dir", type=Path, help="folder holding the IDX files (default: $FWCOMPARE_DATA_DIR if set)"
        )
        action.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _fetch(args: argparse.Namespace) -> int:
    sources = Sources(mirrors=tuple(args.mirror) if args.mirror else None)
    dataset = load_dataset(args.name, args.data_dir, sources=sources, report=_to_stderr)
    _print(describe(DATASETS[args.name], dataset, None), args.json)
    return 0


def _info(args: argparse.Namespace) -> int:
    try:
        dataset = load_dataset(args.name, args.data_dir, sources=Sources(network=False))
    except DatasetUnavailableError as error:
        _print(describe(DATASETS[args.name], None, f"{error}; or run: fwcompare data fetch {args.name}"), args.json)
        return 0
    _print(describe(DATASETS[args.name], dataset, None), args.json)
    return 0


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def describe(info: DatasetInfo, dataset: Dataset | None, absent_because: str | None) -> dict:
    """What `data info` shows: registry facts, plus what was loaded when the data set is present."""
    description = {
        "name": info.name,
        "description": info.description,
        "present": dataset is not None,
        "source": dataset.source if dataset is not None else None,
        "absent_because": absent_because,
        "train_shape": [info.n_train, *info.image_shape],
        "test_shape": [info.n_test, *info.image_shape],
        "pixel_dtype": "uint8",
        "max_value": info.max_value,
        "classes": list(info.class_names),
        "train_class_counts": None,
        "checksums_md5": dict(info.checksums),
        "checksums_verified": dataset is not None,
        "cache_path": str(resolve_cache_dir() / info.name) if info.is_idx else None,
    }
    if dataset is not None:
        description["train_shape"] = list(dataset.x_train.shape)
        description["test_shape"] = list(dataset.x_test.shape)
        counts = np.bincount(dataset.y_train, minlength=len(info.class_names))
        description["train_class_counts"] = [int(c) for c in counts]
    return description


def _print(description: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(description, indent=2))
        return
    d = description
    lines = [
        f"{d['name']}: {d['description']}",
        f"  present:      {'yes' if d['present'] else 'no'}",
    ]
    if d["present"]:
        lines.append(f"  source:       {d['source']}")
    else:
        lines.append(f"  why not:      {d['absent_because']}")
    lines += [
        f"  train:        {' × '.join(map(str, d['train_shape']))} {d['pixel_dtype']} (values 0..{d['max_value']})",
        f"  test:         {' × '.join(map(str, d['test_shape']))} {d['pixel_dtype']}",
        f"  classes:      {len(d['classes'])}: {', '.join(d['classes'])}",
    ]
    if d["train_class_counts"] is not None:
        lines.append(f"  train counts: {' '.join(map(str, d['train_class_counts']))}")
    lines.append(f"  cache path:   {d['cache_path'] or 'not used (bundled with scikit-learn)'}")
    verified = "verified" if d["checksums_verified"] else "pinned, not checked: data absent"
    lines.append(f"  md5 of the uncompressed data ({verified}):")
    lines += [f"    {digest}  {what}" for what, digest in d["checksums_md5"].items()]
    print("\n".join(lines))
