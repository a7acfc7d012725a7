"""Comparing two tensors against a tolerance (harness.core.tolerances)."""

from __future__ import annotations

import math

import numpy as np

from harness.core.tolerances import Tolerance


def compare(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> tuple[float, float, bool]:
    """(max abs diff, max abs diff / max magnitude, whether max|a − b| ≤ atol + rtol·max(|a|, |b|) over the tensor).

    The scale is the tensor's largest magnitude, not each element's: the rounding error of a sum grows with its
    terms, so an element that cancels to near 0 carries the error of the large ones (N(0, 1) weights give
    pre-activations of ±50 with elements near 0). The reported relative difference is exactly what meets rtol.
    Compared in float64; different shapes or any non-finite value fail with infinite differences.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf, math.inf, False
    if a.size == 0:
        return 0.0, 0.0, True
    max_abs = float(np.abs(a - b).max())
    scale = float(max(np.abs(a).max(), np.abs(b).max()))
    max_rel = max_abs / scale if scale > 0 else 0.0
    return max_abs, max_rel, max_abs <= tol.atol + tol.rtol * scale
