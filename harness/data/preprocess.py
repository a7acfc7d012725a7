"""Turn a Dataset's uint8 images into the float arrays every framework in a cell trains on, by name.

Scalings (v is a pixel value 0..max_value):
  unit:        v / max_value                                  -> [0, 1]
  symmetric:   (v / max_value - 0.5) * 2                      -> [-1, 1]      (Raschka's ((x / 255.) - .5) * 2)
  standardize: (v - mean) / std, mean and std the scalar mean and population std over every pixel of the
               training images (after the validation images are taken out), applied unchanged to validation and
               test, as lincoln does with np.mean(X_train) and np.std(X_train).
Each value is computed in float64 once per possible pixel value and cast to the requested dtype, so the arrays are
the same on every machine and for every framework.

Validation splits: none; last-5000 and last-10000 hold out the last N training images (Raschka trains on the
first 55,000 MNIST images and validates on the last 5,000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.core.errors import DataError, UnknownNameError
from harness.core.memory import aligned_empty
from harness.core.specs import DTYPES
from harness.data.registry import Dataset

SCALINGS = ("unit", "symmetric", "standardize")
VALIDATION_SIZES = {"none": 0, "last-5000": 5000, "last-10000": 10000}


@dataclass(frozen=True, eq=False)
class SplitArrays:
    """Flattened float images (n, h·w) and int64 labels (n,); x_val and y_val are None for validation 'none'."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the split `name`: 'validation' (which must have been held out) or 'test'."""
        if name == "test":
            return self.x_test, self.y_test
        if name != "validation" or self.x_val is None or self.y_val is None:
            held = "test and validation" if self.x_val is not None else "test only"
            raise DataError(f"no {name!r} split in these arrays (they hold {held})")
        return self.x_val, self.y_val


def evaluated_split(validation: str) -> str:
    """The split the per-epoch evaluation (and early stopping) measures for a validation choice: the held-out
    images, else the test set (one of harness.core.record.EVAL_SPLITS)."""
    return "test" if VALIDATION_SIZES[validation] == 0 else "validation"


SCALING_CHUNK_ROWS = 4096


def prepare_arrays(
    dataset: Dataset, scaling: str = "unit", validation: str = "none", dtype: str = "float32"
) -> SplitArrays:
    """Split off the validation images, then scale train, validation and test with the same per-value table."""
    _require_name("scaling", scaling, SCALINGS)
    _require_name("validation", validation, tuple(VALIDATION_SIZES))
    _require_name("dtype", dtype, DTYPES)
    n_val = VALIDATION_SIZES[validation]
    n_train = len(dataset.x_train)
    if n_val >= n_train:
        raise DataError(
            f"validation {validation!r} holds out {n_val} images but {dataset.name} has only {n_train} training "
            "images; choose validation 'none' or a smaller split"
        )
    keep = n_train - n_val
    table = _value_table(dataset.x_train[:keep], dataset.max_value, scaling, np.dtype(dtype))

    def scaled(images: np.ndarray) -> np.ndarray:
        # Aligned, so Keras reads the arrays in place rather than holding a copy (harness.core.memory).
        flat = images.reshape(len(images), -1)
        out = aligned_empty(flat.shape, table.dtype)
        # np.take converts its indices to 8-byte integers first: by chunks of rows, that copy stays small.
        for start in range(0, len(flat), SCALING_CHUNK_ROWS):
            rows = slice(start, start + SCALING_CHUNK_ROWS)
            np.take(table, flat[rows], out=out[rows], mode="clip")  # uint8 indices are in range; "raise" buffers
        return out

    return SplitArrays(
        x_train=scaled(dataset.x_train[:keep]),
        y_train=np.asarray(dataset.y_train[:keep], dtype=np.int64),
        x_val=scaled(dataset.x_train[keep:]) if n_val else None,
        y_val=np.asarray(dataset.y_train[keep:], dtype=np.int64) if n_val else None,
        x_test=scaled(dataset.x_test),
        y_test=np.asarray(dataset.y_test, dtype=np.int64),
    )


def _require_name(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownNameError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")


def _value_table(train_images: np.ndarray, max_value: int, scaling: str, dtype: np.dtype) -> np.ndarray:
    """(256,) the scaled value of every uint8 pixel value, computed in float64 and cast to `dtype` once."""
    values = np.arange(256, dtype=np.float64)
    if scaling == "unit":
        return (values / max_value).astype(dtype)
    if scaling == "symmetric":
        return ((values / max_value - 0.5) * 2).astype(dtype)
    counts = np.bincount(train_images.ravel(), minlength=256).astype(np.float64)
    total = counts.sum()
    mean = float(counts @ values) / total
    std = float(np.sqrt(counts @ (values - mean) ** 2 / total))
    if std == 0:
        raise DataError("cannot standardize: every training pixel has the same value (standard deviation 0)")
    return ((values - mean) / std).astype(dtype)
