"""The local sources of an IDX data set: a data dir the user names, the cache, and the system folder. Every file is
read and verified here (IDX header against payload, images against labels, labels in range, md5 of the
uncompressed bytes against the pinned one), from every source, the cache included.

A data dir the user named is trusted to hold the data: a missing folder or a bad file there is an error at once,
as is a --data-dir without the files, while a $FWCOMPARE_DATA_DIR without them (it may serve several data sets) is
passed over. A cached file that fails its checks is moved aside to <file>.corrupt (reported) and obtained again
from the next source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.core.errors import DataError
from harness.data.idx import IdxContent, check_image_label_pair, read_idx
from harness.data.registry import IDX_FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, DatasetInfo
from harness.data.sources import Report, SourceUnavailable


def find_idx_files(*folders: Path) -> dict[str, Path]:
    """The IDX files, raw or .gz, in the first of `folders` that holds any of them."""
    for folder in folders:
        found = {file: path for file in IDX_FILES if (path := idx_file_in(folder, file)) is not None}
        if found:
            return found
    return {}


def idx_file_in(folder: Path, file: str) -> Path | None:
    """`file` in `folder`, raw or .gz, or None."""
    for path in (folder / file, folder / f"{file}.gz"):
        if path.is_file():
            return path
    return None


def verify_idx_files(info: DatasetInfo, paths: Mapping[str, Path]) -> dict[str, IdxContent]:
    """Read the four files, check formats, images against labels, then each md5 against the pinned one."""
    contents = {file: read_idx(paths[file]) for file in IDX_FILES}
    num_classes = len(info.class_names)
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        check_image_label_pair(
            contents[images].array, contents[labels].array, num_classes, paths[images], paths[labels]
        )
    for file in IDX_FILES:
        info.check_md5(file, contents[file].md5, paths[file])
    return contents


def from_data_dir(info: DatasetInfo, data_dir: Path, named_by: str) -> tuple[dict[str, IdxContent], str]:
    """The files in `data_dir` or its sub-folder <name>/, and where they came from."""
    if not data_dir.is_dir():
        what = "is not a folder" if data_dir.exists() else "does not exist"
        raise DataError(
            f"data dir {data_dir} (from {named_by}) {what}; pass a folder holding "
            f"{', '.join(f'{f}.gz' for f in IDX_FILES)} (directly or in a sub-folder {info.name}/)"
        )
    folders = (data_dir, data_dir / info.name)
    found = find_idx_files(*folders)
    try:
        _require_all(found, folders)
    except SourceUnavailable as why:
        if named_by != "--data-dir":
            raise  # an environment variable may name a folder shared by several data sets: try the next source
        raise DataError(
            f"data dir {data_dir} (from --data-dir) does not hold {info.name}: {why}; put "
            f"{', '.join(f'{f}.gz' for f in IDX_FILES)} there (or in {info.name}/), or leave out --data-dir to use "
            "the cache and downloads"
        ) from None
    return verify_idx_files(info, found), f"data dir {found[TRAIN_IMAGES].parent} ({named_by})"


def from_system_folder(info: DatasetInfo, folder: Path) -> tuple[dict[str, IdxContent], str]:
    """The files a system package installed in `folder` (e.g. Debian's dataset-fashion-mnist)."""
    found = find_idx_files(folder)
    _require_all(found, (folder,))
    try:
        contents = verify_idx_files(info, found)
    except DataError as error:
        raise SourceUnavailable(str(error)) from error
    package = f", Debian package {info.debian_package}" if info.debian_package else ""
    return contents, f"system folder {found[TRAIN_IMAGES].parent}{package}"


def _require_all(found: Mapping[str, Path], folders: tuple[Path, ...]) -> None:
    if not found:
        raise SourceUnavailable(f"no IDX files in {' or '.join(map(str, folders))}")
    missing = [f for f in IDX_FILES if f not in found]
    if missing:
        raise SourceUnavailable(f"missing {', '.join(missing)} (raw or .gz) beside {found[next(iter(found))]}")


def read_cached(info: DatasetInfo, cache_folder: Path, file: str, say: Report) -> IdxContent | None:
    """A verified cached file, or None when absent; a corrupt one is moved aside to <name>.corrupt."""
    path = idx_file_in(cache_folder, file)
    if path is None:
        return None
    try:
        content = read_idx(path)
        info.check_md5(file, content.md5, path)
    except DataError as error:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
        except OSError as move_error:
            raise DataError(f"{error}; it cannot be moved aside ({move_error}): delete {path}") from move_error
        say(f"{info.name}: cache file is corrupt, moved aside to {aside}: {error}")
        return None
    return content


def from_cache(info: DatasetInfo, cache_folder: Path, say: Report) -> dict[str, IdxContent]:
    """All four files from the cache, each verified."""
    if not any(idx_file_in(cache_folder, file) for file in IDX_FILES):
        raise SourceUnavailable("nothing cached yet")
    contents, problems = {}, []
    for file in IDX_FILES:
        path = idx_file_in(cache_folder, file)
        content = read_cached(info, cache_folder, file, say)
        if path is None:
            problems.append(f"{file} missing")
        elif content is None:
            problems.append(f"{path.name} corrupt (moved aside to {path.name}.corrupt)")
        else:
            contents[file] = content
    if problems:
        raise SourceUnavailable("; ".join(problems))
    return contents
