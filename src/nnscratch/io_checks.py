"""The checks behind `ns.load`: read an nnscratch .npz without trusting a byte of it.

NumPy's `np.load` is not used: it unpickles on request, lets zipfile's raw exceptions
escape, allocates whatever a member's header declares and, for a file that is not an
archive, suggests loading it "unsafely". Instead the archive is opened with `zipfile`,
each referenced member's .npy header is parsed here (a literal dict, never code) and
checked against what the JSON header declares, the total size is bounded before anything
is allocated, and only then are the bytes copied into fresh arrays. Every problem comes
out as one `CheckpointError` whose message names the file and what is wrong with it.
"""

from __future__ import annotations

import ast
import re
import struct
import zipfile
import zlib

import numpy as np

# The most memory one load may allocate for arrays, summed over the file's arrays. A file
# declaring more is refused before anything is allocated: a damaged or hostile header
# must not be able to exhaust memory. 16 GiB is far above any checkpoint this framework
# trains; raise it here (nnscratch.io_checks.MAX_LOAD_BYTES) for a bigger one.
MAX_LOAD_BYTES = 16 * 2**30
# The JSON header holds names, numbers and lists (optimizer hyperparameters, histories);
# 64 MiB is generous and bounds the one member read before anything is checked.
MAX_HEADER_BYTES = 64 * 2**20
# Nesting of the saved structure (dicts and lists in dicts ...). A checkpoint nests about
# five levels; the bound keeps every recursive walk of a file far from Python's stack limit.
MAX_DEPTH = 100

WHAT_IT_SHOULD_BE = "not an nnscratch .npz file (a zip archive of .npy arrays with a JSON header)"
_NPY_MAGIC = b"\x93NUMPY"
# A .npy header is a short dict literal; NumPy itself refuses ones above 10,000 bytes.
_MAX_NPY_HEADER = 10_000
# The only dtypes `ns.save` writes: bool, integers, floats and complex, in one byte order
# ("|b1", "<f4", ">i8", "<c16"). Matching the descr textually means no other dtype string
# (object "|O", structured, subarray) is ever handed to np.dtype.
_PLAIN_DESCR = re.compile(r"[<>|][biufc][0-9]{1,2}")
# Deflate cannot expand data by more than about 1032:1, so a compressed member declaring
# more than this many bytes per stored byte is lying about its size.
_DEFLATE_MAX_RATIO = 1100
_CHUNK = 16 * 2**20  # bytes copied per read: bounds the temporary beside each array

# Everything zipfile, zlib, struct and the parsing below raise for a damaged file (the
# fuzz test, tests/test_io_fuzz.py, reaches most of them). Broad on purpose: a damaged
# file must never surface as a raw zipfile error; the unit tests pin each named refusal.
DAMAGE = (zipfile.BadZipFile, zlib.error, struct.error, EOFError, OSError, ValueError,
           TypeError, KeyError, IndexError, OverflowError, NotImplementedError, RuntimeError,
           MemoryError, SyntaxError)


class CheckpointError(ValueError):
    """A file given to `ns.load` is damaged or is not an nnscratch checkpoint."""


def fail(path, problem: str) -> CheckpointError:
    """The error for `path`, worded "load: <path> <problem>"."""
    return CheckpointError(f"load: {path} {problem}")


def explain(error: BaseException) -> str:
    """A low-level error as "zipfile.BadZipFile: Bad CRC-32 for file 'a0.npy'"."""
    kind = type(error)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"{name}: {error}" if str(error) else name


def describe(start: bytes) -> str:
    """What a file that does not start like a zip archive looks like instead."""
    if not start:
        return "it is empty"
    if start.startswith(b"\x1f\x8b"):
        return "it is a gzip file"
    if start.startswith(_NPY_MAGIC):
        return "it is a single .npy array"
    if start.startswith(b"\x80") or start.startswith(b"(dp0") or start.startswith(b"(lp0"):
        return "it looks like a pickle, which nnscratch never loads"
    if start.startswith(b"\x89HDF"):
        return "it is an HDF5 file"
    try:
        text = start.decode("utf-8")
    except UnicodeDecodeError:
        # Cut off mid-character at the end of the sniffed bytes still counts as text.
        text = start[:-4].decode("utf-8", errors="replace")
        if "\ufffd" in text:
            return "its first bytes are neither a zip archive nor text"
    if all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "it is text"
    return "its first bytes are neither a zip archive nor text"


def members(path, archive: zipfile.ZipFile) -> dict:
    """name -> ZipInfo, refusing archives whose names are ambiguous: the same name twice,
    or "a0" beside "a0.npy" (NumPy maps both to the key "a0", so which one is read would
    depend on the order in the file)."""
    by_name: dict = {}
    by_key: dict = {}
    for info in archive.infolist():
        if info.filename in by_name:
            raise fail(path, f"is damaged: it holds the member {info.filename!r} twice")
        key = info.filename.removesuffix(".npy")
        if key in by_key:
            raise fail(path, f"is damaged: it holds both {by_key[key]!r} and "
                             f"{info.filename!r}, which name the same array")
        by_name[info.filename] = info
        by_key[key] = info.filename
    return by_name


def _check_member(path, info: zipfile.ZipInfo, file_length: int) -> None:
    """Refuse a member that is encrypted, uses a compression NumPy never writes, or
    declares sizes the file cannot hold, before any of it is read."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise fail(path, f"is damaged: member {name!r} is marked encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise fail(path, f"is damaged: member {name!r} uses compression method "
                         f"{info.compress_type}; nnscratch files are stored or deflated")
    if info.header_offset + info.compress_size > file_length:
        raise fail(path, f"is damaged: member {name!r} declares {info.compress_size} bytes "
                         f"at offset {info.header_offset}, beyond the file's {file_length}")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise fail(path, f"is damaged: stored member {name!r} declares {info.file_size} "
                         f"bytes but holds {info.compress_size}")
    if info.file_size > _DEFLATE_MAX_RATIO * info.compress_size + 1024:
        raise fail(path, f"is damaged: member {name!r} declares {info.file_size} bytes, "
                         f"more than its {info.compress_size} compressed bytes can hold")


def _read_exactly(stream, count: int, what: str, path) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise fail(path, f"is damaged: {what} is cut short")
    return data


def npy_header(path, name: str, stream) -> tuple:
    """Parse the .npy header at the start of `stream`: (dtype, shape, fortran_order,
    header length). Only plain numeric dtypes pass; the dict is read as a literal."""
    what = f"member {name!r}"
    magic = _read_exactly(stream, 8, what, path)
    if magic[:6] != _NPY_MAGIC or magic[6] not in (1, 2, 3):
        raise fail(path, f"is damaged: {what} is not a .npy array")
    size_bytes = 2 if magic[6] == 1 else 4
    (length,) = struct.unpack("<H" if size_bytes == 2 else "<I",
                              _read_exactly(stream, size_bytes, what, path))
    if length > _MAX_NPY_HEADER:
        raise fail(path, f"is damaged: {what} has a {length}-byte array header")
    text = _read_exactly(stream, length, what, path).decode("utf-8" if magic[6] == 3 else "latin1")
    try:
        fields = ast.literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise fail(path, f"is damaged: {what} has an unreadable array header") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise fail(path, f"is damaged: {what} has an unreadable array header")
    descr, fortran, shape = fields["descr"], fields["fortran_order"], fields["shape"]
    if not isinstance(descr, str) or not _PLAIN_DESCR.fullmatch(descr):
        raise fail(path, f"holds a {descr!r} array in {name!r}; only bool and numeric "
                         "arrays are loaded (never objects or pickles)")
    dtype = np.dtype(descr)  # e.g. "<f99" matches the pattern yet is no dtype: TypeError
    if dtype.kind not in "biufc":
        raise fail(path, f"holds a {descr!r} array in {name!r}; only bool and numeric "
                         "arrays are loaded")
    if (not isinstance(fortran, bool) or not isinstance(shape, tuple)
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise fail(path, f"is damaged: {what} has an invalid shape or order")
    return dtype, shape, fortran, 8 + size_bytes + length


def read_arrays(path, archive, infos: dict, names: list, declared: dict, file_length: int,
                limit_what: str = "arrays") -> dict:
    """name -> array for each of `names` (nothing else in the archive is read).
    `declared` maps a name to the (dtype str, shape, fortran_order) the JSON header
    promised, when it did; the .npy header must agree. The sizes are summed and checked
    against MAX_LOAD_BYTES before the first array is allocated."""
    layouts = {}
    total = 0
    for name in names:
        if name not in infos:
            raise fail(path, f"is damaged: its header refers to {name!r}, which it lacks")
        info = infos[name]
        _check_member(path, info, file_length)
        with archive.open(info) as stream:
            dtype, shape, fortran, offset = npy_header(path, name, stream)
        if name in declared and declared[name] != (dtype.str, list(shape), fortran):
            want_dtype, want_shape, want_fortran = declared[name]
            raise fail(path, f"is damaged: member {name!r} holds a {dtype.str} array of shape "
                             f"{tuple(shape)} (fortran_order={fortran}); the header declares "
                             f"{want_dtype} {tuple(want_shape)} (fortran_order={want_fortran})")
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        if offset + nbytes != info.file_size:
            raise fail(path, f"is damaged: member {name!r} declares a {tuple(shape)} "
                             f"{dtype.str} array ({nbytes} bytes) but holds "
                             f"{info.file_size - offset} bytes of data")
        total += nbytes
        layouts[name] = (dtype, shape, fortran, offset, nbytes)
    if total > MAX_LOAD_BYTES:
        raise fail(path, f"declares {total} bytes of {limit_what}, more than the "
                         f"{MAX_LOAD_BYTES}-byte limit (nnscratch.io_checks.MAX_LOAD_BYTES)")
    arrays = {}
    for name, (dtype, shape, fortran, offset, nbytes) in layouts.items():
        with archive.open(infos[name]) as stream:
            _read_exactly(stream, offset, f"member {name!r}", path)
            flat = np.empty(nbytes // dtype.itemsize if dtype.itemsize else 0, dtype)
            raw = flat.view(np.uint8)
            done = 0
            while done < nbytes:
                chunk = _read_exactly(stream, min(_CHUNK, nbytes - done), f"member {name!r}", path)
                raw[done:done + len(chunk)] = np.frombuffer(chunk, np.uint8)
                done += len(chunk)
            # Reading past the end makes zipfile compare the member's CRC-32.
            if stream.read(1):
                raise fail(path, f"is damaged: member {name!r} has bytes after its array")
        arrays[name] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays
