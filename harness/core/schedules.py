"""Learning-rate schedules (harness/core/specs.py ScheduleSpec), as a pure function of the 0-based optimiser step.

Every framework calls `learning_rate` or reproduces it inside its optimiser, so this function is the definition
every framework follows.
"""

from __future__ import annotations

from harness.core.errors import SpecError
from harness.core.specs import TrainSpec


def schedule_progress(train_spec: TrainSpec, step: int, steps_per_epoch: int) -> tuple[float, int]:
    """(t, k) at 0-based optimiser `step`: progress t in [0, 1] and the index k that 'step' schedules count.

    epoch granularity: e = step // steps_per_epoch, t = e/(epochs − 1) (0 with one epoch), k = e.
    step granularity: t = step/(epochs·steps_per_epoch − 1) (0 with one step in all), k = step.
    t is held at 1 past the planned end of training (e.g. extra parity steps), so the lr stays at final_lr.
    """
    if step < 0 or steps_per_epoch < 1:
        raise ValueError(f"step={step} must be >= 0 and steps_per_epoch={steps_per_epoch} >= 1")
    if train_spec.schedule.granularity == "epoch":
        index, last = step // steps_per_epoch, train_spec.epochs - 1
    else:
        index, last = step, train_spec.epochs * steps_per_epoch - 1
    progress = min(index / last, 1.0) if last > 0 else 0.0
    return progress, index


def learning_rate(train_spec: TrainSpec, step: int, steps_per_epoch: int) -> float:
    """The learning rate at 0-based optimiser `step` (see ScheduleSpec for the formulas)."""
    schedule = train_spec.schedule
    lr = train_spec.optimizer.lr
    t, k = schedule_progress(train_spec, step, steps_per_epoch)
    if schedule.kind == "constant":
        return float(lr)
    if schedule.kind in ("linear", "exponential"):
        final_lr = schedule.final_lr
        if final_lr is None:  # ScheduleSpec refuses this already; the check tells the type checker
            raise SpecError(f"ScheduleSpec(kind={schedule.kind!r}) needs final_lr > 0")
        if schedule.kind == "linear":
            return float(lr + (final_lr - lr) * t)
        return float(lr * (final_lr / lr) ** t)
    return float(lr * schedule.gamma ** (k // schedule.step_size))
