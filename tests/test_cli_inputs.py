"""Bad or extreme input is refused early, in one line, before any framework loads: parity --steps, --device cuda
without a GPU, absurd epochs, models too large for memory, huge free text, an empty --data-dir, too many threads;
and the commands that need no framework (list, help, report, data) never import one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import run as cli_run
from harness.cli.main import main
from harness.core.names import MAX_TEXT_LENGTH
from harness.run.executor import available_cores

DIGITS_RUN = ["run", "--dataset", "digits", "--epochs", "1", "--seeds", "1", "--frameworks", "numpy"]
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras")
TIMEOUT_S = 120

# Runs the CLI as `fwcompare` would and reports the exit code and which framework modules it loaded.
PROBE = textwrap.dedent("""
    import json, sys
    from harness.cli.main import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code
    loaded = sorted(name for name in {modules!r} if sys.modules.get(name) is not None)
    print(json.dumps({{"code": code, "loaded": loaded}}))
""").format(modules=FRAMEWORK_MODULES)


def _probe(*argv: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main([*DIGITS_RUN, "--variants", "relu-he", "--threads", "1", "--out", str(out)]) == 0
    return out


def test_commands_that_need_no_framework_never_import_one(finished_run):
    for argv in (["list"], ["--help"], ["run", "--help"], ["report", str(finished_run)], ["data", "info", "digits"]):
        outcome, err = _probe(*argv)
        assert outcome == {"code": 0, "loaded": []}, (argv, err)


def test_refusals_come_before_any_framework_is_imported(tmp_path):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "empty").mkdir()
    traversal = tmp_path / "m.toml"
    traversal.write_text('[[variant]]\nname = "../../etc/x"\nbase = "relu-he"\n')
    for argv in (
        ["run", "--variants", "no-such"],
        ["run", "--dataset", "digits", "--out", str(tmp_path / "a-file" / "run")],
        ["run", "--matrix", str(traversal), "--out", str(tmp_path / "run")],
        ["run", "--dataset", "mnist", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run2")],
        ["run", "--epochs", "1000000000"],
        ["parity", "--steps", "100000"],
        ["parity", "--variants", "no-such"],
    ):
        outcome, err = _probe(*argv)
        assert outcome == {"code": 2, "loaded": []}, (argv, err)
        assert "error" in err.strip().splitlines()[-1]


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")
def test_tensorflow_loads_without_its_start_up_log():
    script = (
        "import os; from keras_impl.plugin import import_tensorflow; import_tensorflow(); "
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2"
    assert "absl::InitializeLog" not in done.stderr and "oneDNN" not in done.stderr, done.stderr


# --- case 4: parity --steps ------------------------------------------------------------------------------------


def test_parity_steps_beyond_the_bound_are_refused_with_the_memory_figure(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["parity", "--steps", "100000"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "18.7 GiB" in err and "at most 1,000" in err


# --- case 5: --device cuda without a GPU -------------------------------------------------------------------------


def test_cuda_without_a_gpu_is_one_line_and_exit_2_in_run_and_parity(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible, so --device cuda is valid here")
    assert main(["parity", "--device", "cuda", "--variants", "relu-he", "--dtype", "float64"]) == 2
    assert "no CUDA device" in _one_line(capsys.readouterr().err)
    out = tmp_path / "run"
    assert (
        main(["run", "--dataset", "digits", "--frameworks", "numpy,torch", "--device", "cuda", "--out", str(out)]) == 2
    )
    assert "no CUDA device" in _one_line(capsys.readouterr().err)
    assert not out.exists()


# --- case 6: smaller bounds -----------------------------------------------------------------------------------


def _matrix(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(f'dataset = "digits"\nframeworks = ["numpy"]\nseeds = 1\n{body}\n')
    return path


def test_a_description_longer_than_the_cap_is_refused(tmp_path, capsys):
    matrix = _matrix(tmp_path, f'epochs = 1\nvariants = ["relu-he"]\ndescription = "{"x" * 5_000_000}"')
    assert main(["run", "--matrix", str(matrix), "--out", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "5,000,000 characters" in line and len(line) < 500
    assert not (tmp_path / "run").exists()


def test_free_text_already_in_a_run_directory_is_clipped_in_the_report(finished_run, tmp_path, capsys):
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(finished_run), str(out)], check=True)
    record_path = next((out / "cells").glob("*.json"))
    record = json.loads(record_path.read_text())
    record["message"] = "m" * 5_000_000
    record_path.write_text(json.dumps(record))
    config = json.loads((out / "config.json").read_text())
    config["matrix"]["description"] = "d" * 5_000_000
    (out / "config.json").write_text(json.dumps(config))
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "d" * MAX_TEXT_LENGTH not in report and "m" * MAX_TEXT_LENGTH not in report
    assert len(report) < 200_000


def test_absurd_epochs_are_refused_on_the_command_line_and_in_a_toml(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*DIGITS_RUN[:3], "--epochs", "1000000000"])
    assert "more than the 10,000 allowed" in capsys.readouterr().err
    matrix = _matrix(tmp_path, '[[variant]]\nname = "long"\nbase = "relu-he"\ntrain = { epochs = 1000000000 }')
    assert main(["run", "--matrix", str(matrix), "--out", str(tmp_path / "run")]) == 2
    assert "asks for 1,000,000,000 epochs" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_model_that_cannot_fit_in_memory_is_refused_with_the_figure(tmp_path, capsys):
    matrix = _matrix(
        tmp_path,
        'epochs = 1\n[[variant]]\nname = "huge"\nbase = "relu-he"\nmodel = { hidden_sizes = [1000000, 1000000] }',
    )
    assert main(["run", "--matrix", str(matrix), "--out", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "GiB of memory" in line and "64-1000000-1000000-10" in line and "smaller hidden sizes" in line
    assert not (tmp_path / "run" / "config.json").exists()


def test_a_batch_larger_than_the_data_is_said(tmp_path, capsys):
    matrix = _matrix(
        tmp_path, 'epochs = 1\n[[variant]]\nname = "big-batch"\nbase = "relu-he"\ntrain = { batch_size = 5000 }'
    )
    assert main(["run", "--matrix", str(matrix), "--out", str(tmp_path / "run")]) == 0
    assert "batch size 5,000 is larger than the 1,500 training examples" in capsys.readouterr().err


def test_more_threads_than_cores_are_warned_about_and_recorded(tmp_path, capsys):
    threads = available_cores() + 1
    out = tmp_path / "run"
    assert main([*DIGITS_RUN, "--variants", "relu-he", "--threads", str(threads), "--out", str(out)]) == 0
    assert f"--threads {threads} is more than the {available_cores()} cores" in capsys.readouterr().err
    assert json.loads((out / "environment.json").read_text())["threads"]["total"] == threads


def test_an_empty_explicit_data_dir_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["run", "--dataset", "mnist", "--frameworks", "numpy", "--data-dir", str(tmp_path / "empty")]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert "does not hold mnist" in _one_line(capsys.readouterr().err)


def test_a_data_dir_that_a_bundled_data_set_does_not_use_is_said(tmp_path, capsys):
    argv = [*DIGITS_RUN, "--variants", "relu-he", "--threads", "1", "--data-dir", str(tmp_path)]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert f"--data-dir {tmp_path} is not used: digits comes bundled with scikit-learn" in capsys.readouterr().err


def test_a_long_run_prints_its_estimated_duration_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_run, "LONG_RUN_S", 0.0)
    assert main([*DIGITS_RUN, "--variants", "relu-he", "--threads", "1", "--out", str(tmp_path / "run")]) == 0
    assert "estimated duration about" in capsys.readouterr().err


# `python -c HIDE_AND_RUN NAMES CODE ARGS...` runs CODE with ARGS as its sys.argv[1:] after hiding the modules NAMES
# (comma-separated) as an uninstalled library looks: find_spec gives None and `import` fails.
HIDE_AND_RUN = textwrap.dedent("""
    import sys
    hidden, code = sys.argv[1:3]
    for name in hidden.split(","):
        sys.modules[name] = None
    sys.argv = [sys.argv[0], *sys.argv[3:]]
    exec(code)
""")


def test_list_says_which_frameworks_are_missing_without_importing_any():
    done = subprocess.run(
        [sys.executable, "-c", HIDE_AND_RUN, "tensorflow", PROBE, "list", "--json"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    *listing, probe = done.stdout.strip().splitlines()
    assert json.loads(probe) == {"code": 0, "loaded": []}, done.stderr
    frameworks = {row["name"]: row for row in json.loads("\n".join(listing))["frameworks"]}
    assert frameworks["keras"]["available"] is False
    assert "no module named 'tensorflow'" in frameworks["keras"]["reason"]
    assert "pip install tensorflow-cpu" in frameworks["keras"]["reason"]
    assert frameworks["numpy"]["available"] and frameworks["torch"]["available"]


def test_the_test_suite_collects_without_tensorflow():
    """A framework whose library is missing is skipped with a reason; collecting the tests must not fail."""
    collect = (
        "import pytest; raise SystemExit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", HIDE_AND_RUN, "tensorflow,keras", collect],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S * 2,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "error" not in done.stdout.lower().split("collected")[-1], done.stdout[-3000:]


def test_in_process_with_worker_processes_is_one_error(tmp_path, capsys):
    assert main(["run", "--dataset", "digits", "--in-process", "--jobs", "2", "--out", str(tmp_path / "run")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--in-process" in line and "--jobs" in line
    assert not (tmp_path / "run").exists()
