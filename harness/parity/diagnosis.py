"""Diagnosis: what a difference between an implementation and the reference looks like, measured, and which common
bug it matches.

Each rule is one function `(Mismatch, Evidence) -> str | None`: it looks at one tensor that disagrees (the
reference's value and the implementation's) and, where it needs to, asks the evidence for the reference run another
way (without the L2 term, with the other dropout or BN convention, for one step fewer or more) to test whether that
reproduces the implementation's value. A rule that fits returns one sentence naming the bug and the measurement;
`diagnose` joins them, or says that no rule explains the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from harness.core.specs import ModelSpec, TrainSpec
from harness.core.tolerances import Tolerance

LARGE_LOGITS_CHECK = "loss-large-logits"
"""The probe that feeds logits of magnitude LARGE_LOGIT to a loss (harness.parity.case)."""
LARGE_LOGIT = 1000.0
"""exp overflows above 88.7 in float32 and 709.8 in float64: a softmax without max-subtraction fails here."""


@dataclass(frozen=True)
class Mismatch:
    """One tensor outside tolerance: check and tensor name as in the parity rows, the reference's value and the
    implementation's (same shape, or the implementation's transposed), and the tolerance that was missed."""

    check: str
    tensor: str
    reference: np.ndarray
    impl: np.ndarray
    tol: Tolerance


class Evidence(Protocol):
    """What rules may ask the parity case for; every answer is the reference in the implementation's forms."""

    model_spec: ModelSpec
    train_spec: TrainSpec
    batch_size: int
    steps: int

    def reference_with(self, **model_changes: Any) -> dict[str, dict[str, np.ndarray]] | None:
        """The reference's trace with ModelSpec fields replaced (None when it cannot run so)."""

    def reference_params_after(self, steps: int) -> dict[str, np.ndarray]:
        """The reference's parameters after `steps` train_step calls on the case's batches."""

    def initial_params(self) -> dict[str, np.ndarray]:
        """The canonical parameters every model started from."""


Rule = Callable[[Mismatch, Evidence], str | None]


def _close(a: np.ndarray, b: np.ndarray, tol: Tolerance) -> bool:
    """max|a − b| ≤ atol + rtol·max(|a|, |b|), as the parity comparison; False for other shapes or non-finite."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return False
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return float(np.abs(a - b).max(initial=0.0)) <= tol.atol + tol.rtol * scale


def _ratio(m: Mismatch) -> float | None:
    """The least-squares c with impl ≈ c·reference, when that fits within tolerance; else None."""
    a, b = np.asarray(m.reference, np.float64), np.asarray(m.impl, np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    norm = float((a * a).sum())
    if norm == 0:
        return None
    c = float((a * b).sum()) / norm
    return c if _close(c * a, b, m.tol) else None


def _near(value: float, target: float) -> bool:
    return abs(value - target) <= 1e-3 * abs(target)


def constant_ratio(m: Mismatch, evidence: Evidence) -> str | None:
    """impl = c·reference for one constant c, and the common cause c matches (batch size, 2, ½, a dropout rate)."""
    c = _ratio(m)
    if c is None or _near(c, 1.0) or _near(c, -1.0):
        return None
    n = evidence.batch_size
    causes = {
        n: f"the batch size {n}: summed over the batch instead of averaged",
        1 / n: f"1/{n}: divided by the batch size once more than the reference",
        2.0: "2: a missing ½ (½·Σ(out − target)² in MSE, ½·λ‖W‖² in an L2 term) or a gradient counted twice",
        0.5: "½: an extra ½ in the loss (MSE or L2 written with ½) or a gradient halved",
    }
    for rate in {p for p in evidence.model_spec.dropout if p > 0}:
        causes[1 - rate] = f"1 − p = {1 - rate:g}: dropout's kept units not divided by the keep probability"
        causes[1 / (1 - rate)] = f"1/(1 − p) = {1 / (1 - rate):g}: dropout divided by the keep probability twice"
    for target, cause in causes.items():
        if _near(c, target):
            return f"constant ratio {c:.6g} to the reference = {cause}"
    if np.size(m.reference) > 1:
        return f"constant ratio {c:.6g} to the reference (no common cause known for this factor)"
    return None


def sign_flip(m: Mismatch, evidence: Evidence) -> str | None:
    """impl = −reference: a gradient with the wrong sign (ascent instead of descent, target − out for out − target)."""
    if _close(-np.asarray(m.reference, np.float64), m.impl, m.tol):
        return "sign flipped: equals −1 × the reference (a gradient of target − output, or an update that adds it)"
    return None


def transposed(m: Mismatch, evidence: Evidence) -> str | None:
    """impl = referenceᵀ for a matrix: an (out, in) kernel handed over where the canonical layout is (in, out)."""
    a = np.asarray(m.reference)
    if a.ndim == 2 and a.shape[0] == a.shape[1] and not _close(a, a.T, m.tol) and _close(a.T, m.impl, m.tol):
        return "transposed: equals the reference's transpose (an (out, in) kernel not transposed to (in, out))"
    return None


def step_offset(m: Mismatch, evidence: Evidence) -> str | None:
    """Parameters after K steps equal the reference's after K − 1 or K + 1: an update late, skipped or doubled."""
    if m.check != "params-after-steps":
        return None
    for steps, meaning in ((evidence.steps - 1, "one step late"), (evidence.steps + 1, "one step early")):
        other = evidence.reference_params_after(steps).get(m.tensor)
        if other is not None and _close(other, m.impl, m.tol):
            return (
                f"{meaning}: after {evidence.steps} steps it equals the reference after {steps} "
                "(an update applied before or after the one it belongs to, or weights exported stale)"
            )
    return None


def bias_not_trained(m: Mismatch, evidence: Evidence) -> str | None:
    """A bias whose gradient is zero, or which never moves, while the reference's does: a bias term missing."""
    if not m.tensor.endswith(".b"):
        return None
    impl, reference = np.asarray(m.impl, np.float64), np.asarray(m.reference, np.float64)
    if m.check == "gradient" and not impl.any() and reference.any():
        return f"bias missing: the gradient of {m.tensor} is zero everywhere (a bias term left out of the layer)"
    initial = evidence.initial_params().get(m.tensor)
    if (
        m.check == "params-after-steps"
        and initial is not None
        and np.array_equal(impl, initial)
        and not _close(reference, initial, m.tol)
    ):
        return f"bias missing: {m.tensor} never moved from its initial value (its update is left out)"
    return None


def l2_missing(m: Mismatch, evidence: Evidence) -> str | None:
    """Matches the reference with l2 = 0: the L2 term is left out of the loss or its gradient."""
    if evidence.model_spec.l2 <= 0:
        return None
    return _matches_reference_with(m, evidence, "L2 term missing: equals the reference without it", l2=0.0)


def dropout_scaling(m: Mismatch, evidence: Evidence) -> str | None:
    """Matches the reference with the other dropout style: inverted dropout where keep_prob is meant, or back."""
    spec = evidence.model_spec
    if not spec.has_dropout:
        return None
    other = "keep_prob" if spec.dropout_style == "inverted" else "inverted"
    explain = {
        "keep_prob": "kept units are not divided by 1 − p in training (keep_prob style) where the spec says inverted",
        "inverted": "kept units are divided by 1 − p in training (inverted) where the spec says keep_prob",
    }
    return _matches_reference_with(m, evidence, f"dropout scaling: {explain[other]}", dropout_style=other)


def bn_variance_convention(m: Mismatch, evidence: Evidence) -> str | None:
    """Matches the reference with the other BN running-variance convention (N/(N−1) or 1/N)."""
    bn = evidence.model_spec.batch_norm
    if bn is None:
        return None
    other = "biased" if bn.running_var == "unbiased" else "unbiased"
    factor = {"biased": "1/N, biased", "unbiased": "N/(N−1), unbiased"}
    return _matches_reference_with(
        m,
        evidence,
        f"BN variance convention: the running variance averages the {factor[other]} batch variance where the spec "
        f"says {factor[bn.running_var]}",
        batch_norm=type(bn)(bn.momentum, bn.eps, other),
    )


def softmax_overflow(m: Mismatch, evidence: Evidence) -> str | None:
    """A non-finite loss where the reference's is finite on logits of magnitude LARGE_LOGIT."""
    if m.check != LARGE_LOGITS_CHECK:
        return None
    if np.isfinite(m.reference).all() and not np.isfinite(m.impl).all():
        return (
            f"softmax without max-subtraction: the loss overflows on logits of magnitude {LARGE_LOGIT:g} where the "
            "reference's is finite (subtract each row's largest logit before exp)"
        )
    return None


def _matches_reference_with(m: Mismatch, evidence: Evidence, sentence: str, **changes: Any) -> str | None:
    trace = evidence.reference_with(**changes)
    value = None if trace is None else trace.get(m.check, {}).get(m.tensor)
    return sentence if value is not None and _close(value, m.impl, m.tol) else None


RULES: tuple[Rule, ...] = (
    sign_flip,
    constant_ratio,
    transposed,
    step_offset,
    bias_not_trained,
    l2_missing,
    dropout_scaling,
    bn_variance_convention,
    softmax_overflow,
)

DIAGNOSIS = "diagnosis: "
UNEXPLAINED = "no rule explains this difference"


def diagnose(m: Mismatch, evidence: Evidence) -> str:
    """'diagnosis: ' and every fitting rule's sentence, or that no rule explains the difference."""
    found = [text for rule in RULES if (text := rule(m, evidence))]
    return DIAGNOSIS + ("; ".join(found) if found else UNEXPLAINED)
