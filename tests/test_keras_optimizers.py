"""keras_impl.optimizers: the learning-rate schedule against harness.core.schedules, and the optimiser it builds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.core.schedules import learning_rate
from harness.core.specs import OptimizerSpec, ScheduleSpec, TrainSpec

pytest.importorskip("tensorflow", reason="tensorflow is not installed: its tests are skipped")

from keras_impl.optimizers import SpecLearningRate, make_optimizer

STEPS_PER_EPOCH, EPOCHS = 7, 8  # 56 planned steps; the checks run to 70, past the end of training
SCHEDULES = {
    "constant": ScheduleSpec(),
    "linear": ScheduleSpec("linear", final_lr=3e-4),
    "exponential": ScheduleSpec("exponential", final_lr=3e-4),
    "step": ScheduleSpec("step", step_size=3, gamma=0.7),
}


@pytest.mark.parametrize(("kind", "granularity"), list(itertools.product(SCHEDULES, ("step", "epoch"))), ids="-".join)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_schedule_equals_reference_function(kind: str, granularity: str, dtype: str) -> None:
    """float64 to 1e-12 relative (the same operations in the same order). float32 to 1e-5: its ~6e-8 rounding is
    amplified ~40× where the linear schedule's lr + (final_lr − lr)·t cancels near final_lr."""
    schedule = ScheduleSpec(**{**vars(SCHEDULES[kind]), "granularity": granularity})
    train_spec = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.0123), schedule=schedule, epochs=EPOCHS, dtype=dtype)
    keras_schedule = SpecLearningRate(train_spec, STEPS_PER_EPOCH, dtype)
    steps = range(70)
    actual = np.array([keras_schedule(step) for step in steps])
    expected = np.array([learning_rate(train_spec, step, STEPS_PER_EPOCH) for step in steps])
    assert actual.dtype == np.dtype(dtype)
    np.testing.assert_allclose(actual, expected, rtol=1e-12 if dtype == "float64" else 1e-5, atol=0)
    if kind != "constant":
        assert len(np.unique(expected)) > 1  # the schedule really moves, so the check is not vacuous


def test_one_epoch_and_one_step_schedules_stay_at_the_initial_rate() -> None:
    train_spec = TrainSpec(
        optimizer=OptimizerSpec("sgd", lr=0.5), schedule=ScheduleSpec("linear", final_lr=0.1), dtype="float64"
    )
    keras_schedule = SpecLearningRate(train_spec, 1, "float64")
    assert [float(keras_schedule(step)) for step in range(3)] == [
        learning_rate(train_spec, step, 1) for step in range(3)
    ]


def test_optimizer_uses_the_schedule_at_its_iteration_count() -> None:
    """SGD on one variable with gradient 1: each step moves it by exactly the scheduled lr of that step."""
    import keras

    train_spec = TrainSpec(
        optimizer=OptimizerSpec("sgd", lr=0.1),
        schedule=ScheduleSpec("exponential", final_lr=0.01, granularity="step"),
        epochs=2,
        dtype="float64",
    )
    optimizer = make_optimizer(train_spec.optimizer, SpecLearningRate(train_spec, 5, "float64"))
    variable = keras.Variable(np.zeros(1), dtype="float64")
    positions = [0.0]
    for _ in range(12):
        optimizer.apply_gradients([(np.ones(1), variable)])
        positions.append(float(variable.numpy()[0]))
    moves = -np.diff(positions)
    np.testing.assert_allclose(moves, [learning_rate(train_spec, step, 5) for step in range(12)], rtol=1e-14)


@pytest.mark.parametrize(
    ("spec", "hyperparameters"),
    [
        pytest.param(OptimizerSpec("momentum", momentum=0.9), {"momentum": 0.9, "nesterov": False}, id="momentum"),
        pytest.param(OptimizerSpec("nesterov", momentum=0.7), {"momentum": 0.7, "nesterov": True}, id="nesterov"),
        pytest.param(
            OptimizerSpec("adagrad", eps=1e-7, initial_accumulator=0.1),
            {"initial_accumulator_value": 0.1, "epsilon": 1e-7},
            id="adagrad",
        ),
        pytest.param(
            OptimizerSpec("rmsprop", rho=0.85, eps=1e-6), {"rho": 0.85, "epsilon": 1e-6, "momentum": 0.0}, id="rmsprop"
        ),
        pytest.param(
            OptimizerSpec("adam", beta1=0.8, beta2=0.99, eps=1e-8),
            {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-8},
            id="adam",
        ),
    ],
)
def test_hyperparameters_reach_keras_as_float64(spec: OptimizerSpec, hyperparameters: dict) -> None:
    """np.float64, not Python floats: Keras rounds a Python float through float32 in a float64 model."""
    optimizer = make_optimizer(spec, SpecLearningRate(TrainSpec(optimizer=spec, dtype="float64"), 1, "float64"))
    for name, value in hyperparameters.items():
        attribute = getattr(optimizer, name)
        if isinstance(value, bool):
            assert attribute is value, name
        else:
            assert type(attribute) is np.float64, name
            assert attribute == value, name
