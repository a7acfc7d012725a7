"""`--jobs 2` (a local process pool) gives the same results as `--jobs 1` (in process); only timings differ.

Both runs give each cell one thread: BLAS splits its sums differently with another thread count, which changes the
last bits of float32 results whatever the executor, so the comparison holds the threads per cell fixed. Keras is
left out to keep the test fast (its worker would import TensorFlow).

The pool's workers load only the frameworks of the jobs they get, and end when the run's process ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.catalog.matrix import Matrix, Row
from harness.catalog.variants import get_variant
from harness.run.executor import InProcessExecutor, LocalPoolExecutor, make_executor
from harness.run.runner import RunDirectory, run_matrix

MATRIX = Matrix(
    "jobs",
    "two variants × two frameworks on digits",
    (Row(get_variant("relu-he-dropout")), Row(get_variant("relu-he-batchnorm"))),
    frameworks=("numpy", "torch"),
    seeds=(5,),
    dataset="digits",
    epochs=2,
)
MEASURED = ("train_loss", "lr", "val_loss", "val_accuracy")


def test_a_two_process_pool_gives_the_same_records_as_one_process_except_timings(tmp_path):
    serial = run_matrix(
        MATRIX, RunDirectory(tmp_path / "serial"), InProcessExecutor(1, MATRIX.frameworks), data_dir=None
    )
    pool = LocalPoolExecutor(workers=2, threads=2, frameworks=MATRIX.frameworks)
    assert pool.threads_per_worker == 1
    parallel = run_matrix(MATRIX, RunDirectory(tmp_path / "parallel"), pool, data_dir=None)

    assert sorted(serial.records) == sorted(parallel.records)
    assert len(serial.records) == 4
    for key, one in serial.records.items():
        other = parallel.records[key]
        assert one.status == other.status == "ok", (key, one.message, other.message)
        assert one.result == other.result, key
        assert [[getattr(epoch, name) for name in MEASURED] for epoch in one.history] == [
            [getattr(epoch, name) for name in MEASURED] for epoch in other.history
        ], key
        assert one.model_spec == other.model_spec and one.train_spec == other.train_spec
        assert one.timing.threads == other.timing.threads == 1


def loaded_frameworks(job: object, on_event: object) -> list[str]:
    """A task: which framework libraries the worker running it has imported."""
    return [name for name in ("torch", "tensorflow") if name in sys.modules]


def test_a_worker_loads_only_the_frameworks_of_its_jobs() -> None:
    pool = make_executor(1, 1, ("numpy", "torch"))
    assert pool.fresh_processes
    (numpy_only,) = pool.run(loaded_frameworks, [0], lambda event: None, ("numpy",))
    (both,) = pool.run(loaded_frameworks, [0], lambda event: None)
    assert numpy_only.result == []
    assert both.result == ["torch"]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="looks processes up in /proc (Linux)")
def test_killing_the_run_ends_its_workers(tmp_path) -> None:
    (tmp_path / "slow_task.py").write_text(
        textwrap.dedent(
            """
            import os, time
            def slow(job, on_event):
                on_event(os.getpid())
                time.sleep(120)
            """
        )
    )
    run = textwrap.dedent(
        """
        import sys
        from harness.run.executor import LocalPoolExecutor
        from slow_task import slow
        list(LocalPoolExecutor(1, 1, ("numpy",)).run(slow, [0], lambda pid: print(pid, flush=True)))
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    parent = subprocess.Popen([sys.executable, "-c", run], stdout=subprocess.PIPE, text=True, env=environment)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{worker}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{worker}"), f"worker {worker} still runs after its run was killed"


class CountingPool(InProcessExecutor):
    """Runs jobs here but says it starts fresh worker processes, two at a time, and counts the jobs per start."""

    fresh_processes = True
    workers = 2

    def __init__(self) -> None:
        super().__init__(1, ("numpy",))
        self.starts: list[int] = []

    def run(self, task, jobs, on_event, frameworks=None):
        self.starts.append(len(jobs))
        yield from super().run(task, jobs, on_event, frameworks)


def test_a_framework_that_bounds_cells_per_worker_gets_fresh_workers_that_often(tmp_path, monkeypatch) -> None:
    from harness.core.frameworks import plugin

    matrix = Matrix("groups", "", MATRIX.rows, frameworks=("numpy",), seeds=(0, 1, 2), dataset="digits", epochs=1)
    monkeypatch.setattr(type(plugin("numpy")), "cells_per_worker", 2)
    pool = CountingPool()
    result = run_matrix(matrix, RunDirectory(tmp_path / "run"), pool, data_dir=None)
    # 6 cells, 2 per worker × 2 workers per start of the pool.
    assert pool.starts == [4, 2]
    assert len(result.records) == 6 and {record.status for record in result.records.values()} == {"ok"}
    monkeypatch.setattr(type(plugin("numpy")), "cells_per_worker", None)
    unbounded = CountingPool()
    run_matrix(matrix, RunDirectory(tmp_path / "unbounded"), unbounded, data_dir=None)
    assert unbounded.starts == [6]
