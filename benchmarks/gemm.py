"""The machine's limit for an MLP epoch: each library's measured GEMM rate and the epoch's exact GEMM FLOPs.

FLOPs of a dense layer (fan_in → fan_out) per sample: forward x·W 2·fan_in·fan_out; backward ∂W = xᵀ·∂y the same,
and ∂x = ∂y·Wᵀ the same again except for the first layer (no gradient into the data). Element-wise work
(activations, loss, optimiser) is left out, so the limit is a bound no implementation can beat.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np

PEAK_SIZE = 2048


def epoch_gemm_flops(layer_sizes: tuple[int, ...], rows: int) -> int:
    """Exact multiply-add FLOPs (×2) of the GEMMs of one training epoch over `rows` samples."""
    per_sample = 0
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(layer_sizes)):
        products = 3 if index > 0 else 2
        per_sample += products * 2 * fan_in * fan_out
    return per_sample * rows


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


def gemm_rates(libraries: list[str], shapes: dict[str, tuple[int, int, int]], seconds: float) -> list[dict]:
    """GFLOP/s per (library, dtype, shape name) for C (m, n) = A (m, k) · B (k, n), best of repeated calls.

    libraries: any of numpy, torch, tensorflow (absent ones are skipped).
    """
    rng = np.random.default_rng(0)
    rows = []
    for dtype in ("float32", "float64"):
        for shape_name, (m, k, n) in shapes.items():
            a, b = rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)
            flops = 2 * m * k * n
            for library in libraries:
                matmul = _matmul(library, a, b)
                if matmul is not None:
                    rate = _best_rate(matmul, flops, seconds)
                    rows.append({"library": library, "dtype": dtype, "shape": shape_name, "gflops": rate})
    return rows


def _matmul(library: str, a: np.ndarray, b: np.ndarray) -> Callable[[], object] | None:
    if library == "numpy":
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        return lambda: np.matmul(a, b, out=out)
    if library == "torch":
        try:
            import torch
        except ImportError:
            return None
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out = torch.empty((a.shape[0], b.shape[1]), dtype=ta.dtype)
        return lambda: torch.mm(ta, tb, out=out)
    if library == "tensorflow":
        try:
            import tensorflow as tf
        except ImportError:
            return None
        ta, tb = tf.constant(a), tf.constant(b)
        # .numpy() waits for the result: TensorFlow's eager ops may return before the kernel finishes.
        return lambda: tf.linalg.matmul(ta, tb).numpy()
    raise ValueError(f"unknown library {library!r}")


def blas_kernels() -> list[dict]:
    """The BLAS/OpenMP libraries loaded and their kernels (threadpoolctl), e.g. OpenBLAS 'Haswell' or 'SkylakeX'."""
    import threadpoolctl

    return [
        {key: info.get(key) for key in ("internal_api", "prefix", "version", "architecture", "num_threads")}
        for info in threadpoolctl.threadpool_info()
    ]
