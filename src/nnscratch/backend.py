"""Devices and their array modules, the default dtype and the seeded random generators.

Every op asks `array_module(array)` for the module that owns its input, so the same code
runs on NumPy arrays ('cpu'), on CuPy arrays ('cuda', when CuPy and a GPU are there) and
on the strict stand-in device ('strict', `strict_device`), which keeps CuPy's rules on
any machine so that the test suite catches NumPy hard-wiring without a GPU.
"""

from __future__ import annotations

import contextlib

import numpy as np

try:  # CuPy is optional: the GPU path slots in when it is installed.
    import cupy  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None

from . import strict_device  # noqa: E402 - after the optional import it stands in for

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_default_dtype = float32
_generator = np.random.default_rng()
_seed = None  # manual_seed's, from which each device's generator is seeded
_device_generators: dict = {}


def array_module(array):
    """The module (numpy, cupy, or the strict device's) that owns `array`."""
    if isinstance(array, np.ndarray):
        return np
    if isinstance(array, strict_device.StrictArray):
        return strict_device.module
    if cupy is not None:
        return cupy.get_array_module(array)
    return np


def module_named(name: str):
    """The array module whose __name__ is `name` ('numpy', 'cupy', 'strict'), for caches
    keyed by it."""
    return {"numpy": np, "strict": strict_device.module, "cupy": cupy}[name]


class Device:
    """Where arrays live, as torch.device: Device('cpu'), Device('cuda', 0), or
    Device('strict') (the stand-in GPU of the tests). `module` is its array module."""

    def __init__(self, type: str, index: int | None = None):
        if type not in ("cpu", "cuda", "strict"):
            raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or 'strict', got "
                             f"{type!r}")
        if type == "cuda" and cupy is None:
            raise RuntimeError("device 'cuda' needs CuPy and an NVIDIA GPU: pip install "
                               "cupy-cuda12x (CuPy is not installed here)")
        self.type, self.index = type, (0 if index is None else int(index)) \
            if type == "cuda" else None

    @property
    def module(self):
        return {"cpu": np, "strict": strict_device.module}.get(self.type, cupy)

    def __eq__(self, other) -> bool:
        try:
            other = device(other)
        except (TypeError, ValueError, RuntimeError):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


def names_a_device(target) -> bool:
    """Whether `target` (an argument of x.to / module.to) names a device rather than a
    dtype: a Device, or 'cpu', 'cuda', 'cuda:N', 'strict'."""
    return isinstance(target, Device) or (
        isinstance(target, str) and target.partition(":")[0] in ("cpu", "cuda", "strict"))


def device(spec="cpu") -> Device:
    """A Device from 'cpu', 'cuda', 'cuda:1', 'strict' or a Device."""
    if isinstance(spec, Device):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"device: expected a name such as 'cpu' or 'cuda', got "
                        f"{type(spec).__name__}")
    name, _, index = spec.partition(":")
    if index and not index.isdigit():
        raise ValueError(f"device: expected 'cuda:N' with N a GPU number, got {spec!r}")
    return Device(name, int(index) if index else None)


def device_of(array) -> Device:
    """The Device that holds `array`."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return Device("cpu")
    if isinstance(array, strict_device.StrictArray):
        return Device("strict")
    if cupy is not None and isinstance(array, cupy.ndarray):
        return Device("cuda", array.device.id)
    raise TypeError(f"device_of: expected an array, got {type(array).__name__}")


def to_host(array) -> np.ndarray:
    """`array` as a NumPy array (a copy when it lives on a device)."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "get") and hasattr(array, "dtype"):  # a device's array: its
        return array.get()                                  # explicit transfer
    return np.asarray(array)


def to_device(array, target) -> object:
    """`array` on device `target`: itself when it is there already, else a copy."""
    target = device(target)
    if device_of(array) == target:
        return array
    host = to_host(array)
    if target.type == "cuda":
        with cupy.cuda.Device(target.index):
            return cupy.asarray(host)
    return target.module.asarray(host) if target.type == "strict" else host


class _DeviceGenerator:
    """Random draws made on a device (no host-to-device copy per call), with the host
    generator's method names for what the library draws on a device: random,
    standard_normal, integers."""

    def __init__(self, target: Device, seed: int):
        self.device = target
        if target.type == "cuda":
            with cupy.cuda.Device(target.index):
                self._state = cupy.random.RandomState(seed)
        else:  # the strict device: NumPy's draws, wrapped, from a stream of its own
            self._state = np.random.default_rng(seed)

    def _out(self, array):
        return strict_device.module.asarray(array) if self.device.type == "strict" else array

    def random(self, size=None, dtype=np.float64):
        if self.device.type == "cuda":
            return self._state.random_sample(size, dtype=dtype)
        return self._out(self._state.random(size, dtype=dtype))

    def standard_normal(self, size=None, dtype=np.float64):
        return self._out(self._state.standard_normal(size, dtype=dtype))

    def integers(self, low, high=None, size=None):
        if self.device.type == "cuda":
            return self._state.randint(low, high, size)
        return self._out(self._state.integers(low, high, size))


def generator_for(xp):
    """The generator whose draws are arrays of module `xp`: the seeded host generator for
    NumPy, else the device's own, seeded from manual_seed's seed (a fresh random seed when
    there was none). A checkpoint keeps the host generator's state, not a device's."""
    if xp is np:
        return _generator
    target = Device("strict") if xp is strict_device.module else \
        Device("cuda", cupy.cuda.Device().id)
    if target not in _device_generators:
        seed = _seed if _seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        _device_generators[target] = _DeviceGenerator(target, seed)
    return _device_generators[target]


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
    global _generator, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))
    _seed = int(seed)
    _device_generators.clear()
    return _generator


def generator() -> np.random.Generator:
    """The current generator (replaced by `manual_seed`, so ask for it each time)."""
    return _generator


@contextlib.contextmanager
def seeded(seed: int):
    """Within the block, the project's generator is `manual_seed(seed)`'s; after it, the
    caller's generator is back in the state it had (a figure drawn here, e.g. samples
    for a score, neither depends on nor disturbs the training's draws)."""
    global _generator, _seed, _device_generators
    saved = _generator, _seed, _device_generators
    _device_generators = {}
    manual_seed(seed)
    try:
        yield _generator
    finally:
        _generator, _seed, _device_generators = saved


def jump_generator(jumps: int) -> None:
    """Move the generator `jumps` jumps ahead (PCG64's jumped: 2**127-ish draws each), to
    a stream no ordinary run reaches: data-parallel rank r jumps r times from the state
    all ranks share, so its dropout masks differ from every other rank's."""
    global _generator
    if jumps:
        _generator = np.random.Generator(_generator.bit_generator.jumped(int(jumps)))


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
