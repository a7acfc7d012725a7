"""One parity case, (variant, dtype): builds and traces each model at most once and compares pairs of traces,
explaining a difference outside tolerance only with evidence from the reference (module docstring of
harness.parity.suite)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from harness.catalog.variants import Variant
from harness.core.build import build_model
from harness.core.conventions import form_differences, native_specs
from harness.core.errors import ModelRunError, NonFiniteOutputError
from harness.core.frameworks import plugin, reference_name
from harness.core.initializers import initial_params
from harness.core.interface import FrameworkModel, Params
from harness.core.specs import ModelSpec, TrainSpec
from harness.core.tolerances import ROUNDING_FACTOR, Tolerance, tolerance
from harness.parity.compare import compare
from harness.parity.diagnosis import LARGE_LOGIT, LARGE_LOGITS_CHECK, UNEXPLAINED, Mismatch, diagnose
from harness.parity.inputs import PARITY_SEED, PARITY_STEPS_PER_EPOCH, parity_batches, parity_specs
from harness.parity.results import (
    ACTIVATION_CHECKS,
    CHECKS,
    EXPLAINED,
    EXPLAINED_BY,
    FIT_PATH_CHECK,
    NOT_OK,
    OK,
    ROUNDING,
    ParityRow,
    fit_path_pair,
)
from harness.parity.traces import Trace, epoch_means, fit_path_trace, trace_model
from harness.parity.twins import rounding_twins


@dataclass(frozen=True)
class _FormEvidence:
    """The reference in the left and the right side's forms, and the conventions under which those forms differ."""

    left: Trace
    right: Trace
    conventions: tuple[str, ...]


class ParityCase:
    """One (variant, dtype): builds and traces each model on demand, at most once, and compares pairs of traces."""

    def __init__(
        self,
        variant: Variant,
        dtype: str,
        model_classes: dict[str, type[FrameworkModel]],
        steps: int,
        device: str,
        mode: str = "exact",
    ) -> None:
        self.variant, self.dtype, self.steps, self.device, self.mode = variant, dtype, steps, device, mode
        self.model_classes = model_classes
        self.model_spec, self.train_spec = parity_specs(variant, dtype, steps)
        self.params = initial_params(self.model_spec, PARITY_SEED, dtype)
        self.batches = parity_batches(self.model_spec, dtype, steps)
        self._traces: dict[tuple[str, str], Trace] = {}
        self._twins: dict[str, list[Trace]] = {}
        self._failures: dict[tuple[str, str], ModelRunError] = {}
        self._variations: dict[tuple[Any, ...], Any] = {}  # the reference run other ways, for diagnoses
        self.reference = reference_name()

    def build(
        self,
        framework: str,
        form: str,
        params: Params | None = None,
        specs: tuple[ModelSpec, TrainSpec] | None = None,
        mode: str = "exact",
    ) -> FrameworkModel:
        """A fresh `framework` model running `form`'s native specs (form == framework except for the reference), from
        the case's parameters (or `params`) and specs (or `specs`, a variation of them), in execution `mode`."""
        model_spec, train_spec = specs or (self.model_spec, self.train_spec)
        return build_model(
            self.model_classes[framework],
            model_spec,
            train_spec,
            {k: v.copy() for k, v in (params or self.params).items()},
            device=self.device,
            steps_per_epoch=PARITY_STEPS_PER_EPOCH,
            forms_of=form,
            mode=mode,
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

        A twin is the reference in that form trained on the same batches with its rounding changed and nothing else
        (harness.parity.twins: rows or units in another order, inputs moved by one unit in the last place), so it
        measures how far rounding alone moves this tensor in K steps. The largest of five twins keeps one lucky
        near-agreement (likely for a scalar such as a loss) from setting it. Twins matter where a gradient element
        is a sum that cancels to near zero at a step: its value is then rounding noise, which Adam's m/(√v + eps)
        turns into a step of up to lr.
        """
        total = 0.0
        for form in forms:
            if form not in self._twins:
                self._twins[form] = [
                    twin.restore(
                        trace_model(
                            self.build(self.reference, form, twin.params(self.params)), twin.batches, self.steps
                        )
                    )
                    for twin in rounding_twins(self.batches, self.model_spec, self.steps, PARITY_SEED)
                ]
            reference = self.trace(self.reference, form)[check]
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
        if left == self.reference:
            a, b = self.trace(self.reference, right), self.trace(right)
            forms: tuple[str, ...] = (right,)
            evidence, note = None, f"reference in {right}'s native forms"
        else:
            a, b = self.trace(left), self.trace(right)
            forms, note = (left, right), ""
            conventions = form_differences(self.model_spec, self.train_spec, left, right)
            evidence = _FormEvidence(self.trace(self.reference, left), self.trace(self.reference, right), conventions)
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
                    if status == NOT_OK and left == self.reference:
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
        if left == self.reference and plugin(right).user_code:
            try:
                rows.append(self.large_logits_row(right))
            except Exception as error:  # as in trace(): a NOT OK row, not the end of the run
                raise ModelRunError(right, f"{LARGE_LOGITS_CHECK}: {type(error).__name__}: {error}") from error
        return rows

    def large_logits_row(self, framework: str) -> ParityRow:
        """The loss of a user's network against the reference's on the first batch with the output layer scaled so
        that the largest logit is LARGE_LOGIT: a probe for an unstable softmax."""
        last = len(self.model_spec.hidden_sizes)
        x, y, masks = self.batches.batch(0)
        logits = self.build(self.reference, framework).activations(x, True, masks)["logits"]
        scale = LARGE_LOGIT / float(np.abs(logits).max())
        params = {k: v * scale if k.startswith(f"dense{last}.") else v for k, v in self.params.items()}
        expected = self.build(self.reference, framework, params).loss_and_grads(x, y, masks)[0]
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
            f"{self.reference}-vs-{framework}",
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

        def sensitivity() -> float:  # retrains the twins on first use, so only where a rule needs it
            return self.rounding_sensitivity(forms, check, name) if trajectory else 0.0

        def within(noise: float) -> str:
            return f"within {ROUNDING_FACTOR:g}× the reference's own rounding sensitivity {noise:.1e}"

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
            noise = sensitivity()
            if residual <= ROUNDING_FACTOR * noise:
                return EXPLAINED, (
                    f"{EXPLAINED_BY}{names}, {ROUNDING}; the reference in both forms reproduces this difference up "
                    f"to a residual of {residual:.1e}, {within(noise)}"
                )
            above = f", above {ROUNDING_FACTOR:g}× the rounding sensitivity {noise:.1e}" if trajectory else ""
            return (
                NOT_OK,
                f"outside tolerance; the reference's forms ({names}) leave a residual of {residual:.1e}{above}",
            )
        difference = float(np.abs(np.asarray(a[name], np.float64) - b[name]).max())
        if not trajectory:
            return NOT_OK, "outside tolerance"
        noise = sensitivity()
        if difference <= ROUNDING_FACTOR * noise:
            return EXPLAINED, f"{EXPLAINED_BY}{ROUNDING}; {difference:.1e} is {within(noise)}"
        return NOT_OK, f"outside tolerance and above {ROUNDING_FACTOR:g}× the rounding sensitivity {noise:.1e}"

    def fit_path_rows(self, framework: str) -> list[ParityRow]:
        """train_epoch vs train_step of one framework; the reference runs the first form it was traced in."""
        form = framework
        if framework == self.reference:
            form = next((f for (fw, f) in self._traces if fw == self.reference), self.reference)
        stepped = self.trace(framework, form)
        expected = {
            **stepped["params-after-steps"],
            "train_epoch losses": epoch_means(stepped["step-losses"]["train_step losses"]),
        }
        try:
            fitted = fit_path_trace(self.build(framework, form, mode=self.mode), self.batches, self.steps)
        except Exception as error:  # as in trace(): a NOT OK row, not the end of the run
            raise ModelRunError(framework, f"train_epoch: {type(error).__name__}: {error}") from error
        tol = tolerance(self.dtype, trajectory=True)
        note = f"train_epoch (the timed path, {self.mode} mode) vs {self.steps} train_step calls"
        rows = []
        for name, a in expected.items():
            max_abs, max_rel, ok = compare(a, fitted.get(name, np.array(np.nan)), tol)
            rows.append(
                ParityRow(
                    fit_path_pair(framework, self.mode),
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
    """harness.parity.diagnosis.Evidence from a case: the reference in `form`'s native forms, run other ways (each
    variation traced once per case). Its specs are already in those forms, so a variation of a form (the other BN
    running variance) is what the reference runs."""

    def __init__(self, case: ParityCase, form: str) -> None:
        self.case, self.form = case, form
        self.model_spec, self.train_spec = native_specs(case.model_spec, case.train_spec, form)
        self.steps, self.batch_size = case.steps, case.batches.batch_size

    def reference_with(self, **model_changes: Any) -> Trace | None:
        key = (self.form, tuple(sorted(model_changes.items(), key=lambda item: item[0])))
        if key not in self.case._variations:
            try:
                specs = (replace(self.model_spec, **model_changes), self.train_spec)
                model = self.case.build(self.case.reference, self.case.reference, specs=specs)
                self.case._variations[key] = trace_model(model, self.case.batches, self.steps)
            except Exception:  # a variation the reference cannot run proves nothing either way
                self.case._variations[key] = None
        return self.case._variations[key]

    def reference_params_after(self, steps: int) -> Params:
        key = (self.form, ("steps", steps))
        if key not in self.case._variations:
            model = self.case.build(self.case.reference, self.form)
            for k in range(steps):
                model.train_step(*self.case.batches.batch(k))
            self.case._variations[key] = model.get_params()
        return self.case._variations[key]

    def initial_params(self) -> Params:
        return self.case.params
