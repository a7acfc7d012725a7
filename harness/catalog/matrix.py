"""What a comparison matrix is: rows (a variant, with the number its source document published, if any) ×
frameworks × seeds on one data set with one preprocessing. `harness.run.runner.matrix_cells` expands it with
itertools.product. Each row keeps its variant's own TrainSpec.epochs unless the matrix (or `--epochs`) sets one
length for all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.catalog.variants import Variant, get_variant
from harness.core.errors import SpecError, UnknownNameError
from harness.core.frameworks import default_framework_names, framework_names
from harness.core.interface import MODES
from harness.core.record import Published
from harness.core.specs import spec_to_dict
from harness.data.preprocess import SCALINGS, VALIDATION_SIZES, evaluated_split
from harness.data.registry import DATASETS

DEFAULT_SEEDS = (0, 1, 2)


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
    frameworks: tuple[str, ...] = field(default_factory=default_framework_names)
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    dataset: str = "mnist"
    scaling: str = "unit"
    validation: str = "none"
    epochs: int | None = None
    notes: tuple[str, ...] = ()
    source: str = "registry"
    """'registry' for a named matrix, else the TOML file it was read from."""
    target_accuracy: float | None = None
    """Every cell records the wall time until its evaluation accuracy first reaches this fraction (time to
    accuracy); None records none. It holds for the matrix's data set only."""
    mode: str = "exact"
    """The execution mode every cell trains in (harness.core.interface.MODES)."""

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
        _require_names("execution mode", (self.mode,), MODES)
        if self.target_accuracy is not None and not 0.0 < self.target_accuracy <= 1.0:
            raise SpecError(
                f"matrix {self.name!r}: target_accuracy={self.target_accuracy} is an accuracy fraction in (0, 1]; "
                "write 0.97, not 97"
            )

    @property
    def eval_split(self) -> str:
        """Which set the per-epoch val_* numbers (and early stopping) use: the held-out split, else the test set."""
        return evaluated_split(self.validation)

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
        target_accuracy: float | None = None,
        mode: str | None = None,
    ) -> Matrix:
        """This matrix with the command line's choices applied.

        variants may name any registered variant (one outside the matrix runs with the matrix's data setup);
        seeds N takes N seeds counting up from the matrix's first; another data set drops the published numbers
        and the target accuracy, which hold only for the data set they were set for (unless target_accuracy is
        given too).
        """
        matrix = self
        if frameworks is not None:
            matrix = replace(matrix, frameworks=tuple(frameworks))
        if variants is not None:
            by_name = {row.variant.name: row for row in self.rows}
            matrix = replace(matrix, rows=tuple(by_name.get(name) or Row(get_variant(name)) for name in variants))
        if seeds is not None:
            if seeds < 1:
                raise SpecError(f"--seeds {seeds}: give a number of seeds >= 1")
            matrix = replace(matrix, seeds=tuple(range(self.seeds[0], self.seeds[0] + seeds)))
        if epochs is not None:
            matrix = replace(matrix, epochs=epochs)
        if dataset is not None and dataset != self.dataset:
            rows = tuple(replace(row, published=None) for row in matrix.rows)
            matrix = replace(matrix, dataset=dataset, rows=rows, target_accuracy=None)
        if target_accuracy is not None:
            matrix = replace(matrix, target_accuracy=target_accuracy)
        if mode is not None:
            matrix = replace(matrix, mode=mode)
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
            "target_accuracy": self.target_accuracy,
            "mode": self.mode,
            "notes": list(self.notes),
            "rows": [
                {
                    "variant": row.variant.name,
                    "description": row.variant.description,
                    "published": row.published.to_json() if row.published else None,
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


def rows_of(variants: Iterable[Variant]) -> tuple[Row, ...]:
    """One row per variant, none with a published number."""
    return tuple(Row(variant) for variant in variants)
