"""optax optimisers from an OptimizerSpec (in a rule form optax implements natively), with the spec's learning-rate
schedule, and their state under the canonical slot names (forms: harness.core.specs.OPTIMIZER_FORMS).

    sgd        optax.sgd(lr)                                    plain: p −= lr·g
    momentum   optax.sgd(lr, momentum=μ)                        gradient-buffer: t = μ·t + g;  p −= lr·t
    nesterov   optax.sgd(lr, momentum=μ, nesterov=True)         gradient-buffer: p −= lr·(g + μ·t)
    adagrad    optax.adagrad(lr, initial_accumulator_value, eps)  eps-inside-root: s += g²;  p −= lr·g/√(s + eps)
    rmsprop    optax.rmsprop(lr, decay=ρ, eps, eps_in_sqrt)     v = ρ·v + (1−ρ)·g²;  eps-inside-root (eps_in_sqrt,
               optax's default) p −= lr·g/√(v + eps), or eps-outside-root p −= lr·g/(√v + eps)
    adam       optax.adam(lr, b1, b2, eps, eps_root=0)           eps-outside-root: p −= lr·m̂/(√v̂ + eps),
               m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), the bias corrections in float64 under x64

The other forms (velocity momentum, eps-outside-root AdaGrad, epsilon-hat Adam) have no optax rule and are refused
before anything is built (harness.core.conventions.require_native). No weight decay: L2 is part of the loss. The
learning rate is an optax schedule of optax's own step count, the reference's schedule written in float64 (jax_impl
runs under x64), cast to the parameters' dtype by optax as torch casts its Python-float lr.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from harness.core.specs import OptimizerSpec, TrainSpec

# optimizer name -> {canonical slot name: the field of optax's state that holds it, one array per parameter}
JAX_SLOTS: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"velocity": "trace"},
    "nesterov": {"velocity": "trace"},
    "adagrad": {"accumulator": "sum_of_squares"},
    "rmsprop": {"square_avg": "nu"},
    "adam": {"m": "mu", "v": "nu"},
}


def learning_rate_schedule(train_spec: TrainSpec, steps_per_epoch: int) -> Callable[[jax.Array], jax.Array]:
    """harness.core.schedules.learning_rate(train_spec, step, steps_per_epoch) as a function of optax's 0-based step
    count, in float64 with the reference's operations in the reference's order (call it under x64)."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch={steps_per_epoch} must be >= 1")
    schedule = train_spec.schedule
    lr = train_spec.optimizer.lr
    per_epoch = schedule.granularity == "epoch"
    last = train_spec.epochs - 1 if per_epoch else train_spec.epochs * steps_per_epoch - 1

    def learning_rate(step: jax.Array) -> jax.Array:
        step = jnp.asarray(step, jnp.int64)
        index = step // steps_per_epoch if per_epoch else step
        # Progress t in [0, 1], held at 1 past the planned end of training (0 when there is one epoch or step).
        t = jnp.minimum(index / last, 1.0) if last > 0 else jnp.zeros((), jnp.float64)
        if schedule.kind == "constant":
            return jnp.asarray(lr, jnp.float64)
        if schedule.kind == "linear":
            return lr + (schedule.final_lr - lr) * t
        if schedule.kind == "exponential":
            return lr * (schedule.final_lr / lr) ** t
        return lr * jnp.asarray(schedule.gamma, jnp.float64) ** (index // schedule.step_size)

    return learning_rate


def make_optimizer(
    spec: OptimizerSpec, learning_rate: Callable[[jax.Array], jax.Array]
) -> optax.GradientTransformation:
    """The optax optimiser of `spec` in its form, every hyperparameter passed explicitly, with schedule
    `learning_rate`."""
    if spec.name == "sgd":
        return optax.sgd(learning_rate)
    if spec.name in ("momentum", "nesterov"):
        return optax.sgd(learning_rate, momentum=spec.momentum, nesterov=spec.name == "nesterov")
    if spec.name == "adagrad":
        return optax.adagrad(learning_rate, initial_accumulator_value=spec.initial_accumulator, eps=spec.eps)
    if spec.name == "rmsprop":
        # The spec's RMSprop has no momentum and is not centred (reference/optimizers.py).
        return optax.rmsprop(
            learning_rate, decay=spec.rho, eps=spec.eps, initial_scale=0.0, eps_in_sqrt=spec.form == "eps-inside-root"
        )
    if spec.name == "adam":
        return optax.adam(learning_rate, b1=spec.beta1, b2=spec.beta2, eps=spec.eps, eps_root=0.0)
    raise ValueError(f"unknown optimizer {spec.name!r}; see harness.core.specs.OPTIMIZERS")


def slot_arrays(state: optax.OptState, name: str) -> dict[str, dict[str, jax.Array]]:
    """{canonical slot: {canonical key: array}} of optimizer `name`'s state (optax creates every slot at init)."""
    return {slot: optax.tree.get(state, field) for slot, field in JAX_SLOTS[name].items()}
