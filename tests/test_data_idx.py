"""IDX reading and validation: round trips, and one clear error naming the file for each kind of damage."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from harness.core.errors import DataError
from harness.data.idx import check_image_label_pair, encode_idx, parse_idx, read_idx


@pytest.mark.parametrize("dtype", ["uint8", "int8", ">i2", "<i4", "float32", "float64"])
def test_encode_then_read_round_trips_raw_and_gzip(tmp_path, dtype):
    signed = np.dtype(dtype).kind != "u"
    array = (np.arange(30) - (7 if signed else 0)).astype(dtype).reshape(2, 3, 5)
    payload = encode_idx(array)
    (tmp_path / "raw").write_bytes(payload)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(payload))

    raw, packed = read_idx(tmp_path / "raw"), read_idx(tmp_path / "packed.gz")

    for content in (raw, packed):
        assert content.array.shape == (2, 3, 5)
        np.testing.assert_array_equal(content.array, array)
        assert content.array.dtype.isnative
    assert raw.md5 == packed.md5  # md5 of the uncompressed bytes, whatever the compression


def test_header_is_big_endian_magic_then_sizes():
    payload = encode_idx(np.zeros((3, 2, 2), dtype=np.uint8))
    assert payload[:16] == struct.pack(">BBBBIII", 0, 0, 0x08, 3, 3, 2, 2)
    assert len(payload) == 16 + 12


def test_wrong_magic_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x01\x02" + encode_idx(np.zeros((2, 2, 2), dtype=np.uint8))[2:])
    with pytest.raises(DataError, match=re.escape(str(path)) + r": not an IDX file \(magic number 0x0102"):
        read_idx(path)


def test_unknown_dtype_code_is_rejected():
    payload = bytearray(encode_idx(np.zeros(4, dtype=np.uint8)))
    payload[2] = 0x07
    with pytest.raises(DataError, match=r"f: not an IDX file \(magic number 0x00000701"):
        parse_idx(bytes(payload), "f")


@pytest.mark.parametrize("change", [-1, +1, -16])
def test_header_counts_must_match_the_payload(change):
    payload = encode_idx(np.ones((4, 2, 2), dtype=np.uint8))
    damaged = payload[:change] if change < 0 else payload + b"\x00" * change
    with pytest.raises(DataError, match=r"x\.idx: IDX header says shape \(4, 2, 2\) of uint8 \(16 payload bytes\)"):
        parse_idx(damaged, "x.idx")


def test_file_shorter_than_its_header_is_rejected():
    with pytest.raises(DataError, match="declares 3 dimensions but the file ends at byte 8"):
        parse_idx(struct.pack(">BBBBI", 0, 0, 8, 3, 60000), "f")
    with pytest.raises(DataError, match="shorter than the 4-byte magic number"):
        parse_idx(b"\x00\x00", "f")


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    whole = gzip.compress(encode_idx(np.arange(200, dtype=np.uint8) % 10))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=re.escape(str(path)) + ": truncated or corrupt gzip data"):
        read_idx(path)


def test_corrupt_gzip_crc_is_reported(tmp_path):
    path = tmp_path / "labels.gz"
    whole = bytearray(gzip.compress(encode_idx(np.arange(200, dtype=np.uint8) % 10)))
    whole[-6] ^= 0xFF  # inside the CRC-32 trailer
    path.write_bytes(bytes(whole))
    with pytest.raises(DataError, match=r"labels\.gz: truncated or corrupt gzip data"):
        read_idx(path)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nothing\.gz: cannot be read"):
        read_idx(tmp_path / "nothing.gz")


def test_image_label_pair_checks():
    images = np.zeros((3, 2, 2), dtype=np.uint8)
    check_image_label_pair(images, np.array([0, 9, 4], dtype=np.uint8), 10, "imgs", "labs")

    with pytest.raises(DataError, match="imgs holds 3 images but labs holds 2 labels"):
        check_image_label_pair(images, np.array([0, 1], dtype=np.uint8), 10, "imgs", "labs")
    with pytest.raises(DataError, match=r"labs: label 10 at index 2 is outside 0\.\.9"):
        check_image_label_pair(images, np.array([0, 1, 10], dtype=np.uint8), 10, "imgs", "labs")
    with pytest.raises(DataError, match=r"imgs: expected uint8 images of shape \(n, h, w\), got uint8 \(3, 4\)"):
        check_image_label_pair(images.reshape(3, 4), np.array([0, 1, 2], dtype=np.uint8), 10, "imgs", "labs")
    with pytest.raises(DataError, match=r"labs: expected uint8 labels of shape \(n,\), got int32"):
        check_image_label_pair(images, np.array([0, 1, 2], dtype=np.int32), 10, "imgs", "labs")


def test_encode_refuses_a_dtype_idx_cannot_hold():
    with pytest.raises(ValueError, match="IDX cannot store dtype int64"):
        encode_idx(np.zeros(3, dtype=np.int64))
