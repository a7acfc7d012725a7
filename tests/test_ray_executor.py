"""`--executor ray` on a real Ray cluster started here on 127.0.0.1 (`ray start --head --block`, two CPUs).

The digits matrix runs on the cluster and in this process; records must agree in everything but timings. A worker
process is SIGKILLed while it trains a cell (found by its process title, ray::<cell key>): Ray retries the cell and
its record still equals the local one; with retries off, the cell is recorded as failed with the cause. The
cluster's processes all live in the session of the `ray start` process, which the fixture ends with SIGTERM and
checks that none is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CLUSTER_ENV = {
    # Token authentication needs a token shared by every node; a loopback-only test cluster goes without.
    "RAY_AUTH_MODE": "disabled",
    # Ray replaces 127.0.0.1 by the machine's outward address unless told the cluster is this machine only.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
}
# Ray reads these when it is imported, so they are set for this test process before the import below; the
# fixture's `ray start` gets them in its environment.
os.environ.update(CLUSTER_ENV)
pytest.importorskip("ray", reason="Ray is not installed; install the extra with `pip install -e '.[ray]'`")

from harness.catalog.matrices import get_matrix  # noqa: E402
from harness.cli.main import main  # noqa: E402
from harness.core.record import CellRecord  # noqa: E402
from harness.run.executor import InProcessExecutor  # noqa: E402
from harness.run.ray_executor import RayExecutor  # noqa: E402
from harness.run.runner import CellEvent, CellJob, RunDirectory, matrix_cells, run_cell, run_matrix  # noqa: E402

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MATRIX = get_matrix("default").narrowed(
    frameworks=("numpy", "torch"), variants=("relu-he", "relu-he-dropout"), seeds=1, epochs=15, dataset="digits"
)
MEASURED = ("epoch", "train_loss", "lr", "val_loss", "val_accuracy")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    members.append(int(entry.name))
            except OSError:
                continue
    return members


@pytest.fixture(scope="module")
def cluster():
    """(address, session id) of a Ray head node on 127.0.0.1 with 2 CPUs, stopped (every process) afterwards."""
    temp_dir = tempfile.mkdtemp(prefix="fwray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    env = {**os.environ, **CLUSTER_ENV, "PYTHONPATH": str(PROJECT_ROOT)}
    log = open(Path(temp_dir) / "head.log", "w")  # noqa: SIM115  (closed in the teardown)
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", temp_dir],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_head(head, Path(temp_dir) / "head.log")
        yield f"127.0.0.1:{port}", head.pid
    finally:
        head.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _session_members(head.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _session_members(head.pid)
        if left:
            os.killpg(head.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not left, f"Ray processes left after SIGTERM: {left}"


def _wait_for_head(head: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while "--block" not in log.read_text(errors="replace"):
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray head did not start within 120 s: {log.read_text()[-2000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def local_records(tmp_path_factory):
    """The matrix trained in this process, one thread: what every Ray run must reproduce."""
    out = tmp_path_factory.mktemp("local")
    return run_matrix(MATRIX, RunDirectory(out), InProcessExecutor(1, MATRIX.frameworks), data_dir=None).records


def assert_same_records(ray_records: dict, local: dict) -> None:
    """Both runs' records (CellRecord, or their stored JSON) agree in everything but timings and timestamps."""
    assert sorted(ray_records) == sorted(local)
    for key, expected in local.items():
        got = _stored(ray_records[key])
        expected = _stored(expected)
        assert got["status"] == expected["status"] == "ok", (key, got["message"])
        assert got["result"] == expected["result"], key
        assert [[epoch[name] for name in MEASURED] for epoch in got["history"]] == [
            [epoch[name] for name in MEASURED] for epoch in expected["history"]
        ], key
        assert (got["model_spec"], got["train_spec"]) == (expected["model_spec"], expected["train_spec"])
        assert got["hardware"]["threads"] == got["timing"]["threads"] == 1
        assert got["hardware"]["cpu_model"] == expected["hardware"]["cpu_model"]


def _stored(record: CellRecord | dict) -> dict:
    return record if isinstance(record, dict) else record.to_json()


class WorkerKiller:
    """An on_event that SIGKILLs the Ray worker training `key` when that cell reports its start, once."""

    def __init__(self, key: str, session: int) -> None:
        self.key = key
        self.session = session
        self.killed: int | None = None
        self.starts = 0

    def __call__(self, event: CellEvent) -> None:
        if event.key != self.key or event.kind != "start":
            return
        self.starts += 1
        if self.killed is None:
            self.killed = _kill_worker_of(self.key, self.session)


def _kill_worker_of(key: str, session: int) -> int:
    title = f"ray::{key}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes().startswith(title) and os.getsid(int(entry.name)) == session:
                os.kill(int(entry.name), signal.SIGKILL)
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no Ray worker of the test cluster is running {key}")


def test_cli_run_on_the_cluster_writes_the_records_of_a_local_run(cluster, local_records, tmp_path, capsys):
    address, _ = cluster
    out = tmp_path / "run"
    argv = ["run", "--executor", "ray", "--ray-address", address, "--matrix", "default", "--dataset", "digits"]
    argv += ["--frameworks", "numpy,torch", "--variants", "relu-he,relu-he-dropout", "--seeds", "1", "--epochs", "15"]
    # local_records trained without divergence snapshots, which cut the first epoch and so change the last bits of
    # its mean loss (a sum over segments).
    argv += ["--no-divergence"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    records = {path.stem: json.loads(path.read_text()) for path in (out / "cells").glob("*.json")}
    assert_same_records(records, local_records)
    assert (out / "report.md").is_file()
    # Resuming finds every cell finished and trains nothing.
    assert main([*argv, "--out", str(out)]) == 0
    assert "0 trained now, 4 already finished" in capsys.readouterr().out


def test_a_worker_killed_mid_cell_is_retried_and_loses_nothing(cluster, local_records, tmp_path):
    address, session = cluster
    target = next(cell for cell in matrix_cells(MATRIX) if cell.framework == "torch")
    killer = WorkerKiller(target.key, session)
    executor = RayExecutor(address, 1, MATRIX.frameworks, "cpu", max_retries=1)
    result = run_matrix(MATRIX, RunDirectory(tmp_path / "run"), executor, data_dir=None, on_event=killer)
    assert killer.killed is not None
    assert killer.starts == 2, "the killed cell must have started again"
    assert_same_records(result.records, local_records)


def test_a_worker_killed_with_no_retry_left_is_recorded_as_failed_with_the_cause(cluster, tmp_path):
    address, session = cluster
    target = next(cell for cell in matrix_cells(MATRIX) if cell.framework == "numpy")
    killer = WorkerKiller(target.key, session)
    executor = RayExecutor(address, 1, MATRIX.frameworks, "cpu", max_retries=0)
    result = run_matrix(MATRIX, RunDirectory(tmp_path / "run"), executor, data_dir=None, on_event=killer)
    assert killer.killed is not None and killer.starts == 1
    failed = result.records[target.key]
    assert failed.status == "failed"
    assert "the Ray worker running this cell died on its 1 attempt" in failed.message
    stored = json.loads((tmp_path / "run" / "cells" / f"{target.key}.json").read_text())
    assert stored["status"] == "failed" and stored["message"] == failed.message
    assert {record.status for key, record in result.records.items() if key != target.key} == {"ok"}


def test_ctrl_c_cancels_the_cells_and_a_rerun_finishes_them(cluster, local_records, tmp_path):
    address, session = cluster
    run_dir = RunDirectory(tmp_path / "run")

    def interrupt(event: CellEvent) -> None:
        if event.kind == "end":
            raise KeyboardInterrupt

    executor = RayExecutor(address, 1, MATRIX.frameworks, "cpu")
    with pytest.raises(KeyboardInterrupt):
        run_matrix(MATRIX, run_dir, executor, data_dir=None, on_event=interrupt)
    # The interrupt came after one cell ended and before its record reached the driver's writer.
    assert not list(run_dir.cells_dir.glob("*.json"))
    titles = [f"ray::{cell.key}".encode() for cell in matrix_cells(MATRIX)]
    deadline = time.monotonic() + 30
    while _processes_titled(titles, session) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_titled(titles, session), "cancelled cells are still training"

    result = run_matrix(MATRIX, run_dir, RayExecutor(address, 1, MATRIX.frameworks, "cpu"), data_dir=None)
    assert len(result.trained) == 4
    assert_same_records(result.records, local_records)


def _processes_titled(titles: list[bytes], session: int) -> list[int]:
    found = []
    for pid in _session_members(session):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(tuple(titles)):
            found.append(pid)
    return found


def test_a_checksum_mismatch_on_a_node_fails_the_cell_with_the_reason(cluster, tmp_path):
    address, _ = cluster
    mnist = get_matrix("default").narrowed(frameworks=("numpy",), variants=("relu-he",), seeds=1, epochs=1)
    bad = tmp_path / "bad-mnist"
    bad.mkdir()
    _write_small_idx_set(bad)
    cell = matrix_cells(mnist)[0]
    executor = RayExecutor(address, 1, ("numpy",), "cpu")
    (outcome,) = executor.run(run_cell, [CellJob(cell, str(bad), "cpu", 1)], lambda event: None)
    assert outcome.error is None
    record = outcome.result
    assert record.status == "failed"
    assert "md5" in record.message and "damaged or a different data set" in record.message
    assert record.history == () and record.result is None


def _write_small_idx_set(folder: Path) -> None:
    """Valid IDX files (4 images of 28×28, 4 labels) whose bytes are not MNIST's."""
    import numpy as np

    images = np.zeros((4, 28, 28), dtype=np.uint8)
    labels = np.arange(4, dtype=np.uint8)
    for prefix in ("train", "t10k"):
        header = (0x00000803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in images.shape)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        header = (0x00000801).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())


def test_more_threads_than_any_node_has_is_one_clear_error(cluster, tmp_path, capsys):
    address, _ = cluster
    argv = ["run", "--executor", "ray", "--ray-address", address, "--dataset", "digits", "--frameworks", "numpy"]
    argv += ["--variants", "relu-he", "--seeds", "1", "--epochs", "1", "--threads", "3", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--threads 3: each cell asks Ray for that many CPUs, but the largest node" in err
    assert "has 2; give --threads 2 or less" in err


def test_without_an_address_a_ray_instance_is_started_for_the_run_and_stopped_after(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    matrix = MATRIX.narrowed(frameworks=("numpy",), variants=("relu-he",), epochs=2)
    executor = RayExecutor(None, 1, matrix.frameworks, "cpu")
    assert executor.address == "local"
    before = _descendants(os.getpid())
    result = run_matrix(matrix, RunDirectory(tmp_path / "run"), executor, data_dir=None)
    assert [record.status for record in result.records.values()] == ["ok"]
    deadline = time.monotonic() + 30
    while _descendants(os.getpid()) - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _descendants(os.getpid()) - before, "the Ray instance started for the run is still running"


def _descendants(root: int) -> set[int]:
    """PIDs of every process below `root` (children, their children, ...)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_on_a_cluster_with_gpus_only_cells_of_gpu_capable_frameworks_ask_for_one() -> None:
    class FakeRay:
        @staticmethod
        def nodes() -> list[dict]:
            return [{"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}}]

    executor = RayExecutor("auto", 1, ("numpy", "torch"), "auto")
    cells = {cell.framework: cell for cell in matrix_cells(MATRIX)}
    gpus = executor._gpus_per_cell(FakeRay, [])
    asked = {name: gpus(CellJob(cell, None, "auto", 1)) for name, cell in cells.items()}
    assert asked == {"numpy": 0, "torch": 1}
