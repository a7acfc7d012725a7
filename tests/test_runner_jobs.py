"""`--jobs 2` (a local process pool) gives the same results as `--jobs 1` (in process); only timings differ.

Both runs give each cell one thread: BLAS splits its sums differently with another thread count, which changes the
last bits of float32 results whatever the executor, so the comparison holds the threads per cell fixed. Keras is
left out to keep the test fast (each worker would import TensorFlow); the pool does not know which framework a cell
uses.
"""

from __future__ import annotations

from harness.catalog.matrix import Matrix, Row
from harness.catalog.variants import get_variant
from harness.run.executor import InProcessExecutor, LocalPoolExecutor
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
