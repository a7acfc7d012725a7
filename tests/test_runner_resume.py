"""A run killed with SIGKILL mid-run keeps every finished cell; rerunning the same command trains only the rest,
with no duplicate, partial or temporary files left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from harness.core.record import CellRecord

MATRIX = """
dataset = "digits"
frameworks = ["numpy"]
seeds = 1
epochs = 8
variants = ["relu-normal", "relu-xavier", "relu-he", "relu-he-dropout", "relu-he-batchnorm", "sigmoid-xavier",
            "tanh-xavier"]
"""
CELLS = 7
KILL_AFTER_RECORDS = 2
TIMEOUT_S = 240


def _command(matrix_file, out):
    return [sys.executable, "-m", "harness", "run", "--matrix", str(matrix_file), "--out", str(out), "--threads", "1"]


def _records(out):
    return {path.name: path.read_bytes() for path in (out / "cells").glob("*.json")}


def test_a_run_killed_mid_run_resumes_without_losing_or_duplicating_cells(tmp_path):
    matrix_file = tmp_path / "matrix.toml"
    matrix_file.write_text(MATRIX)
    out = tmp_path / "run"
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(_command(matrix_file, out), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT_S
        while not (out / "cells").is_dir() or len(_records(out)) < KILL_AFTER_RECORDS:
            assert process.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the first run wrote too few records in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL

    finished = _records(out)
    assert KILL_AFTER_RECORDS <= len(finished) < CELLS, "the kill must land before the run ends"
    for content in finished.values():
        record = CellRecord.from_json(json.loads(content))  # every stored record is whole
        assert record.status == "ok" and record.result.epochs_run == 8
    config = (out / "config.json").read_bytes()

    rerun = subprocess.run(_command(matrix_file, out), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{CELLS} cells ({len(finished)} already finished)" in rerun.stderr
    assert f"{CELLS} ok ({CELLS - len(finished)} trained now, {len(finished)} already finished)" in rerun.stdout

    after = _records(out)
    assert len(after) == CELLS
    assert len({json.loads(content)["key"] for content in after.values()}) == CELLS
    assert all(after[name] == content for name, content in finished.items())  # finished cells were not redone
    assert (out / "config.json").read_bytes() == config
    assert not list(out.rglob("*.tmp"))
