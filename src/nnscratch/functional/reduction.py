"""Reductions over axes. `dim`/`keepdim` as in PyTorch; NumPy's `axis`/`keepdims` also work.

The backward of a reduction spreads g back over the reduced axes: first it puts the
reduced axes back as size-1 axes (`_expand`), then broadcasting does the rest.
"""

from __future__ import annotations

from collections import namedtuple

from .. import backend
from ..tensor import Tensor, record
from ._common import normalize_axes, pick_dim, pick_keepdim

MaxMin = namedtuple("MaxMin", ["values", "indices"])


def _expand(g, axes, keepdim: bool, ndim: int):
    """g with the reduced axes restored as size 1 (so it broadcasts against the input)."""
    if keepdim or axes is None and g.ndim == ndim:
        return g
    if axes is None:
        return g.reshape((1,) * ndim)
    xp = backend.array_module(g)
    return xp.expand_dims(g, axes)


def _axes(input: Tensor, dim) -> tuple[int, ...] | None:
    """dim as a tuple of axes, None for all axes.

    A 0-d tensor accepts dim 0 and -1 as in PyTorch (its one element is "along" them);
    NumPy has no such axis, so those reduce over everything, which is the element itself.
    """
    axes = normalize_axes(dim, input.ndim)
    return None if input.ndim == 0 else axes


def _count(shape, axes) -> int:
    if axes is None:
        n = 1
        for s in shape:
            n *= s
        return n
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def sum(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Sum over `dim` (all axes when None). x: any shape. d/dx = g broadcast to x's shape."""
    axes = _axes(input, pick_dim(dim, axis))
    keep = pick_keepdim(keepdim, keepdims)
    x = input.data

    def backward(g):
        xp = backend.array_module(g)
        return (xp.broadcast_to(_expand(g, axes, keep, x.ndim), x.shape),)

    return record(x.sum(axis=axes, keepdims=keep), (input,), backward, "sum")


def mean(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Mean over `dim` (all axes when None). d/dx = g / n broadcast, n = reduced count."""
    axes = _axes(input, pick_dim(dim, axis))
    keep = pick_keepdim(keepdim, keepdims)
    x = input.data
    n = _count(x.shape, axes)

    def backward(g):
        xp = backend.array_module(g)
        return (xp.broadcast_to(_expand(g / n, axes, keep, x.ndim), x.shape),)

    return record(x.mean(axis=axes, keepdims=keep), (input,), backward, "mean")


def _centered(input: Tensor, dim, axis, correction, unbiased):
    if unbiased is not None:
        correction = 1 if unbiased else 0
    axes = _axes(input, pick_dim(dim, axis))
    x = input.data
    centered = x - x.mean(axis=axes, keepdims=True)
    divisor = _count(x.shape, axes) - correction
    return axes, centered, divisor


def var(
    input: Tensor, dim=None, *, correction: int = 1, keepdim: bool = False,
    unbiased: bool | None = None, axis=None, keepdims=None,
) -> Tensor:
    """Variance sum((x - mean)^2) / (n - correction); correction=1 is PyTorch's default.

    d/dx = g * 2 (x - mean) / (n - correction)  (the mean's own gradient sums to zero).
    """
    keep = pick_keepdim(keepdim, keepdims)
    axes, centered, divisor = _centered(input, dim, axis, correction, unbiased)
    out = (centered * centered).sum(axis=axes, keepdims=keep) / divisor

    def backward(g):
        return (_expand(g, axes, keep, centered.ndim) * (2 / divisor) * centered,)

    return record(out, (input,), backward, "var")


def std(
    input: Tensor, dim=None, *, correction: int = 1, keepdim: bool = False,
    unbiased: bool | None = None, axis=None, keepdims=None,
) -> Tensor:
    """Standard deviation sqrt(var). d/dx = g * (x - mean) / ((n - correction) * std).

    Where std = 0 (a constant slice) x - mean is 0 too, and the gradient is 0 as PyTorch's.
    """
    keep = pick_keepdim(keepdim, keepdims)
    axes, centered, divisor = _centered(input, dim, axis, correction, unbiased)
    xp = backend.array_module(centered)
    out_kept = xp.sqrt((centered * centered).sum(axis=axes, keepdims=True) / divisor)
    out = out_kept if keep else (out_kept.reshape(()) if axes is None else out_kept.squeeze(axes))

    def backward(g):
        # Dividing by std = 0 would turn 0 / 0 into NaN; any nonzero divisor keeps the 0.
        safe_std = xp.where(out_kept == 0, 1, out_kept)
        return (_expand(g, axes, keep, centered.ndim) / (divisor * safe_std) * centered,)

    return record(out, (input,), backward, "std")


def _extreme_all(input: Tensor, pick, op: str, axes=None, keep=False) -> Tensor:
    """max/min over `axes` (all when None); g is shared evenly among tied extremes."""
    x = input.data
    out_kept = pick(x, axis=axes, keepdims=True)
    out = out_kept if keep else (out_kept.reshape(()) if axes is None else out_kept.squeeze(axes))

    def backward(g):
        hits = x == out_kept
        share = hits / hits.sum(axis=axes, keepdims=True)
        return (_expand(g, axes, keep, x.ndim) * share.astype(g.dtype, copy=False),)

    return record(out, (input,), backward, op)


def _extreme_dim(input: Tensor, dim, keep: bool, arg, op: str) -> MaxMin:
    """(values, indices) along one dim; g goes to the chosen index (PyTorch's max(dim))."""
    xp = backend.array_module(input.data)
    (axis,) = normalize_axes(dim, input.ndim)
    x = input.data
    if x.ndim == 0:  # PyTorch: the scalar itself, at index 0 (see `_axes`)
        values = record(x.copy(), (input,), lambda g: (g,), op)
        return MaxMin(values, Tensor(xp.zeros((), dtype=backend.int64)))
    index = xp.expand_dims(arg(x, axis=axis), axis)
    values = xp.take_along_axis(x, index, axis=axis)

    def backward(g):
        grad = xp.zeros_like(x, dtype=g.dtype)
        xp.put_along_axis(grad, index, _expand(g, (axis,), keep, x.ndim), axis=axis)
        return (grad,)

    # New names, not `index`: the closure above must keep the kept-dim index that
    # put_along_axis needs, and rebinding `index` would change what it sees.
    indices = index
    if not keep:
        values, indices = values.squeeze(axis), index.squeeze(axis)
    return MaxMin(record(values, (input,), backward, op), Tensor(indices))


def max(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """Largest element: a scalar tensor, or with `dim` a (values, indices) pair as PyTorch.

    d/dx: all axes: g split evenly among ties; with dim: g to the index returned.
    """
    dim = pick_dim(dim, axis)
    xp = backend.array_module(input.data)
    if dim is None:
        return _extreme_all(input, xp.max, "max")
    return _extreme_dim(input, dim, pick_keepdim(keepdim, keepdims), xp.argmax, "max")


def min(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):  # noqa: A001
    """Smallest element: a scalar tensor, or with `dim` a (values, indices) pair as PyTorch.

    d/dx: all axes: g split evenly among ties; with dim: g to the index returned.
    """
    dim = pick_dim(dim, axis)
    xp = backend.array_module(input.data)
    if dim is None:
        return _extreme_all(input, xp.min, "min")
    return _extreme_dim(input, dim, pick_keepdim(keepdim, keepdims), xp.argmin, "min")


def amax(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Max over `dim` (all when None), values only. d/dx = g split evenly among ties."""
    axes = _axes(input, pick_dim(dim, axis))
    xp = backend.array_module(input.data)
    return _extreme_all(input, xp.max, "amax", axes, pick_keepdim(keepdim, keepdims))


def amin(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Min over `dim` (all when None), values only. d/dx = g split evenly among ties."""
    axes = _axes(input, pick_dim(dim, axis))
    xp = backend.array_module(input.data)
    return _extreme_all(input, xp.min, "amin", axes, pick_keepdim(keepdim, keepdims))


def logsumexp(input: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) over `dim`, computed as m + log(sum(exp(x - m))) with m the max.

    d/dx = g * exp(x - out) = g * softmax(x).
    """
    axes = _axes(input, pick_dim(dim, axis))
    keep = pick_keepdim(keepdim, keepdims)
    xp = backend.array_module(input.data)
    x = input.data
    shift = x.max(axis=axes, keepdims=True)
    shift = xp.where(xp.isfinite(shift), shift, 0)  # all -inf (or inf) rows stay finite
    out_kept = xp.log(xp.exp(x - shift).sum(axis=axes, keepdims=True)) + shift
    out = out_kept if keep else (out_kept.reshape(()) if axes is None else out_kept.squeeze(axes))

    def backward(g):
        return (_expand(g, axes, keep, x.ndim) * xp.exp(x - out_kept),)

    return record(out, (input,), backward, "logsumexp")


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when dim is None); no gradient."""
    return _arg(input, dim, keepdim, backend.array_module(input.data).argmax)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (of the flattened tensor when dim is None); no gradient."""
    return _arg(input, dim, keepdim, backend.array_module(input.data).argmin)


def _arg(input: Tensor, dim, keepdim: bool, arg) -> Tensor:
    if dim is None:
        out = arg(input.data)
        if keepdim:
            out = out.reshape((1,) * input.ndim)
    else:
        (axis,) = normalize_axes(dim, input.ndim)
        out = arg(input.data, axis=axis, keepdims=keepdim)
    return Tensor(out.astype(backend.int64))
