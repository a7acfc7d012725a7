"""Host arrays that frameworks can read without copying them.

Libraries differ in the host memory they read in place: some share any CPU NumPy array as it is, others share one
only through DLPack and only when the buffer is aligned to their 64-byte boundary (an unaligned one aborts the
process). So the data sets and dropout masks of a run are allocated aligned, and a framework model that shares
through DLPack checks `shareable` first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

ALIGNMENT = 64
"""Bytes: TensorFlow's EIGEN_MAX_ALIGN_BYTES on CPUs with AVX-512."""


def aligned_empty(shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """An uninitialised C-contiguous array whose first byte is on an ALIGNMENT boundary."""
    item = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * item.itemsize
    buffer = np.empty(size + ALIGNMENT, dtype=np.uint8)
    offset = -buffer.ctypes.data % ALIGNMENT
    return buffer[offset : offset + size].view(item).reshape(shape)


def shareable(array: np.ndarray) -> bool:
    """True when TensorFlow can read `array` in place: C-contiguous, ALIGNMENT-aligned and exportable through
    DLPack (writeable)."""
    return array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGNMENT == 0
