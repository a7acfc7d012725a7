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
    EarlyStoppingSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    ScheduleSpec,
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

# --- Reproduction variants: the exact setups of the seed documents (shared/seeds/SUMMARY.md) -------------------

# Seed 000 ("lincoln", Weidman's Deep Learning from Scratch): 784-89-10, batch 60, seed 20190119, SGD without a
# batch-size-dependent loss scale (lincoln's losses are means over the batch, as ours).
LINCOLN_HIDDEN = (89,)
LINCOLN_BATCH = 60
LINCOLN_SEED = 20190119
# weight_init="standard": weights AND biases from N(0, 1).
LINCOLN_STANDARD_INIT = InitSpec("normal", std=1.0, bias="like_weights")
# weight_init="glorot": lincoln's code draws weights and biases from N(0, σ) with σ = 2/(fan_in + fan_out), the
# Glorot *variance* used as a standard deviation; InitSpec has no such scheme, so this is Glorot as the seed's text
# means it (σ = √(2/(fan_in + fan_out)), untruncated), biases drawn like the weights as lincoln does.
LINCOLN_GLOROT_INIT = InitSpec("glorot_normal", bias="like_weights")
# Trainer.fit(early_stopping=True) is lincoln's default and every row uses it: evaluate on the test set every
# eval_every epochs, stop at the first evaluation whose loss is not lower. lincoln then keeps a copy taken one epoch
# before that evaluation; fwcompare restores the best evaluated weights.
LINCOLN_STOPPING = EarlyStoppingSpec(enabled=True, eval_every=10, patience=1, restore_best=True)
# lincoln's SGDMomentum: v = μ·v + lr·g; p −= v, i.e. the Keras form (v_keras = −v).
LINCOLN_MOMENTUM = OptimizerSpec("momentum", lr=0.1, momentum=0.9, form="keras")
LINCOLN_SGD = OptimizerSpec("sgd", lr=0.1)
CONSTANT_LR = ScheduleSpec()


def _lincoln_variant(
    row: str,
    description: str,
    *,
    activation: str = "tanh",
    output: str = "linear",
    loss: str = "softmax_ce",
    init: InitSpec = LINCOLN_STANDARD_INIT,
    dropout: tuple[float, ...] = (),
    optimizer: OptimizerSpec = LINCOLN_SGD,
    schedule: ScheduleSpec = CONSTANT_LR,
    epochs: int = 50,
    eval_every: int = 10,
) -> Variant:
    model = ModelSpec(
        input_size=MNIST_INPUTS,
        hidden_sizes=LINCOLN_HIDDEN,
        output_size=MNIST_CLASSES,
        activation=activation,
        output=output,
        loss=loss,
        init=init,
        dropout=dropout,
        dropout_style="keep_prob",
    )
    train = TrainSpec(
        optimizer=optimizer,
        schedule=schedule,
        batch_size=LINCOLN_BATCH,
        epochs=epochs,
        early_stopping=replace(LINCOLN_STOPPING, eval_every=eval_every),
        seed=LINCOLN_SEED,
    )
    return Variant(f"lincoln-{row}", f"seed {row}: {description}", model, train)


LINCOLN_VARIANTS: tuple[Variant, ...] = (
    _lincoln_variant("000-a", "784-89 tanh-10 sigmoid, MSE, SGD 0.1", output="sigmoid", loss="mse"),
    _lincoln_variant("000-c", "784-89 tanh-10 linear, softmax CE, SGD 0.1"),
    _lincoln_variant("000-d", "784-89 relu-10 linear, softmax CE, SGD 0.1", activation="relu"),
    _lincoln_variant(
        "000-e",
        "784-89 sigmoid-10 linear, softmax CE, SGDMomentum 0.1 m 0.9, evaluated every epoch",
        activation="sigmoid",
        optimizer=LINCOLN_MOMENTUM,
        eval_every=1,
    ),
    _lincoln_variant(
        "000-f",
        "784-89 tanh-10, SGDMomentum 0.15→0.05 linear per-epoch decay",
        optimizer=replace(LINCOLN_MOMENTUM, lr=0.15),
        schedule=ScheduleSpec("linear", final_lr=0.05),
    ),
    _lincoln_variant(
        "000-g",
        "784-89 tanh-10, SGDMomentum 0.2→0.05 exponential per-epoch decay",
        optimizer=replace(LINCOLN_MOMENTUM, lr=0.2),
        schedule=ScheduleSpec("exponential", final_lr=0.05),
    ),
    _lincoln_variant(
        "000-h",
        "784-89 tanh-10, Glorot, SGDMomentum 0.15→0.05 linear decay",
        init=LINCOLN_GLOROT_INIT,
        optimizer=replace(LINCOLN_MOMENTUM, lr=0.15),
        schedule=ScheduleSpec("linear", final_lr=0.05),
    ),
    _lincoln_variant(
        "000-i",
        "784-89 tanh-10, Glorot, SGDMomentum 0.15→0.05 exponential decay",
        init=LINCOLN_GLOROT_INIT,
        optimizer=replace(LINCOLN_MOMENTUM, lr=0.15),
        schedule=ScheduleSpec("exponential", final_lr=0.05),
    ),
    _lincoln_variant(
        "000-j",
        "784-89 tanh (keep_prob 0.8)-10, Glorot, SGDMomentum 0.2→0.05 exponential decay, 100 epochs",
        init=LINCOLN_GLOROT_INIT,
        dropout=(0.2,),
        optimizer=replace(LINCOLN_MOMENTUM, lr=0.2),
        schedule=ScheduleSpec("exponential", final_lr=0.05),
        epochs=100,
    ),
)

# Seed 002 (Raschka's NeuralNetMLP): 784-100-10 sigmoid/sigmoid, logistic loss summed over the batch with
# grad += l2·W, eta 0.0005, batch 100, 200 epochs, seed 1. Our losses are means over the batch with l2'·ΣW² added,
# so the same updates need lr = eta·batch = 0.05 and l2' = l2/(2·batch) = 0.01/200 = 5e-5.
RASCHKA_BATCH = 100
RASCHKA_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "raschka-mlp",
        "seed 002: 784-100-10 sigmoid/sigmoid, binary CE, N(0, 0.1) init, zero biases, SGD; Raschka's eta 0.0005 and "
        "l2 0.01 on a summed loss = lr 0.05 and l2 5e-5 on our mean loss",
        ModelSpec(
            input_size=MNIST_INPUTS,
            hidden_sizes=(100,),
            output_size=MNIST_CLASSES,
            activation="sigmoid",
            output="sigmoid",
            loss="binary_ce",
            init=InitSpec("normal", std=0.1),
            l2=0.01 / (2 * RASCHKA_BATCH),
        ),
        TrainSpec(
            optimizer=OptimizerSpec("sgd", lr=0.0005 * RASCHKA_BATCH),
            batch_size=RASCHKA_BATCH,
            epochs=200,
            seed=1,
        ),
    ),
)

# Seed 003 (Saito's Deep Learning from Scratch, ch. 6): the seed gives no architecture or length for its MNIST
# comparison, so these follow the book's optimizer_compare_mnist.py: 784-100×4-10 ReLU, He normal (untruncated,
# σ = √(2/fan_in)), zero biases, batch 128, 2000 iterations ≈ 4 epochs, each optimiser in the seed's own form.
SAITO_OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("sgd", lr=0.01),
    # v = m·v − lr·g; p += v
    "momentum": OptimizerSpec("momentum", lr=0.01, momentum=0.9, form="keras"),
    # h += g²; p −= lr·g/(√h + 1e-7), h starting at 0
    "adagrad": OptimizerSpec("adagrad", lr=0.01, eps=1e-7, initial_accumulator=0.0, form="torch"),
    # lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); p −= lr_t·m/(√v + 1e-7): the epsilon-hat form
    "adam": OptimizerSpec("adam", lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7, form="keras"),
}
SAITO_VARIANTS: tuple[Variant, ...] = tuple(
    Variant(
        f"saito-{name}",
        f"seed 003: 784-100×4-10 ReLU, He normal, {name} lr {optimizer.lr}, batch 128, 4 epochs",
        ModelSpec(
            input_size=MNIST_INPUTS,
            hidden_sizes=(100, 100, 100, 100),
            output_size=MNIST_CLASSES,
            activation="relu",
            init=InitSpec("he_normal"),
        ),
        TrainSpec(optimizer=optimizer, batch_size=128, epochs=4),
    )
    for name, optimizer in SAITO_OPTIMIZERS.items()
)

# Seed 004: Fashion-MNIST softmax regression, Keras defaults: Dense(10, softmax) with Glorot uniform kernel and zero
# bias, Adam (lr 1e-3, eps 1e-7, Keras form), fit's default batch 32, 10 epochs.
FASHION_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "fashion-softmax-regression",
        "seed 004: 784-10 softmax regression (no hidden layer), Glorot uniform, Keras Adam, batch 32, 10 epochs",
        ModelSpec(input_size=MNIST_INPUTS, hidden_sizes=(), output_size=MNIST_CLASSES, init=InitSpec("glorot_uniform")),
        TrainSpec(optimizer=OptimizerSpec("adam", lr=1e-3, eps=1e-7, form="keras"), batch_size=32, epochs=10),
    ),
)

VARIANT_GROUPS: dict[str, tuple[Variant, ...]] = {
    "default": DEFAULT_VARIANTS,
    "optimizers": OPTIMIZER_VARIANTS,
    "init": INIT_VARIANTS,
    "seed-lincoln": LINCOLN_VARIANTS,
    "seed-raschka": RASCHKA_VARIANTS,
    "seed-optimizers": SAITO_VARIANTS,
    "seed-fashion": FASHION_VARIANTS,
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
