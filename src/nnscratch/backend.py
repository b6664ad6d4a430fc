"""The array module, the default dtype and the one seeded random generator.

Every op asks `array_module(array)` for the module that owns its input, so the same code
runs on NumPy arrays today and on CuPy arrays when CuPy is installed.
"""

from __future__ import annotations

import contextlib

import numpy as np

try:  # CuPy is optional: the GPU path slots in when it is installed.
    import cupy  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_default_dtype = float32
_generator = np.random.default_rng()


def array_module(array):
    """The module (numpy or cupy) that owns `array`."""
    if cupy is None or isinstance(array, np.ndarray):
        return np
    return cupy.get_array_module(array)


def get_default_dtype() -> np.dtype:
    """The floating dtype new tensors get when none is given (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Make `dtype` (float32 or float64) the dtype of new floating tensors."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"default dtype must be a floating dtype, got {dtype}")
    _default_dtype = dtype


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the one generator behind init, dropout and shuffling; returns it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The current generator (replaced by `manual_seed`, so ask for it each time)."""
    return _generator


@contextlib.contextmanager
def seeded(seed: int):
    """Within the block, the project's generator is `manual_seed(seed)`'s; after it, the
    caller's generator is back in the state it had (a figure drawn here, e.g. samples
    for a score, neither depends on nor disturbs the training's draws)."""
    global _generator
    saved = _generator
    manual_seed(seed)
    try:
        yield _generator
    finally:
        _generator = saved


def get_rng_state() -> dict:
    """The generator's state as plain data, for checkpoints."""
    return _generator.bit_generator.state


def _same_structure(saved, current, where: str) -> None:
    """saved must have current's shape of plain data: the same keys, and ints where it
    has ints (the bit generator's name itself must match)."""
    if isinstance(current, dict):
        if not isinstance(saved, dict) or set(saved) != set(current):
            got = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise ValueError(f"generator state: {where or 'the state'} must have the keys "
                             f"{sorted(current)}, got {got}")
        for key, value in current.items():
            _same_structure(saved[key], value, f"{where}.{key}".lstrip("."))
    elif isinstance(current, str):
        if saved != current:
            raise ValueError(f"generator state: {where} must be {current!r} (this build's "
                             f"generator), got {saved!r}")
    elif isinstance(current, (int, np.integer)):
        if not isinstance(saved, (int, np.integer)) or isinstance(saved, bool) or saved < 0:
            raise ValueError(f"generator state: {where} must be a non-negative int, "
                             f"got {saved!r}")


def set_rng_state(state: dict) -> None:
    """Restore a state returned by `get_rng_state`; ValueError (the generator unchanged)
    for anything else."""
    _same_structure(state, _generator.bit_generator.state, "")
    try:
        _generator.bit_generator.state = state
    except (ValueError, TypeError, OverflowError, KeyError) as error:
        raise ValueError(f"generator state: not a valid state ({error})") from None
