"""The IDX reader and writer: valid files of several types, and every kind of damage."""

import gzip
import os

import numpy as np
import pytest

from nnscratch import files
from nnscratch.data import read_idx, write_idx


def _header(code: int, shape) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


def test_reads_a_hand_built_uint8_file(tmp_path):
    path = tmp_path / "images-idx3-ubyte"
    payload = bytes(range(24))
    path.write_bytes(_header(0x08, (2, 3, 4)) + payload)
    array = read_idx(path)
    assert array.dtype == np.uint8 and array.shape == (2, 3, 4)
    np.testing.assert_array_equal(array.ravel(), np.arange(24))
    array[0, 0, 0] = 99  # a writable copy, not a view of the file's bytes


def test_reads_big_endian_int32_and_gzip(tmp_path):
    path = tmp_path / "values-idx1-int.gz"
    values = [1, -2, 70000]
    raw = _header(0x0C, (3,)) + b"".join(v.to_bytes(4, "big", signed=True) for v in values)
    path.write_bytes(gzip.compress(raw))
    array = read_idx(path)
    assert array.dtype == np.int32 and array.dtype.isnative
    assert array.tolist() == values


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["data.idx", "data.idx.gz"])
def test_write_then_read_round_trips(tmp_path, dtype, name):
    array = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)


def test_write_produces_the_standard_header(tmp_path):
    write_idx(tmp_path / "labels", np.array([3, 1, 4], dtype=np.uint8))
    assert (tmp_path / "labels").read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x03\x01\x04"


def test_truncated_payload_names_file_and_sizes(tmp_path):
    path = tmp_path / "short-idx2-ubyte"
    path.write_bytes(_header(0x08, (3, 4)) + bytes(11))
    with pytest.raises(ValueError, match=r"short-idx2-ubyte.*truncated.*expected 12 .*found 11"):
        read_idx(path)


def test_truncated_payload_of_a_wider_type(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(_header(0x0D, (5,)) + bytes(19))
    with pytest.raises(ValueError, match=r"expected 20 payload bytes .*float32, found 19"):
        read_idx(path)


def test_too_long_file(tmp_path):
    path = tmp_path / "long.gz"
    path.write_bytes(gzip.compress(_header(0x08, (2, 2)) + bytes(5)))
    with pytest.raises(ValueError, match=r"long\.gz.*too long.*expected 4 .*found 5"):
        read_idx(path)


@pytest.mark.parametrize(
    "head, found",
    [
        (b"\x01\x00\x08\x01", "01 00 08 01"),  # first byte not zero
        (b"\x00\x00\x07\x01", "00 00 07 01"),  # unknown type code
        (b"\x1f\x00\x08\x01", "1f 00 08 01"),
    ],
)
def test_wrong_magic(tmp_path, head, found):
    path = tmp_path / "bad-magic"
    path.write_bytes(head + (1).to_bytes(4, "big") + b"\x05")
    with pytest.raises(ValueError, match=rf"bad-magic: not an IDX file: expected .* found {found}"):
        read_idx(path)


def test_truncated_header_and_tiny_files(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(b"\x00\x00\x08\x03" + bytes(6))
    with pytest.raises(ValueError, match=r"truncated IDX header: expected 16 bytes .*found 10"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="magic number, found only 2 bytes"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x00")
    with pytest.raises(ValueError, match="0 dimensions"):
        read_idx(path)


def test_truncated_gzip_stream_is_a_clear_value_error(tmp_path):
    path = tmp_path / "cut.gz"
    compressed = gzip.compress(_header(0x08, (100,)) + bytes(range(100)))
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: truncated or corrupt gzip stream"):
        read_idx(path)
    path.write_bytes(compressed[:-3])  # only the trailer's size field cut off
    with pytest.raises(ValueError, match="gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


def test_write_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(ValueError, match="cannot store dtype int64"):
        write_idx(tmp_path / "x", np.arange(3))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.uint8(3))
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "data.idx"
    write_idx(target, np.arange(4, dtype=np.uint8))
    before = target.read_bytes()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_idx(target, np.arange(8, dtype=np.uint8))
    assert target.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["data.idx"]  # and no temporary file is left
