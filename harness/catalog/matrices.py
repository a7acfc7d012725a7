"""Named comparison matrices as data, user matrices from TOML, and the options that narrow either.

A matrix is rows (a variant, with the published number of the seed it reproduces, if any) × frameworks × seeds on
one data set with one preprocessing; `harness.run.runner.matrix_cells` expands it with itertools.product. Each row
keeps its variant's own TrainSpec.epochs unless the matrix (or `--epochs`) sets one length for all.

A TOML matrix file has the same fields (see examples/matrix.toml):

    name, description, dataset, scaling, validation, frameworks, seeds (a count from 0, or a list), epochs,
    variants = [registered names],
    [[variant]] name, base (a registered or earlier variant), description, model = {...}, train = {...},
                published = {value, source, note, metric, illustrative},
    [[grid]]    base, name (prefix of the generated names), axes = {"model.activation" = [...], ...}

Every unknown key or value is an error that lists what is valid.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from harness.catalog.variants import (
    DEFAULT_VARIANTS,
    FASHION_VARIANTS,
    INIT_VARIANTS,
    LINCOLN_SEED,
    OPTIMIZER_VARIANTS,
    RASCHKA_VARIANTS,
    SAITO_VARIANTS,
    Variant,
    get_variant,
)
from harness.core.errors import FwcompareError, UnknownNameError
from harness.core.frameworks import FRAMEWORKS, framework_names
from harness.core.names import check_name, check_text
from harness.core.specs import ModelSpec, SpecError, TrainSpec, spec_from_dict, spec_to_dict
from harness.data.datasets import DATASETS
from harness.data.preprocess import SCALINGS, VALIDATION_SIZES

DEFAULT_EPOCHS = 3
"""Epochs of the default, optimizers and init matrices, chosen so that `make run` (the default matrix, 63 cells on
MNIST, 2 threads) takes about ten minutes on the shared 2-core machine fwcompare was developed on. Measured there:
444 s with one other busy process (load average ≈ 1.7; per epoch numpy 0.9–1.4 s, torch 2.7–4.1 s, Keras 1.3–1.8 s)
and 924 s while other sessions kept the load average near 4; each further epoch adds about 130 s when quiet."""

DEFAULT_SEEDS = (0, 1, 2)
PUBLISHED_METRICS = ("test_accuracy", "validation_accuracy")


class MatrixFileError(FwcompareError):
    """A TOML matrix file cannot be read or has an unknown key or value; the message lists what is valid."""


@dataclass(frozen=True)
class Published:
    """A number printed in a seed document: an accuracy in [0, 1], where it comes from, and how to read it."""

    value: float
    source: str
    note: str = ""
    metric: str = "test_accuracy"
    illustrative: bool = False
    """True when the document gives no setup that can reproduce the number: shown apart, never counted as
    reproduced or missed."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise SpecError(f"Published.value={self.value} is an accuracy fraction; write 0.9735, not 97.35")
        if self.metric not in PUBLISHED_METRICS:
            raise SpecError(f"Published.metric={self.metric!r}; choose one of: {', '.join(PUBLISHED_METRICS)}")

    def to_record(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric": self.metric,
            "source": self.source,
            "note": self.note,
            "illustrative": self.illustrative,
        }


@dataclass(frozen=True)
class Row:
    """One variant of a matrix; `note` says what the row runs where it departs from its source, or why it carries
    no published number."""

    variant: Variant
    published: Published | None = None
    note: str = ""


@dataclass(frozen=True)
class Matrix:
    """Rows × frameworks × seeds on one data set. epochs None keeps each variant's own TrainSpec.epochs."""

    name: str
    description: str
    rows: tuple[Row, ...]
    frameworks: tuple[str, ...] = tuple(FRAMEWORKS)
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    dataset: str = "mnist"
    scaling: str = "unit"
    validation: str = "none"
    epochs: int | None = None
    notes: tuple[str, ...] = ()
    source: str = "registry"
    """'registry' for a named matrix, else the TOML file it was read from."""

    def __post_init__(self) -> None:
        _require_names("framework", self.frameworks, framework_names())
        _require_names("data set", (self.dataset,), tuple(DATASETS))
        _require_names("scaling", (self.scaling,), SCALINGS)
        _require_names("validation split", (self.validation,), tuple(VALIDATION_SIZES))
        if not self.rows or not self.frameworks or not self.seeds:
            raise SpecError(f"matrix {self.name!r} needs at least one variant, one framework and one seed")
        names = [row.variant.name for row in self.rows]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SpecError(f"matrix {self.name!r} names variant(s) {repeated} more than once; give each a new name")
        if self.epochs is not None and self.epochs < 1:
            raise SpecError(f"matrix {self.name!r}: epochs={self.epochs} must be >= 1")

    @property
    def eval_split(self) -> str:
        """Which set the per-epoch val_* numbers (and early stopping) use: the held-out split, else the test set."""
        return "test" if self.validation == "none" else "validation"

    def variant_names(self) -> list[str]:
        return [row.variant.name for row in self.rows]

    def narrowed(
        self,
        *,
        frameworks: Sequence[str] | None = None,
        variants: Sequence[str] | None = None,
        seeds: int | None = None,
        epochs: int | None = None,
        dataset: str | None = None,
    ) -> Matrix:
        """This matrix with the command line's choices applied.

        variants may name any registered variant (one outside the matrix runs with the matrix's data setup);
        seeds N takes N seeds counting up from the matrix's first; another data set drops the published numbers,
        which hold only for the data set they were printed for.
        """
        matrix = self
        if frameworks is not None:
            matrix = replace(matrix, frameworks=tuple(frameworks))
        if variants is not None:
            rows = {row.variant.name: row for row in self.rows}
            matrix = replace(matrix, rows=tuple(rows.get(name) or Row(get_variant(name)) for name in variants))
        if seeds is not None:
            if seeds < 1:
                raise SpecError(f"--seeds {seeds}: give a number of seeds >= 1")
            matrix = replace(matrix, seeds=tuple(range(self.seeds[0], self.seeds[0] + seeds)))
        if epochs is not None:
            matrix = replace(matrix, epochs=epochs)
        if dataset is not None and dataset != self.dataset:
            rows = tuple(replace(row, published=None) for row in matrix.rows)
            matrix = replace(matrix, dataset=dataset, rows=rows)
        return matrix

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description for config.json and `fwcompare list --json` (rows with their specs)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "dataset": self.dataset,
            "scaling": self.scaling,
            "validation": self.validation,
            "eval_split": self.eval_split,
            "frameworks": list(self.frameworks),
            "seeds": list(self.seeds),
            "epochs": self.epochs,
            "notes": list(self.notes),
            "rows": [
                {
                    "variant": row.variant.name,
                    "description": row.variant.description,
                    "published": row.published.to_record() if row.published else None,
                    "note": row.note,
                    "model_spec": spec_to_dict(row.variant.model),
                    "train_spec": spec_to_dict(row.variant.train),
                }
                for row in self.rows
            ],
        }


def _require_names(what: str, values: Iterable[str], valid: tuple[str, ...]) -> None:
    unknown = [value for value in values if value not in valid]
    if unknown:
        raise UnknownNameError(f"unknown {what} {', '.join(map(repr, unknown))}; choose from: {', '.join(valid)}")


def _rows(variants: Iterable[Variant]) -> tuple[Row, ...]:
    return tuple(Row(variant) for variant in variants)


# --- the reproduction matrices, one per seed document (results/REPRODUCTION_AUDIT.md) ---------------------------

LINCOLN_MOMENTUM_NOTE = (
    "numpy and keras run lincoln's velocity form v = μ·v + lr·g, p −= v (the Keras form); torch runs its own "
    "buf = μ·buf + g, p −= lr·buf, which is the same only while the lr is constant"
)
LINCOLN_DECAY_NOTE = f"{LINCOLN_MOMENTUM_NOTE}: with this per-epoch decay torch trains a different trajectory"
LINCOLN_ORDER_NOTE = (
    "batch order, dropout masks and initial weights come from fwcompare's seeded streams, not lincoln's "
    "np.random.seed(20190119) sequence, so seed 20190119 here is another draw than the notebook's"
)


def _lincoln_published(value: float, note: str = "") -> Published:
    return Published(value, "seed 000", note)


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
        note="the seed prints no number for this row: 000-h with Glorot's own σ, to show what lincoln's 'glorot' "
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
        note="the seed prints no number for this network: the notebook built it but trained `model` (000-j)",
    ),
)

# TF 1.x's tf.keras.initializers.RandomNormal() was the core initialiser with stddev 1.0 (from TF 1.2, tf.keras
# imported the core initialisers; the session-mode version of the lab uses tf.random_normal_initializer(), N(0, 1)).
LECTURE_ROWS: tuple[Row, ...] = (
    Row(
        get_variant("lecture-normal-std1"),
        Published(0.8535, "seed 001", "TF 1.x RandomNormal() = N(0, 1) init, test accuracy after 1 epoch"),
    ),
    Row(
        get_variant("lecture-normal-std005"),
        note="the seed prints no number for Keras 2/3's RandomNormal() default std 0.05; its 85.35% is the TF 1.x "
        "std 1.0 row",
    ),
    Row(
        get_variant("lecture-xavier"),
        Published(0.9650, "seed 001", "glorot_uniform init, test accuracy after 1 epoch"),
    ),
    Row(get_variant("lecture-he"), note="the seed prints no number for He init"),
    Row(get_variant("lecture-he-dropout"), note="the seed prints no number for dropout"),
    Row(get_variant("lecture-he-batchnorm"), note="the seed prints no number for batch norm"),
)

RASCHKA_ROWS: tuple[Row, ...] = (
    Row(
        RASCHKA_VARIANTS[0],
        Published(
            0.9798,
            "seed 002",
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
    "the seed's numbers come from the author's own PyTorch exercise (dropout 0.5; network, learning rate and "
    "length not stated) and Saito's script prints only the training loss; this is Saito's ch. 6 "
    "optimizer_compare_mnist.py (784-100×4-10 ReLU, He normal, 2,000 batches of 128 drawn with replacement)"
)
SAITO_ILLUSTRATIVE = "illustrative: no reproducible source"
SAITO_ROWS: tuple[Row, ...] = tuple(
    Row(
        variant,
        {
            "saito-sgd": Published(
                0.91, "seed 003", f"final accuracy with SGD ('91% → 97%'); {SAITO_ILLUSTRATIVE}", illustrative=True
            ),
            "saito-adam": Published(
                0.97, "seed 003", f"final accuracy with Adam ('91% → 97%'); {SAITO_ILLUSTRATIVE}", illustrative=True
            ),
        }.get(variant.name),
        note=SAITO_NOTE
        if variant.name in ("saito-sgd", "saito-adam")
        else f"the seed prints no number for this optimiser; {SAITO_NOTE}",
    )
    for variant in SAITO_VARIANTS
)

FASHION_ROWS: tuple[Row, ...] = (
    Row(FASHION_VARIANTS[0], Published(0.8429, "seed 004", "Keras fit, 10 epochs; train accuracy 86.35%")),
)

MATRICES: dict[str, Matrix] = {
    matrix.name: matrix
    for matrix in (
        Matrix(
            "default",
            "MLP 784-256-256-10 (seed 001's), seven activation/init/regularisation variants, Adam 1e-3, batch 128, "
            "MNIST scaled to [0, 1]",
            _rows(DEFAULT_VARIANTS),
            epochs=DEFAULT_EPOCHS,
        ),
        Matrix(
            "optimizers",
            "SGD, momentum, Nesterov, AdaGrad, RMSprop and Adam on relu-he"
            " (learning rates in harness/catalog/variants.py)",
            _rows(OPTIMIZER_VARIANTS),
            epochs=DEFAULT_EPOCHS,
        ),
        Matrix(
            "init",
            "fixed-scale normal/uniform, Xavier and He initialisation × uniform/normal × ReLU/tanh/sigmoid",
            _rows(INIT_VARIANTS),
            epochs=DEFAULT_EPOCHS,
        ),
        Matrix(
            "seed-lincoln",
            "seed 000 (lincoln, Weidman): rows 000-a … 000-j, MNIST standardised with the training mean and std, "
            "batch 60, float64, early stopping on lincoln's loss every 10 epochs, no restore",
            LINCOLN_ROWS,
            seeds=(LINCOLN_SEED,),
            scaling="standardize",
            notes=(
                "000-k is not a separate result: the notebook built a 784-178-46-10 dropout network, trained "
                "`model` again and printed 000-j's numbers",
                LINCOLN_ORDER_NOTE,
            ),
        ),
        Matrix(
            "seed-lecture",
            "seed 001 (TensorFlow 1.x lecture): random-normal vs Xavier vs He init, dropout, batch norm; TF1 Adam "
            "1e-3 (epsilon 1e-8), batch 128, 468 steps (1 epoch without the last partial batch), MNIST scaled to "
            "[0, 1]",
            LECTURE_ROWS,
        ),
        Matrix(
            "seed-raschka",
            "seed 002 (Raschka's NeuralNetMLP): 784-100-10 sigmoid, L2, SGD, batch 100, 200 epochs, MNIST scaled "
            "to [-1, 1], trained on the first 55,000 images and validated on the last 5,000",
            RASCHKA_ROWS,
            seeds=(1,),
            scaling="symmetric",
            validation="last-5000",
        ),
        Matrix(
            "seed-optimizers",
            "seed 003 (Saito): SGD, Momentum, AdaGrad and Adam in the seed's own update rules on MNIST",
            SAITO_ROWS,
        ),
        Matrix(
            "seed-fashion",
            "seed 004: Fashion-MNIST softmax regression (no hidden layer), Keras Adam, batch 32, 10 epochs, /255",
            FASHION_ROWS,
            dataset="fashion-mnist",
        ),
    )
}


def get_matrix(name_or_path: str) -> Matrix:
    """A named matrix, or the matrix in a TOML file when the argument ends in .toml or names an existing file."""
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or path.is_file():
        return load_matrix_file(path)
    if name_or_path not in MATRICES:
        raise UnknownNameError(
            f"unknown matrix {name_or_path!r}; choose one of: {', '.join(MATRICES)}, or give a .toml file"
        )
    return MATRICES[name_or_path]


# --- TOML matrices -------------------------------------------------------------------------------------------------

MATRIX_KEYS = (
    "name",
    "description",
    "dataset",
    "scaling",
    "validation",
    "frameworks",
    "seeds",
    "epochs",
    "variants",
    "variant",
    "grid",
)
VARIANT_KEYS = ("name", "base", "description", "model", "train", "published")
GRID_KEYS = ("base", "name", "axes")
PUBLISHED_KEYS = ("value", "source", "note", "metric", "illustrative")
SPEC_SECTIONS = {"model": ModelSpec, "train": TrainSpec}
# A blank model spec for a [[variant]] without a base; the input and output sizes follow the data set at run time.
BLANK_MODEL = {"input_size": 784, "hidden_sizes": [], "output_size": 10}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def load_matrix_file(path: Path | str) -> Matrix:
    """Read a TOML matrix file; every problem is a MatrixFileError (or SpecError) naming the key and what is valid."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MatrixFileError(f"matrix file {path} does not exist; see examples/matrix.toml for the format") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MatrixFileError(f"{path} is not valid TOML: {error}") from error
    try:
        return matrix_from_dict(data, default_name=path.stem, source=str(path))
    except (SpecError, FwcompareError) as error:
        raise MatrixFileError(f"{path}: {error}") from error


def matrix_from_dict(data: dict[str, Any], *, default_name: str, source: str) -> Matrix:
    """A Matrix from the parsed TOML (see the module docstring for the fields)."""
    _require_keys("the matrix", data, MATRIX_KEYS)
    defined: dict[str, Row] = {}
    for name in _typed(data, "variants", list, []):
        defined[name] = Row(get_variant(str(name)))
    for table in _typed(data, "variant", list, []):
        row = _variant_row(table, defined)
        defined[row.variant.name] = row
    for table in _typed(data, "grid", list, []):
        for row in _grid_rows(table, defined):
            defined[row.variant.name] = row
    if not defined:
        raise MatrixFileError("the matrix names no variants; add `variants = [...]`, [[variant]] or [[grid]] tables")
    seeds = data.get("seeds", len(DEFAULT_SEEDS))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise MatrixFileError(f"seeds = {seeds}: give a count >= 1 or a list of seeds")
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not all(isinstance(seed, int) for seed in seeds):
        raise MatrixFileError(f"seeds = {seeds!r}: give a count (seeds = 3) or a list of integers (seeds = [0, 7])")
    epochs = data.get("epochs")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool)):
        raise MatrixFileError(f"epochs = {epochs!r}: give a whole number of epochs")
    return Matrix(
        name=check_name("matrix name", data.get("name", _SAFE_NAME.sub("_", default_name))),
        description=check_text("the matrix description", str(data.get("description", ""))),
        rows=tuple(defined.values()),
        frameworks=tuple(_typed(data, "frameworks", list, list(FRAMEWORKS))),
        seeds=tuple(seeds),
        dataset=str(data.get("dataset", "mnist")),
        scaling=str(data.get("scaling", "unit")),
        validation=str(data.get("validation", "none")),
        epochs=epochs,
        source=source,
    )


def _require_keys(where: str, table: dict[str, Any], valid: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise MatrixFileError(f"{where} has unknown key(s) {unknown}; valid keys: {', '.join(valid)}")


def _typed(table: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise MatrixFileError(f"{key} must be a {kind.__name__}, not {type(value).__name__} ({value!r})")
    return value


def _base_variant(name: str, defined: dict[str, Row]) -> Variant:
    """A variant defined earlier in the file, else a registered one."""
    return defined[name].variant if name in defined else get_variant(name)


def _variant_row(table: dict[str, Any], defined: dict[str, Row]) -> Row:
    """One [[variant]] table: a base (or a blank MLP) with model/train fields replaced, and its published number."""
    _require_keys("a [[variant]] table", table, VARIANT_KEYS)
    if "name" not in table:
        raise MatrixFileError('a [[variant]] table has no name; every variant needs `name = "..."`')
    name = check_name("variant name", table["name"])
    where = f"variant {name!r}"
    base = _base_variant(str(table["base"]), defined) if "base" in table else None
    specs = {
        "model": spec_to_dict(base.model) if base else dict(BLANK_MODEL),
        "train": spec_to_dict(base.train) if base else spec_to_dict(TrainSpec()),
    }
    for section, cls in SPEC_SECTIONS.items():
        changes = _typed(table, section, dict, {})
        specs[section] = _merged(specs[section], changes, f"{where} {section}", cls)
    default_description = f"user variant{f' based on {base.name}' if base else ''}"
    variant = Variant(
        name=name,
        description=check_text(f"{where} description", str(table.get("description", default_description))),
        model=spec_from_dict(ModelSpec, specs["model"]),
        train=spec_from_dict(TrainSpec, specs["train"]),
    )
    published = None
    if "published" in table:
        values = _typed(table, "published", dict, {})
        _require_keys(f"{where} published", values, PUBLISHED_KEYS)
        if "value" not in values:
            raise MatrixFileError(f"{where} published has no value; write published = {{ value = 0.97, ... }}")
        published = Published(
            value=float(values["value"]),
            source=check_text(f"{where} published source", str(values.get("source", "user"))),
            note=check_text(f"{where} published note", str(values.get("note", ""))),
            metric=str(values.get("metric", "test_accuracy")),
            illustrative=bool(values.get("illustrative", False)),
        )
    return Row(variant, published)


def _merged(base: dict[str, Any], changes: dict[str, Any], where: str, cls: type) -> dict[str, Any]:
    """`base` (a spec_to_dict) with `changes` applied, nested specs merged field by field.

    `batch_norm = false` removes batch norm and `batch_norm = true` adds the default one (TOML has no null).
    """
    merged = dict(base)
    valid = [f.name for f in fields(cls)]
    for key, value in changes.items():
        if key not in valid:
            raise MatrixFileError(f"{where} has unknown field {key!r}; valid fields: {', '.join(valid)}")
        if key == "batch_norm" and isinstance(value, bool):
            merged[key] = {} if value else None
        elif isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def _grid_rows(table: dict[str, Any], defined: dict[str, Row]) -> list[Row]:
    """One [[grid]] table: itertools.product over its axes, each point a variant named prefix.leaf-value...."""
    _require_keys("a [[grid]] table", table, GRID_KEYS)
    if "base" not in table:
        raise MatrixFileError('a [[grid]] table has no base; write base = "relu-he" (a registered variant)')
    base = _base_variant(str(table["base"]), defined)
    prefix = check_name("grid name", table.get("name", base.name))
    axes = _typed(table, "axes", dict, {})
    if not axes or not all(isinstance(values, list) and values for values in axes.values()):
        raise MatrixFileError(
            f"grid {prefix!r}: axes must map field paths to non-empty lists, e.g. "
            'axes = { "model.activation" = ["relu", "tanh"], "train.optimizer.lr" = [0.001, 0.01] }'
        )
    rows = []
    for point in itertools.product(*axes.values()):
        chosen = dict(zip(axes, point, strict=True))
        changes: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
        for path, value in chosen.items():
            section, *fields = path.split(".")
            if section not in SPEC_SECTIONS or not fields:
                raise MatrixFileError(
                    f"grid {prefix!r}: axis {path!r} must start with 'model.' or 'train.' and name a field, "
                    "e.g. 'model.activation' or 'train.optimizer.lr'"
                )
            _set_path(changes[section], fields, value)
        label = ".".join(f"{path.rsplit('.', 1)[-1]}-{_format_value(value)}" for path, value in chosen.items())
        variant_table = {"name": _SAFE_NAME.sub("_", f"{prefix}.{label}"), "base": base.name, **changes}
        variant_table["description"] = f"{base.description}; " + ", ".join(f"{k} = {v}" for k, v in chosen.items())
        rows.append(_variant_row(variant_table, {**defined, base.name: Row(base)}))
    return rows


def _set_path(target: dict[str, Any], fields: list[str], value: Any) -> None:
    for name in fields[:-1]:
        target = target.setdefault(name, {})
    target[fields[-1]] = value


def _format_value(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)
