"""The parity suite's variants: the default and optimiser variants, and each schedule kind × granularity on the
momentum variant (where the momentum forms part under a changing lr)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from harness.catalog.variants import DEFAULT_VARIANTS, OPTIMIZER_VARIANTS, Variant, all_variants
from harness.core.errors import UnknownNameError
from harness.core.specs import ScheduleSpec


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
# Momentum is where the gradient-buffer and velocity forms part under a changing lr, so schedules are checked with it.
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
