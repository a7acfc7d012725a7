"""The machine's limit for an MLP epoch: the libraries' measured GEMM rates and the epoch's exact GEMM FLOPs.

FLOPs of a dense layer (fan_in → fan_out) per sample: forward x·W 2·fan_in·fan_out; backward ∂W = xᵀ·∂y the same,
and ∂x = ∂y·Wᵀ the same again except for the first layer (no gradient into the data). Element-wise work
(activations, loss, optimiser) is left out, so the limit — epoch GEMM FLOPs / the best library's peak GEMM rate —
is a time no implementation can beat.

`fwcompare run` measures the peak rates briefly once per run (`measure_peak_rates`, recorded in environment.json);
`python -m benchmarks` measures them at length and at more shapes (`gemm_rates`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.core.frameworks import plugin
from harness.core.specs import ModelSpec, TrainSpec

PEAK_SIZE = 2048
PEAK_SHAPE = (PEAK_SIZE, PEAK_SIZE, PEAK_SIZE)
RUN_SECONDS_PER_RATE = 0.3
"""Time `fwcompare run` spends per (library, dtype) peak rate: best of a few 2048³ products, about 2 s a run."""


def gemm_flops_per_sample(layer_sizes: tuple[int, ...]) -> int:
    """Multiply-add FLOPs (×2) of the GEMMs of one training sample through dense layers of `layer_sizes`."""
    per_sample = 0
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(layer_sizes)):
        products = 3 if index > 0 else 2
        per_sample += products * 2 * fan_in * fan_out
    return per_sample


def epoch_gemm_flops(model_spec: ModelSpec, train_spec: TrainSpec, n_samples: int) -> int:
    """Exact GEMM FLOPs of the first training epoch over a training set of n_samples rows (drop_last and
    max_steps applied)."""
    return gemm_flops_per_sample(model_spec.layer_sizes) * train_spec.epoch_rows(n_samples, 0)


def _best_rate(matmul: Callable[[], object], flops: int, seconds: float) -> float:
    """Best GFLOP/s of `matmul` over repeated timings filling about `seconds` (after one warm-up call)."""
    matmul()
    best, spent = 0.0, 0.0
    while spent < seconds:
        start = time.perf_counter()
        matmul()
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, flops / elapsed / 1e9)
    return best


def gemm_rates(
    frameworks: Iterable[str],
    shapes: dict[str, tuple[int, int, int]],
    seconds: float,
    dtypes: Iterable[str] = ("float32", "float64"),
) -> list[dict[str, Any]]:
    """[{library, dtype, shape, gflops}] for C (m, n) = A (m, k) · B (k, n), best of repeated calls, once per GEMM
    library of `frameworks` (their plug-ins' gemm_library and matmul; libraries not installed are skipped)."""
    products = _library_products(frameworks)
    rng = np.random.default_rng(0)
    rows = []
    for dtype in dtypes:
        for shape_name, (m, k, n) in shapes.items():
            a, b = rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)
            flops = 2 * m * k * n
            for library, matmul_of in products.items():
                rate = _best_rate(matmul_of(a, b), flops, seconds)
                rows.append({"library": library, "dtype": dtype, "shape": shape_name, "gflops": rate})
    return rows


def _library_products(frameworks: Iterable[str]) -> dict[str, Callable[[np.ndarray, np.ndarray], Callable[[], object]]]:
    """{gemm library: its plug-in's matmul} for the frameworks that name one and whose library imports here."""
    products: dict[str, Callable[[np.ndarray, np.ndarray], Callable[[], object]]] = {}
    for name in frameworks:
        framework = plugin(name)
        if framework.gemm_library is None or framework.gemm_library in products:
            continue
        try:
            framework.import_library()
        except ImportError:
            continue
        products[framework.gemm_library] = framework.matmul
    return products


@dataclass(frozen=True)
class PeakRateJob:
    """What `measure_peak_rates` measures: the libraries of these frameworks, in these dtypes (picklable, so a
    worker process of the run's executor can take it and measure with the threads the cells get)."""

    frameworks: tuple[str, ...]
    dtypes: tuple[str, ...]
    seconds: float = RUN_SECONDS_PER_RATE


def measure_peak_rates(job: PeakRateJob, on_event: Callable[[Any], None]) -> dict[str, Any]:
    """environment.json's "gemm_peak": {size, seconds_per_rate, rates: [{library, dtype, gflops}]}, the peak
    (PEAK_SIZE³) GEMM rate of each framework's library (its plug-in's gemm_library). An executor task; `on_event`
    is not used."""
    rates = gemm_rates(job.frameworks, {"peak": PEAK_SHAPE}, job.seconds, job.dtypes)
    return {
        "size": PEAK_SIZE,
        "seconds_per_rate": job.seconds,
        "rates": [{key: rate[key] for key in ("library", "dtype", "gflops")} for rate in rates],
    }


def merge_peak_rates(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """One "gemm_peak" from those measured for parts of a run's frameworks (each process measures its own)."""
    first = measured[0]
    rates = [rate for part in measured for rate in part["rates"]]
    return {**first, "rates": sorted(rates, key=lambda rate: rate["dtype"])}


def best_peak_gflops(gemm_peak: dict[str, Any] | None) -> dict[str, float]:
    """{dtype: the best library's peak GFLOP/s} from environment.json's "gemm_peak" ({} without one)."""
    best: dict[str, float] = {}
    for rate in (gemm_peak or {}).get("rates", []):
        best[rate["dtype"]] = max(best.get(rate["dtype"], 0.0), float(rate["gflops"]))
    return best
