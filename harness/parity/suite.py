"""The parity engine: per-tensor comparison of the NumPy reference, PyTorch and Keras on the same weights, batches
and dropout masks (README, "Parity").

For one variant and dtype (a "case"), every model starts from reference.initializers.initial_params and sees the
same synthetic batches. Each model yields a trace: its activations per layer (training mode with the injected
masks, and inference mode), loss and every parameter gradient on the first batch; then, after K train_step calls
on K different batches, its per-step losses, every parameter (BN running statistics included), its optimiser
slots, its inference-mode activations and training loss on a held-out batch. Pairs of traces are compared tensor
by tensor against harness.core.tolerances (max|a − b| ≤ atol + rtol·the tensor's largest magnitude).

A pair with the reference builds the reference from `native_specs(..., other framework)`, so it runs that
framework's forms. torch and Keras differ by construction where no argument aligns them (harness.core.conventions); a
torch-vs-Keras tensor outside tolerance is EXPLAINED only when the reference in Keras form minus the reference in
torch form reproduces the same difference, and then names the conventions; otherwise NOT OK. After the steps, a
difference no larger than ROUNDING_FACTOR times what rounding alone does to the reference (retrained on the same
batches with their rows reordered) is EXPLAINED as rounding; nothing else is ever excused.

Every framework is also checked on its timed path: train_epoch over the same K batches (one call per epoch,
order = arange, masks given) must end with the parameters that K train_step calls reach.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from harness.catalog.variants import DEFAULT_VARIANTS, OPTIMIZER_VARIANTS, Variant, all_variants
from harness.core.batching import dropout_masks
from harness.core.conventions import differing_conventions, native_specs
from harness.core.errors import FrameworkUnavailableError, FwcompareError, NonFiniteOutputError, UnknownNameError
from harness.core.frameworks import FRAMEWORKS, framework_names, model_class
from harness.core.interface import FrameworkModel
from harness.core.specs import DTYPES, ModelSpec, ScheduleSpec, TrainSpec
from harness.core.tolerances import ROUNDING_FACTOR, Tolerance, tolerance
from harness.parity.diagnosis import LARGE_LOGIT, LARGE_LOGITS_CHECK, UNEXPLAINED, Mismatch, diagnose

OK, NOT_OK, EXPLAINED = "OK", "NOT OK", "EXPLAINED"
REFERENCE = "numpy"
PAIRS: tuple[tuple[str, str], ...] = (("numpy", "torch"), ("numpy", "keras"), ("torch", "keras"))
DEFAULT_STEPS = 10
PARITY_SEED = 0
# Parity compares arithmetic, not statistics: 32 rows exercise every kernel (BN's N/(N−1) included) and keep the
# 2-core CI fast.
PARITY_BATCH_SIZE = 32
# Several epochs inside K steps, so per-epoch schedules change the lr and train_epoch is called more than once;
# K must be a multiple of it, because train_epoch runs whole epochs only.
PARITY_STEPS_PER_EPOCH = 2

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

Trace = dict[str, dict[str, np.ndarray]]
"""check -> tensor name -> array, tensors in layer order."""


def _schedule_variant(base: Variant, kind: str, granularity: str) -> Variant:
    """`base` with a schedule of `kind` that changes the lr several times within DEFAULT_STEPS steps."""
    lr = base.train.optimizer.lr
    step_size = 1 if granularity == "epoch" else 3  # every epoch, or every third step (off the epoch boundaries)
    schedules = {
        "linear": ScheduleSpec("linear", final_lr=lr / 10, granularity=granularity),
        "exponential": ScheduleSpec("exponential", final_lr=lr / 100, granularity=granularity),
        "step": ScheduleSpec("step", step_size=step_size, gamma=0.5, granularity=granularity),
    }
    return Variant(
        f"{base.name}-{kind}-per-{granularity}",
        f"{base.description}, {kind} lr schedule per {granularity}",
        base.model,
        replace(base.train, schedule=schedules[kind]),
    )


_MOMENTUM = next(v for v in OPTIMIZER_VARIANTS if v.train.optimizer.name == "momentum")
# Momentum is where torch's and Keras' forms part under a changing lr, so schedules are checked with it.
SCHEDULE_VARIANTS: tuple[Variant, ...] = tuple(
    _schedule_variant(_MOMENTUM, kind, granularity)
    for kind, granularity in itertools.product(("linear", "exponential", "step"), ("step", "epoch"))
)

PARITY_VARIANTS: dict[str, Variant] = {v.name: v for v in (*DEFAULT_VARIANTS, *OPTIMIZER_VARIANTS, *SCHEDULE_VARIANTS)}


def parity_variants(names: Sequence[str] | None = None) -> list[Variant]:
    """The variants to check: `names` looked up in PARITY_VARIANTS, then in the registry; all of PARITY_VARIANTS
    when None."""
    if names is None:
        return list(PARITY_VARIANTS.values())
    registry = {**all_variants(), **PARITY_VARIANTS}
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UnknownNameError(f"unknown variant(s) {', '.join(unknown)}; parity knows: {', '.join(sorted(registry))}")
    return [registry[n] for n in names]


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
    steps: int = DEFAULT_STEPS
    device: str = "cpu"

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


# --- comparing tensors -------------------------------------------------------------------------------------------


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


# --- the inputs every model of a case shares ---------------------------------------------------------------------


@dataclass(frozen=True)
class ParityBatches:
    """steps + 1 batches: x (steps + 1, batch, input_size) in [0, 1), y (steps + 1, batch) int64 labels, and
    keep-masks {"dropout{i}": ((steps + 1)·batch, width)} (None without dropout). Batches 0..steps−1 train;
    batch `steps` is held out for the after-steps checks."""

    x: np.ndarray
    y: np.ndarray
    masks: dict[str, np.ndarray] | None

    @property
    def batch_size(self) -> int:
        return self.x.shape[1]

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        """Batches start..stop−1 concatenated: x (n, input_size), y (n,), masks for those rows."""
        b = self.batch_size
        x = self.x[start:stop].reshape(-1, self.x.shape[2])
        y = self.y[start:stop].reshape(-1)
        masks = None if self.masks is None else {k: m[start * b : stop * b] for k, m in self.masks.items()}
        return x, y, masks

    def with_training_rows_permuted(self, steps: int, rows: np.ndarray) -> ParityBatches:
        """The same batches with the rows of batches 0..steps−1 taken in the order `rows` (batch,), masks alike;
        the held-out batch is kept as it is."""
        n_batches, b = self.x.shape[:2]
        x, y = self.x.copy(), self.y.copy()
        x[:steps], y[:steps] = self.x[:steps, rows], self.y[:steps, rows]
        masks = None
        if self.masks is not None:
            masks = {}
            for key, mask in self.masks.items():
                per_batch = mask.reshape(n_batches, b, -1).copy()
                per_batch[:steps] = per_batch[:steps, rows]
                masks[key] = per_batch.reshape(mask.shape)
        return ParityBatches(x, y, masks)

    def with_training_inputs_nudged(self, steps: int, seed: int) -> ParityBatches:
        """The same batches with every input of batches 0..steps−1 moved by one unit in the last place, up or down
        at random (np.random.default_rng(seed)): a perturbation of exactly the size one rounding makes."""
        x = self.x.copy()
        upward = np.random.default_rng(seed).random(x[:steps].shape) < 0.5
        x[:steps] = np.nextafter(x[:steps], np.where(upward, np.inf, -np.inf).astype(x.dtype))
        return ParityBatches(x, self.y, self.masks)

    def batch(self, index: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray] | None]:
        return self.rows(index, index + 1)


def parity_batches(model_spec: ModelSpec, dtype: str, steps: int, batch_size: int = PARITY_BATCH_SIZE) -> ParityBatches:
    """Synthetic inputs and labels from np.random.default_rng(PARITY_SEED), masks from harness.core.batching."""
    rng = np.random.default_rng(PARITY_SEED)
    n_batches = steps + 1
    x = rng.random((n_batches, batch_size, model_spec.input_size)).astype(dtype)
    y = rng.integers(0, model_spec.output_size, (n_batches, batch_size)).astype(np.int64)
    masks = dropout_masks(model_spec, n_batches * batch_size, PARITY_SEED, epoch=0)
    return ParityBatches(x, y, masks)


def parity_specs(variant: Variant, dtype: str, steps: int) -> tuple[ModelSpec, TrainSpec]:
    """The variant's specs in `dtype`, with the parity batch size and seed, and epochs covering `steps` steps."""
    epochs = steps // PARITY_STEPS_PER_EPOCH
    train = replace(variant.train, dtype=dtype, batch_size=PARITY_BATCH_SIZE, epochs=epochs, seed=PARITY_SEED)
    return variant.model, train


# --- traces ------------------------------------------------------------------------------------------------------


def trace_model(model: FrameworkModel, batches: ParityBatches, steps: int) -> Trace:
    """Every tensor the engine compares, from a freshly built `model` (its state advances by `steps` steps)."""
    x0, y0, masks0 = batches.batch(0)
    trace: Trace = {
        "forward-train": model.activations(x0, True, masks0),
        "forward-inference": model.activations(x0, False),
    }
    loss, grads = model.loss_and_grads(x0, y0, masks0)
    trace["loss"] = {"loss": np.asarray(loss)}
    trace["gradient"] = grads
    losses = [model.train_step(*batches.batch(k)) for k in range(steps)]
    trace["step-losses"] = {"train_step losses": np.asarray(losses, dtype=np.float64)}
    trace["params-after-steps"] = model.get_params()
    trace["optimizer-state-after-steps"] = model.optimizer_state()
    x_held, y_held, masks_held = batches.batch(steps)
    trace["forward-inference-after-steps"] = model.activations(x_held, False)
    trace["loss-after-steps"] = {"held-out loss": np.asarray(model.loss_and_grads(x_held, y_held, masks_held)[0])}
    return trace


def fit_path_trace(model: FrameworkModel, batches: ParityBatches, steps: int) -> dict[str, np.ndarray]:
    """Parameters after train_epoch over the K training batches, one call per epoch of PARITY_STEPS_PER_EPOCH
    batches (order = arange, masks given), and "train_epoch losses" (n_epochs,): what each call returned."""
    epoch_losses = []
    for start in range(0, steps, PARITY_STEPS_PER_EPOCH):
        x, y, masks = batches.rows(start, start + PARITY_STEPS_PER_EPOCH)
        epoch_losses.append(model.train_epoch(model.upload(x, y), np.arange(len(x)), masks))
    return {**model.get_params(), "train_epoch losses": np.asarray(epoch_losses, dtype=np.float64)}


def _epoch_means(step_losses: np.ndarray) -> np.ndarray:
    """Mean train_step loss (K,) per epoch -> (K / PARITY_STEPS_PER_EPOCH,); with full batches only, the
    sample-weighted mean train_epoch returns is the plain one."""
    return step_losses.reshape(-1, PARITY_STEPS_PER_EPOCH).mean(axis=1)


# --- comparing traces --------------------------------------------------------------------------------------------


class ModelRunError(Exception):
    """A model could not be built or traced; run_case turns it into a NOT OK row so the other pairs still run."""

    def __init__(self, framework: str, message: str) -> None:
        super().__init__(f"{framework}: {message}")
        self.framework, self.message = framework, message


@dataclass(frozen=True)
class _FormEvidence:
    """The reference in the left and the right side's forms, and the conventions under which those forms differ."""

    left: Trace
    right: Trace
    conventions: tuple[str, ...]


class _Case:
    """One (variant, dtype): builds and traces each model on demand, at most once, and compares pairs of traces."""

    def __init__(
        self,
        variant: Variant,
        dtype: str,
        model_classes: dict[str, type[FrameworkModel]],
        steps: int,
        device: str,
    ) -> None:
        self.variant, self.dtype, self.steps, self.device = variant, dtype, steps, device
        self.model_classes = model_classes
        self.model_spec, self.train_spec = parity_specs(variant, dtype, steps)
        self.params = initial_params(self.model_spec, PARITY_SEED, dtype)
        self.batches = parity_batches(self.model_spec, dtype, steps)
        self._traces: dict[tuple[str, str], Trace] = {}
        self._twins: dict[str, list[Trace]] = {}
        self._variations: dict[tuple, Any] = {}  # the reference run other ways, for diagnoses
        self._failures: dict[tuple[str, str], ModelRunError] = {}

    def build(
        self,
        framework: str,
        form: str,
        params: dict[str, np.ndarray] | None = None,
        model_spec: ModelSpec | None = None,
    ) -> FrameworkModel:
        """A fresh `framework` model running `form`'s native specs (form == framework except for the reference), from
        the case's parameters (or `params`) and model spec (or `model_spec`, a variation of it)."""
        model_spec, train_spec = native_specs(model_spec or self.model_spec, self.train_spec, form)
        params = {k: v.copy() for k, v in (params or self.params).items()}
        device = "cpu" if framework == REFERENCE else self.device
        return self.model_classes[framework](
            model_spec, train_spec, params, device=device, steps_per_epoch=PARITY_STEPS_PER_EPOCH
        )

    def trace(self, framework: str, form: str | None = None) -> Trace:
        """The trace of `framework` in `form`; raises ModelRunError (once per model) if building or running fails."""
        key = (framework, form or framework)
        if key not in self._traces and key not in self._failures:
            try:
                self._traces[key] = trace_model(self.build(*key), self.batches, self.steps)
            except Exception as error:  # a framework's bug must become a NOT OK row, not end the whole run
                self._failures[key] = ModelRunError(framework, f"{type(error).__name__}: {error}")
        if key in self._failures:
            raise self._failures[key]
        return self._traces[key]

    def error_row(self, pair: str, error: ModelRunError) -> ParityRow:
        """The NOT OK row that stands for every tensor of `pair` when one of its models failed."""
        tol = tolerance(self.dtype, trajectory=False)
        return ParityRow(
            pair,
            self.variant.name,
            self.dtype,
            "error",
            error.framework,
            math.inf,
            math.inf,
            tol.rtol,
            tol.atol,
            NOT_OK,
            f"{error.framework} failed: {error.message}",
        )

    def rounding_sensitivity(self, forms: Sequence[str], check: str, name: str) -> float:
        """Σ over `forms` of max over the rounding twins of max|reference − twin|, for one after-steps tensor.

        A twin is the reference in that form trained on the same batches with each batch's rows in another order
        (reversed; rotated by half a batch: the same mathematics, since every loss and BN statistic is a mean over
        rows, with other summation rounding), or with every training input moved by one unit in the last place (a
        change of exactly the size of one rounding, which reaches every product, as another library's GEMM and
        element-wise kernels do). So it measures how far rounding alone moves this tensor in K steps; the largest
        of three twins keeps one lucky near-agreement (likely for a scalar such as a loss) from setting it. The
        nudged twin matters where a gradient element is near zero at a step: its value is then rounding noise,
        which Adam's m/(√v + eps) turns into a step of up to lr.
        """
        total = 0.0
        for form in forms:
            if form not in self._twins:
                b = self.batches.batch_size
                orders = (np.arange(b)[::-1], np.roll(np.arange(b), b // 2))
                variants = [self.batches.with_training_rows_permuted(self.steps, order) for order in orders]
                variants.append(self.batches.with_training_inputs_nudged(self.steps, PARITY_SEED))
                self._twins[form] = [
                    trace_model(self.build(REFERENCE, form), batches, self.steps) for batches in variants
                ]
            reference = self.trace(REFERENCE, form)[check]
            total += max(
                (
                    float(np.abs(np.asarray(reference[name], np.float64) - twin[check][name]).max(initial=0.0))
                    for twin in self._twins[form]
                    if name in reference and name in twin[check]
                ),
                default=0.0,
            )
        return total

    def pair_rows(self, left: str, right: str) -> list[ParityRow]:
        """Every tensor of every check, `left` against `right`."""
        if left == REFERENCE:
            a, b = self.trace(REFERENCE, right), self.trace(right)
            forms, evidence, note = (right,), None, f"reference in {right}'s native forms"
        else:
            a, b = self.trace(left), self.trace(right)
            forms, note = (left, right), ""
            conventions = differing_conventions(self.model_spec, self.train_spec, left, right)
            evidence = _FormEvidence(self.trace(REFERENCE, left), self.trace(REFERENCE, right), conventions)
        pair = f"{left}-vs-{right}"
        rows = []
        first_difference = None  # "check tensor" of the first NOT OK row, which later ones may follow from
        for check, trajectory in CHECKS.items():
            tol = tolerance(self.dtype, trajectory)
            ta, tb = a.get(check, {}), b.get(check, {})
            if check == "optimizer-state-after-steps" or (
                check in ACTIVATION_CHECKS and {"logits"} in (set(ta), set(tb))
            ):
                # slots, and layers of a user's network that shows only its logits, where both sides expose them
                names = [k for k in ta if k in tb]
            else:
                names = list(ta) + [k for k in tb if k not in ta]
            diverged = False
            for name in names:
                if name in ta and name in tb:
                    max_abs, max_rel, ok = compare(ta[name], tb[name], tol)
                    status, row_note = (OK, note) if ok else self._explain(check, name, ta, tb, tol, forms, evidence)
                    if status == NOT_OK and left == REFERENCE:
                        mismatch = Mismatch(check, name, ta[name], tb[name], tol)
                        diagnosis = diagnose(mismatch, _ReferenceEvidence(self, right))
                        if diagnosis.endswith(UNEXPLAINED) and first_difference is not None:
                            diagnosis += f" by itself; it follows the earlier difference in {first_difference}"
                        row_note = f"{row_note}; {diagnosis}"
                        first_difference = first_difference or f"{check} {name}"
                else:
                    max_abs = max_rel = math.inf
                    status, row_note = NOT_OK, f"{left if name not in ta else right} has no tensor {name!r}"
                if status == NOT_OK and check in ACTIVATION_CHECKS and not diverged:
                    row_note, diverged = f"first diverging layer; {row_note}", True
                rows.append(
                    ParityRow(
                        pair,
                        self.variant.name,
                        self.dtype,
                        check,
                        name,
                        max_abs,
                        max_rel,
                        tol.rtol,
                        tol.atol,
                        status,
                        row_note,
                    )
                )
        if left == REFERENCE and right not in FRAMEWORKS:
            try:
                rows.append(self.large_logits_row(right))
            except Exception as error:  # as in trace(): a NOT OK row, not the end of the run
                raise ModelRunError(right, f"{LARGE_LOGITS_CHECK}: {type(error).__name__}: {error}") from error
        return rows

    def large_logits_row(self, framework: str) -> ParityRow:
        """The loss of a user's network (a registered framework) against the reference's on the first batch with
        the output layer scaled so that the largest logit is LARGE_LOGIT: a probe for an unstable softmax."""
        last = len(self.model_spec.hidden_sizes)
        x, y, masks = self.batches.batch(0)
        logits = self.build(REFERENCE, framework).activations(x, True, masks)["logits"]
        scale = LARGE_LOGIT / float(np.abs(logits).max())
        params = {k: v * scale if k.startswith(f"dense{last}.") else v for k, v in self.params.items()}
        expected = self.build(REFERENCE, framework, params).loss_and_grads(x, y, masks)[0]
        try:
            got = self.build(framework, framework, params).loss_and_grads(x, y, masks)[0]
        except NonFiniteOutputError:
            got = math.nan
        tol = tolerance(self.dtype, trajectory=False)
        max_abs, max_rel, ok = compare(np.asarray(expected), np.asarray(got), tol)
        note = f"loss on the first batch with logits scaled to magnitude {LARGE_LOGIT:g}"
        if not ok:
            mismatch = Mismatch(LARGE_LOGITS_CHECK, "loss", np.asarray(expected), np.asarray(got), tol)
            note = f"{note}; outside tolerance; {diagnose(mismatch, _ReferenceEvidence(self, framework))}"
        return ParityRow(
            f"{REFERENCE}-vs-{framework}",
            self.variant.name,
            self.dtype,
            LARGE_LOGITS_CHECK,
            "loss",
            max_abs,
            max_rel,
            tol.rtol,
            tol.atol,
            OK if ok else NOT_OK,
            note,
        )

    def _explain(
        self,
        check: str,
        name: str,
        a: dict[str, np.ndarray],
        b: dict[str, np.ndarray],
        tol: Tolerance,
        forms: Sequence[str],
        evidence: _FormEvidence | None,
    ) -> tuple[str, str]:
        """(EXPLAINED, note) for a difference outside tolerance that has evidence, else (NOT OK, note).

        Evidence: the reference in the two sides' forms differs by the same amount (a named convention), and/or,
        after K steps only, the difference is within ROUNDING_FACTOR × the reference's own rounding sensitivity.
        """
        trajectory = CHECKS[check]
        noise = self.rounding_sensitivity(forms, check, name) if trajectory else 0.0
        within_noise = f"within {ROUNDING_FACTOR:g}× the reference's own rounding sensitivity {noise:.1e}"
        if evidence is not None and evidence.conventions:
            names = ", ".join(evidence.conventions)
            if name not in evidence.left.get(check, {}) or name not in evidence.right.get(check, {}):
                return NOT_OK, f"outside tolerance; the reference has no {name!r} to show the effect of {names}"
            reproduced = np.asarray(a[name], np.float64) + (
                np.asarray(evidence.right[check][name], np.float64) - evidence.left[check][name]
            )
            residual, _, ok = compare(b[name], reproduced, tol)
            if ok:
                return EXPLAINED, (
                    f"{EXPLAINED_BY}{names}; the reference in both forms reproduces this difference "
                    f"(residual {residual:.1e})"
                )
            if residual <= ROUNDING_FACTOR * noise:
                return EXPLAINED, (
                    f"{EXPLAINED_BY}{names}, {ROUNDING}; the reference in both forms reproduces this difference up "
                    f"to a residual of {residual:.1e}, {within_noise}"
                )
            return NOT_OK, f"outside tolerance; the reference's forms ({names}) leave a residual of {residual:.1e}"
        difference = float(np.abs(np.asarray(a[name], np.float64) - b[name]).max())
        if trajectory and difference <= ROUNDING_FACTOR * noise:
            return EXPLAINED, f"{EXPLAINED_BY}{ROUNDING}; {difference:.1e} is {within_noise}"
        if trajectory:
            return NOT_OK, f"outside tolerance and above {ROUNDING_FACTOR:g}× the rounding sensitivity {noise:.1e}"
        return NOT_OK, "outside tolerance"

    def fit_path_rows(self, framework: str) -> list[ParityRow]:
        """train_epoch vs train_step of one framework; the reference runs the first form it was traced in."""
        form = framework
        if framework == REFERENCE:
            form = next((f for (fw, f) in self._traces if fw == REFERENCE), REFERENCE)
        stepped = self.trace(framework, form)
        expected = {
            **stepped["params-after-steps"],
            "train_epoch losses": _epoch_means(stepped["step-losses"]["train_step losses"]),
        }
        try:
            fitted = fit_path_trace(self.build(framework, form), self.batches, self.steps)
        except Exception as error:  # as in trace(): a NOT OK row, not the end of the run
            raise ModelRunError(framework, f"train_epoch: {type(error).__name__}: {error}") from error
        tol = tolerance(self.dtype, trajectory=True)
        note = f"train_epoch (the timed path) vs {self.steps} train_step calls"
        rows = []
        for name, a in expected.items():
            max_abs, max_rel, ok = compare(a, fitted.get(name, np.array(np.nan)), tol)
            rows.append(
                ParityRow(
                    f"{framework}-epoch-vs-step",
                    self.variant.name,
                    self.dtype,
                    FIT_PATH_CHECK,
                    name,
                    max_abs,
                    max_rel,
                    tol.rtol,
                    tol.atol,
                    OK if ok else NOT_OK,
                    note if ok else f"{note}; outside tolerance",
                )
            )
        return rows


class _ReferenceEvidence:
    """harness.parity.diagnosis.Evidence from a case: the reference in `form`'s native forms, run other ways."""

    def __init__(self, case: _Case, form: str) -> None:
        self.case, self.form = case, form
        self.model_spec, self.train_spec, self.steps = case.model_spec, case.train_spec, case.steps
        self.batch_size = case.batches.batch_size

    def reference_with(self, **model_changes) -> Trace | None:
        key = (self.form, tuple(sorted(model_changes.items(), key=lambda item: item[0])))
        if key not in self.case._variations:
            try:
                model = self.case.build(REFERENCE, self.form, model_spec=replace(self.model_spec, **model_changes))
                self.case._variations[key] = trace_model(model, self.case.batches, self.steps)
            except Exception:  # a variation the reference cannot run proves nothing either way
                self.case._variations[key] = None
        return self.case._variations[key]

    def reference_params_after(self, steps: int) -> dict[str, np.ndarray]:
        key = (self.form, ("steps", steps))
        if key not in self.case._variations:
            model = self.case.build(REFERENCE, self.form)
            for k in range(steps):
                model.train_step(*self.case.batches.batch(k))
            self.case._variations[key] = model.get_params()
        return self.case._variations[key]

    def initial_params(self) -> dict[str, np.ndarray]:
        return self.case.params


def initial_params(model_spec: ModelSpec, seed: int, dtype: str) -> dict[str, np.ndarray]:
    """reference.initializers.initial_params, imported late so that importing the engine stays cheap."""
    from reference.initializers import initial_params as reference_initial_params

    return reference_initial_params(model_spec, seed, dtype)


MAX_STEPS = 1000
"""Parity holds every one of its K + 1 batches in memory and traces several models through all K steps: it is for
short trajectories. K = 1000 holds 0.2 GiB of 784-input float64 batches; K = 100000 would hold 18.7 GiB."""


def parity_batches_bytes(steps: int, input_size: int = 784, dtype: str = "float64") -> int:
    """Bytes of the inputs parity_batches makes for `steps` steps (the largest array it holds)."""
    return (steps + 1) * PARITY_BATCH_SIZE * input_size * np.dtype(dtype).itemsize


def check_steps(steps: int) -> None:
    """Raise ValueError unless `steps` is a positive multiple of PARITY_STEPS_PER_EPOCH, at most MAX_STEPS."""
    if steps < 1 or steps % PARITY_STEPS_PER_EPOCH:
        raise ValueError(
            f"steps={steps}: parity needs a positive multiple of {PARITY_STEPS_PER_EPOCH} (whole epochs of "
            f"{PARITY_STEPS_PER_EPOCH} steps for train_epoch), e.g. {DEFAULT_STEPS}"
        )
    if steps > MAX_STEPS:
        raise ValueError(
            f"steps={steps:,}: parity keeps all {steps + 1:,} batches in memory "
            f"({parity_batches_bytes(steps) / 2**30:.1f} GiB of 784-input float64 inputs) and is meant for short "
            f"trajectories; use at most {MAX_STEPS:,} (training curves over longer runs come from `fwcompare run`)"
        )


def run_case(
    variant: Variant,
    dtype: str,
    model_classes: dict[str, type[FrameworkModel]],
    frameworks: Sequence[str] | None = None,
    steps: int = DEFAULT_STEPS,
    device: str = "cpu",
) -> list[ParityRow]:
    """All rows of one (variant, dtype): every pair of `case_pairs` within `frameworks` (default: all of
    model_classes), then the fit path of each of them. `model_classes` maps framework name -> MLP class and must
    contain the reference, which explains torch-vs-Keras differences even when it is not among `frameworks`; a name
    that is not built in (a user's network, harness.byo) is paired with each built-in one."""
    if REFERENCE not in model_classes:
        raise ValueError(f"model_classes needs {REFERENCE!r}: the reference explains torch-vs-Keras differences")
    check_steps(steps)
    names = [*FRAMEWORKS, *(f for f in model_classes if f not in FRAMEWORKS)]
    selected = [f for f in names if f in model_classes and (frameworks is None or f in frameworks)]
    case = _Case(variant, dtype, model_classes, steps, device)
    rows = []
    with deterministic_settings({cls.framework for cls in model_classes.values()}):
        for pair, compare_pair in [
            *((f"{a}-vs-{b}", partial(case.pair_rows, a, b)) for a, b in case_pairs(selected)),
            *((f"{f}-epoch-vs-step", partial(case.fit_path_rows, f)) for f in selected),
        ]:
            try:
                rows += compare_pair()
            except ModelRunError as error:
                rows.append(case.error_row(pair, error))
    return rows


def case_pairs(selected: Sequence[str]) -> list[tuple[str, str]]:
    """PAIRS among the selected built-in frameworks, then each other selected framework after every built-in one."""
    built_in = [f for f in selected if f in FRAMEWORKS]
    pairs = [(a, b) for a, b in PAIRS if a in built_in and b in built_in]
    return pairs + [(a, b) for b in selected if b not in FRAMEWORKS for a in built_in]


@contextmanager
def deterministic_settings(frameworks: Iterable[str]) -> Iterator[None]:
    """TF32 off, deterministic kernels on, and NumPy's BLAS and torch on one CPU thread inside the block.

    Parity compares arithmetic, not speed: one thread fixes each library's reduction order and keeps a shared
    machine from being oversubscribed (a loaded 2-core machine ran the reference 12× slower with two BLAS threads).
    torch's settings and the BLAS limit are restored afterwards, and so is TensorFlow's TF32 flag; TensorFlow's op
    determinism has no public switch back and stays on for the rest of the process.
    """
    import threadpoolctl

    with ExitStack() as stack:
        stack.enter_context(threadpoolctl.threadpool_limits(limits=1))
        if "torch" in frameworks:
            import torch

            from torch_impl.device import deterministic_mode

            stack.enter_context(deterministic_mode())
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(1)
        if "keras" in frameworks:
            import tensorflow as tf

            stack.callback(
                tf.config.experimental.enable_tensor_float_32_execution,
                tf.config.experimental.tensor_float_32_execution_enabled(),
            )
            tf.config.experimental.enable_tensor_float_32_execution(False)
            tf.config.experimental.enable_op_determinism()
        yield


def run_parity(
    variants: Sequence[str] | None = None,
    frameworks: Sequence[str] = tuple(FRAMEWORKS),
    dtypes: Sequence[str] = DTYPES,
    steps: int = DEFAULT_STEPS,
    device: str = "cpu",
    on_rows: Callable[[list[ParityRow]], None] | None = None,
) -> ParityReport:
    """Compare every pair of `frameworks` on every variant and dtype; unavailable frameworks are recorded in
    `report.unavailable` and their pairs skipped, and so are the cases a user's network says it cannot run (its
    `unsupported`, harness.byo) in `report.skipped`. on_rows receives each case's rows as soon as they exist."""
    check_steps(steps)
    unknown = [f for f in frameworks if f not in framework_names()]
    if unknown:
        raise UnknownNameError(f"unknown framework(s) {', '.join(unknown)}; available: {', '.join(framework_names())}")
    report = ParityReport(steps=steps, device=device)
    model_classes: dict[str, type[FrameworkModel]] = {REFERENCE: model_class(REFERENCE)}
    for framework in frameworks:
        try:
            model_classes[framework] = model_class(framework)
        except FrameworkUnavailableError as error:
            report.unavailable[framework] = str(error)
    for variant in parity_variants(variants):
        for dtype in dtypes:
            model_spec, train_spec = parity_specs(variant, dtype, steps)
            case_frameworks = list(frameworks)
            failed = []
            for framework, cls in model_classes.items():
                unsupported = getattr(cls, "unsupported", None)
                try:
                    reason = (
                        None if unsupported is None else unsupported(*native_specs(model_spec, train_spec, framework))
                    )
                except FwcompareError as error:  # a user's `unsupported` that fails: a NOT OK row, as any failure
                    tol = tolerance(dtype, trajectory=False)
                    failed.append(
                        ParityRow(
                            f"{REFERENCE}-vs-{framework}",
                            variant.name,
                            dtype,
                            "error",
                            framework,
                            math.inf,
                            math.inf,
                            tol.rtol,
                            tol.atol,
                            NOT_OK,
                            f"{framework} failed: {error}",
                        )
                    )
                    reason = "its unsupported() failed"
                if reason is not None:
                    report.skipped.append(f"{framework} skipped {variant.name} {dtype}: it does not support {reason}")
                    case_frameworks.remove(framework)
            rows = failed + run_case(variant, dtype, model_classes, case_frameworks, steps, device)
            report.rows += rows
            if on_rows is not None:
                on_rows(rows)
    return report
