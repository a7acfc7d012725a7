"""`python -m benchmarks` in its quickest form on tiny data: it runs every path and writes a complete JSON.
No timing is asserted (speed goals live in benchmarks/README.md, measured on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.frameworks import available_frameworks
from harness.run.gemm import gemm_flops_per_sample


@pytest.mark.slow
def test_quick_benchmark_writes_every_path(tmp_path: Path) -> None:
    """Run as users do, in its own process: the benchmark fixes the frameworks' thread counts for its process."""
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--rows", "300", "--gemm-seconds", "0.01"]
    finished = subprocess.run(
        [*command, "--out", str(out)], capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(out.read_text())
    jax = available_frameworks()["jax"] is None
    assert report["skipped"] == ({} if jax else {"jax": available_frameworks()["jax"]})
    paths = {row["path"] for row in report["summary"]}
    jax_paths = {"jax fwcompare", "jax hand loop (jit step, optax)", "jax GEMMs only"} if jax else set()
    assert paths == jax_paths | {
        "numpy fwcompare",
        "numpy fwcompare float64",
        "torch fwcompare",
        "keras fwcompare",
        "keras fwcompare (xla)",
        "numpy hand loop",
        "torch hand loop",
        "keras hand loop (tf.function step)",
        "keras jit step (XLA)",
        "keras model.fit defaults",
        "numpy GEMMs only",
        "torch GEMMs only",
        "tensorflow GEMMs only",
    }
    assert report["epoch_gemm_flops"] == gemm_flops_per_sample((784, 256, 256, 10)) * 300
    libraries = ("numpy", "torch", "tensorflow", *(("jax",) if jax else ()))
    assert {(r["library"], r["dtype"]) for r in report["gemm_rates"]} == {
        (library, dtype) for library in libraries for dtype in ("float32", "float64")
    }
    for timing in report["timings"]:
        assert len(timing["epochs_s"]) == len(timing["loads"]) == 1
        assert {"others_share", "load1_start", "contended"} <= set(timing["loads"][0])
    assert [row["framework"] for row in report["harness_overhead"]] == [
        "numpy",
        "torch",
        "keras",
        *(["jax"] if jax else []),
    ]
    assert "× limit" in finished.stdout and "× hand loop" in finished.stdout and str(out) in finished.stdout
    floor_of = {row["path"]: row["× GEMMs only"] for row in report["summary"]}
    assert floor_of["numpy fwcompare"] > 0 and floor_of["numpy GEMMs only"] is None  # NaN in JSON: no floor of a floor


def test_a_compiled_gemm_floor_keeps_every_product_of_the_epoch() -> None:
    """XLA folds a product of constants and hoists loop-invariant ones: the floor must still run all 8 per batch
    (3 forward, 3 kernel gradients, 2 input gradients) for 784-256-256-10."""
    jax = pytest.importorskip("jax", reason="the optional extra fwcompare[jax] is not installed")
    import numpy as np

    from benchmarks import gemm_floors

    x = np.random.default_rng(0).random((4 * 128, 784), dtype=np.float32)
    sizes = (784, 256, 256, 10)
    products, batches = gemm_floors.jax_epoch_products(x, sizes, 128)
    compiled = jax.jit(products).lower(batches).compile().as_text()
    dots = sorted(line.split(" = ")[1].split("{")[0] for line in compiled.splitlines() if " dot(" in line)
    forward = ["f32[128,256]", "f32[128,256]", "f32[128,10]"]
    kernel_gradients = ["f32[784,256]", "f32[256,256]", "f32[256,10]"]
    input_gradients = ["f32[128,256]", "f32[128,256]"]
    assert dots == sorted(forward + kernel_gradients + input_gradients)
