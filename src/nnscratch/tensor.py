"""Tensor: an array, its gradient, and the link to the op that made it; plus constructors.

Arithmetic operators and methods such as `x.sum()` are not defined here: they are bound
to the ops of `functional/` by `methods.py` at package import, so that this file and the
ops do not import each other.
"""

from __future__ import annotations

import numpy as np

from . import autograd, backend


class Tensor:
    """An n-dimensional array that can record the ops applied to it and carry a gradient.

    data: the array (numpy.ndarray, or cupy.ndarray on a GPU)
    grad: d(loss)/d(self) after `backward()`, an array of `data`'s shape, or None
    requires_grad: whether ops on this tensor are recorded for backpropagation
    _fusion: what an op declared about its output for a later op to fuse with, or None
        (see `record`); softmax declares ("softmax", logits, axis)
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_op",
                 "_retains_grad", "_fusion")

    # NumPy must not treat a Tensor as an array of objects: `ndarray + tensor` calls
    # Tensor.__radd__ instead, so the result is a Tensor with the graph recorded.
    __array_ufunc__ = None
    # Comparisons return tensors, so identity is what hashes (as in PyTorch).
    __hash__ = object.__hash__

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        array = as_array(data, dtype)
        _init_fields(self, array if device is None else backend.to_device(array, device),
                     False)
        if requires_grad:
            self.requires_grad_(True)

    # --- properties ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded op."""
        return self._backward is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the op that made this tensor, None for leaves."""
        return self._op

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    @property
    def device(self):
        """The Device holding the data (ns.device('cpu'), 'cuda:0' or 'strict')."""
        return backend.device_of(self.data)

    # x.to(device or dtype) is functional.to, bound at import (methods.py): a copy on
    # another device is part of the graph, its gradient flows back to this device.
    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    # --- conversion ---------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied, on the CPU; a copy from a
        device)."""
        return backend.to_host(self.data)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, got shape {tuple(self.data.shape)}"
            )
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, requires no grad)."""
        out = Tensor.__new__(Tensor)
        _init_fields(out, self.data, False)
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) recording ops on this leaf; returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors; use detach() first")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` of this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if not self.is_leaf:
            self._retains_grad = True

    # --- autograd -----------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor: leaves' `.grad` += d(self)/d(leaf) (times grad)."""
        autograd.backward(self, grad, retain_graph)

    # --- Python protocol ----------------------------------------------------------
    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(
            self.numpy(), separator=", ", prefix="tensor(", threshold=200, edgeitems=3
        )
        extras = []
        if self.data.dtype not in (backend.get_default_dtype(), backend.int64, backend.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if not isinstance(self.data, np.ndarray):
            extras.append(f"device='{self.device}'")  # as PyTorch names a GPU tensor's
        if self._op is not None:
            extras.append(f"grad_fn=<{self._op}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"


def _init_fields(tensor: Tensor, data, requires_grad: bool) -> None:
    tensor.data = data
    tensor.grad = None
    tensor.requires_grad = requires_grad
    tensor._parents = ()
    tensor._backward = None
    tensor._op = None
    tensor._retains_grad = False
    tensor._fusion = None


def record(data, parents: tuple, backward, op: str, fusion: tuple | None = None) -> Tensor:
    """Wrap an op's output array; if any parent needs a gradient, remember how to get it.

    backward: maps d(loss)/d(output) to a tuple of d(loss)/d(parent), one per parent
    (None where a parent needs no gradient, or an autograd.IndexedGradient). It must not
    modify its argument in place.
    fusion: an op's declaration, kept on its output as `_fusion`, that a later op may
    compute the two ops' gradient in one step: (name, input, details...). softmax
    declares ("softmax", logits, axis), and categorical_cross_entropy, seeing it, is
    recorded against the logits with the fused gradient. Only kept while the graph is.
    """
    if isinstance(data, np.generic):  # NumPy reductions of 0-d arrays return scalars
        data = np.asarray(data)
    out = Tensor.__new__(Tensor)
    _init_fields(out, data, False)
    if autograd._grad_enabled:
        for parent in parents:
            if parent.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                out._op = op
                out._fusion = fusion
                break
    return out


def as_array(data, dtype=None):
    """Convert data (array, Tensor, number or nested list) to an array of a sensible dtype.

    Python floats become the default dtype (float32), ints int64, bools bool; arrays keep
    their dtype unless `dtype` is given. The result never shares memory with `data`.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = np.dtype(dtype)
    xp = backend.array_module(data)
    if hasattr(data, "dtype") and hasattr(data, "shape"):
        return xp.array(data, dtype=dtype, copy=True)
    try:
        array = np.array(data, dtype=dtype)
    except ValueError as error:
        if "inhomogeneous" not in str(error):
            raise
        raise ValueError(
            "tensor(): expected a rectangular nested list (every row of the same length, "
            f"numbers at the same depth), got a ragged one: {error}"
        ) from None
    if dtype is None:
        kind = array.dtype.kind
        if kind == "f":
            array = array.astype(backend.get_default_dtype(), copy=False)
        elif kind in "iu":
            array = array.astype(np.int64, copy=False)
        elif kind != "b":
            raise TypeError(
                f"tensor() expects numbers, nested lists of numbers or arrays, got "
                f"{type(data).__name__} of dtype {array.dtype}"
            )
    return array


# --- constructors -------------------------------------------------------------------
def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """A new leaf tensor holding a copy of `data` (numbers, nested lists or an array), on
    `device` (default: where data is; lists and numbers: the CPU)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _moved(t: Tensor, target) -> Tensor:
    if t.device == target:
        return t
    source = t.device
    data = backend.to_device(t.data, target)
    if not (t.requires_grad and autograd._grad_enabled):
        return _leaf(data, False)

    def backward(grad):  # d(copy)/dx = identity: the gradient goes back where x lives
        return (backend.to_device(grad, source),)

    return record(data, (t,), backward, "to")


def _shape_of(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"a shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else np.dtype(dtype)


def _module(device):
    return np if device is None else backend.device(device).module


def _leaf(data, requires_grad: bool) -> Tensor:
    out = Tensor.__new__(Tensor)
    _init_fields(out, data, False)
    if requires_grad:
        out.requires_grad_(True)
    return out


def zeros(*shape, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A tensor of zeros: zeros(2, 3) or zeros((2, 3)); on `device` (default the CPU)."""
    return _leaf(_module(device).zeros(_shape_of(shape), _float_dtype(dtype)), requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A tensor of ones: ones(2, 3) or ones((2, 3)); on `device` (default the CPU)."""
    return _leaf(_module(device).ones(_shape_of(shape), _float_dtype(dtype)), requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A tensor of `shape` filled with `fill_value`."""
    if dtype is None and isinstance(fill_value, (bool, int, np.integer)):
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64
    shape = _shape_of(shape if isinstance(shape, (tuple, list)) else (shape,))
    return _leaf(_module(device).full(shape, fill_value, _float_dtype(dtype)), requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Samples of the standard normal distribution, from the seeded generator (on a
    device: that device's generator, drawing there)."""
    dtype = _float_dtype(dtype)
    rng = backend.generator_for(_module(device))
    data = rng.standard_normal(_shape_of(shape), dtype=_rng_dtype(dtype))
    return _leaf(data.astype(dtype, copy=False), requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Samples of the uniform distribution on [0, 1), from the seeded generator (on a
    device: that device's generator, drawing there)."""
    dtype = _float_dtype(dtype)
    data = backend.generator_for(_module(device)).random(_shape_of(shape),
                                                         dtype=_rng_dtype(dtype))
    return _leaf(data.astype(dtype, copy=False), requires_grad)


def _rng_dtype(dtype: np.dtype) -> np.dtype:
    # NumPy's generator draws float32 and float64 only.
    return dtype if dtype in (backend.float32, backend.float64) else backend.float64


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False,
           device=None) -> Tensor:
    """Evenly spaced values in [start, end): int64 for int arguments, else the default float."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        all_ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if all_ints else backend.get_default_dtype()
    return _leaf(_module(device).arange(start, end, step, dtype=dtype), requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    """Zeros of t's shape, on t's device."""
    return zeros(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                 device=t.device)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device)


def randn_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                 device=t.device)


def rand_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad,
                device=t.device)
