"""Convolutions as coarse ops: conv1d, conv2d and conv_transpose2d (NCHW, as PyTorch).

Forward (im2col). The zero-padded input is laid out channels-last within each group,
(G, N, Hp, Wp, C/G), and viewed through `as_strided`, without copying, as all its
receptive fields at once: (G, N, OH, OW, KH, KW, C/G). One copy of that view is the column
matrix cols: (G, N*OH*OW, KH*KW*C/G), and one matrix product per group (batched over the
groups; G = 1 without groups) with the weight as W: (G, KH*KW*C/G, O/G) gives every output
value. Channels-last makes the innermost runs of the copy (kw, c) contiguous, and both
operands of the product are contiguous, so it is one large BLAS call.

Backward. With g the output gradient as a matrix (G, N*OH*OW, O/G):
  dW = g^T cols (cols kept from the forward pass while a backward is due: KH*KW times the
  input's memory per layer until then), db = g summed over samples and pixels,
  dX = col2im(g W^T): for each kernel offset (kh, kw), the block g W[:, :, kh, kw] is added
  into the strided window of the input that offset read (a loop over the KH*KW offsets,
  no scatter; the part of a window that read padding is dropped).

Bias. cols ends in a column of ones and the weight matrix in a row holding the bias, so
the forward product adds the bias, and the weight gradient's product yields db (its last
column): no pass over the output for either.

Memory layout. Without groups, the output is returned in the product's own layout,
channels-last memory (N, OH, OW, O), seen as an NCHW array through its strides: no copy.
Values and shapes are PyTorch's; only the strides differ. Elementwise ops, pooling and
batch norm allocate like their input and so keep that layout, and then the next conv's
channels-last copy and the backward's g matrix read contiguous memory.

conv_transpose2d is the adjoint of conv2d: its forward is conv2d's input gradient (col2im)
and its input gradient is conv2d's forward (im2col), so both share the functions below.
conv1d is conv2d on inputs of height 1.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .. import autograd, backend, parallel
from ..tensor import Tensor, record
from ._common import channel_sums, column_sums, constant


class _Plan(NamedTuple):
    """The geometry of one 2-D convolution, seen from the conv2d side.

    in_hw: the unpadded input size; out_hw: the output size; pads: (top, bottom, left,
    right). For conv_transpose2d the roles swap: in_hw is its output, out_hw its input.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    groups: int


# --- work arrays -------------------------------------------------------------------------
class _WorkArrays(threading.local):
    """Scratch arrays that never leave an op, kept between calls and reused by shape.

    Why: a fresh array of many megabytes costs a page fault per page on first touch (the
    kernel zeroes it), a fifth of a convolution's time on a CPU; the column matrix, the
    padded input and the gradient sums have the same shapes at every training
    step, so the same memory serves them all. The least recently used are dropped beyond
    `capacity` (a few conv layers' worth). One set per thread.
    """

    capacity = 24

    def __init__(self):
        self.arrays = OrderedDict()

    def get(self, name: str, shape: tuple, dtype, xp):
        """An uninitialised array for `name`; no two live uses may share a name."""
        array = self.take(name, shape, dtype, xp)
        self.give(name, array, xp)
        return array

    def take(self, name: str, shape: tuple, dtype, xp):
        """Like `get`, but the array leaves the cache until `give` brings it back: for
        an array that must outlive the op (a forward pass's columns, kept for its
        backward); meanwhile another call of the same shape gets an array of its own."""
        array = self.arrays.pop((name, tuple(shape), np.dtype(dtype).str, xp.__name__), None)
        return xp.empty(shape, dtype=dtype) if array is None else array

    def give(self, name: str, array, xp) -> None:
        """Put an array (back) into the cache, the most recently used; the least recently
        used beyond `capacity` are dropped."""
        self.arrays[(name, tuple(array.shape), array.dtype.str, xp.__name__)] = array
        while len(self.arrays) > self.capacity:
            self.arrays.popitem(last=False)

    def clear(self) -> None:
        self.arrays.clear()


_work = _WorkArrays()


# --- the array-level building blocks ----------------------------------------------------
def _padded_channels_last(x, pads, groups: int):
    """(N, C, H, W) -> (G, N, H + top + bottom, W + left + right, C/G), zeros around (a
    work array): channels last within each group, the groups first."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    top, bottom, left, right = pads
    hp, wp = h + top + bottom, w + left + right
    out = _work.get("padded", (groups, n, hp, wp, c // groups), x.dtype, xp)
    # Only the border needs zeros: the inside is overwritten by x.
    out[:, :, :top] = 0
    out[:, :, hp - bottom:] = 0
    out[:, :, top:hp - bottom, :left] = 0
    out[:, :, top:hp - bottom, wp - right:] = 0
    grouped = x.reshape(n, groups, c // groups, h, w).transpose(1, 0, 3, 4, 2)
    inside = out[:, :, top:top + h, left:left + w]

    def copy(chunk):
        inside[:, chunk] = grouped[:, chunk]

    parallel.over_batch(n, copy, out)
    return out


def _im2col(x, plan: _Plan, keep: bool = False, ones: bool = False):
    """x: (N, C, H, W) -> (cols: (G, N*OH*OW, KH*KW*C/G [+ 1]), its memory), rows (n, oh,
    ow), columns (kh, kw, c): one copy of a strided view of the padded input, into a work
    array (taken out of the cache when `keep`: give it back with _work.give("cols", memory,
    xp)). `ones` appends a column of ones: the bias then rides in the matrix product (as
    the weight matrix's last row, see _weight_matrix), which saves a pass over the output,
    and the weight gradient's product yields the bias gradient too.

    With several channels per group the copy runs along (kw, c), contiguous in the
    channels-last input. With one (a first layer on grey images, a depthwise conv) those
    runs would be a few values long, so the copy is made in the transposed order (kh, kw;
    n, oh, ow), along image rows, and cols is returned as a transposed view of it.
    """
    xp = backend.array_module(x)
    groups = plan.groups
    padded = _padded_channels_last(x, plan.pads, groups)
    n, cg = padded.shape[1], padded.shape[4]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = plan.kernel, plan.stride, plan.dilation, plan.out_hw
    s_g, s_n, s_h, s_w, s_c = padded.strides
    width = kh * kw * cg + ones
    take = _work.take if keep else _work.get
    rows_first = cg > 1
    if rows_first:
        shape = (groups, n, oh, ow, kh, kw, cg)
        strides = (s_g, s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
        cols = take("cols", (groups, n, oh, ow, width), x.dtype, xp)
        # Splitting the last axis of a slice is always a view: the copy lands in cols.
        target, ones_part, batch_axis = cols[..., :kh * kw * cg].reshape(shape), cols[..., -1], 1
    else:
        shape = (groups, kh, kw, n, oh, ow)
        strides = (s_g, s_h * dh, s_w * dw, s_n, s_h * sh, s_w * sw)
        cols = take("cols", (groups, width, n, oh, ow), x.dtype, xp)
        target, ones_part, batch_axis = cols[:, :kh * kw].reshape(shape), cols[:, -1], 3
    view = xp.lib.stride_tricks.as_strided(padded, shape=shape, strides=strides)

    def copy(chunk):
        part = (slice(None),) * batch_axis + (chunk,)
        target[part] = view[part]
        if ones:
            ones_part[:, chunk] = 1

    parallel.over_batch(n, copy, cols)
    if rows_first:
        return cols.reshape(groups, n * oh * ow, width), cols
    return cols.reshape(groups, width, n * oh * ow).transpose(0, 2, 1), cols


class _Window(NamedTuple):
    """Where kernel offset (i, j) sends its block of dcols: the part of the block
    (block_rows, block_cols, over output pixels) whose reads fell inside the unpadded input
    (target_rows, target_cols, strided slices of it); reads of the padding are dropped."""

    i: int
    j: int
    block_rows: slice
    block_cols: slice
    target_rows: slice
    target_cols: slice


def _clip_axis(offset: int, dilation: int, stride: int, before: int, size: int, out: int):
    """The output indices r whose read offset*dilation + stride*r - before lands in
    [0, size), as (output slice, input slice); None when there are none."""
    start = offset * dilation - before  # the input index output 0 reads
    first = -(start // stride) if start < 0 else 0  # the first r with a read >= 0
    last = min(out - 1, (size - 1 - start) // stride)
    if last < first:
        return None
    return (slice(first, last + 1),
            slice(start + stride * first, start + stride * last + 1, stride))


def _clipped_windows(plan: _Plan) -> list[_Window]:
    """Every kernel offset that reads some of the unpadded input, row-major."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = plan.kernel, plan.stride, plan.dilation, \
        plan.out_hw
    (h, w), (top, _, left, _) = plan.in_hw, plan.pads
    windows = []
    for i in range(kh):
        rows = _clip_axis(i, dh, sh, top, h, oh)
        for j in range(kw):
            cols = _clip_axis(j, dw, sw, left, w, ow)
            if rows and cols:
                windows.append(_Window(i, j, rows[0], cols[0], rows[1], cols[1]))
    return windows


def _covers(window: _Window, plan: _Plan) -> bool:
    """Whether the window writes every input pixel once, from the whole block (then its
    block can initialise the sums, a copy instead of zeros and an addition)."""
    (oh, ow), (h, w) = plan.out_hw, plan.in_hw
    return (window.block_rows == slice(0, oh) and window.block_cols == slice(0, ow)
            and window.target_rows == slice(0, h, 1) and window.target_cols == slice(0, w, 1))


def _input_gradient(gm, w, plan: _Plan, n: int, bias=None):
    """conv2d's input gradient by col2im: gm (G, N*OH*OW, O/G), the output gradient as a
    matrix, and w (O, C/G, KH, KW) -> (N, C, H, W).

    The gradient of the columns is dcols = gm W^T, computed as one block per kernel offset,
    blocks[kh, kw] = gm W[:, :, kh, kw] (G, N*OH*OW, C/G): all the matrix products first,
    then each block is added into the strided window of the input that this offset read
    in the forward pass (the part that read padding is dropped), the samples split
    between threads (a block is contiguous, which makes the additions fast; products and
    additions are not interleaved, so BLAS's threads and ours never take turns). The
    overlaps of neighbouring windows sum. The sums start from the block of an offset that
    read every input pixel once (the centre of a 'same' conv), else from zeros; `bias`, if
    given, is added to every pixel on the way.
    """
    xp = backend.array_module(gm)
    groups, rows, og = gm.shape
    o, cg, kh, kw = w.shape
    oh, ow = plan.out_hw
    h, wd = plan.in_hw
    # (KH*KW, G, O/G, C/G): every offset's weights a contiguous batch of matrices.
    per_offset = xp.ascontiguousarray(
        w.reshape(groups, og, cg, kh, kw).transpose(3, 4, 0, 1, 2)).reshape(kh * kw, groups,
                                                                            og, cg)
    blocks = _work.get("blocks", (kh * kw, groups, rows, cg), gm.dtype, xp)
    if og == 1:  # an outer product: BLAS is slow at inner size 1, NumPy is not
        xp.multiply(gm, per_offset, out=blocks)
    else:
        xp.matmul(gm, per_offset, out=blocks)
    images = blocks.reshape(kh, kw, groups, n, oh, ow, cg)
    windows = _clipped_windows(plan)
    first = next((window for window in windows if _covers(window, plan)), None)
    if first is not None:
        windows.remove(first)
    if groups == 1:  # channels-last, the sums made in the output itself
        out = xp.empty((n, h, wd, cg), dtype=gm.dtype)
        sums, result = out[None], out.transpose(0, 3, 1, 2)
    else:  # channels-last per group, then copied into the (N, G*C/G, H, W) output
        sums = _work.get("sums", (groups, n, h, wd, cg), gm.dtype, xp)
        out = result = xp.empty((n, groups * cg, h, wd), dtype=gm.dtype)
    start = bias if groups == 1 else None  # groups > 1: the copy into out adds the bias

    def col2im(chunk):  # samples `chunk`, in one of the threads
        into = sums[:, chunk]
        if first is None:
            into[...] = 0 if start is None else start
        else:
            block = images[first.i, first.j, :, chunk]
            if start is None:
                into[...] = block
            else:
                xp.add(block, start, out=into)
        for i, j, block_rows, block_cols, target_rows, target_cols in windows:
            into[:, :, target_rows, target_cols] += images[i, j, :, chunk, block_rows,
                                                           block_cols]
        if groups > 1:
            _copy_plus_bias(into.transpose(1, 0, 4, 2, 3), bias, out[chunk])

    parallel.over_batch(n, col2im, sums)
    return result


def _weight_matrix(w, groups: int, bias=None):
    """(O, C/G, KH, KW) -> (G, KH*KW*C/G [+ 1], O/G), rows ordered like the columns of
    cols; `bias` (O,), if given, is the last row (it meets cols' column of ones)."""
    xp = backend.array_module(w)
    o, cg, kh, kw = w.shape
    per_group = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    matrix = per_group.reshape(groups, kh * kw * cg, o // groups)
    if bias is None:
        return matrix
    row = bias.reshape(groups, 1, o // groups).astype(matrix.dtype, copy=False)
    return xp.concatenate([matrix, row], axis=1)


# A product over this many rows or more, into an output of few values, is cut into
# per-sample products (see _long_product).
LONG_ROWS = 4096


def _long_product(a, b, samples: int):
    """a @ b for a (G, K, R) and b (G, R, M), R = samples * rows per sample: when R is long
    and K*M small, as the sum over the samples of their own products. Why: one product of
    a 9 x 100,352 by a 100,352 x 32 matrix (a first conv layer's weight gradient) runs at
    a fraction of BLAS's speed; a batch of small products, each of a few hundred rows that
    stay in cache, is twice as fast, and summing 128 tiny results costs nothing. Not for
    M = 1 (a depthwise conv's matrix-vector products), where the split measured slower."""
    groups, k, rows = a.shape
    m = b.shape[2]
    if rows < LONG_ROWS or k * m > 1024 or m == 1:
        return a @ b
    per = rows // samples
    parts = (a.reshape(groups, k, samples, per).transpose(0, 2, 1, 3)
             @ b.reshape(groups, samples, per, m))
    return parts.sum(axis=1)


def _weight_gradient(gm, cols, shape, samples: int):
    """dW = gm^T cols per group: gm (G, rows, O/G) and cols (G, rows, K [+ 1]), with rows
    = samples * OH * OW -> (dW (O, C/G, KH, KW), db (O,) or None). With cols' column of
    ones (a bias in the product), the product's last column is db = gm summed over rows."""
    o, cg, kh, kw = shape
    groups = gm.shape[0]
    if cols.flags.c_contiguous:  # BLAS reads the transpose as is
        m = gm.transpose(0, 2, 1) @ cols  # (G, O/G, KH*KW*C/G [+ 1])
    else:  # cols is itself a transposed view (one channel per group): its transpose is
        # contiguous, and 40 % faster
        m = _long_product(cols.transpose(0, 2, 1), gm, samples).transpose(0, 2, 1)
    grad_b = m[:, :, -1].reshape(o) if m.shape[2] > kh * kw * cg else None
    grad_w = m[:, :, :kh * kw * cg].reshape(groups, o // groups, kh, kw, cg)
    return grad_w.transpose(0, 1, 4, 2, 3).reshape(shape), grad_b


def _to_matrix(y, groups: int):
    """(N, O, OH, OW) -> (G, N*OH*OW, O/G), the layout of cols @ W (into a work array)."""
    xp = backend.array_module(y)
    n, o, oh, ow = y.shape
    if groups == 1:
        channels_last = y.transpose(0, 2, 3, 1)
        if channels_last.flags.c_contiguous:  # y came from a conv: no copy needed
            return channels_last.reshape(1, n * oh * ow, o)
    out = _work.get("matrix", (groups, n, oh, ow, o // groups), y.dtype, xp)
    grouped = y.reshape(n, groups, o // groups, oh, ow).transpose(1, 0, 3, 4, 2)

    def copy(chunk):
        out[:, chunk] = grouped[:, chunk]

    parallel.over_batch(n, copy, out)
    return out.reshape(groups, n * oh * ow, o // groups)


def _copy_plus_bias(source, bias, out) -> None:
    """out (N, G*K, H, W) = source (N, G, K, H, W) (+ bias per channel): one pass, rather
    than a copy and then an add."""
    out = out.reshape(source.shape)  # a view: out is new and contiguous
    if bias is None:
        out[...] = source
    else:
        backend.array_module(out).add(source, bias.reshape(source.shape[1:3] + (1, 1)), out=out)


def _product_as_image(cols, wmat, n: int, hw: tuple[int, int]):
    """cols @ wmat per group (G, N*OH*OW, O/G) as a new (N, O, OH, OW) (a bias rides in
    the product). Without groups it is a channels-last array seen as NCHW (see the module
    doc)."""
    xp = backend.array_module(cols)
    groups, rows, _ = cols.shape
    og = wmat.shape[2]
    if groups == 1:
        # The product's rows are (n, oh, ow) and its columns the channels: it is the
        # output in channels-last memory, returned as an NCHW view without a copy.
        product = xp.matmul(cols[0], wmat[0])
        return product.reshape(n, hw[0], hw[1], og).transpose(0, 3, 1, 2)
    product = _work.get("product", (groups, rows, og), cols.dtype, xp)
    xp.matmul(cols, wmat, out=product)
    out = xp.empty((n, groups * og) + tuple(hw), dtype=cols.dtype)
    image = product.reshape(groups, n, hw[0], hw[1], og).transpose(1, 0, 4, 2, 3)
    _copy_plus_bias(image, None, out)
    return out


# --- argument checking -------------------------------------------------------------------
def _ints(value, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            values = ()
        if len(values) != n or any(isinstance(v, bool) for v in value):
            raise ValueError(
                f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}"
            )
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def _pads(padding, kernel, stride, dilation, op: str) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial axis for padding given as int, tuple, 'valid', 'same'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}: padding='same' needs stride 1 (the output could not keep the "
                    f"input's size otherwise), got stride={stride}"
                )
            # The total is split as PyTorch does: any odd remainder goes after (right).
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(
            f"{op}: padding must be an int, a tuple of {n} ints, 'valid' or 'same', "
            f"got {padding!r}"
        )
    return tuple((p, p) for p in _ints(padding, n, "padding", op, 0))


def _lift(input, weight, bias, op: str, spatial: int, weight_layout: str):
    """Check dimensions; return the data as 4-D arrays (batched, height 1 for 1-D ops) and
    whether the input was unbatched."""
    x, w = input.data, weight.data
    batched_text = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D input {batched_text} or an unbatched "
            f"{spatial + 1}-D one, got shape {tuple(x.shape)}"
        )
    if w.ndim != spatial + 2:
        kernel_text = "kL" if spatial == 1 else "kH, kW"
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D weight ({weight_layout}, {kernel_text}), "
            f"got shape {tuple(w.shape)}"
        )
    unbatched = x.ndim == spatial + 1
    if unbatched:
        x = x[None]
    if spatial == 1:
        x, w = x[:, :, None, :], w[:, :, None, :]
    if bias is not None:
        bias = bias.data
    return x, w, bias, unbatched


def _as_tensor(value) -> Tensor:
    return value if isinstance(value, Tensor) else constant(value)


def _check_bias(bias, channels: int, op: str) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(
            f"{op}: expected bias of shape ({channels},), got {tuple(bias.shape)}"
        )


def _check_groups(groups, in_channels: int, out_channels: int, op: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels % groups:
            raise ValueError(
                f"{op}: {name} ({channels}) must be divisible by groups ({groups})"
            )
    return int(groups)


def _output_size(size, kernel, pad, stride, dilation, axis: str, op: str) -> int:
    span = dilation * (kernel - 1) + 1
    if size + pad[0] + pad[1] < span:
        raise ValueError(
            f"{op}: the kernel (size {kernel}, dilation {dilation}: spans {span}) is larger "
            f"than the padded input along {axis}; expected a padded {axis} of at least "
            f"{span}, got {size} + padding {pad[0] + pad[1]} = {size + pad[0] + pad[1]}"
        )
    return (size + pad[0] + pad[1] - span) // stride + 1


def _spatial(values, spatial: int, fill: int) -> tuple[int, int]:
    """Per-axis values as (height, width); 1-D ops get a height axis of `fill`."""
    return (fill, values[0]) if spatial == 1 else tuple(values)


# --- the ops -----------------------------------------------------------------------------
def _convolution(op, input, weight, bias, stride, padding, dilation, groups, spatial):
    input, weight = _as_tensor(input), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x, w, b, unbatched = _lift(input, weight, bias, op, spatial, "out_channels, in/groups")
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    groups = _check_groups(groups, c, o, op)
    if cg * groups != c:
        raise ValueError(
            f"{op}: the weight's in-channels (axis 1) must be in_channels / groups = "
            f"{c} / {groups} = {c // groups}, got weight of shape {tuple(weight.shape)} for "
            f"input of shape {tuple(input.shape)}"
        )
    _check_bias(b, o, op)
    kernel = tuple(weight.shape[2:])
    stride = _ints(stride, spatial, "stride", op, 1)
    dilation = _ints(dilation, spatial, "dilation", op, 1)
    pads = _pads(padding, kernel, stride, dilation, op)
    axes = ("length",) if spatial == 1 else ("height", "width")
    sizes = tuple(
        _output_size(size, k, p, s, d, axis, op)
        for size, k, p, s, d, axis in zip(input.shape[-spatial:], kernel, pads, stride,
                                          dilation, axes)
    )
    all_pads = ((0, 0),) + pads if spatial == 1 else pads
    plan = _Plan(
        kernel=(w.shape[2], w.shape[3]),
        stride=_spatial(stride, spatial, 1),
        dilation=_spatial(dilation, spatial, 1),
        pads=all_pads[0] + all_pads[1],
        in_hw=(x.shape[2], x.shape[3]),
        out_hw=_spatial(sizes, spatial, 1),
        groups=groups,
    )
    keep = autograd.is_grad_enabled() and weight.requires_grad
    # The columns are kept for the weight gradient when there will be one (KH*KW times
    # the input's memory until the backward pass, which returns them to the work arrays).
    # With a bias they end in a column of ones, and the weight matrix in the bias.
    cols, memory = _im2col(x, plan, keep, ones=b is not None)
    out = _product_as_image(cols, _weight_matrix(w, groups, b), n, plan.out_hw)
    kept = [cols, memory] if keep else None

    def backward(g):
        grad_x = grad_w = grad_b = None
        gm = _to_matrix(g.reshape(out.shape), groups)  # (G, N*OH*OW, O/G)
        if input.requires_grad:
            grad_x = _input_gradient(gm, w, plan, n).reshape(input.shape)
        if weight.requires_grad:
            if kept:  # the forward pass's, once; a second backward (retain_graph) rebuilds
                cols, memory = kept
                kept.clear()
                grad_w, bias_sums = _weight_gradient(gm, cols, w.shape, n)
                _work.give("cols", memory, backend.array_module(memory))
            else:
                cols = _im2col(x, plan, ones=b is not None)[0]
                grad_w, bias_sums = _weight_gradient(gm, cols, w.shape, n)
            grad_w = grad_w.reshape(weight.shape)
            if bias is not None and bias.requires_grad:
                grad_b = bias_sums  # the product with cols' column of ones
        elif bias is not None and bias.requires_grad:
            grad_b = column_sums(gm).reshape(o)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)

    shape = (o,) + sizes if unbatched else (n, o) + sizes
    parents = (input, weight) if bias is None else (input, weight, bias)
    return record(out.reshape(shape), parents, backward, op)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    x: (N, C, H, W) or unbatched (C, H, W); weight: (O, C/groups, KH, KW); bias: (O,)
    -> (N, O, OH, OW), OH = floor((H + pad_top + pad_bottom - dh*(KH-1) - 1) / sh) + 1.
    stride, dilation: int or (h, w); padding: int, (h, w), 'valid' (0) or 'same' (output
    size = input size; stride 1 only; an odd total goes to the bottom/right). groups splits
    channels into independent convolutions (groups == C is depthwise).
    y[n,o,i,j] = b[o] + sum_{c in group(o), p, q} W[o,c,p,q] x_pad[n,c, i*sh+p*dh, j*sw+q*dw].
    Gradients, with cols the im2col matrix and g as a (N*OH*OW, O) matrix per group:
      dW = g^T cols, db = sum over n, i, j of g, dx = col2im(g W) (reads of the padding dropped).
    """
    return _convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation, as torch.nn.functional.conv1d (conv2d on a height of 1).

    x: (N, C, L) or unbatched (C, L); weight: (O, C/groups, K); bias: (O,) -> (N, O, OL),
    OL = floor((L + 2p - d*(K-1) - 1) / s) + 1; padding: int, (p,), 'valid' or 'same'.
    y[n,o,i] = b[o] + sum_{c in group(o), k} W[o,c,k] x_pad[n,c, i*s + k*d]; gradients as
    conv2d's: dW = g^T cols, db = sum of g, dx = col2im(g W).
    """
    return _convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution, as torch.nn.functional.conv_transpose2d.

    x: (N, C_in, H, W) or unbatched; weight: (C_in, C_out/groups, KH, KW); bias: (C_out,)
    -> (N, C_out, OH, OW), OH = (H - 1)*sh - 2*ph + dh*(KH - 1) + output_padding_h + 1.
    It is the adjoint (the input gradient) of conv2d with the same weight, stride, padding,
    dilation and groups, mapping (N, C_out, OH, OW) to (N, C_in, H, W):
      y = col2im(x W), where x is a (N*H*W, C_in) matrix per group.
    output_padding (< stride or < dilation) adds rows/columns at the bottom/right that
    no input reaches, to pick one of the output sizes a strided conv2d maps to H.
    Gradients: dx = conv2d(g, W) (im2col of g, times W), dW = x^T im2col(g),
    db = sum over n, i, j of g.
    """
    op = "conv_transpose2d"
    input, weight = _as_tensor(input), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x, w, b, unbatched = _lift(input, weight, bias, op, 2, "in_channels, out/groups")
    n, c = x.shape[:2]
    if w.shape[0] != c:
        raise ValueError(
            f"{op}: the weight's axis 0 must be the input's channels ({c}), got weight of "
            f"shape {tuple(w.shape)} for input of shape {tuple(input.shape)}"
        )
    groups = _check_groups(groups, c, c, op)
    out_channels = w.shape[1] * groups
    _check_bias(b, out_channels, op)
    kernel = tuple(w.shape[2:])
    stride = _ints(stride, 2, "stride", op, 1)
    dilation = _ints(dilation, 2, "dilation", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of 2 ints, got {padding!r}")
    padding = _ints(padding, 2, "padding", op, 0)
    output_padding = _ints(output_padding, 2, "output_padding", op, 0)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ValueError(
                f"{op}: output_padding must be smaller than stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    sizes = tuple(
        (size - 1) * s - 2 * p + d * (k - 1) + extra + 1
        for size, s, p, d, k, extra in zip(x.shape[2:], stride, padding, dilation, kernel,
                                           output_padding)
    )
    if min(sizes) < 1:
        raise ValueError(
            f"{op}: the output would have size {sizes} for input of shape "
            f"{tuple(input.shape)}, kernel {kernel}, stride {stride}, padding {padding}, "
            f"dilation {dilation}; expected a positive size (use less padding)"
        )
    plan = _Plan(kernel=kernel, stride=stride, dilation=dilation,
                 pads=(padding[0], padding[0], padding[1], padding[1]),
                 in_hw=sizes, out_hw=(x.shape[2], x.shape[3]), groups=groups)
    out = _input_gradient(_to_matrix(x, groups), w, plan, n, b)

    def backward(g):
        g = g.reshape(out.shape)
        grad_x = grad_w = grad_b = None
        if input.requires_grad or weight.requires_grad:
            cols = _im2col(g, plan)[0]  # conv2d's forward of g
        if input.requires_grad:
            grad_x = _product_as_image(cols, _weight_matrix(w, groups), n, plan.out_hw)
            grad_x = grad_x.reshape(input.shape)
        if weight.requires_grad:
            grad_w = _weight_gradient(_to_matrix(x, groups), cols, w.shape, n)[0]
        if bias is not None and bias.requires_grad:
            grad_b = channel_sums(g)
        return (grad_x, grad_w) if bias is None else (grad_x, grad_w, grad_b)

    shape = out.shape[1:] if unbatched else out.shape
    parents = (input, weight) if bias is None else (input, weight, bias)
    return record(out.reshape(shape), parents, backward, op)
