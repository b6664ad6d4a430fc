"""Pooling as coarse ops: max, average, power-average, adaptive average (NCL / NCHW).

Windows. The input is padded once (with -inf for max pooling, zeros for averages) and
every kernel offset (kh, kw) reads one strided slice of it, the values that offset sees
in all windows at once: slice (i, j) holds x_pad[:, :, i*d + s*oh, j*d + s*ow] for every
output position (oh, ow). A pooling op is a short loop over the KH*KW offsets combining
those slices; its backward adds the output gradient back into the same slices of a
zero array shaped like the padded input and crops the padding off. No loop runs over
samples, channels or pixels.

Output size per spatial axis, as PyTorch (functional/_geometry.py):
  out = floor((L + 2p - d(k - 1) - 1) / s) + 1   (ceil instead of floor with ceil_mode,
  where the last window must still start inside the input or the left padding).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

from .. import autograd, backend, parallel
from ..tensor import Tensor, record
from ._common import in_layout_of
from ._geometry import check_pool_padding, int_tuple, output_sizes
from .elementwise import abs as _abs
from .elementwise import neg as _neg


class _Windows(NamedTuple):
    """The geometry of one pooling op over the trailing spatial axes.

    in_size: the unpadded spatial size; out_size: the output's; pads: (before, after)
    per axis, `after` just large enough for the last window (ceil_mode may need more
    than `padding`, and without it less may do).
    """

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    in_size: tuple[int, ...]
    out_size: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]

    def offsets(self):
        """(row-major index of the offset, slices of the padded input it reads)."""
        ranges = [range(k) for k in self.kernel]
        for index, offset in enumerate(itertools.product(*ranges)):
            yield index, (Ellipsis,) + tuple(
                slice(o * d, o * d + s * (n - 1) + 1, s)
                for o, d, s, n in zip(offset, self.dilation, self.stride, self.out_size,
                                      strict=True)
            )

    @property
    def disjoint(self) -> bool:
        """Whether no input position is read by two different offsets (no overlap)."""
        return all(s >= d * (k - 1) + 1
                   for k, s, d in zip(self.kernel, self.stride, self.dilation, strict=True))

    @property
    def interior(self) -> tuple:
        """The slices of the padded array that hold the input."""
        return (Ellipsis,) + tuple(slice(before, before + n)
                                   for (before, _), n in zip(self.pads, self.in_size, strict=True))

    def padded_shape(self, lead: tuple) -> tuple:
        return lead + tuple(n + a + b for n, (a, b) in zip(self.in_size, self.pads, strict=True))


# --- arguments and geometry -------------------------------------------------------------
def _batched(input: Tensor, spatial: int, op: str):
    """The data as (N, C, *spatial) and whether a batch axis was added to it."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    names = ("L",) if spatial == 1 else ("D", "H", "W")[3 - spatial:]
    x = input.data
    if x.ndim == spatial + 2:
        return x, False
    if x.ndim == spatial + 1:
        return x[None], True
    batched = "(" + ", ".join(("N", "C") + names) + ")"
    raise ValueError(
        f"{op}: expected input of shape {batched} or (C, {', '.join(names)}), "
        f"got {tuple(x.shape)}"
    )


def _check_float(x, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")


def _windows(shape, spatial: int, kernel_size, stride, padding, dilation, ceil_mode,
             op: str) -> _Windows:
    kernel = int_tuple(kernel_size, spatial, "kernel_size", op, 1)
    stride = kernel if stride is None else int_tuple(stride, spatial, "stride", op, 1)
    padding = int_tuple(padding, spatial, "padding", op, 0)
    dilation = int_tuple(dilation, spatial, "dilation", op, 1)
    check_pool_padding(padding, kernel, op)
    in_size = tuple(shape[-spatial:])
    out_size = output_sizes(op, in_size, kernel, stride, tuple((p, p) for p in padding),
                            dilation, ceil_mode, shape=shape)
    # `after` just large enough for the last window (ceil_mode may need more than
    # `padding`, and without it less may do).
    pads = tuple((p, max((o - 1) * s + d * (k - 1) + 1 - n - p, 0))
                 for n, o, k, s, p, d in zip(in_size, out_size, kernel, stride, padding,
                                             dilation, strict=True))
    return _Windows(kernel, stride, padding, dilation, in_size, out_size, pads)


def _pad(x, win: _Windows, fill):
    """x with win.pads of `fill` around its spatial axes (x itself when there are none)."""
    if not any(a or b for a, b in win.pads):
        return x
    xp = backend.array_module(x)
    # full_like keeps x's memory order (a conv's channels-last output stays so).
    out = xp.full_like(x, fill, shape=win.padded_shape(x.shape[:2]))
    out[win.interior] = x
    return out


def _unpad(grad, win: _Windows):
    return grad[win.interior] if any(a or b for a, b in win.pads) else grad


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


# --- max pooling --------------------------------------------------------------------------
def _max_pool(input: Tensor, spatial: int, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices: bool, op: str):
    x, unbatched = _batched(input, spatial, op)
    win = _windows(x.shape, spatial, kernel_size, stride, padding, dilation, ceil_mode, op)
    xp = backend.array_module(x)
    x_pad = _pad(x, win, _lowest(x.dtype))
    need_argmax = return_indices or (autograd._grad_enabled and input.requires_grad)
    offsets = list(win.offsets())
    # The output and the arrays below are made in x's memory order (a conv's channels-last
    # output stays so): ufuncs over operands of one layout run along contiguous memory.
    out = xp.empty_like(x_pad[offsets[0][1]])
    # Which offset holds each window's maximum: the first one in row-major order on ties,
    # as PyTorch (only a strictly larger value moves it).
    argmax = None
    if need_argmax:
        index_dtype = np.uint8 if len(offsets) <= 255 else np.int32
        argmax = xp.empty_like(out, dtype=index_dtype)

    def pool(chunk):  # samples `chunk`, in one of the threads
        part, top = x_pad[chunk], out[chunk]
        if need_argmax:
            best = argmax[chunk]
            larger = xp.empty_like(top, dtype=bool)
            candidate = xp.empty_like(top, dtype=index_dtype)
        for index, window in offsets:
            values = part[window]
            if index == 0:
                top[...] = values
                if need_argmax and len(offsets) == 1:  # else offset 1 sets every entry
                    best.fill(0)
                continue
            if need_argmax and index == 1:  # 1 where larger, else 0: the maximum of the two
                xp.greater(values, top, out=best, casting="unsafe")
            elif need_argmax:
                # Offsets come in increasing order, so "index where larger, else keep"
                # is a maximum: much faster than a masked copy.
                xp.greater(values, top, out=larger)
                xp.multiply(larger, index, out=candidate, casting="unsafe")
                xp.maximum(best, candidate, out=best)
            xp.maximum(top, values, out=top)  # propagates NaN, as PyTorch

    parallel.over_batch(len(x), pool, x_pad)

    # Whether the windows tile the input exactly, without gaps or overlaps.
    tiled = x_pad is x and all(k == s and d == 1 and n == o * k for k, s, d, n, o in zip(
        win.kernel, win.stride, win.dilation, win.in_size, win.out_size, strict=True))

    def backward(g):
        grad = xp.empty_like(x_pad, dtype=g.dtype)
        if unbatched:
            g = g[None]
        g = in_layout_of(g, argmax)

        def route(chunk):  # each window's g to its maximum, for samples `chunk`
            into, part, best = grad[chunk], g[chunk], argmax[chunk]
            if not tiled:  # else every input position is written below, exactly once
                into.fill(0)
            chosen = xp.empty_like(best, dtype=bool)
            share = None if win.disjoint else xp.empty_like(part)
            for index, window in offsets:
                xp.equal(best, index, out=chosen)
                if win.disjoint:  # each input position belongs to one window at most
                    xp.multiply(part, chosen, out=into[window])
                else:  # a value can be the maximum of several windows: gradients add up
                    xp.multiply(part, chosen, out=share)
                    into[window] += share

        parallel.over_batch(len(grad), route, grad)
        grad = _unpad(grad, win)
        return (grad[0] if unbatched else grad,)

    result = record(out[0] if unbatched else out, (input,), backward, op)
    if not return_indices:
        return result
    return result, _flat_indices(argmax, win, unbatched)


def _flat_indices(argmax, win: _Windows, unbatched: bool) -> Tensor:
    """PyTorch's indices: each maximum's flat position in its (H, W) (or (L,)) plane."""
    xp = backend.array_module(argmax)
    offsets = xp.unravel_index(argmax.astype(np.int64), win.kernel)
    flat = xp.zeros(argmax.shape, dtype=np.int64)
    spatial = len(win.kernel)
    for axis in range(spatial):
        shape = [1] * spatial
        shape[axis] = win.out_size[axis]
        starts = (xp.arange(win.out_size[axis]) * win.stride[axis]
                  - win.padding[axis]).reshape(shape)
        flat = flat * win.in_size[axis] + starts + offsets[axis] * win.dilation[axis]
    return Tensor(flat[0] if unbatched else flat)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """The maximum of each (dilated) kernel_size window, as torch.nn.functional.max_pool2d.

    x: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW); kernel_size, stride
    (default kernel_size), padding (at most kernel_size // 2, filled with -inf) and
    dilation: an int or (h, w).
    Gradient: dL/dx[p] = sum of g over the windows whose maximum is x[p]; each window
    sends its g to one element only, the first maximum in row-major window order on ties.
    return_indices=True also returns each maximum's flat index into the (H, W) plane.
    """
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool2d")


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """The maximum of each (dilated) window along the last axis, as PyTorch's max_pool1d.

    x: (N, C, L) or (C, L) -> (N, C, OL) or (C, OL); the arguments are ints (or 1-tuples).
    Gradient: dL/dx[p] = sum of g over the windows whose (first) maximum is x[p].
    """
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, "max_pool1d")


# --- average and power-average pooling -------------------------------------------------
def _window_sizes(win: _Windows, count_include_pad: bool, xp, dtype):
    """Each window's divisor, broadcastable to (OH, OW): PyTorch counts the padding when
    count_include_pad is set, but never the part of a ceil_mode window past it."""
    divisor = None
    for axis, (n, k, s, p) in enumerate(zip(win.in_size, win.kernel, win.stride,
                                            win.padding, strict=True)):
        starts = np.arange(win.out_size[axis]) * s - p
        ends = np.minimum(starts + k, n + p)
        if not count_include_pad:
            starts, ends = np.maximum(starts, 0), np.minimum(ends, n)
        shape = [1] * len(win.kernel)
        shape[axis] = -1
        sizes = (ends - starts).reshape(shape)
        divisor = sizes if divisor is None else divisor * sizes
    return xp.asarray(divisor, dtype=dtype)


def _window_sums(x, win: _Windows):
    """The sum of each window of the zero-padded x."""
    x_pad = _pad(x, win, 0)
    total = None
    for _, window in win.offsets():
        if total is None:
            total = x_pad[window].copy(order="K")
        else:
            total += x_pad[window]
    return total


def _window_sums_backward(g, win: _Windows):
    """The adjoint of _window_sums: every input value gets the g of each window it is in."""
    xp = backend.array_module(g)
    grad = xp.zeros_like(g, shape=win.padded_shape(g.shape[:2]))
    for _, window in win.offsets():
        if win.disjoint:
            grad[window] = g
        else:
            grad[window] += g
    return _unpad(grad, win)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each kernel_size window, as torch.nn.functional.avg_pool2d.

    x: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW). Zero padding (at most
    kernel_size // 2); the divisor counts the padded positions when count_include_pad,
    only the input's otherwise, and is `divisor_override` when that is given.
    Gradient: dL/dx[p] = sum over the windows w containing p of g[w] / divisor[w].
    """
    op = "avg_pool2d"
    x, unbatched = _batched(input, 2, op)
    _check_float(x, op)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override <= 0):
        raise ValueError(f"{op}: divisor_override must be a positive int, got "
                         f"{divisor_override!r}")
    win = _windows(x.shape, 2, kernel_size, stride, padding, 1, ceil_mode, op)
    xp = backend.array_module(x)
    if divisor_override is not None:
        divisor = xp.asarray(divisor_override, dtype=x.dtype)
    else:
        divisor = _window_sizes(win, count_include_pad, xp, x.dtype)
    out = _window_sums(x, win)
    out /= divisor

    def backward(g):
        grad = _window_sums_backward((g[None] if unbatched else g) / divisor, win)
        return (grad[0] if unbatched else grad,)

    return record(out[0] if unbatched else out, (input,), backward, op)


def gaussian_window(kernel_size, sigma: float, dtype=np.float64) -> np.ndarray:
    """(KH, KW) weights exp(-d^2 / (2 sigma^2)) of each position's distance d from the
    window's centre, normalised to sum to 1."""
    kh, kw = kernel_size
    rows = np.arange(kh) - (kh - 1) / 2
    cols = np.arange(kw) - (kw - 1) / 2
    weights = np.exp(-(rows[:, None] ** 2 + cols[None] ** 2) / (2 * sigma * sigma))
    return (weights / weights.sum()).astype(dtype)


def weighted_avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,
                        sigma: float = 1.0) -> Tensor:
    """A weighted average over each kernel_size window, the weights falling with the
    distance from the window's centre (Gaussian, `sigma` pixels; `gaussian_window`).

    x: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW), as avg_pool2d (stride
    defaults to kernel_size; zero padding, at most kernel_size // 2, counted). A very
    large sigma is avg_pool2d; a small one keeps mostly the centre pixel.
        y[n, c, i, j] = sum over (p, q) of w[p, q] x_pad[n, c, i*sh + p, j*sw + q]
    Gradient: dL/dx_pad[n, c, i*sh + p, j*sw + q] += w[p, q] g[n, c, i, j] (summed over
    the windows that read it).
    """
    op = "weighted_avg_pool2d"
    x, unbatched = _batched(input, 2, op)
    _check_float(x, op)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ValueError(f"{op}: sigma must be a number > 0 (pixels), got {sigma!r}")
    win = _windows(x.shape, 2, kernel_size, stride, padding, 1, False, op)
    weights = gaussian_window(win.kernel, sigma).ravel()
    x_pad = _pad(x, win, 0)
    xp = backend.array_module(x)
    out = term = None
    for index, window in win.offsets():  # one scratch array for every weighted window
        w = x.dtype.type(weights[index])
        if out is None:
            out = xp.multiply(x_pad[window], w)
            term = xp.empty_like(out)
        else:
            out += xp.multiply(x_pad[window], w, out=term)

    def backward(g):
        g = g[None] if unbatched else g
        grad = xp.zeros_like(g, shape=win.padded_shape(g.shape[:2]))
        scaled = xp.empty_like(g)
        for index, window in win.offsets():
            grad[window] += xp.multiply(g, g.dtype.type(weights[index]), out=scaled)
        grad = _unpad(grad, win)
        return (grad[0] if unbatched else grad,)

    return record(out[0] if unbatched else out, (input,), backward, op)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling (sum of x^p over each window)^(1/p), as PyTorch's lp_pool2d.

    x: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW); no padding. p = 2 is
    L2-norm pooling; p = inf is max pooling of |x|. Computed as PyTorch does, through the
    average: a = avg_pool2d(x^p), y = (K a)^(1/p) with K = kh*kw, so a ceil_mode window cut
    short by the border is scaled up to a full one. (Odd p: a negative sum gives NaN.)
    Gradient, with `a` of each window w containing x[q]:
      dL/dx[q] = sum_w g[w] * (K a_w)^(1/p - 1) * x[q]^(p - 1) * K / count_w,
    and 0 from windows whose sum is 0 (PyTorch's choice where the root has no slope).
    """
    op = "lp_pool2d"
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float, np.number)):
        raise ValueError(f"{op}: norm_type must be a number, got {norm_type!r}")
    if norm_type == 0:
        raise ValueError(f"{op}: norm_type must be non-zero, got {norm_type!r}")
    if math.isinf(norm_type):
        pooled = max_pool2d(_abs(input) if norm_type > 0 else _neg(_abs(input)),
                            kernel_size, stride, 0, 1, ceil_mode)
        return pooled if norm_type > 0 else _neg(pooled)
    x, unbatched = _batched(input, 2, op)
    _check_float(x, op)
    win = _windows(x.shape, 2, kernel_size, stride, 0, 1, ceil_mode, op)
    xp = backend.array_module(x)
    p = float(norm_type)
    size = math.prod(win.kernel)
    count = _window_sizes(win, True, xp, x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        powers = x ** p
        mean = _window_sums(powers, win)
        mean /= count
        scaled = mean * size
        out = scaled ** (1 / p)

    def backward(g):
        if unbatched:
            g = g[None]
        with np.errstate(invalid="ignore", divide="ignore"):
            d_mean = xp.where(mean == 0, 0, g * (size / p) * scaled ** (1 / p - 1))
            d_mean = d_mean.astype(g.dtype, copy=False)
            grad = _window_sums_backward(d_mean / count, win) * (p * x ** (p - 1))
        return (grad[0] if unbatched else grad,)

    return record(out[0] if unbatched else out, (input,), backward, op)


# --- adaptive average pooling ------------------------------------------------------------
def _adaptive_sizes(output_size, in_size: tuple, op: str) -> tuple[int, ...]:
    n = len(in_size)
    sizes = (output_size,) * n if isinstance(output_size, (int, np.integer)) else output_size
    valid = isinstance(sizes, (tuple, list)) and len(sizes) == n and all(
        s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0)
        for s in sizes)
    if not valid:
        raise ValueError(
            f"{op}: output_size must be a positive int or a tuple of {n} positive ints or "
            f"None (None keeps that axis), got {output_size!r}"
        )
    return tuple(int(m if s is None else s) for s, m in zip(sizes, in_size, strict=True))


def _adaptive_matrix(n_in: int, n_out: int, xp, dtype):
    """(n_out, n_in) indicator of PyTorch's windows [floor(i n_in/n_out),
    ceil((i+1) n_in/n_out)) per output i, and the window lengths (n_out,)."""
    i = np.arange(n_out)
    starts = (i * n_in) // n_out
    ends = -((-(i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    member = (cols >= starts[:, None]) & (cols < ends[:, None])
    return xp.asarray(member, dtype=dtype), ends - starts


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output size, as torch.nn.functional.adaptive_avg_pool2d.

    x: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW) or (C, OH, OW); output_size: an int,
    or (OH, OW) where None keeps the input's size; 1 is global average pooling. Output i
    along an axis of size L averages [floor(i L / O), ceil((i + 1) L / O)), so windows
    differ in size and may overlap when O does not divide L.
    Forward as matrices: y = (A_h x A_w^T) / (len_h len_w^T), with A the 0/1 window
    indicators. Gradient: dL/dx = A_h^T (g / (len_h len_w^T)) A_w.
    """
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(input, 2, op)
    _check_float(x, op)
    (h, w), xp = x.shape[-2:], backend.array_module(x)
    oh, ow = _adaptive_sizes(output_size, (h, w), op)
    n, c = x.shape[:2]
    if h % oh == 0 and w % ow == 0:  # equal, disjoint windows: a reshaped mean
        kh, kw = h // oh, w // ow
        out = x.reshape(n, c, oh, kh, ow, kw).mean(axis=(3, 5))

        def backward(g):
            if unbatched:
                g = g[None]
            g = xp.broadcast_to((g / (kh * kw))[:, :, :, None, :, None], (n, c, oh, kh, ow, kw))
            grad = g.reshape(n, c, h, w)
            return (grad[0] if unbatched else grad,)
    else:
        rows, row_len = _adaptive_matrix(h, oh, xp, x.dtype)
        cols, col_len = _adaptive_matrix(w, ow, xp, x.dtype)
        divisor = xp.asarray(np.outer(row_len, col_len), dtype=x.dtype)
        out = (rows @ x @ cols.T) / divisor

        def backward(g):
            grad = rows.T @ ((g[None] if unbatched else g) / divisor) @ cols
            return (grad[0] if unbatched else grad,)

    return record(out[0] if unbatched else out, (input,), backward, op)
