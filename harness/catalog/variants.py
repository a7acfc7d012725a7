"""Named variants: (ModelSpec, TrainSpec) pairs as data, grouped for the named matrices.

Every variant is stated for MNIST-shaped data (784 inputs, 10 classes); `Variant.for_data` re-sizes the input and
output layers for another data set (e.g. digits, 64 inputs). Groups are built with itertools.product from small
tables so that adding a row adds a variant, never a subclass.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from harness.core.errors import UnknownNameError
from harness.core.specs import (
    BatchNormSpec,
    EarlyStoppingSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    ScheduleSpec,
    TrainSpec,
)

MNIST_INPUTS, MNIST_CLASSES = 784, 10
# The TF 1.x lecture's architecture: Flatten → 2 × Dense(256) → Dense(10).
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


# Initialisers by the names used in variant names; "normal"/"uniform" are a library's default random-normal and
# random-uniform initialisers (std / limit 0.05), "normal-std1" the lecture's random-normal row (std 1.0). Whose
# defaults these are: docs/sources.md, "Initialiser defaults".
INITS: dict[str, InitSpec] = {
    "normal": InitSpec("normal", std=0.05),
    "normal-std1": InitSpec("normal", std=1.0),
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
        "ReLU, RandomNormal(std 0.05) init (Keras 2/3's default; the TF 1.x lecture's TF 1.x default was std 1.0)",
        _lecture_variant("relu", "normal"),
        ADAM_1E3,
    ),
    Variant("relu-xavier", "ReLU, Glorot uniform init (the TF1 lecture)", _lecture_variant("relu", "xavier"), ADAM_1E3),
    Variant("relu-he", "ReLU, He uniform init (the TF1 lecture)", _lecture_variant("relu", "he"), ADAM_1E3),
    Variant(
        "relu-he-dropout",
        "ReLU, He uniform, inverted dropout 0.5 after each ReLU (the TF 1.x lecture)",
        _lecture_variant("relu", "he", dropout=(0.5, 0.5)),
        ADAM_1E3,
    ),
    Variant(
        "relu-he-batchnorm",
        "ReLU, He uniform, Dense → BatchNorm(momentum 0.9, eps 1e-3) → ReLU (the TF1 lecture's layer order; the "
        "lecture itself used Keras' default momentum 0.99)",
        _lecture_variant("relu", "he", batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3)),
        ADAM_1E3,
    ),
    Variant("sigmoid-xavier", "Sigmoid, Glorot uniform init", _lecture_variant("sigmoid", "xavier"), ADAM_1E3),
    Variant("tanh-xavier", "Tanh, Glorot uniform init", _lecture_variant("tanh", "xavier"), ADAM_1E3),
)

# The lecture as it ran: TensorFlow 1.x's tf.train.AdamOptimizer(0.001) (epsilon 1e-8 in the epsilon-hat form, the
# Keras form here), len(train_x) // 128 = 468 steps (the last partial batch is never drawn), zero biases, and
# BatchNormalization() with TF 1.x's defaults momentum 0.99, epsilon 1e-3 and the biased (1/N) moving variance.
LECTURE_ADAM = TrainSpec(
    optimizer=OptimizerSpec("adam", lr=1e-3, eps=1e-8, form="epsilon-hat"), batch_size=128, drop_last=True, epochs=1
)
LECTURE_BATCH_NORM = BatchNormSpec(momentum=0.99, eps=1e-3, running_var="biased")

LECTURE_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "lecture-normal-std1",
        "TF 1.x lecture: ReLU, TF 1.x RandomNormal() = N(0, 1) kernels, zero biases, TF1 Adam, 468 steps",
        _lecture_variant("relu", "normal-std1"),
        LECTURE_ADAM,
    ),
    Variant(
        "lecture-normal-std005",
        "the TF 1.x lecture's network with Keras 2/3's RandomNormal() = N(0, 0.05²) kernels (not what the lecture ran)",
        _lecture_variant("relu", "normal"),
        LECTURE_ADAM,
    ),
    Variant(
        "lecture-xavier",
        "TF 1.x lecture: ReLU, glorot_uniform kernels, TF1 Adam, 468 steps",
        _lecture_variant("relu", "xavier"),
        LECTURE_ADAM,
    ),
    Variant("lecture-he", "TF 1.x lecture: ReLU, he_uniform kernels", _lecture_variant("relu", "he"), LECTURE_ADAM),
    Variant(
        "lecture-he-dropout",
        "TF 1.x lecture: ReLU, he_uniform, Dropout(0.5) after each ReLU",
        _lecture_variant("relu", "he", dropout=(0.5, 0.5)),
        LECTURE_ADAM,
    ),
    Variant(
        "lecture-he-batchnorm",
        "TF 1.x lecture: ReLU, he_uniform, Dense → BatchNormalization() (momentum 0.99, eps 1e-3) → ReLU",
        _lecture_variant("relu", "he", batch_norm=LECTURE_BATCH_NORM),
        LECTURE_ADAM,
    ),
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

# (family, distribution) -> the INITS entry; "normal" is the fixed-scale family of the TF 1.x lecture's baseline.
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

# --- Reproduction variants: the exact setups of the source documents (results/REPRODUCTION_AUDIT.md) ----------------

# lincoln (Weidman's Deep Learning from Scratch and its library): 784-89-10, batch 60, seed 20190119, SGD without a
# batch-size-dependent loss scale (lincoln's losses are means over the batch, as ours).
LINCOLN_HIDDEN = (89,)
LINCOLN_BATCH = 60
LINCOLN_SEED = 20190119
# weight_init="standard": weights AND biases from N(0, 1).
LINCOLN_STANDARD_INIT = InitSpec("normal", std=1.0, bias="like_weights")
# weight_init="glorot": lincoln draws weights and biases from N(0, σ) with σ = 2/(fan_in + fan_out), Glorot's
# variance used as a standard deviation (20.9× below Glorot's σ for 784→89, 7.0× for 89→10).
LINCOLN_GLOROT_INIT = InitSpec("glorot_variance_as_std", bias="like_weights")
# Trainer.fit(early_stopping=True), lincoln's default, which every row runs: evaluate on the test set every
# eval_every epochs and stop at the first evaluation whose loss is not lower than the best so far. lincoln's
# "restore" only rebinds trainer.net to a copy; the notebook evaluates the original `model`, so the published
# accuracy is of the weights at the evaluation where the loss rose: no restore here.
LINCOLN_STOPPING = EarlyStoppingSpec(enabled=True, eval_every=10, patience=1, restore_best=False)
# lincoln's SGDMomentum: v = μ·v + lr·g; p −= v, i.e. the velocity form (v_velocity = −v).
LINCOLN_MOMENTUM = OptimizerSpec("momentum", lr=0.1, momentum=0.9, form="velocity")
LINCOLN_SGD = OptimizerSpec("sgd", lr=0.1)
CONSTANT_LR = ScheduleSpec()


def _lincoln_variant(
    row: str,
    description: str,
    *,
    activation: str = "tanh",
    hidden_sizes: tuple[int, ...] = LINCOLN_HIDDEN,
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
        hidden_sizes=hidden_sizes,
        output_size=MNIST_CLASSES,
        activation=activation,
        output=output,
        loss=loss,
        init=init,
        dropout=dropout,
        dropout_style="keep_prob",
        # lincoln's net.loss both trains and is the stopping criterion; its SoftmaxCrossEntropy value is the
        # clipped binary CE of the softmax summed over classes, its gradient the usual softmax_ce one.
        eval_loss="clipped_softmax_bce" if loss == "softmax_ce" else "training",
    )
    train = TrainSpec(
        optimizer=optimizer,
        schedule=schedule,
        batch_size=LINCOLN_BATCH,
        epochs=epochs,
        early_stopping=replace(LINCOLN_STOPPING, eval_every=eval_every),
        seed=LINCOLN_SEED,
        # lincoln is NumPy in float64 throughout.
        dtype="float64",
    )
    return Variant(f"lincoln-{row}", f"seed {row}: {description}", model, train)


# The decay rows' momentum, starting from lr 0.15 or 0.2.
LINCOLN_MOMENTUM_FROM_015 = replace(LINCOLN_MOMENTUM, lr=0.15)
LINCOLN_MOMENTUM_FROM_02 = replace(LINCOLN_MOMENTUM, lr=0.2)

LINCOLN_VARIANTS: tuple[Variant, ...] = (
    _lincoln_variant("000-a", "784-89 tanh-10 sigmoid, MSE, SGD 0.1", output="sigmoid", loss="mse"),
    _lincoln_variant(
        "000-b",
        "784-89 tanh-10 sigmoid, MeanSquaredError(normalize=True), SGD 0.1",
        output="sigmoid",
        loss="mse_normalized",
    ),
    _lincoln_variant("000-c", "784-89 tanh-10 linear, softmax CE, SGD 0.1"),
    _lincoln_variant(
        "000-d",
        "784-89 relu-10 linear, softmax CE, SGD 0.1; lincoln's ReLU passes the gradient everywhere (its mask "
        "`output >= 0` is always true)",
        activation="relu_linear_gradient",
    ),
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
        schedule=ScheduleSpec("linear", final_lr=0.05),
        optimizer=LINCOLN_MOMENTUM_FROM_015,
    ),
    _lincoln_variant(
        "000-g",
        "784-89 tanh-10, SGDMomentum 0.2→0.05 exponential per-epoch decay",
        schedule=ScheduleSpec("exponential", final_lr=0.05),
        optimizer=LINCOLN_MOMENTUM_FROM_02,
    ),
    _lincoln_variant(
        "000-h",
        "784-89 tanh-10, lincoln's 'glorot' (σ = 2/(fan_in + fan_out)), SGDMomentum 0.15→0.05 linear decay",
        init=LINCOLN_GLOROT_INIT,
        schedule=ScheduleSpec("linear", final_lr=0.05),
        optimizer=LINCOLN_MOMENTUM_FROM_015,
    ),
    _lincoln_variant(
        "000-h-true-glorot",
        "000-h with true Glorot normal weights (σ = √(2/(fan_in + fan_out)), zero biases) for comparison",
        init=InitSpec("glorot_normal"),
        schedule=ScheduleSpec("linear", final_lr=0.05),
        optimizer=LINCOLN_MOMENTUM_FROM_015,
    ),
    _lincoln_variant(
        "000-i",
        "784-89 tanh-10, lincoln's 'glorot', SGDMomentum 0.15→0.05 exponential decay",
        init=LINCOLN_GLOROT_INIT,
        schedule=ScheduleSpec("exponential", final_lr=0.05),
        optimizer=LINCOLN_MOMENTUM_FROM_015,
    ),
    _lincoln_variant(
        "000-j",
        "784-89 tanh-10 without dropout (the network the notebook actually trained), lincoln's 'glorot', "
        "SGDMomentum 0.2→0.05 exponential decay over 100 epochs",
        init=LINCOLN_GLOROT_INIT,
        schedule=ScheduleSpec("exponential", final_lr=0.05),
        epochs=100,
        optimizer=LINCOLN_MOMENTUM_FROM_02,
    ),
    _lincoln_variant(
        "000-j-dropout",
        "the dropout network the notebook built for 000-j but did not train: 784-89 tanh (keep_prob 0.8)-10",
        init=LINCOLN_GLOROT_INIT,
        dropout=(0.2,),
        schedule=ScheduleSpec("exponential", final_lr=0.05),
        epochs=100,
        optimizer=LINCOLN_MOMENTUM_FROM_02,
    ),
)

# Raschka's NeuralNetMLP (Python Machine Learning): 784-100-10 sigmoid/sigmoid, logistic loss summed over the batch with
# grad += l2·W, eta 0.0005, batch 100, 200 epochs, seed 1. Our losses are means over the batch with l2'·ΣW² added,
# so the same updates need lr = eta·batch = 0.05 and l2' = l2/(2·batch) = 0.01/200 = 5e-5.
RASCHKA_BATCH = 100
RASCHKA_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "raschka-mlp",
        "Raschka's NeuralNetMLP: 784-100-10 sigmoid/sigmoid, binary CE, N(0, 0.1) init, zero biases, SGD; its eta "
        "0.0005 and l2 0.01 on a summed loss = lr 0.05 and l2 5e-5 on our mean loss",
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

# Saito's Deep Learning from Scratch, ch. 6: the document gives no architecture or length for its MNIST
# comparison, so these follow the book's optimizer_compare_mnist.py: 784-100×4-10 ReLU, He normal (untruncated,
# σ = √(2/fan_in)), zero biases, 2,000 iterations of a batch of 128 rows drawn with replacement
# (np.random.choice), each optimiser in the seed's own form.
SAITO_ITERATIONS = 2000
SAITO_OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("sgd", lr=0.01),
    # v = m·v − lr·g; p += v
    "momentum": OptimizerSpec("momentum", lr=0.01, momentum=0.9, form="velocity"),
    # h += g²; p −= lr·g/(√h + 1e-7), h starting at 0
    "adagrad": OptimizerSpec("adagrad", lr=0.01, eps=1e-7, initial_accumulator=0.0, form="eps-outside-root"),
    # lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ); p −= lr_t·m/(√v + 1e-7): the epsilon-hat form
    "adam": OptimizerSpec("adam", lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7, form="epsilon-hat"),
}
SAITO_VARIANTS: tuple[Variant, ...] = tuple(
    Variant(
        f"saito-{name}",
        f"Saito ch. 6: 784-100×4-10 ReLU, He normal, {name} lr {optimizer.lr}, 2,000 batches of 128 drawn with "
        "replacement",
        ModelSpec(
            input_size=MNIST_INPUTS,
            hidden_sizes=(100, 100, 100, 100),
            output_size=MNIST_CLASSES,
            activation="relu",
            init=InitSpec("he_normal"),
        ),
        # 2,000 × 128 draws are 4.3 epochs' worth of 60,000 rows: 5 "epochs" with max_steps ending the fifth.
        TrainSpec(
            optimizer=optimizer, batch_size=128, epochs=5, sampling="with_replacement", max_steps=SAITO_ITERATIONS
        ),
    )
    for name, optimizer in SAITO_OPTIMIZERS.items()
)

# The Keras Fashion-MNIST example: softmax regression with Keras defaults: Dense(10, softmax) with Glorot uniform
# kernel and zero bias, Adam (lr 1e-3, eps 1e-7, Keras form), fit's default batch 32, 10 epochs.
FASHION_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "fashion-softmax-regression",
        "Keras Fashion-MNIST example: 784-10 softmax regression (no hidden layer), Glorot uniform, Keras Adam, "
        "batch 32, 10 epochs",
        ModelSpec(input_size=MNIST_INPUTS, hidden_sizes=(), output_size=MNIST_CLASSES, init=InitSpec("glorot_uniform")),
        TrainSpec(optimizer=OptimizerSpec("adam", lr=1e-3, eps=1e-7, form="epsilon-hat"), batch_size=32, epochs=10),
    ),
)

VARIANT_GROUPS: dict[str, tuple[Variant, ...]] = {
    "default": DEFAULT_VARIANTS,
    "repro-lecture": LECTURE_VARIANTS,
    "optimizers": OPTIMIZER_VARIANTS,
    "init": INIT_VARIANTS,
    "repro-lincoln": LINCOLN_VARIANTS,
    "repro-raschka": RASCHKA_VARIANTS,
    "repro-saito": SAITO_VARIANTS,
    "repro-fashion": FASHION_VARIANTS,
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
