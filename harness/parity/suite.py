"""The parity engine: per-tensor comparison of every pair of frameworks on the same weights, batches and dropout
masks (README, "Parity").

For one variant and dtype (a "case", harness.parity.case), every model starts from
harness.core.initializers.initial_params and sees the same synthetic batches (harness.parity.inputs). Each model
yields a trace (harness.parity.traces): its activations per layer (training mode with the injected masks, and
inference mode), loss and every parameter gradient on the first batch; then, after K train_step calls on K
different batches, its per-step losses, every parameter (BN running statistics included), its optimiser slots, its
inference-mode activations and training loss on a held-out batch. Pairs of traces are compared tensor by tensor
against harness.core.tolerances (max|a − b| ≤ atol + rtol·the tensor's largest magnitude).

A pair with the reference (the registered framework that runs every form) builds the reference in the other
framework's native forms. Two other frameworks differ by construction where no argument aligns their forms
(harness.core.conventions); a tensor of such a pair outside tolerance is EXPLAINED only when the reference in the
right side's forms minus the reference in the left side's forms reproduces the same difference, and then names the
conventions; otherwise NOT OK. After the steps, a difference no larger than ROUNDING_FACTOR times what rounding
alone does to the reference (retrained with its rows or units in other orders, or its inputs moved by one ulp:
harness.parity.twins) is EXPLAINED as rounding;
nothing else is ever excused.

A tensor outside tolerance in a pair with the reference also gets a diagnosis (harness.parity.diagnosis: what the
difference looks like, measured, and which common bug it matches; a later difference no rule explains names the
earlier one it follows). A user's own network (harness.byo) is probed with large logits too, and a case it says it
cannot run (its `unsupported`) is skipped into ParityReport.skipped.

Every framework is also checked on its timed path: train_epoch over the same K batches (one call per epoch,
order = arange, masks given) must end with the parameters that K train_step calls reach.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial

from harness.catalog.variants import Variant
from harness.core.conventions import native_specs
from harness.core.errors import FrameworkUnavailableError, FwcompareError, ModelRunError
from harness.core.frameworks import (
    check_names,
    default_framework_names,
    deterministic,
    framework_names,
    model_class,
    reference_name,
)
from harness.core.interface import FrameworkModel
from harness.core.specs import DTYPES
from harness.core.tolerances import tolerance
from harness.parity.case import ParityCase
from harness.parity.inputs import DEFAULT_STEPS, check_steps, parity_specs
from harness.parity.results import NOT_OK, ParityReport, ParityRow, fit_path_pair
from harness.parity.variants import parity_variants


def in_registry_order(frameworks: Iterable[str]) -> list[str]:
    """`frameworks` in the registry's order (the reference first); unregistered names last."""
    order = {name: rank for rank, name in enumerate(framework_names())}
    return sorted(frameworks, key=lambda name: order.get(name, len(order)))


def pairs(frameworks: Iterable[str]) -> list[tuple[str, str]]:
    """Every combination of two of `frameworks`, in registry order."""
    return list(itertools.combinations(in_registry_order(frameworks), 2))


def run_case(
    variant: Variant,
    dtype: str,
    model_classes: dict[str, type[FrameworkModel]],
    frameworks: Sequence[str] | None = None,
    steps: int = DEFAULT_STEPS,
    device: str = "cpu",
    mode: str = "exact",
) -> list[ParityRow]:
    """All rows of one (variant, dtype): every pair of the frameworks selected (`frameworks`, default: all of
    model_classes), then the fit path of each of them. `model_classes` maps framework name -> MLP class and must
    contain the reference, which explains the other pairs' differences even when it is not among `frameworks`."""
    reference = reference_name()
    if reference not in model_classes:
        raise ValueError(f"model_classes needs {reference!r}: the reference explains the other pairs' differences")
    check_steps(steps)
    selected = [f for f in in_registry_order(model_classes) if frameworks is None or f in frameworks]
    case = ParityCase(variant, dtype, model_classes, steps, device, mode)
    rows = []
    with deterministic_settings({cls.framework for cls in model_classes.values()}):
        for pair, compare_pair in [
            *((f"{a}-vs-{b}", partial(case.pair_rows, a, b)) for a, b in pairs(selected)),
            *((fit_path_pair(f, mode), partial(case.fit_path_rows, f)) for f in selected),
        ]:
            try:
                rows += compare_pair()
            except ModelRunError as error:
                rows.append(case.error_row(pair, error))
    return rows


@contextlib.contextmanager
def deterministic_settings(frameworks: Iterable[str]) -> Iterator[None]:
    """NumPy's BLAS on one thread and every framework among `frameworks` in its deterministic mode (its plug-in's
    `deterministic`: deterministic kernels, full-precision float32, one thread) inside the block.

    Parity compares arithmetic, not speed: one thread fixes each library's reduction order and keeps a shared
    machine from being oversubscribed (docs/threads.md).
    The BLAS limit is restored afterwards, and so is each framework's state where its library allows.
    """
    import threadpoolctl

    with threadpoolctl.threadpool_limits(limits=1), deterministic(frameworks):
        yield


def run_parity(
    variants: Sequence[str] | None = None,
    frameworks: Sequence[str] | None = None,
    dtypes: Sequence[str] = DTYPES,
    steps: int = DEFAULT_STEPS,
    device: str = "cpu",
    on_rows: Callable[[list[ParityRow]], None] | None = None,
    mode: str = "exact",
) -> ParityReport:
    """Compare every pair of `frameworks` (default: the registered ones in_defaults) on every variant and dtype;
    unavailable frameworks are recorded in `report.unavailable` and their pairs skipped, and so are the cases a
    user's network says it cannot run (its `unsupported`, harness.byo) in `report.skipped`. on_rows receives each
    case's rows as soon as they exist."""
    check_steps(steps)
    frameworks = default_framework_names() if frameworks is None else tuple(frameworks)
    check_names(frameworks)
    report = ParityReport(steps=steps, device=device, mode=mode)
    reference = reference_name()
    model_classes: dict[str, type[FrameworkModel]] = {reference: model_class(reference)}
    for framework in frameworks:
        try:
            model_classes[framework] = model_class(framework)
        except FrameworkUnavailableError as error:
            report.unavailable[framework] = str(error)
    for variant in parity_variants(variants):
        for dtype in dtypes:
            case_frameworks, rows = list(frameworks), []
            for framework, reason in _unsupported(variant, dtype, steps, model_classes).items():
                if isinstance(reason, ParityRow):
                    rows.append(reason)
                    reason = "its unsupported() failed"
                report.skipped.append(f"{framework} skipped {variant.name} {dtype}: it does not support {reason}")
                case_frameworks.remove(framework)
            rows += run_case(variant, dtype, model_classes, case_frameworks, steps, device, mode)
            report.rows += rows
            if on_rows is not None:
                on_rows(rows)
    return report


def _unsupported(
    variant: Variant, dtype: str, steps: int, model_classes: dict[str, type[FrameworkModel]]
) -> dict[str, str | ParityRow]:
    """{framework: why it cannot run this case} for each model class with an `unsupported(model_spec, train_spec)`
    (a user's network, harness.byo) that refuses it, or the NOT OK row that stands for an `unsupported` that
    failed."""
    model_spec, train_spec = parity_specs(variant, dtype, steps)
    found: dict[str, str | ParityRow] = {}
    for framework, cls in model_classes.items():
        unsupported = getattr(cls, "unsupported", None)
        if unsupported is None:
            continue
        try:
            reason = unsupported(*native_specs(model_spec, train_spec, framework))
        except FwcompareError as error:  # a user's `unsupported` that fails: a NOT OK row, as any failure
            tol = tolerance(dtype, trajectory=False)
            reason = ParityRow(
                f"{reference_name()}-vs-{framework}",
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
        if reason is not None:
            found[framework] = reason
    return found
