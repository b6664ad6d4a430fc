"""The IDX file format of MNIST and Fashion-MNIST: read and write, gzip-compressed or raw.

Layout (all integers big-endian):

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64
    byte  3     number of dimensions, ndim >= 1
    then        ndim sizes, 4 bytes each
    then        prod(sizes) values of the type, C order, nothing after them

The reader trusts nothing: a wrong magic number, a header cut short, a payload shorter
or longer than the sizes promise, or a damaged gzip stream each raise a `ValueError`
that names the file and what was expected against what was found.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ..files import atomic_open

# type code -> big-endian dtype of the values on disk
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _type_list() -> str:
    names = (f"0x{code:02X} ({dt.newbyteorder('=').name})" for code, dt in IDX_TYPES.items())
    return ", ".join(names)


def read_idx_bytes(path) -> bytes:
    """The IDX bytes of the file at `path`, gunzipped when the file is gzip-compressed.

    Compression is recognised by the content (gzip's magic 1f 8b), not by the name; a
    truncated or corrupt gzip stream raises ValueError naming the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    return decompress_if_gzip(raw, str(path))


def decompress_if_gzip(raw: bytes, source: str = "<bytes>") -> bytes:
    """`raw` gunzipped if it is a gzip stream, else `raw` unchanged; `source` names it in errors."""
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(
            f"{source}: truncated or corrupt gzip stream ({exc}); expected a complete "
            f"gzip-compressed IDX file ({len(raw)} compressed bytes found)"
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """The array stored in the IDX bytes `data` (native byte order, a fresh writable copy).

    source: how to name the data in error messages (usually the file path).
    """
    if len(data) < 4:
        raise ValueError(
            f"{source}: not an IDX file: expected a 4-byte magic number, found only "
            f"{len(data)} bytes"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0 or code not in IDX_TYPES:
        raise ValueError(
            f"{source}: not an IDX file: expected magic bytes 00 00 <type> <ndim> with type "
            f"one of {_type_list()}, found {data[:4].hex(' ')}"
        )
    if ndim == 0:
        raise ValueError(f"{source}: IDX header declares 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{source}: truncated IDX header: expected {header} bytes for {ndim} dimensions, "
            f"found {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "too long"
        raise ValueError(
            f"{source}: IDX file {what}: expected {expected} payload bytes for shape {shape} "
            f"of {dtype.newbyteorder('=').name}, found {found}"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header)
    return values.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_idx(path) -> np.ndarray:
    """The array stored in the IDX file at `path` (.gz or raw); see the module docstring.

    Raises FileNotFoundError for a missing file and ValueError for a malformed one.
    """
    return parse_idx(read_idx_bytes(path), str(path))


def idx_bytes(array) -> bytes:
    """The IDX encoding of `array` (uint8, int8, int16, int32, float32 or float64, ndim >= 1)."""
    if not isinstance(array, np.ndarray) and hasattr(array, "numpy"):  # an ns.Tensor
        array = array.numpy()
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}: expected one of {_type_list()}"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got an array of shape {array.shape}")
    if any(n >= 2**32 for n in array.shape):
        raise ValueError(f"IDX sizes must fit in 32 bits, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path, array) -> Path:
    """Write `array` as an IDX file at `path`, gzip-compressed when the name ends in .gz.

    The write is atomic: a temporary file beside the target is renamed into place, so a
    crash never leaves half a file. Returns the path.
    """
    path = Path(path)
    data = idx_bytes(array)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_write_bytes(path, data)
    return path


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temporary file renamed into place)."""
    with atomic_open(path) as handle:
        handle.write(data)
