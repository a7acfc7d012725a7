"""`digits`: scikit-learn's bundled 8×8 handwritten digits. No download; its arrays are md5-checked like files."""

from __future__ import annotations

import hashlib

import numpy as np

from harness.core.errors import DataError
from harness.data.registry import DIGITS_IMAGES, DIGITS_LABELS, Dataset, DatasetInfo
from harness.data.sources import Report, Sources


def load_digits_dataset(info: DatasetInfo, sources: Sources, say: Report) -> Dataset:
    """scikit-learn's bundled digits, md5-checked, the first n_train images for training and the rest for test."""
    # Imported here: scikit-learn takes seconds to import and only digits needs it.
    import sklearn
    from sklearn.datasets import load_digits

    if sources.data_dir is not None:
        say(f"{info.name}: bundled with scikit-learn; the data dir {sources.data_dir} is not used")
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)
    labels = bunch.target.astype(np.uint8)
    where = f"scikit-learn {sklearn.__version__} load_digits()"
    if not np.array_equal(images, bunch.images):
        raise DataError(f"{where}: images are not integers 0..{info.max_value}; this scikit-learn ships other data")
    for key, array in ((DIGITS_IMAGES, images), (DIGITS_LABELS, labels)):
        md5 = hashlib.md5(array.tobytes()).hexdigest()
        if md5 != info.checksums[key]:
            raise DataError(
                f"{where}: md5 of {key} is {md5}, not the pinned {info.checksums[key]}; "
                "this scikit-learn ships other data"
            )
    images.setflags(write=False)
    split = info.n_train
    say(f"{info.name}: loaded from {where} (first {split} train, last {info.n_test} test)")
    return Dataset(
        name=info.name,
        x_train=images[:split],
        y_train=labels[:split].astype(np.int64),
        x_test=images[split:],
        y_test=labels[split:].astype(np.int64),
        class_names=info.class_names,
        source=f"{where}, bundled (first {split} images train, last {info.n_test} test)",
        max_value=info.max_value,
    )
