"""Save and load state dicts and checkpoints: .npz of plain arrays plus a JSON header.

Loading never unpickles: a file can only ever produce arrays, numbers, strings, lists and
dicts, and every damaged or foreign file raises one `CheckpointError` (a ValueError) whose
message names the file and what is wrong with it (the checks live in io_checks.py).
Saving refuses, before touching the disk, anything it could not read back. Every write
goes to a temporary file in the target's folder and is renamed into place, so a crash
leaves the old file or the new one, never half of one.

The file: member "__header__.npy" holds the UTF-8 JSON
{"format": FORMAT, "version": VERSION, "content": ..., "arrays": [...]}, where content is
the saved structure with each array replaced by {"__array__": i}; array i is member
"a<i>.npy", and arrays[i] declares its dtype, shape and fortran_order. A file may declare
at most `io_checks.MAX_LOAD_BYTES` (16 GiB) of arrays; more is refused before allocating.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from . import backend, io_checks
from .files import atomic_open
from .io_checks import WHAT_IT_SHOULD_BE, CheckpointError, fail
from .tensor import Tensor

__all__ = ["CheckpointError", "load", "save"]

FORMAT = "nnscratch-checkpoint"
VERSION = 1
_HEADER = "__header__"
_ARRAY = "__array__"  # {"__array__": i} stands for array i
_INT_KEYS = "__int_keys__"  # a dict's keys that were ints (JSON keys are strings)
_RESERVED = (_ARRAY, _INT_KEYS)


def _encode(obj, arrays: list, depth: int = 0):
    """obj with every array replaced by {"__array__": index into `arrays`}."""
    if depth > io_checks.MAX_DEPTH:
        raise ValueError(f"save: the structure nests deeper than {io_checks.MAX_DEPTH} levels")
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    if hasattr(obj, "dtype") and hasattr(obj, "get"):  # a GPU's array: saved as a host one
        obj = backend.to_host(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: only numeric and bool arrays can be saved, got {obj.dtype}")
        arrays.append(obj)
        return {_ARRAY: len(arrays) - 1}
    if isinstance(obj, np.generic):  # a NumPy scalar is stored as the Python value it holds
        return _encode(obj.item(), arrays, depth)
    if isinstance(obj, dict):
        encoded, int_keys = {}, []
        for key, value in obj.items():
            text = _key_text(key)
            if text in encoded:
                raise ValueError(f"save: the keys {key!r} and {text!r} of one dict would both "
                                 f"be stored as {text!r}")
            encoded[text] = _encode(value, arrays, depth + 1)
            if not isinstance(key, str):
                int_keys.append(text)
        if int_keys:  # remember which keys were ints (optimizer state is keyed by index)
            encoded[_INT_KEYS] = int_keys
        return encoded
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, depth + 1) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"save: cannot store a {type(obj).__name__}; use arrays, tensors, numbers, strings, "
        "lists and dicts"
    )


def _key_text(key) -> str:
    """The JSON key for a dict key: str as is, int as its digits; anything else (a bool,
    which is an int to Python but would not come back as one; a float; a tuple) and
    nnscratch's own markers are refused rather than written into a file load rejects."""
    if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
        raise TypeError(f"save: cannot store the dict key {key!r} ({type(key).__name__}); "
                        "keys must be str or int")
    if key in _RESERVED:
        raise ValueError(f"save: the dict key {key!r} is reserved for nnscratch's own markers")
    return key if isinstance(key, str) else str(int(key))


def _layout(array: np.ndarray) -> dict:
    """What the header declares for an array: the .npy header np.savez will write for it."""
    fortran = bool(array.flags.f_contiguous and not array.flags.c_contiguous)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "fortran_order": fortran}


def save(obj, path) -> Path:
    """Write obj (a dict of arrays, tensors, numbers, strings, lists and dicts, e.g. a
    model's state_dict or a full checkpoint) to `path` atomically. Returns the path.
    Dict keys must be str or int; TypeError/ValueError, with `path` untouched, otherwise."""
    path = Path(path)
    arrays: list = []
    content = _encode(obj, arrays)
    header = {"format": FORMAT, "version": VERSION, "content": content,
              "arrays": [_layout(a) for a in arrays]}
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload[_HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path) as file:
        np.savez(file, **payload)
    return path


def load(path):
    """Read what `save` wrote. Raises FileNotFoundError, or CheckpointError (a ValueError)
    naming the file and the problem for a file that is damaged or not an nnscratch
    checkpoint; never unpickles, reads only the arrays the header refers to, and refuses
    a file declaring more than io_checks.MAX_LOAD_BYTES (16 GiB) of them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no file at {path}")
    with open(path, "rb") as file:  # errors opening it (permissions) are the caller's
        start = file.read(64)
        if not start.startswith(b"PK\x03\x04"):
            raise fail(path, f"is {WHAT_IT_SHOULD_BE}: {io_checks.describe(start)}")
        length = file.seek(0, 2)
        try:
            with zipfile.ZipFile(file) as archive:
                infos = io_checks.members(path, archive)
                header = _read_header(path, archive, infos, length)
                content = header["content"]
                names = sorted({f"a{i}" for i in _referenced(path, content, 0)})
                declared = _declared(path, header, names)
                arrays = io_checks.read_arrays(
                    path, archive, infos, [n + ".npy" for n in names],
                    {n + ".npy": d for n, d in declared.items()}, length)
        except CheckpointError:
            raise
        except io_checks.DAMAGE as error:
            raise fail(path, f"is damaged ({io_checks.explain(error)})") from None
    return _decode(content, {name.removesuffix(".npy"): a for name, a in arrays.items()})


def _read_header(path, archive, infos, length) -> dict:
    """The JSON header, checked to be an nnscratch header this version can read."""
    name = _HEADER + ".npy"
    if name not in infos:
        raise fail(path, f"has no nnscratch header (member {name!r}): it is an .npz "
                         "archive but was not written by ns.save")
    info = infos[name]
    if info.file_size > io_checks.MAX_HEADER_BYTES:
        raise fail(path, f"is damaged: its header declares {info.file_size} bytes")
    raw = io_checks.read_arrays(path, archive, infos, [name], {}, length, "header")[name]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise fail(path, f"is damaged: its header is a {raw.dtype} array of shape "
                         f"{raw.shape}, not bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        problem = "nests too deeply" if isinstance(error, RecursionError) else f"({error})"
        raise fail(path, f"has a damaged header: its JSON {problem}") from None
    if not isinstance(header, dict):
        raise fail(path, f"has a damaged header: a JSON {type(header).__name__}, "
                         "not an object")
    version = header.get("version")
    if header.get("format") != FORMAT or type(version) is not int or not 1 <= version <= VERSION:
        raise fail(path, f"is format {header.get('format')!r} version {version!r}; this "
                         f"nnscratch reads {FORMAT!r} versions 1 to {VERSION}")
    if "content" not in header:
        raise fail(path, "has a damaged header: it has no 'content'")
    return header


def _referenced(path, obj, depth: int) -> set:
    """The array indices `obj` refers to, checking on the way that it is a structure
    `_decode` can rebuild (so decoding itself cannot fail)."""
    if depth > io_checks.MAX_DEPTH:
        raise fail(path, f"has a damaged header: it nests deeper than {io_checks.MAX_DEPTH} levels")
    if isinstance(obj, list):
        return set().union(*(_referenced(path, v, depth + 1) for v in obj))
    if not isinstance(obj, dict):
        return set()
    if _ARRAY in obj:
        index = obj[_ARRAY]
        if len(obj) != 1 or type(index) is not int or not 0 <= index < 2**31:
            raise fail(path, f"has a damaged header: bad array reference {obj!r:.80}")
        return {index}
    int_keys = obj.get(_INT_KEYS, [])
    if not isinstance(int_keys, list) or not all(
            isinstance(k, str) and k in obj and k == _int_text(k) for k in int_keys):
        raise fail(path, f"has a damaged header: bad {_INT_KEYS} {int_keys!r:.80}")
    return set().union(*(_referenced(path, v, depth + 1)
                         for k, v in obj.items() if k != _INT_KEYS))


def _int_text(text: str):
    """text if it is exactly how save writes an int key ("12", "-3"), else None."""
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) < 1000:
        return str(int(text))
    return None


def _declared(path, header: dict, names: list) -> dict:
    """name -> (dtype str, shape list, fortran_order) from the header's "arrays" list;
    files without one (older saves) are checked against their .npy headers alone."""
    layouts = header.get("arrays")
    if layouts is None:
        return {}
    if not isinstance(layouts, list):
        raise fail(path, "has a damaged header: 'arrays' is not a list")
    declared = {}
    for name in names:
        index = int(name[1:])
        entry = layouts[index] if index < len(layouts) else None
        if (not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "fortran_order"}
                or not isinstance(entry["dtype"], str) or not isinstance(entry["shape"], list)
                or not isinstance(entry["fortran_order"], bool)):
            raise fail(path, f"has a damaged header: no valid layout for array {index}")
        declared[name] = (entry["dtype"], entry["shape"], entry["fortran_order"])
    return declared


def _decode(obj, arrays: dict):
    """Rebuild what `_encode` produced; `obj` was checked by `_referenced`."""
    if isinstance(obj, dict):
        if _ARRAY in obj:
            return arrays[f"a{obj[_ARRAY]}"]
        int_keys = set(obj.get(_INT_KEYS, ()))
        return {
            (int(k) if k in int_keys else k): _decode(v, arrays)
            for k, v in obj.items()
            if k != _INT_KEYS
        }
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj
