"""Bind Tensor's operators and methods to the ops of `functional/`, once, at import.

`tensor.py` cannot import `functional/` (the ops import Tensor), so the two meet here:
after `bind_tensor_methods()`, `x + y` is `F.add(x, y)` and `x.sum(1)` is `F.sum(x, 1)`.
"""

from __future__ import annotations

from . import functional as F
from .tensor import Tensor


def _reflected(op):
    def method(self, other):
        return op(other, self)

    method.__name__ = f"r{op.__name__}"
    return method


def _comparison(compare):
    """Comparisons give boolean tensors with no gradient, as in PyTorch."""

    def method(self, other):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(compare(self.data, other))

    return method


def _with_sizes(op):
    """x.reshape(2, 3) and x.permute(1, 0) take sizes as separate arguments, too."""

    def method(self, *sizes):
        return op(self, *sizes)

    method.__name__ = op.__name__
    method.__doc__ = op.__doc__
    return method


def _contiguous(self):
    """The tensor itself: NumPy's reshape copies a strided array when it must, so code
    written for PyTorch's `x.transpose(1, 2).contiguous().view(...)` runs unchanged."""
    return self


def bind_tensor_methods() -> None:
    operators = {
        "__add__": F.add, "__radd__": _reflected(F.add),
        "__sub__": F.sub, "__rsub__": _reflected(F.sub),
        "__mul__": F.mul, "__rmul__": _reflected(F.mul),
        "__truediv__": F.div, "__rtruediv__": _reflected(F.div),
        "__pow__": F.pow, "__rpow__": _reflected(F.pow),
        "__matmul__": F.matmul, "__rmatmul__": _reflected(F.matmul),
        "__neg__": F.neg, "__abs__": F.abs, "__getitem__": F.getitem,
        "__lt__": _comparison(lambda a, b: a < b), "__le__": _comparison(lambda a, b: a <= b),
        "__gt__": _comparison(lambda a, b: a > b), "__ge__": _comparison(lambda a, b: a >= b),
        "__eq__": _comparison(lambda a, b: a == b), "__ne__": _comparison(lambda a, b: a != b),
    }
    methods = {
        name: getattr(F, name)
        for name in (
            "add", "sub", "mul", "div", "pow", "matmul", "neg", "exp", "log", "sqrt", "abs",
            "clamp", "clip", "maximum", "minimum", "sum", "mean", "var", "std", "max", "min",
            "amax", "amin", "logsumexp", "argmax", "argmin", "flatten", "transpose", "squeeze",
            "unsqueeze", "split", "chunk", "unbind", "relu", "sigmoid", "tanh", "softmax",
            "log_softmax", "to", "masked_fill", "tril", "triu",
        )
    }
    methods.update(
        reshape=_with_sizes(F.reshape), view=_with_sizes(F.reshape),
        permute=_with_sizes(F.permute), expand=_with_sizes(F.expand),
        broadcast_to=F.broadcast_to,
        float=lambda self: F.to(self, "float32"), double=lambda self: F.to(self, "float64"),
        long=lambda self: F.to(self, "int64"), contiguous=_contiguous,
    )
    for name, function in {**operators, **methods}.items():
        setattr(Tensor, name, function)
    Tensor.T = property(lambda self: F.permute(self, *reversed(range(self.ndim))))
    Tensor.mT = property(lambda self: F.transpose(self, -2, -1))
