"""Save and load state dicts and checkpoints: .npz of plain arrays plus a JSON header.

Loading never unpickles (`allow_pickle=False`): a file can only ever produce arrays,
numbers, strings, lists and dicts. Every write goes to a temporary file in the target's
folder and is renamed into place, so a crash leaves the old file or the new one, never
half of one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_open
from .tensor import Tensor

FORMAT = "nnscratch-checkpoint"
VERSION = 1
_HEADER = "__header__"


def _encode(obj, arrays: list):
    """obj with every array replaced by {"__array__": index into `arrays`}."""
    if isinstance(obj, Tensor):
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"save: only numeric and bool arrays can be saved, got {obj.dtype}")
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        keys = list(obj)
        encoded = {str(k): _encode(v, arrays) for k, v in obj.items()}
        int_keys = [str(k) for k in keys if isinstance(k, int)]
        if int_keys:  # JSON keys are strings; remember which were ints (optimizer state)
            encoded["__int_keys__"] = int_keys
        return encoded
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"save: cannot store a {type(obj).__name__}; use arrays, tensors, numbers, strings, "
        "lists and dicts"
    )


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[f"a{obj['__array__']}"]
        int_keys = set(obj.get("__int_keys__", ()))
        return {
            (int(k) if k in int_keys else k): _decode(v, arrays)
            for k, v in obj.items()
            if k != "__int_keys__"
        }
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def save(obj, path) -> Path:
    """Write obj (a dict of arrays, tensors, numbers, strings, lists and dicts, e.g. a
    model's state_dict or a full checkpoint) to `path` atomically. Returns the path."""
    path = Path(path)
    arrays: list = []
    header = {"format": FORMAT, "version": VERSION, "content": _encode(obj, arrays)}
    payload = {f"a{i}": a for i, a in enumerate(arrays)}
    payload[_HEADER] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path) as file:
        np.savez(file, **payload)
    return path


def load(path):
    """Read what `save` wrote. Raises FileNotFoundError, or ValueError for a file that is
    not an nnscratch checkpoint (or is damaged); never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load: no file at {path}")
    try:
        # Our own handle: np.load leaves its file open when the zip is damaged.
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ValueError(f"load: {path} is not a readable .npz checkpoint ({error})") from None
    if _HEADER not in arrays:
        raise ValueError(f"load: {path} has no nnscratch header; was it written by ns.save?")
    try:
        header = json.loads(arrays.pop(_HEADER).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"load: {path} has a damaged header ({error})") from None
    if header.get("format") != FORMAT or header.get("version", 0) > VERSION:
        raise ValueError(
            f"load: {path} is format {header.get('format')!r} version {header.get('version')}; "
            f"this nnscratch reads {FORMAT!r} up to version {VERSION}"
        )
    return _decode(header["content"], arrays)
