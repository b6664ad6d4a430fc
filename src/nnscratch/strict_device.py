"""A stand-in GPU for machines without one: `ns.device("strict")`.

Its arrays (`StrictArray`) live in host memory but keep CuPy's rules, so code that would
fail on a GPU fails here, on any machine, in the default test suite:

- an operation mixing a StrictArray with a plain NumPy array raises TypeError (a NumPy
  scalar or a Python number is fine, as on CuPy);
- a StrictArray is never converted to a NumPy array silently: `np.asarray(x)` raises;
  the explicit ways are `x.get()` and `strict.asnumpy(x)`, and the way in is
  `strict.asarray(numpy_array)`;
- indexing with a plain NumPy array raises (indices must be on the device too);
- reductions to one number give 0-d arrays, as CuPy's do.

`module` is the array module of the device, as `cupy` is of a GPU: `module.zeros`,
`module.asarray`, `module.lib.stride_tricks.as_strided`, ... run NumPy's function on the
wrapped arrays and wrap what comes out. NumPy functions called on StrictArrays (through
`__array_function__` and `__array_ufunc__`) do the same. It is slow and only for tests.
"""

from __future__ import annotations

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

# functions of the module that take host arrays on purpose: the explicit transfers
_TRANSFERS = {"array", "ascontiguousarray"}


def _refuse(value, who: str):
    raise TypeError(f"{who}: a plain NumPy array (shape {value.shape}, {value.dtype}) was "
                    "mixed with arrays of the strict device; on a GPU this fails too: move "
                    "it with the array module's asarray (or Tensor.to(device)) first")


def _unwrap(value, who: str, host_ok: bool = False):
    if isinstance(value, StrictArray):
        return value._array
    if isinstance(value, np.ndarray):
        if host_ok:
            return value
        _refuse(value, who)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, who, host_ok) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, who, host_ok) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic) and not isinstance(value, (np.str_, np.bytes_)):
        return StrictArray(np.asarray(value))  # CuPy reduces to 0-d arrays, not scalars
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class StrictArray(NDArrayOperatorsMixin):
    """An array of the strict device: a NumPy array inside, CuPy's rules outside."""

    __slots__ = ("_array",)
    __array_priority__ = 1000
    __hash__ = None

    def __init__(self, array: np.ndarray):
        object.__setattr__(self, "_array", array)

    # --- what NumPy asks of it ----------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("a StrictArray is not converted to a NumPy array implicitly (a GPU "
                        "array is not either): call .get() or strict.asnumpy() to copy it "
                        "to the host")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        who = f"{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
        inputs = _unwrap(inputs, who)
        out = kwargs.get("out")
        kwargs = _unwrap(kwargs, who)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return None if method == "at" else _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        who = getattr(func, "__name__", "a NumPy function")
        return _wrap(func(*_unwrap(args, who), **_unwrap(kwargs, who)))

    # --- the ndarray interface ----------------------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__ and kin: the silent conversions
            raise AttributeError(name)
        value = getattr(self._array, name)
        if callable(value):
            def method(*args, **kwargs):
                who = f"StrictArray.{name}"
                return _wrap(value(*_unwrap(args, who), **_unwrap(kwargs, who)))
            return method
        return _wrap(value)

    def __setattr__(self, name, value):
        if name == "shape":
            self._array.shape = value
        else:
            raise AttributeError(f"StrictArray attribute {name!r} cannot be set")

    def __getitem__(self, index):
        return _wrap(self._array[_unwrap(index, "indexing")])

    def __setitem__(self, index, value):
        self._array[_unwrap(index, "indexing")] = _unwrap(value, "item assignment")

    def __len__(self) -> int:
        return len(self._array)

    def __iter__(self):
        return (_wrap(row) for row in self._array)

    def __bool__(self) -> bool:
        return bool(self._array)

    def __float__(self) -> float:
        return float(self._array)

    def __int__(self) -> int:
        return int(self._array)

    def __index__(self) -> int:
        return self._array.__index__()

    def __copy__(self):
        return StrictArray(self._array.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._array.copy())

    def __repr__(self) -> str:
        return f"StrictArray({self._array!r})"

    def get(self) -> np.ndarray:
        """A host copy (CuPy's name for the explicit device-to-host transfer)."""
        return self._array.copy()

    @property
    def device(self) -> str:
        return "strict"


class _Namespace(types.SimpleNamespace):
    """NumPy's `namespace` (np, np.lib, np.linalg, ...) as the strict device's: each
    function unwraps its StrictArray arguments (refusing plain NumPy arrays, but for the
    explicit transfers) and wraps the arrays it returns."""

    def __init__(self, namespace, name: str):
        super().__init__()
        object.__setattr__(self, "_namespace", namespace)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "__name__", name)  # "strict": caches key on module names

    def __getattr__(self, name):
        value = getattr(self._namespace, name)
        if name == "ndarray":
            return StrictArray
        if isinstance(value, types.ModuleType):
            wrapped = _Namespace(value, f"{self._name}.{name}")
        elif isinstance(value, (np.ufunc, type)) or not callable(value):
            wrapped = value  # ufuncs dispatch through __array_ufunc__; dtypes are dtypes
        else:
            host_ok = name in _TRANSFERS and self._name == "strict"
            who = f"{self._name}.{name}"

            def wrapped(*args, **kwargs):
                return _wrap(value(*_unwrap(args, who, host_ok),
                                   **_unwrap(kwargs, who, host_ok)))
        object.__setattr__(self, name, wrapped)
        return wrapped


def _to_device(array, dtype=None, copy=None, **kwargs):
    """strict.asarray: a StrictArray as it is (converted to dtype); anything from the host
    (a NumPy array, a list, a number) copied in, as cupy.asarray copies to the GPU."""
    if isinstance(array, StrictArray):
        return _wrap(np.asarray(array._array, dtype=dtype, **kwargs))
    return StrictArray(np.array(_unwrap(array, "strict.asarray", host_ok=True), dtype=dtype,
                                **kwargs))


module = _Namespace(np, "strict")
module.asarray = _to_device
module.asnumpy = lambda array: array.get() if isinstance(array, StrictArray) \
    else np.asarray(array)
module.get_array_module = lambda *arrays: module
