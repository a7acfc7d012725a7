"""The parity result model: one ParityRow per compared tensor, the checks and statuses a row can have, and the
ParityReport of a whole run with its summary."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from harness.parity.inputs import DEFAULT_STEPS

OK, NOT_OK, EXPLAINED = "OK", "NOT OK", "EXPLAINED"
# Check name -> whether it is measured after the K optimiser steps (trajectory tolerance); in log order.
CHECKS: dict[str, bool] = {
    "forward-train": False,
    "forward-inference": False,
    "loss": False,
    "gradient": False,
    "step-losses": True,
    "params-after-steps": True,
    "optimizer-state-after-steps": True,
    "forward-inference-after-steps": True,
    "loss-after-steps": True,
}
ACTIVATION_CHECKS = ("forward-train", "forward-inference", "forward-inference-after-steps")
FIT_PATH_CHECK = "train_epoch-vs-train_step"
# The CONVENTIONS entry that names differences explained by rounding alone.
ROUNDING = "rounding-sensitive-trajectory"
# An EXPLAINED row's note starts with this and the comma-separated convention names, up to the first ";".
EXPLAINED_BY = "explained by: "


@dataclass(frozen=True)
class ParityRow:
    """One tensor compared between two sides; max_rel_diff is max|a − b| / max(max|a|, max|b|) over the tensor."""

    pair: str
    variant: str
    dtype: str
    check: str
    tensor: str
    max_abs_diff: float
    max_rel_diff: float
    rtol: float
    atol: float
    status: str
    note: str = ""


def explained_by(row: ParityRow) -> tuple[str, ...]:
    """The CONVENTIONS names an EXPLAINED row cites; empty for any other row."""
    if row.status != EXPLAINED:
        return ()
    return tuple(row.note.removeprefix(EXPLAINED_BY).split(";", 1)[0].split(", "))


@dataclass
class ParityReport:
    """Every compared tensor, plus the frameworks that could not run here (name -> reason)."""

    rows: list[ParityRow] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """One line per (framework, variant, dtype) a user's network says it cannot run (its `unsupported`)."""
    steps: int = DEFAULT_STEPS
    device: str = "cpu"
    mode: str = "exact"
    """The execution mode the train_epoch checks ran in."""

    @property
    def failed(self) -> list[ParityRow]:
        return [r for r in self.rows if r.status == NOT_OK]

    def first_divergences(self) -> list[dict[str, str]]:
        """Per (pair, variant, dtype) with a NOT OK row: the first NOT OK row, preferring activation checks, whose
        tensor names the first layer whose activations diverge."""
        found: dict[tuple[str, str, str], ParityRow] = {}
        for row in self.failed:
            key = (row.pair, row.variant, row.dtype)
            current = found.get(key)
            if current is None or (row.check in ACTIVATION_CHECKS and current.check not in ACTIVATION_CHECKS):
                found[key] = row
        return [
            {"pair": r.pair, "variant": r.variant, "dtype": r.dtype, "check": r.check, "tensor": r.tensor}
            for r in found.values()
        ]

    def summary(self) -> dict:
        """Counts per status, per (pair, dtype) worst OK differences (relative ones where rtol governs), the
        explained differences and first divergences."""
        by_pair_dtype = []
        for (pair, dtype), rows in _group(self.rows, lambda r: (r.pair, r.dtype)).items():
            agreeing = [r for r in rows if r.status == OK]
            by_pair_dtype.append(
                {
                    "pair": pair,
                    "dtype": dtype,
                    "variants": len({r.variant for r in rows}),
                    "tensors": len(rows),
                    OK: len(agreeing),
                    EXPLAINED: sum(r.status == EXPLAINED for r in rows),
                    NOT_OK: sum(r.status == NOT_OK for r in rows),
                    "max_abs_diff_ok": max((r.max_abs_diff for r in agreeing), default=0.0),
                    "max_rel_diff_ok": max((r.max_rel_diff for r in agreeing if _rtol_governs(r)), default=0.0),
                }
            )
        explained = [
            {
                "pair": pair,
                "variant": variant,
                "dtype": dtype,
                "conventions": list(conventions),
                "tensors": len(rows),
                "max_abs_diff": max(r.max_abs_diff for r in rows),
                "max_rel_diff": max(r.max_rel_diff for r in rows),
            }
            for (pair, variant, dtype, conventions), rows in _group(
                [r for r in self.rows if r.status == EXPLAINED], lambda r: (r.pair, r.variant, r.dtype, explained_by(r))
            ).items()
        ]
        return {
            "passed": not self.failed,
            "steps": self.steps,
            "device": self.device,
            "mode": self.mode,
            "unavailable": dict(self.unavailable),
            "skipped": list(self.skipped),
            "counts": {s: sum(r.status == s for r in self.rows) for s in (OK, EXPLAINED, NOT_OK)},
            "by_pair_dtype": by_pair_dtype,
            "explained": explained,
            "first_divergences": self.first_divergences(),
        }

    def to_json(self) -> dict:
        """The parity.json document (JSON-ready dict): {"rows": [...], "summary": {...}}; non-finite numbers -> None."""
        return _finite_or_none({"rows": [asdict(r) for r in self.rows], "summary": self.summary()})


def fit_path_pair(framework: str, mode: str) -> str:
    """The pair name of a framework's train_epoch-vs-train_step rows: '<framework>-epoch-vs-step', with the mode
    when it is not exact ('<framework>-fast-epoch-vs-step')."""
    return f"{framework}-{mode}-epoch-vs-step" if mode != "exact" else f"{framework}-epoch-vs-step"


def _rtol_governs(row: ParityRow) -> bool:
    """Whether rtol·(the tensor's largest magnitude) ≥ atol: only there does the tolerance bound the relative
    difference; in smaller tensors (Adam's second moments, a pre-BN bias's gradient of rounding noise) atol does."""
    return row.max_rel_diff > 0 and row.rtol * row.max_abs_diff / row.max_rel_diff >= row.atol


def _group(rows: list[ParityRow], key: Callable[[ParityRow], tuple]) -> dict[tuple, list[ParityRow]]:
    groups: dict[tuple, list[ParityRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value
