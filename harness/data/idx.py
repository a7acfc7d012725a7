"""IDX files, the format MNIST and Fashion-MNIST ship in: read (gzip or raw), validate, and encode.

Layout: two zero bytes, a dtype code, the number of dimensions d, then d big-endian uint32 sizes, then the
payload in C order, big-endian. Every check names the file, so a corrupt download or a truncated copy is
reported as exactly that file.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from harness.core.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian NumPy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxContent(NamedTuple):
    """A decoded IDX file: the array (read-only, native byte order) and the md5 of the uncompressed bytes."""

    array: np.ndarray
    md5: str


def read_idx(path: Path) -> IdxContent:
    """Read and validate one IDX file, gzip-compressed or raw (told apart by the gzip magic bytes)."""
    try:
        stored = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from error
    payload = decompress_if_gzip(stored, path)
    return IdxContent(parse_idx(payload, path), hashlib.md5(payload).hexdigest())


def decompress_if_gzip(stored: bytes, path: Path | str) -> bytes:
    """The uncompressed bytes of a file's content; a truncated or damaged gzip stream raises DataError."""
    if not stored.startswith(GZIP_MAGIC):
        return stored
    try:
        return gzip.decompress(stored)
    except (EOFError, OSError, zlib.error) as error:
        raise DataError(f"{path}: truncated or corrupt gzip data ({error})") from error


def parse_idx(payload: bytes, path: Path | str) -> np.ndarray:
    """Decode uncompressed IDX bytes into an array of the header's shape; the header must match the payload."""
    if len(payload) < 4:
        raise DataError(f"{path}: not an IDX file ({len(payload)} bytes, shorter than the 4-byte magic number)")
    zero_bytes, code, ndim = payload[:2], payload[2], payload[3]
    if zero_bytes != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file (magic number 0x{payload[:4].hex()}; expected 0x0000 followed by a dtype code "
            f"in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and a dimension count of at least 1)"
        )
    header_size = 4 + 4 * ndim
    if len(payload) < header_size:
        raise DataError(f"{path}: IDX header declares {ndim} dimensions but the file ends at byte {len(payload)}")
    shape = struct.unpack(f">{ndim}I", payload[4:header_size])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(payload) - header_size
    if actual != expected:
        raise DataError(
            f"{path}: IDX header says shape {shape} of {dtype.name} ({expected} payload bytes) "
            f"but the file holds {actual} payload bytes"
        )
    array = np.frombuffer(payload, dtype=dtype, offset=header_size).reshape(shape)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of an array whose dtype has an IDX code (e.g. uint8 images or labels)."""
    by_kind = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in by_kind:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {[d.name for d in IDX_DTYPES.values()]}")
    code = by_kind[native]
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()


def check_image_label_pair(
    images: np.ndarray, labels: np.ndarray, num_classes: int, images_path: Path | str, labels_path: Path | str
) -> None:
    """Images must be (n, h, w) uint8 and labels (n,) uint8 in [0, num_classes), with the same n."""
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(f"{images_path}: expected uint8 images of shape (n, h, w), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected uint8 labels of shape (n,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "the two files must come from the same split of the same data set"
        )
    if len(labels) and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(f"{labels_path}: label {int(labels[bad])} at index {bad} is outside 0..{num_classes - 1}")
