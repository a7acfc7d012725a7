"""`fwcompare data fetch` and `fwcompare data info`: output, exit codes, and errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli.main import main


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FWCOMPARE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FWCOMPARE_DATA_DIR", raising=False)


def test_fetch_fashion_mnist_from_a_data_dir_as_json(shared_data_dir, capsys):
    folder = shared_data_dir / "fashion-mnist"
    assert main(["data", "fetch", "fashion-mnist", "--data-dir", str(folder), "--json"]) == 0
    out, err = capsys.readouterr()
    info = json.loads(out)
    assert info["present"] is True and info["checksums_verified"] is True
    assert info["source"] == f"data dir {folder} (--data-dir)"
    assert info["train_shape"] == [60000, 28, 28] and info["test_shape"] == [10000, 28, 28]
    assert info["train_class_counts"] == [6000] * 10
    assert info["checksums_md5"]["train-images-idx3-ubyte"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert info["classes"][0] == "T-shirt/top"
    assert f"fashion-mnist: trying data dir {folder} (--data-dir)" in err
    assert f"fashion-mnist: loaded from data dir {folder} (--data-dir)" in err


def test_info_digits_as_text(capsys):
    assert main(["data", "info", "digits"]) == 0
    out = capsys.readouterr().out
    assert "  present:      yes" in out
    assert "  train:        1500 × 8 × 8 uint8 (values 0..16)" in out
    assert "  test:         297 × 8 × 8 uint8" in out
    assert "  cache path:   not used (bundled with scikit-learn)" in out
    assert "fa70cba135d4cdd4cde65da70dbffde2  load_digits().images as uint8" in out


def test_info_of_an_absent_data_set_says_how_to_fetch_it(tmp_path, capsys):
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("this machine has a system copy of MNIST in /usr/share/datasets/mnist")
    assert main(["data", "info", "mnist", "--json"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["present"] is False and info["source"] is None and info["checksums_verified"] is False
    assert info["cache_path"] == str(tmp_path / "cache" / "mnist")
    assert f"cache {tmp_path / 'cache' / 'mnist'}: nothing cached yet" in info["absent_because"]
    assert info["absent_because"].endswith("or run: fwcompare data fetch mnist")
    assert captured.err == ""  # info never downloads, so it has nothing to report


def test_a_missing_data_dir_is_one_error_line_and_exit_code_2(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["data", "info", "mnist", "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"fwcompare data: error: data dir {missing} (from --data-dir) does not exist; pass a folder")
    assert err.count("\n") == 1


def test_unknown_data_set_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["data", "fetch", "cifar"])
    assert raised.value.code == 2
    assert "invalid choice: 'cifar'" in capsys.readouterr().err
