"""Each schedule kind × granularity against values worked out by hand (harness/core/specs.py ScheduleSpec).

Setting: lr 0.1, final_lr 0.001, 3 epochs of 4 steps (12 steps in all), step schedules with step_size 2 and
gamma 0.5. Epoch granularity: step 5 is in epoch 1, so t = 1/2. Step granularity: t = 5/11.
"""

from __future__ import annotations

import pytest

from harness.core.schedules import learning_rate
from harness.core.specs import OptimizerSpec, ScheduleSpec, TrainSpec

STEPS_PER_EPOCH = 4


def spec(kind: str, granularity: str, epochs: int = 3) -> TrainSpec:
    schedule = ScheduleSpec(kind, final_lr=0.001, step_size=2, gamma=0.5, granularity=granularity)
    return TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1), schedule=schedule, epochs=epochs)


CASES = [
    # (kind, granularity, step, expected)
    ("constant", "epoch", 5, 0.1),
    ("constant", "step", 11, 0.1),
    ("linear", "epoch", 0, 0.1),
    ("linear", "epoch", 3, 0.1),  # still epoch 0: constant within an epoch
    ("linear", "epoch", 5, 0.1 + (0.001 - 0.1) * 0.5),
    ("linear", "epoch", 11, 0.001),
    ("linear", "step", 5, 0.1 + (0.001 - 0.1) * 5 / 11),
    ("linear", "step", 11, 0.001),
    ("exponential", "epoch", 5, 0.01),  # 0.1·(0.001/0.1)^(1/2)
    ("exponential", "epoch", 8, 0.001),
    ("exponential", "step", 5, 0.1 * 0.01 ** (5 / 11)),
    ("exponential", "step", 0, 0.1),
    ("step", "epoch", 7, 0.1),  # epoch 1: ⌊1/2⌋ = 0
    ("step", "epoch", 9, 0.05),  # epoch 2: ⌊2/2⌋ = 1
    ("step", "step", 1, 0.1),
    ("step", "step", 5, 0.025),  # ⌊5/2⌋ = 2
    ("step", "step", 11, 0.1 * 0.5**5),
]


@pytest.mark.parametrize(("kind", "granularity", "step", "expected"), CASES)
def test_schedule_by_hand(kind: str, granularity: str, step: int, expected: float) -> None:
    assert learning_rate(spec(kind, granularity), step, STEPS_PER_EPOCH) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("granularity", ["epoch", "step"])
def test_single_epoch_and_single_step_runs_stay_at_lr(granularity: str) -> None:
    one_epoch = spec("linear", granularity, epochs=1)
    assert learning_rate(one_epoch, 0, 1) == 0.1  # one step in all: t = 0, no division by zero
    assert learning_rate(one_epoch, 0, STEPS_PER_EPOCH) == 0.1


def test_epoch_granularity_with_one_epoch_is_constant() -> None:
    assert learning_rate(spec("exponential", "epoch", epochs=1), 3, STEPS_PER_EPOCH) == 0.1


def test_past_the_planned_end_the_lr_stays_at_final_lr() -> None:
    assert learning_rate(spec("linear", "step"), 40, STEPS_PER_EPOCH) == pytest.approx(0.001, rel=1e-12)
    assert learning_rate(spec("exponential", "epoch"), 40, STEPS_PER_EPOCH) == pytest.approx(0.001, rel=1e-12)


def test_negative_step_is_an_error() -> None:
    with pytest.raises(ValueError, match="step=-1"):
        learning_rate(spec("constant", "step"), -1, STEPS_PER_EPOCH)
