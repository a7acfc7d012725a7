"""The run directory under hostile use: two runs on one --out, names that try to leave it, damaged files, a full
disk. Each test drives `fwcompare run` on digits (NumPy only, 1 epoch) as a user would, in process or as a
subprocess where a second process is the point."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.names import BadNameError
from harness.core.record import CellRecord
from harness.run.runner import RunDirectory

VARIANTS = ("relu-he", "tanh-xavier")
RUN_FLAGS = ["--dataset", "digits", "--epochs", "1", "--seeds", "1", "--frameworks", "numpy", "--threads", "1"]
TIMEOUT_S = 120


def _run_args(out: Path, *extra: str) -> list[str]:
    return ["run", *RUN_FLAGS, "--variants", ",".join(VARIANTS), "--out", str(out), *extra]


def _records(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (out / "cells").glob("*.json")}


def _hold_lock(out: Path, *, then: str) -> subprocess.Popen:
    """A process that takes out's lock, prints 'locked', then runs `then` (Python) and exits."""
    script = textwrap.dedent(f"""
        import sys, time
        from harness.run.runner import RunDirectory
        with RunDirectory({str(out)!r}).locked():
            print("locked", flush=True)
            {then}
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


# --- case 1: one writer per run directory -------------------------------------------------------------------------


def test_a_second_run_on_a_held_directory_stops_at_once_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _hold_lock(out, then="sys.stdin.read()")
    try:
        assert main(_run_args(out)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"PID {holder.pid}" in err[0] and "--wait" in err[0]
        assert not (out / "config.json").exists() and not _records(out)
    finally:
        holder.stdin.close()
        holder.wait(timeout=TIMEOUT_S)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    out = tmp_path / "run"
    holder = _hold_lock(out, then="sys.stdin.read()")
    holder.kill()
    holder.wait(timeout=TIMEOUT_S)
    assert main(_run_args(out)) == 0
    assert len(_records(out)) == len(VARIANTS)


def test_wait_waits_for_the_holder_then_runs(tmp_path, capsys):
    out = tmp_path / "run"
    holder = _hold_lock(out, then="time.sleep(1.0)")
    assert main(_run_args(out, "--wait")) == 0
    assert holder.wait(timeout=TIMEOUT_S) == 0
    assert f"waiting for PID {holder.pid}" in capsys.readouterr().err
    assert len(_records(out)) == len(VARIANTS)


def test_two_concurrent_runs_never_train_a_cell_twice(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", *_run_args(out, "--wait")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=TIMEOUT_S) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    trained = sorted(stdout.split(" trained now")[0].rsplit("(", 1)[1] for stdout, _ in outputs)
    assert trained == ["0", str(len(VARIANTS))]
    assert len(_records(out)) == len(VARIANTS)


def test_only_temporary_files_of_dead_processes_are_removed(tmp_path):
    out = tmp_path / "run"
    (out / "cells").mkdir(parents=True)
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    in_flight = out / "cells" / f".some-record.{alive.pid}.abc123.tmp"
    abandoned = out / "cells" / f".some-record.{dead.pid}.abc123.tmp"
    in_flight.write_text("{")
    abandoned.write_text("{")
    try:
        assert main(_run_args(out)) == 0
        assert in_flight.exists() and not abandoned.exists()
    finally:
        alive.stdin.close()
        alive.wait(timeout=TIMEOUT_S)


# --- case 2: names cannot leave the run directory ------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        '[[variant]]\nname = "../../etc/x"\nbase = "relu-he"',
        '[[variant]]\nname = "a/b"\nbase = "relu-he"',
        '[[grid]]\nname = "../up"\nbase = "relu-he"\naxes = { "train.batch_size" = [32] }',
        'name = "../../matrix"\nvariants = ["relu-he"]',
    ],
)
def test_a_traversal_name_in_a_toml_writes_nothing_anywhere(tmp_path, capsys, table):
    work = tmp_path / "work"
    work.mkdir()
    matrix = work / "m.toml"
    matrix.write_text(f'dataset = "digits"\nframeworks = ["numpy"]\nseeds = 1\nepochs = 1\n{table}\n')
    assert main(["run", "--matrix", str(matrix), "--out", str(work / "deep" / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a valid name" in err[0]
    assert [path.name for path in tmp_path.rglob("*")] == ["work", "m.toml"]


@pytest.mark.parametrize("names", ["../x", "a/b", "relu-he,..", ".hidden"])
def test_a_traversal_name_on_the_command_line_is_a_usage_error(tmp_path, capsys, names):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--variants", names, "--out", str(tmp_path / "run")])
    assert stop.value.code == 2
    assert "not a valid name" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_record_key_that_would_leave_the_cells_folder_is_refused(tmp_path):
    run_dir = RunDirectory(tmp_path / "run")
    with run_dir.locked():
        for key in ("../../escaped", "a/b", ".."):
            with pytest.raises(BadNameError):
                run_dir.write_record(
                    CellRecord(key, "relu-he", "numpy", 0, "digits", "test", status="failed", message="never run")
                )
    assert sorted(path.name for path in tmp_path.rglob("*")) == [".lock", "cells", "run"]


# --- case 3: a damaged run directory resumes ----------------------------------------------------------------------


def test_damaged_records_are_set_aside_named_and_their_cells_trained_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_run_args(out)) == 0
    first, second = sorted((out / "cells").glob("*.json"))
    content = first.read_bytes()
    first.write_bytes(content[: len(content) // 2])  # cut in half, as by a full disk or a copy interrupted
    second.write_text(json.dumps({**json.loads(second.read_text()), "schema": 99}))
    capsys.readouterr()

    assert main(_run_args(out)) == 0
    captured = capsys.readouterr()
    set_aside = [line for line in captured.err.splitlines() if "set aside" in line]
    assert len(set_aside) == 2
    assert any(first.name in line and "unreadable" in line for line in set_aside)
    assert any(second.name in line and "schema 99" in line for line in set_aside)
    assert f"({len(VARIANTS)} trained now, 0 already finished)" in captured.out
    assert (first.parent / f"{first.name}.corrupt").read_bytes() == content[: len(content) // 2]
    assert all(json.loads(record)["status"] == "ok" for record in _records(out).values())


def test_a_half_written_config_is_set_aside_and_the_finished_cells_kept(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_run_args(out)) == 0
    finished = _records(out)
    config = (out / "config.json").read_bytes()
    (out / "config.json").write_bytes(config[:100])
    capsys.readouterr()

    assert main(_run_args(out)) == 0
    captured = capsys.readouterr()
    assert "set aside config.json as config.json.corrupt" in captured.err
    assert f"(0 trained now, {len(VARIANTS)} already finished)" in captured.out
    assert _records(out) == finished
    assert json.loads((out / "config.json").read_text())["cells"] == json.loads(config)["cells"]


# --- a full disk --------------------------------------------------------------------------------------------------


def _fail_second_record_replace(out: Path, monkeypatch):
    """os.replace fails with ENOSPC for the second cell record, as on a disk that just filled up."""
    real_replace = os.replace
    calls = []

    def replace(source, target, *args, **kwargs):
        if Path(target).parent == out / "cells":
            calls.append(target)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def _fail_second_record_write(out: Path, monkeypatch):
    """os.write of the second cell record's temporary file writes part of it, then fails with ENOSPC."""
    real_write = os.write
    files = []

    def write(descriptor, data):
        target = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
        if target.parent == out / "cells" and target.name.endswith(".tmp"):
            if target not in files:
                files.append(target)
            if len(files) == 2:
                real_write(descriptor, bytes(data)[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to find a descriptor's file")
@pytest.mark.parametrize("fail", [_fail_second_record_replace, _fail_second_record_write])
def test_a_full_disk_stops_the_run_cleanly_and_a_rerun_completes_it(tmp_path, capsys, monkeypatch, fail):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        fail(out, patch)
        assert main(_run_args(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "No space left on device" in err[-1] and "rerun the same command" in err[-1]
    assert len(_records(out)) == 1
    assert not list(out.rglob("*.tmp"))
    assert all(json.loads(record)["status"] == "ok" for record in _records(out).values())

    assert main(_run_args(out)) == 0
    assert "(1 trained now, 1 already finished)" in capsys.readouterr().out
    assert len(_records(out)) == len(VARIANTS)
