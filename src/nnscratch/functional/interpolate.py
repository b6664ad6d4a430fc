"""Nearest-neighbour resizing: interpolate and its older name upsample (NCL, NCHW, NCDHW).

Along each spatial axis, output i reads one input, j(i) = floor(i * in / out) (PyTorch's
'nearest' rule), so the op is a gather along each axis in turn, and its gradient is the
adjoint gather: every input sums the gradient of the outputs that read it. An integer
factor (every input read r times in a row) is a repeat forward and a reshaped sum
backward; any other size a take forward and a sum over runs of equal j backward.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..tensor import Tensor, record
from ._common import memory_order
from ._geometry import int_tuple


def _nearest_sources(n_in: int, n_out: int, scale: float | None):
    """PyTorch's 'nearest' rule: output i reads input min(floor(i * s), n_in - 1), with
    s = 1 / scale_factor when given, else n_in / n_out, in float32 arithmetic as PyTorch."""
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) // 2
    if scale is not None and scale > 0:
        ratio = np.float32(1.0 / scale)
    else:
        ratio = np.float32(n_in) / np.float32(n_out)
    index = np.floor(np.arange(n_out, dtype=np.float32) * ratio).astype(np.int64)
    return np.minimum(index, n_in - 1)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners=None, recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial axes by nearest neighbour, as torch.nn.functional.interpolate.

    x: (N, C, L), (N, C, H, W) or (N, C, D, H, W); size: the output's spatial size (an int
    or one per axis), or scale_factor: a number or one per axis, output floor(in * factor).
    Output position i along an axis reads input floor(i * in / out) (i * 1 / scale_factor
    when scale_factor is given and recompute_scale_factor is not True).
    Gradient: dL/dx[j] = sum of g over the outputs that read x[j].
    """
    op = "interpolate"
    if mode != "nearest":
        raise ValueError(f"{op}: only mode='nearest' is implemented, got mode={mode!r}")
    if align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with the interpolating modes "
                         f"(linear, bilinear, bicubic, trilinear), got mode={mode!r}")
    if antialias:
        raise ValueError(f"{op}: antialias applies to bilinear and bicubic modes only")
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    x = input.data
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"{op}: expected input of shape (N, C, L), (N, C, H, W) or "
                         f"(N, C, D, H, W), got {tuple(x.shape)}")
    spatial = x.ndim - 2
    in_size = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r}"
                         f" and scale_factor={scale_factor!r}")
    if size is not None:
        out_size = int_tuple(size, spatial, "size", op, 1)
        scales = (None,) * spatial
    else:
        factors = ((scale_factor,) * spatial if isinstance(scale_factor, (int, float, np.number))
                   else scale_factor)
        if (not isinstance(factors, (tuple, list)) or len(factors) != spatial
                or not all(isinstance(f, (int, float, np.number)) and f > 0 for f in factors)):
            raise ValueError(f"{op}: scale_factor must be a positive number or a tuple of "
                             f"{spatial} of them, got {scale_factor!r}")
        out_size = tuple(int(math.floor(n * float(f)))
                         for n, f in zip(in_size, factors, strict=True))
        if any(n < 1 for n in out_size):
            raise ValueError(f"{op}: scale_factor={scale_factor!r} gives an empty output "
                             f"{out_size} for input of shape {tuple(x.shape)}")
        scales = ((None,) * spatial if recompute_scale_factor
                  else tuple(float(f) for f in factors))
    xp = backend.array_module(x)
    sources = [_nearest_sources(n, m, s) for n, m, s in zip(in_size, out_size, scales, strict=True)]
    # In x's own memory order (a conv's channels-last output stays channels-last).
    order = memory_order(x)
    out = x.transpose(order)
    for axis, (index, n) in enumerate(zip(sources, in_size, strict=True)):
        repeats = _repeats(index, n)
        if repeats is not None:  # every input read `repeats` times in a row (scale 2, 3...)
            out = xp.repeat(out, repeats, axis=order.index(axis + 2)) if repeats > 1 else out
        else:
            out = xp.take(out, xp.asarray(index), axis=order.index(axis + 2))
    out = out.transpose(np.argsort(order).tolist())

    def backward(g):
        g_order = memory_order(g)
        grad = g.transpose(g_order)
        for axis, (index, n) in enumerate(zip(sources, in_size, strict=True)):
            grad = _gather_backward(grad, index, n, g_order.index(axis + 2))
        return (grad.transpose(np.argsort(g_order).tolist()),)

    return record(out, (input,), backward, op)


def _repeats(index, n_in: int) -> int | None:
    """r when index is 0, ..., 0, 1, ..., 1, ... with every input repeated r times."""
    repeats, rest = divmod(len(index), n_in)
    if rest == 0 and np.array_equal(index, np.arange(len(index)) // repeats):
        return repeats
    return None


def _gather_backward(g, index, n_in: int, axis: int):
    """The adjoint of take(x, index, axis) for a non-decreasing index: each input sums
    the contiguous run of outputs that read it (an input nobody read gets 0)."""
    xp = backend.array_module(g)
    repeats = _repeats(index, n_in)
    if repeats is not None:
        if repeats == 1:
            return g
        shape = g.shape[:axis] + (n_in, repeats) + g.shape[axis + 1:]
        return g.reshape(shape).sum(axis=axis + 1)
    index = xp.asarray(index)
    targets = xp.arange(n_in)
    starts = xp.searchsorted(index, targets, side="left")
    ends = xp.searchsorted(index, targets, side="right")
    read = ends > starts
    shape = list(g.shape)
    shape[axis] = n_in
    grad = xp.zeros(shape, dtype=g.dtype)
    sums = xp.add.reduceat(g, starts[read], axis=axis)
    where = [slice(None)] * g.ndim
    where[axis] = read
    grad[tuple(where)] = sums
    return grad


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners=None) -> Tensor:
    """Nearest-neighbour upsampling: the older name of `interpolate` (same semantics)."""
    return interpolate(input, size, scale_factor, mode, align_corners)
