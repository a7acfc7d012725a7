"""Named variants: (ModelSpec, TrainSpec) pairs as data, grouped for the named matrices.

Every variant is stated for MNIST-shaped data (784 inputs, 10 classes); `Variant.for_data` re-sizes the input and
output layers for another data set (e.g. digits, 64 inputs). Groups are built with itertools.product from small
tables so that adding a row adds a variant, never a subclass.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from harness.errors import UnknownNameError
from harness.specs import (
    BatchNormSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    TrainSpec,
)

MNIST_INPUTS, MNIST_CLASSES = 784, 10
# Seed 001's architecture: Flatten → 2 × Dense(256) → Dense(10).
LECTURE_HIDDEN = (256, 256)


@dataclass(frozen=True)
class Variant:
    """A named model and training setup; `description` says in words what it is and where it comes from."""

    name: str
    description: str
    model: ModelSpec
    train: TrainSpec

    def for_data(self, input_size: int, output_size: int) -> Variant:
        """The same variant with its input and output layers sized for another data set."""
        model = replace(self.model, input_size=input_size, output_size=output_size)
        return replace(self, model=model)


# Initialisers by the names used in variant names; "normal"/"uniform" are Keras' RandomNormal/RandomUniform
# defaults (std / limit 0.05), the "random-normal" baseline of seed 001.
INITS: dict[str, InitSpec] = {
    "normal": InitSpec("normal", std=0.05),
    "uniform": InitSpec("uniform", limit=0.05),
    "xavier": InitSpec("glorot_uniform"),
    "xavier-normal": InitSpec("glorot_normal"),
    "he": InitSpec("he_uniform"),
    "he-normal": InitSpec("he_normal"),
}

ADAM_1E3 = TrainSpec(optimizer=OptimizerSpec("adam", lr=1e-3), batch_size=128)


def _lecture_variant(activation: str, init: str, **model_extra) -> ModelSpec:
    return ModelSpec(
        input_size=MNIST_INPUTS,
        hidden_sizes=LECTURE_HIDDEN,
        output_size=MNIST_CLASSES,
        activation=activation,
        init=INITS[init],
        **model_extra,
    )


DEFAULT_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "relu-normal",
        "ReLU, RandomNormal(std 0.05) init (seed 001 baseline)",
        _lecture_variant("relu", "normal"),
        ADAM_1E3,
    ),
    Variant("relu-xavier", "ReLU, Glorot uniform init (seed 001)", _lecture_variant("relu", "xavier"), ADAM_1E3),
    Variant("relu-he", "ReLU, He uniform init (seed 001)", _lecture_variant("relu", "he"), ADAM_1E3),
    Variant(
        "relu-he-dropout",
        "ReLU, He uniform, inverted dropout 0.5 after each ReLU (seed 001)",
        _lecture_variant("relu", "he", dropout=(0.5, 0.5)),
        ADAM_1E3,
    ),
    Variant(
        "relu-he-batchnorm",
        "ReLU, He uniform, Dense → BatchNorm(momentum 0.9, eps 1e-3) → ReLU (seed 001)",
        _lecture_variant("relu", "he", batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3)),
        ADAM_1E3,
    ),
    Variant("sigmoid-xavier", "Sigmoid, Glorot uniform init", _lecture_variant("sigmoid", "xavier"), ADAM_1E3),
    Variant("tanh-xavier", "Tanh, Glorot uniform init", _lecture_variant("tanh", "xavier"), ADAM_1E3),
)

# Learning rates are the usual published defaults for each method on MNIST MLPs, not a search of ours.
OPTIMIZER_SETTINGS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("sgd", lr=0.1),
    "momentum": OptimizerSpec("momentum", lr=0.01, momentum=0.9),
    "nesterov": OptimizerSpec("nesterov", lr=0.01, momentum=0.9),
    "adagrad": OptimizerSpec("adagrad", lr=0.01, eps=1e-7, initial_accumulator=0.1),
    "rmsprop": OptimizerSpec("rmsprop", lr=1e-3, rho=0.9, eps=1e-7),
    "adam": OptimizerSpec("adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7),
}

OPTIMIZER_VARIANTS: tuple[Variant, ...] = tuple(
    Variant(
        f"relu-he-{name}",
        f"ReLU, He uniform, {name} lr {opt.lr}",
        _lecture_variant("relu", "he"),
        replace(ADAM_1E3, optimizer=opt),
    )
    for name, opt in OPTIMIZER_SETTINGS.items()
)

# (family, distribution) -> the INITS entry; "normal" is the fixed-scale family of seed 001's baseline.
INIT_FAMILIES: dict[tuple[str, str], str] = {
    ("normal", "uniform"): "uniform",
    ("normal", "normal"): "normal",
    ("xavier", "uniform"): "xavier",
    ("xavier", "normal"): "xavier-normal",
    ("he", "uniform"): "he",
    ("he", "normal"): "he-normal",
}

INIT_VARIANTS: tuple[Variant, ...] = tuple(
    Variant(
        f"{activation}-{family}-{distribution}",
        f"{activation}, {family} {distribution} init",
        _lecture_variant(activation, init_name),
        ADAM_1E3,
    )
    for activation, ((family, distribution), init_name) in itertools.product(
        ("relu", "tanh", "sigmoid"), INIT_FAMILIES.items()
    )
)

VARIANT_GROUPS: dict[str, tuple[Variant, ...]] = {
    "default": DEFAULT_VARIANTS,
    "optimizers": OPTIMIZER_VARIANTS,
    "init": INIT_VARIANTS,
}


def all_variants() -> dict[str, Variant]:
    """Every registered variant by name (a name in several groups is the same variant)."""
    registry: dict[str, Variant] = {}
    for group in VARIANT_GROUPS.values():
        for variant in group:
            registry.setdefault(variant.name, variant)
    return registry


def get_variant(name: str) -> Variant:
    registry = all_variants()
    if name not in registry:
        raise UnknownNameError(f"unknown variant {name!r}; run `fwcompare list` to see them: {', '.join(registry)}")
    return registry[name]
