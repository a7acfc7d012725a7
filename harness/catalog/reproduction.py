"""The rows of the reproduction matrices: each published number of a source document beside the variant that runs
what the document ran (field by field: results/REPRODUCTION_AUDIT.md), with a note where the run departs from its
source. docs/sources.md says what each source is.
"""

from __future__ import annotations

from harness.catalog.matrix import Row
from harness.catalog.variants import FASHION_VARIANTS, RASCHKA_VARIANTS, SAITO_VARIANTS, get_variant
from harness.core.record import Published

LINCOLN_SOURCE = "Weidman's lincoln notebook"
LECTURE_SOURCE = "TF 1.x lecture lab"
RASCHKA_SOURCE = "Raschka's NeuralNetMLP"
SAITO_SOURCE = "optimiser notes after Saito ch. 6"
FASHION_SOURCE = "Keras Fashion-MNIST example"
"""The `source` of each document's published numbers, as the reproduction table shows it (docs/sources.md)."""

LINCOLN_MOMENTUM_NOTE = (
    "the reference runs lincoln's velocity form v = μ·v + lr·g, p −= v, as does a framework whose native momentum "
    "is the velocity form; one whose native momentum is the gradient-buffer form buf = μ·buf + g, p −= lr·buf "
    "runs that instead, which is the same only while the lr is constant (conventions table: momentum-velocity-form)"
)
LINCOLN_DECAY_NOTE = (
    f"{LINCOLN_MOMENTUM_NOTE}: with this per-epoch decay a gradient-buffer framework trains a different trajectory"
)
LINCOLN_ORDER_NOTE = (
    "batch order, dropout masks and initial weights come from fwcompare's seeded streams, not lincoln's "
    "np.random.seed(20190119) sequence, so seed 20190119 here is another draw than the notebook's"
)


def _lincoln_published(value: float, note: str = "") -> Published:
    return Published(value, LINCOLN_SOURCE, note)


LINCOLN_ROWS: tuple[Row, ...] = (
    Row(get_variant("lincoln-000-a"), _lincoln_published(0.7267)),
    Row(
        get_variant("lincoln-000-b"),
        _lincoln_published(0.4173, "stopped at epoch 20: the normalised MSE rose after epoch 10"),
    ),
    Row(get_variant("lincoln-000-c"), _lincoln_published(0.9095)),
    Row(
        get_variant("lincoln-000-d"),
        _lincoln_published(0.7134, "stopped at epoch 20: the test loss rose after epoch 10"),
    ),
    Row(get_variant("lincoln-000-e"), _lincoln_published(0.9213), note=LINCOLN_MOMENTUM_NOTE),
    Row(get_variant("lincoln-000-f"), _lincoln_published(0.9606), note=LINCOLN_DECAY_NOTE),
    Row(get_variant("lincoln-000-g"), _lincoln_published(0.9605), note=LINCOLN_DECAY_NOTE),
    Row(
        get_variant("lincoln-000-h"),
        _lincoln_published(0.9704, "stopped at epoch 40: the test loss rose after epoch 30"),
        note=LINCOLN_DECAY_NOTE,
    ),
    Row(
        get_variant("lincoln-000-h-true-glorot"),
        note="the document prints no number for this row: 000-h with Glorot's own σ, to show what lincoln's 'glorot' "
        "changes",
    ),
    Row(
        get_variant("lincoln-000-i"),
        _lincoln_published(0.9662, "stopped at epoch 30: the test loss rose after epoch 20"),
        note=LINCOLN_DECAY_NOTE,
    ),
    Row(
        get_variant("lincoln-000-j"),
        _lincoln_published(
            0.9640,
            "the notebook passed `model` (000-i's network, without dropout, re-initialised by restart=True) to "
            "this Trainer, so the printed number belongs to that network; stopped at epoch 50",
        ),
        note=LINCOLN_DECAY_NOTE,
    ),
    Row(
        get_variant("lincoln-000-j-dropout"),
        note="the document prints no number for this network: the notebook built it but trained `model` (000-j)",
    ),
)

# The lecture's random-normal initialiser drew from N(0, 1) (docs/sources.md, "Initialiser defaults").
LECTURE_ROWS: tuple[Row, ...] = (
    Row(
        get_variant("lecture-normal-std1"),
        Published(0.8535, LECTURE_SOURCE, "TF 1.x RandomNormal() = N(0, 1) init, test accuracy after 1 epoch"),
    ),
    Row(
        get_variant("lecture-normal-std005"),
        note="the document prints no number for Keras 2/3's RandomNormal() default std 0.05; its 85.35% is the TF 1.x "
        "std 1.0 row",
    ),
    Row(
        get_variant("lecture-xavier"),
        Published(0.9650, LECTURE_SOURCE, "glorot_uniform init, test accuracy after 1 epoch"),
    ),
    Row(get_variant("lecture-he"), note="the document prints no number for He init"),
    Row(get_variant("lecture-he-dropout"), note="the document prints no number for dropout"),
    Row(get_variant("lecture-he-batchnorm"), note="the document prints no number for batch norm"),
)

RASCHKA_ROWS: tuple[Row, ...] = (
    Row(
        RASCHKA_VARIANTS[0],
        Published(
            0.9798,
            RASCHKA_SOURCE,
            "validation accuracy after 200 epochs on the last 5,000 training images; the text says the test "
            "accuracy is about the same but prints no number",
            metric="validation_accuracy",
        ),
        note="Raschka sums the loss over the batch and updates W −= eta·(Σ grads + l2·W) with eta 0.0005, l2 0.01; "
        "with our mean-over-batch loss plus l2'·ΣW² the same updates are lr = 0.0005·100 = 0.05 and "
        "l2' = 0.01/(2·100) = 5e-5",
    ),
)

SAITO_NOTE = (
    "the document's numbers come from the author's own PyTorch exercise (dropout 0.5; network, learning rate and "
    "length not stated) and Saito's script prints only the training loss; this is Saito's ch. 6 "
    "optimizer_compare_mnist.py (784-100×4-10 ReLU, He normal, 2,000 batches of 128 drawn with replacement)"
)
SAITO_ILLUSTRATIVE = "illustrative: no reproducible source"
SAITO_ROWS: tuple[Row, ...] = tuple(
    Row(
        variant,
        {
            "saito-sgd": Published(
                0.91, SAITO_SOURCE, f"final accuracy with SGD ('91% → 97%'); {SAITO_ILLUSTRATIVE}", illustrative=True
            ),
            "saito-adam": Published(
                0.97, SAITO_SOURCE, f"final accuracy with Adam ('91% → 97%'); {SAITO_ILLUSTRATIVE}", illustrative=True
            ),
        }.get(variant.name),
        note=SAITO_NOTE
        if variant.name in ("saito-sgd", "saito-adam")
        else f"the document prints no number for this optimiser; {SAITO_NOTE}",
    )
    for variant in SAITO_VARIANTS
)

FASHION_ROWS: tuple[Row, ...] = (
    Row(FASHION_VARIANTS[0], Published(0.8429, FASHION_SOURCE, "Keras fit, 10 epochs; train accuracy 86.35%")),
)
