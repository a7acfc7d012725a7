"""keras.optimizers built from an OptimizerSpec (Keras' native update rules), with the spec's learning-rate schedule.

Every hyperparameter is handed over as np.float64: Keras casts a Python float to a tensor through float32 in a
float64 model (momentum 0.9 becomes 0.8999999761581421; conventions table), np.float64 keeps it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from harness.core.specs import OptimizerSpec, TrainSpec


class SpecLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """harness.core.schedules.learning_rate(train_spec, step, steps_per_epoch) as a Keras schedule in `dtype`.

    Keras evaluates it at optimizer.iterations, the 0-based index of the step about to be taken, which is the
    step the reference function is defined on. Built-in Keras schedules return float32, so this one computes in
    the model dtype with the same operations in the same order as the reference.
    """

    def __init__(self, train_spec: TrainSpec, steps_per_epoch: int, dtype: str) -> None:
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch={steps_per_epoch} must be >= 1")
        self.schedule = train_spec.schedule
        self.lr = np.float64(train_spec.optimizer.lr)
        self.steps_per_epoch = steps_per_epoch
        self.epochs = train_spec.epochs
        self.dtype = dtype

    def _constant(self, value: float):
        return ops.cast(np.float64(value), self.dtype)

    def __call__(self, step):
        schedule = self.schedule
        step = ops.cast(step, "int64")
        if schedule.granularity == "epoch":
            index, last = step // self.steps_per_epoch, self.epochs - 1
        else:
            index, last = step, self.epochs * self.steps_per_epoch - 1
        # Progress t in [0, 1], held at 1 past the planned end of training (0 when there is one epoch or step).
        if last > 0:
            t = ops.minimum(ops.cast(index, self.dtype) / self._constant(last), self._constant(1.0))
        else:
            t = self._constant(0.0)
        lr = self._constant(self.lr)
        if schedule.kind == "constant":
            return lr
        if schedule.kind == "linear":
            return lr + self._constant(schedule.final_lr - self.lr) * t
        if schedule.kind == "exponential":
            return lr * ops.power(self._constant(schedule.final_lr / self.lr), t)
        return lr * ops.power(self._constant(schedule.gamma), ops.cast(index // schedule.step_size, self.dtype))


def make_optimizer(
    spec: OptimizerSpec, lr: keras.optimizers.schedules.LearningRateSchedule
) -> keras.optimizers.Optimizer:
    """The Keras optimiser of `spec` in its native Keras form, with learning-rate schedule `lr`.

    In float32 runs np.float64 acts exactly as the Python floats a Keras user passes: Keras casts β to float32
    for Adam's bias correction (1 − β^t) but computes the moment weight 1 − β in double and rounds it once, so
    at t=1 √(1 − β₂ᵗ) is 6.4e-6 below √(1 − β₂) for β₂ = 0.999, a same-sign error in every float32 update
    (measured 3.3e-5 on a 784-input layer after 10 steps against a float64 run). That is Keras' arithmetic, so it
    is kept; reference/optimizers.py reproduces it in its Keras form.
    """
    if spec.name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=np.float64(0.0))
    if spec.name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=np.float64(spec.momentum), nesterov=spec.name == "nesterov"
        )
    if spec.name == "adagrad":
        return keras.optimizers.Adagrad(
            learning_rate=lr,
            initial_accumulator_value=np.float64(spec.initial_accumulator),
            epsilon=np.float64(spec.eps),
        )
    if spec.name == "rmsprop":
        # The spec's RMSprop has no momentum and is not centred (reference/optimizers.py).
        return keras.optimizers.RMSprop(
            learning_rate=lr, rho=np.float64(spec.rho), momentum=np.float64(0.0), epsilon=np.float64(spec.eps)
        )
    return keras.optimizers.Adam(
        learning_rate=lr, beta_1=np.float64(spec.beta1), beta_2=np.float64(spec.beta2), epsilon=np.float64(spec.eps)
    )


# optimizer name -> {canonical slot name: the Keras attribute holding that slot, one variable per trained
# variable in the order the optimiser was built on}. Attribute names as in keras/src/optimizers/*.py (Keras 3).
KERAS_SLOTS: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"velocity": "momentums"},
    "nesterov": {"velocity": "momentums"},
    "adagrad": {"accumulator": "_accumulators"},
    "rmsprop": {"square_avg": "_velocities"},
    "adam": {"m": "_momentums", "v": "_velocities"},
}


def slot_values(optimizer: keras.optimizers.Optimizer, name: str, variables: dict) -> dict[str, np.ndarray]:
    """Copies of the optimiser's slots, keyed '<canonical key>/<slot>', for `variables` {canonical key: variable}.

    Empty before the first step (Keras builds its slots then) and for slots Keras does not keep (SGD with
    momentum 0 keeps no velocity).
    """
    if not optimizer.built:
        return {}
    state = {}
    for slot, attribute in KERAS_SLOTS[name].items():
        slots = getattr(optimizer, attribute)
        if not slots:
            continue
        for key, variable in variables.items():
            state[f"{key}/{slot}"] = slots[optimizer._get_variable_index(variable)].numpy().copy()
    return state
