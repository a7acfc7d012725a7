"""Parity tolerances: per-dtype constants, one pair for a single pass and one for optimiser trajectories.

A comparison passes when, elementwise, |a − b| ≤ atol + rtol·max(|a|, |b|) (numpy.isclose, made symmetric).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


SINGLE_PASS: dict[str, Tolerance] = {
    # float64 carries ~1.1e-16 relative per operation; a 784-256-256-10 pass sums a few hundred terms per output,
    # so honest implementations agree to ~1e-15. 1e-10 leaves five orders of margin while any real bug (a wrong
    # constant, a missing term) is orders larger. atol covers elements that cancel to ~0 (ReLU gradients).
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    # float32 carries ~6e-8 relative per operation; sums of 784 products measured ≤ 7e-7 apart between
    # frameworks (different BLAS summation orders). 1e-5 is ~15× that, still far below any semantic bug.
    "float32": Tolerance(rtol=1e-5, atol=1e-5),
}

TRAJECTORY: dict[str, Tolerance] = {
    # Ten float64 optimiser steps add a few ulps per step; the same margin argument as a single pass holds.
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    # float32 rounding differences compound through the steps; see the measurement in the comment below.
    "float32": Tolerance(rtol=1e-5, atol=1e-5),
}

# The train_epoch fast path must end where K train_step calls end: the same arithmetic in another loop.
FIT_PATH: dict[str, Tolerance] = TRAJECTORY


def tolerance(dtype: str, trajectory: bool) -> Tolerance:
    """The tolerance for one comparison in `dtype`: single pass (forward, loss, gradients) or after K steps."""
    return (TRAJECTORY if trajectory else SINGLE_PASS)[dtype]


# After K steps, a tensor outside TRAJECTORY may still be explained by rounding alone: the engine trains the
# reference twice, the second time with each batch's rows reversed (the same mathematics, other rounding), and
# accepts a difference up to this factor times that twin's own difference, reporting it as EXPLAINED with both
# sizes. Adam, RMSprop and AdaGrad divide a gradient by its own magnitude, so rounding noise in near-zero gradients
# (a Dense bias before BatchNorm has a true gradient of exactly 0) becomes lr-sized steps that no tolerance on the
# values could separate from a bug. Measured ratio framework-difference / twin-difference for such tensors: 0.3 to 2.3
# (relu-he and relu-he-batchnorm, float32 and float64, numpy vs torch); 4 covers the spread of two independent
# maxima of rounding walks. It never applies to single-pass checks.
ROUNDING_FACTOR = 4.0
