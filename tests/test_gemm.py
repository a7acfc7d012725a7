"""The machine limit's parts: the epoch's exact GEMM FLOPs from the specs, and the peak-rate record a run keeps."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from harness.catalog.variants import get_variant
from harness.run.gemm import PeakRateJob, best_peak_gflops, epoch_gemm_flops, gemm_flops_per_sample, measure_peak_rates


def test_epoch_gemm_flops_counts_forward_and_both_backward_products() -> None:
    # 784-256-256-10 on 60,000 rows: forward and ∂W for every layer, ∂x for all but the first.
    per_sample = 2 * 2 * (784 * 256 + 256 * 256 + 256 * 10) + 2 * (256 * 256 + 256 * 10)
    relu_he = get_variant("relu-he")
    assert relu_he.model.layer_sizes == (784, 256, 256, 10)
    assert gemm_flops_per_sample(relu_he.model.layer_sizes) == per_sample
    assert epoch_gemm_flops(relu_he.model, relu_he.train, 60_000) == per_sample * 60_000
    assert round(epoch_gemm_flops(relu_he.model, relu_he.train, 60_000) / 1e9, 1) == 72.7


def test_epoch_gemm_flops_counts_only_the_rows_an_epoch_trains() -> None:
    relu_he = get_variant("relu-he")
    per_sample = gemm_flops_per_sample(relu_he.model.layer_sizes)
    dropping = replace(relu_he.train, batch_size=128, drop_last=True)
    assert epoch_gemm_flops(relu_he.model, dropping, 60_000) == per_sample * 468 * 128
    capped = replace(relu_he.train, batch_size=100, max_steps=7)
    assert epoch_gemm_flops(relu_he.model, capped, 60_000) == per_sample * 700


def test_a_run_records_each_librarys_peak_rate_and_the_best_per_dtype() -> None:
    record = measure_peak_rates(PeakRateJob(("numpy",), ("float32", "float64"), seconds=0.01), lambda event: None)
    assert record["size"] == 2048 and record["seconds_per_rate"] == 0.01
    assert [(rate["library"], rate["dtype"]) for rate in record["rates"]] == [
        ("numpy", "float32"),
        ("numpy", "float64"),
    ]
    assert all(rate["gflops"] > 0 for rate in record["rates"])
    rates = [
        {"library": "numpy", "dtype": "float32", "gflops": 200.0},
        {"library": "tensorflow", "dtype": "float32", "gflops": 250.0},
        {"library": "numpy", "dtype": "float64", "gflops": 90.0},
    ]
    assert best_peak_gflops({"rates": rates}) == {"float32": 250.0, "float64": 90.0}
    assert best_peak_gflops(None) == {}


@pytest.mark.parametrize("sizes", [(784, 10), (64, 32, 10)])
def test_the_first_layer_has_no_input_gradient(sizes: tuple[int, ...]) -> None:
    first = 2 * 2 * sizes[0] * sizes[1]
    rest = sum(3 * 2 * a * b for a, b in itertools.pairwise(sizes[1:]))
    assert gemm_flops_per_sample(sizes) == first + rest
