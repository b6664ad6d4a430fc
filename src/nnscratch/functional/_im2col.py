"""The memory behind the convolutions: im2col, col2im and the matrix products, fast on a CPU.

functional/conv.py states the calculus (y = cols W + b, dW = cols^T g, dx = col2im(g W^T));
this module decides where every byte of it lives. conv1d, conv2d and conv_transpose2d use
it, and nothing else does.

Layout contract. Without groups, a conv's output is the matrix product's own memory,
(N*OH*OW, O) rows-by-channels, that is channels-last (N, OH, OW, O), returned as an NCHW
array through its strides: no transposing copy. Values and shapes are PyTorch's; only the
strides differ. The ops after a conv (elementwise ops, pooling, batch norm) allocate like
their input and so keep that layout (_common.channel_sums sums its channels with a
product); in return, the next conv's channels-last copy of its input, and the backward's
view of the output gradient as a matrix (as_matrix), read contiguous memory, often
without a copy. Any input layout is accepted and gives the same values; only speed
depends on it.

im2col. The zero-padded input is copied channels-last within each group, (G, N, Hp, Wp,
C/G), and seen through `as_strided`, without a copy, as all its receptive fields at once,
(G, N, OH, OW, KH, KW, C/G); one copy of that view is cols (G, N*OH*OW, KH*KW*C/G), rows
(n, oh, ow), columns (kh, kw, c), and the product with the weight as a (KH*KW*C/G, O/G)
matrix per group is one BLAS call (batched over the groups). The innermost runs of the
copy are (kw, c), contiguous in the channels-last input; with one channel per group (a
first layer on grey images, a depthwise conv) those runs would be a few values long, so
the copy is made in the transposed order, along image rows, and cols is a transposed view.

The bias rides in the product: cols ends in a column of ones and the weight matrix in a
row holding the bias, so no pass over the output adds it, and the weight gradient's
product [cols, 1]^T g yields db as its last column.

col2im. dcols = g W^T is made as one block per kernel offset (all the products first, in
one wide product without groups, then the additions, so BLAS's threads and ours never
take turns); each block is added into the
strided window of the input that its offset read, clipped to the unpadded input (reads of
the padding are dropped): a loop over the KH*KW offsets, no scatter. The sums start from
the block of an offset that read every input pixel once (the centre of a 'same' conv),
else from zeros.

Input gradient of a stride-1 conv (input_gradient). Its col2im is itself a convolution:
dx = conv(g, W') with W'[c, o] the kernel W[o, c] rotated by 180 degrees and padding
K - 1 - pad, so it is made as one: an im2col copy of g and one product with a C-wide
output, where col2im would write a KH*KW*C-wide product and read it back. Strided,
dilated and grouped convs keep col2im.

Blocked products (Columns, Fields). A large conv's cols is many times its input (a
(128, 32, 28, 28) input's 3x3 cols is 116 MB): written out whole, it goes to memory and
comes back for the product (measured on 2 cores: that forward took 16 ms whole, 9 ms
blocked). So without groups, with several channels, cols is never made whole: the output
pixels are cut into pieces whose columns fit in a core's cache (PIECE_BYTES; whole
images, or runs of image rows of one), and each thread copies a piece's columns from the
strided view and multiplies them at once, BLAS held to one thread, into the piece's rows
of the output, which keeps the layout above. The forward keeps only the padded input for
the backward, whose weight gradient makes the columns again, piece by piece, and sums
the pieces' products in WEIGHT_RUNS fixed runs. The pieces and runs depend on the shapes
alone and each product runs on one BLAS thread, so the numbers are the same for any
thread count. The stride-1 input gradient (above) and conv_transpose2d's backward take
the same path. A conv whose columns fit in one piece, grouped convs and one-channel
inputs (whose copies run along image rows) keep the whole cols and BLAS's own threads;
so do device arrays.

Pointwise convs (1x1, stride 1, no padding, no groups). cols is x's own channels-last
memory seen as an (N*H*W, C) matrix (no copy at all for a conv's output), the product
runs on BLAS's threads (so, as with the whole cols, its bits may depend on BLAS's thread
count; determinism.py pins it), and the bias is added after it, over rows of several
pixels; dx = g W^T is then dx's channels-last memory itself, so no col2im runs.

Scratch memory. The padded copy, cols and the gradient blocks have the same shapes at
every training step; a fresh array of that size costs a page fault per page on first
touch, a large part of a conv's time, so they come from `work`, a per-thread cache reused
by shape. cols (or, blocked, the padded input) is taken out of it while a backward is
due (Columns) and given back after.

Memory-bound steps (copies, col2im) are split over the batch between threads (parallel).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from .. import backend, parallel
from ._common import column_sums, is_channels_last, row_factor


class Plan(NamedTuple):
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


# --- scratch arrays ------------------------------------------------------------------------
class WorkArrays(threading.local):
    """Scratch arrays that never leave an op, kept between calls and reused by shape (see
    the module docstring); the least recently used beyond `capacity` (a few conv layers'
    worth) are dropped. One set per thread."""

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


work = WorkArrays()


# --- im2col --------------------------------------------------------------------------------
def _padded_channels_last(x, pads, groups: int, keep: bool = False):
    """(N, C, H, W) -> (G, N, H + top + bottom, W + left + right, C/G), zeros around (a
    work array, taken out of the cache when `keep`): channels last within each group,
    the groups first."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    top, bottom, left, right = pads
    hp, wp = h + top + bottom, w + left + right
    take = work.take if keep else work.get
    out = take("padded", (groups, n, hp, wp, c // groups), x.dtype, xp)
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


def im2col(x, plan: Plan, keep: bool = False, ones: bool = False):
    """x: (N, C, H, W) -> (cols: (G, N*OH*OW, KH*KW*C/G [+ 1]), its memory): one copy of a
    strided view of the padded input, into a work array (taken out of the cache when
    `keep`: give it back with work.give("cols", memory, xp)). `ones` appends the column of
    ones that carries the bias (see weight_matrix)."""
    xp = backend.array_module(x)
    groups = plan.groups
    padded = _padded_channels_last(x, plan.pads, groups)
    n, cg = padded.shape[1], padded.shape[4]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = plan.kernel, plan.stride, plan.dilation, plan.out_hw
    s_g, s_n, s_h, s_w, s_c = padded.strides
    width = kh * kw * cg + ones
    take = work.take if keep else work.get
    rows_first = cg > 1
    if rows_first:  # runs along (kw, c)
        shape = (groups, n, oh, ow, kh, kw, cg)
        strides = (s_g, s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
        cols = take("cols", (groups, n, oh, ow, width), x.dtype, xp)
        # Splitting the last axis of a slice is always a view: the copy lands in cols.
        target, ones_part, batch_axis = cols[..., :kh * kw * cg].reshape(shape), cols[..., -1], 1
    else:  # one channel per group: runs along image rows, in the order (kh, kw; n, oh, ow)
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


class Columns:
    """conv2d's receptive fields of x, for the forward product and the weight gradient,
    whole or blocked (see the module docstring). Kept from the forward while a backward
    is due (`keep`): whole, the cols matrix (KH*KW times the input's memory, out of the
    work arrays); blocked, only the padded input (its own size). Not kept, they are made
    again for each use, valid until the next conv."""

    def __init__(self, x, plan: Plan, ones: bool, keep: bool):
        self.x, self.plan, self.ones = x, plan, ones
        self.pointwise = _pointwise(plan)
        self.pieces = None if self.pointwise else _blocked_pieces(x, plan, ones)
        self.blocked = self.pieces is not None
        self._kept = self._build(keep=True) if keep else None

    def _build(self, keep: bool):
        """(Fields, padded memory) when blocked, (x as a matrix, its copy's memory or None)
        when pointwise, else (cols, cols memory)."""
        if self.pointwise:
            return pointwise_matrix(self.x, keep)
        if self.blocked:
            padded = _padded_channels_last(self.x, self.plan.pads, 1, keep=keep)
            return Fields(padded, self.plan, self.ones, self.pieces), padded
        return im2col(self.x, self.plan, keep=keep, ones=self.ones)

    def _current(self):
        return self._kept if self._kept is not None else self._build(keep=False)

    def product(self, wmat):
        """cols @ wmat as a new (N, O, OH, OW) (product_as_image)."""
        made = self._current()[0]
        if self.pointwise:
            return pointwise_product(made, wmat, self.ones, self.x.shape[0], self.plan.out_hw)
        if self.blocked:
            return blocked_product(made, wmat)
        return product_as_image(made, wmat, self.x.shape[0], self.plan.out_hw)

    def weight_gradient(self, gm, shape):
        """(dW, db or None) = cols^T gm (weight_gradient)."""
        made = self._current()[0]
        if self.pointwise:
            return pointwise_weight_gradient(gm, made, shape, self.ones)
        if self.blocked:
            return blocked_weight_gradient(gm, made, shape)
        return weight_gradient(gm, made, shape, self.x.shape[0])

    def release(self) -> None:
        """After the kept memory's last use (the first backward): it goes back to the
        work arrays; a second backward (retain_graph) makes it again."""
        if self._kept is not None:
            memory = self._kept[1]
            self._kept = None
            if memory is not None:  # (a pointwise conv's view of x has none)
                work.give("padded" if self.blocked or self.pointwise else "cols", memory,
                          backend.array_module(memory))


# --- col2im --------------------------------------------------------------------------------
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


def _clipped_windows(plan: Plan) -> list[_Window]:
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


def _covers(window: _Window, plan: Plan) -> bool:
    """Whether the window writes every input pixel once, from the whole block (then its
    block can initialise the sums, a copy instead of zeros and an addition)."""
    (oh, ow), (h, w) = plan.out_hw, plan.in_hw
    return (window.block_rows == slice(0, oh) and window.block_cols == slice(0, ow)
            and window.target_rows == slice(0, h, 1) and window.target_cols == slice(0, w, 1))


def _offset_blocks(gm, w, groups: int, n: int, out_hw: tuple[int, int]):
    """gm W[:, :, kh, kw] for every kernel offset, seen as (KH, KW, G, N, OH, OW, C/G).

    Without groups (and more than one output channel) it is one product gm (N*OH*OW, O)
    by all offsets' weights side by side (O, KH*KW*C), its (N, OH, OW, KH, KW, C) memory
    seen through strides: NumPy runs a stack of KH*KW narrow products (a batched matmul)
    several times slower than BLAS runs the one wide product. With groups, one product
    per offset and group, batched; with one output channel per group, an outer product
    (BLAS is slow at inner size 1, NumPy's multiply is not)."""
    xp = backend.array_module(gm)
    _, rows, og = gm.shape
    o, cg, kh, kw = w.shape
    oh, ow = out_hw
    if groups == 1 and og > 1:
        wide = xp.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(o, kh * kw * cg)
        product = work.get("blocks", (rows, kh * kw * cg), gm.dtype, xp)
        xp.matmul(gm[0], wide, out=product)
        return product.reshape(n, oh, ow, kh, kw, 1, cg).transpose(3, 4, 5, 0, 1, 2, 6)
    # (KH*KW, G, O/G, C/G): every offset's weights a contiguous batch of matrices.
    per_offset = xp.ascontiguousarray(
        w.reshape(groups, og, cg, kh, kw).transpose(3, 4, 0, 1, 2)).reshape(kh * kw, groups,
                                                                            og, cg)
    blocks = work.get("blocks", (kh * kw, groups, rows, cg), gm.dtype, xp)
    if og == 1:
        xp.multiply(gm, per_offset, out=blocks)
    else:
        xp.matmul(gm, per_offset, out=blocks)
    return blocks.reshape(kh, kw, groups, n, oh, ow, cg)


def col2im(gm, w, plan: Plan, n: int, bias=None):
    """col2im(gm W^T): gm (G, N*OH*OW, O/G), the output gradient as a matrix, and w (O, C/G,
    KH, KW) -> (N, C, H, W), conv2d's input gradient (channels-last memory without groups).

    blocks[kh, kw] = gm W[:, :, kh, kw] (G, N*OH*OW, C/G) (_offset_blocks), each added into
    the window its offset read, the samples split between threads; the overlaps of
    neighbouring windows sum. `bias`, if given, is added
    to every pixel on the way (conv_transpose2d's).
    """
    xp = backend.array_module(gm)
    groups = gm.shape[0]
    cg = w.shape[1]
    h, wd = plan.in_hw
    images = _offset_blocks(gm, w, groups, n, plan.out_hw)
    windows = _clipped_windows(plan)
    first = next((window for window in windows if _covers(window, plan)), None)
    if first is not None:
        windows.remove(first)
    if groups == 1:  # channels-last, the sums made in the output itself
        out = xp.empty((n, h, wd, cg), dtype=gm.dtype)
        sums, result = out[None], out.transpose(0, 3, 1, 2)
    else:  # channels-last per group, then copied into the (N, G*C/G, H, W) output
        sums = work.get("sums", (groups, n, h, wd, cg), gm.dtype, xp)
        out = result = xp.empty((n, groups * cg, h, wd), dtype=gm.dtype)
    start = bias if groups == 1 else None  # groups > 1: the copy into out adds the bias

    def add_blocks(chunk):  # samples `chunk`, in one of the threads
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

    parallel.over_batch(n, add_blocks, sums)
    return result


def _flipped_plan(plan: Plan) -> Plan | None:
    """For a stride-1, undilated conv without groups whose pads are at most K - 1: the
    plan of the conv that maps its output gradient to its input gradient (full padding
    minus the forward's), else None."""
    (kh, kw), (top, bottom, left, right) = plan.kernel, plan.pads
    if (plan.stride != (1, 1) or plan.dilation != (1, 1) or plan.groups != 1
            or kh * kw == 1 or max(top, bottom) > kh - 1 or max(left, right) > kw - 1):
        return None
    return Plan(kernel=plan.kernel, stride=(1, 1), dilation=(1, 1),
                pads=(kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right),
                in_hw=plan.out_hw, out_hw=plan.in_hw, groups=1)


def input_gradient(g, gm, w, plan: Plan, n: int):
    """conv2d's dx = col2im(g W^T), (N, C, H, W). For a stride-1 conv (see _flipped_plan)
    it is made as a conv instead: dx = conv(g, W'), W'[c, o] = W[o, c] rotated by 180
    degrees, padded by K - 1 - pad: the same sums, as one im2col copy of g and one
    product with a C-wide output, where col2im writes and re-reads a KH*KW*C-wide one."""
    if _pointwise(plan):  # g W^T is dx's channels-last memory: no col2im
        o, c = w.shape[:2]
        h, wd = plan.in_hw
        return (gm[0] @ w.reshape(o, c)).reshape(n, h, wd, c).transpose(0, 3, 1, 2)
    flipped = _flipped_plan(plan)
    if flipped is None:
        return col2im(gm, w, plan, n)
    rotated = w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]
    return Columns(g, flipped, ones=False, keep=False).product(weight_matrix(rotated, 1))


# --- the products --------------------------------------------------------------------------
def weight_matrix(w, groups: int, bias=None):
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
    a fraction of BLAS's speed, while a batch of small products, each of a few hundred rows
    that stay in cache, runs at full speed, and summing the small results is cheap. Not
    for M = 1 (a depthwise conv's matrix-vector products), where the split was slower."""
    groups, k, rows = a.shape
    m = b.shape[2]
    if rows < LONG_ROWS or k * m > 1024 or m == 1:
        return a @ b
    per = rows // samples
    parts = (a.reshape(groups, k, samples, per).transpose(0, 2, 1, 3)
             @ b.reshape(groups, samples, per, m))
    return parts.sum(axis=1)


def weight_gradient(gm, cols, shape, samples: int):
    """dW = gm^T cols per group: gm (G, rows, O/G) and cols (G, rows, K [+ 1]), with rows
    = samples * OH * OW -> (dW (O, C/G, KH, KW), db (O,) or None). With cols' column of
    ones (a bias in the product), the product's last column is db = gm summed over rows."""
    if cols.flags.c_contiguous:  # BLAS reads the transpose as is
        m = gm.transpose(0, 2, 1) @ cols  # (G, O/G, KH*KW*C/G [+ 1])
    else:  # cols is itself a transposed view (one channel per group): the product in
        # the order that reads both operands contiguously
        m = _long_product(cols.transpose(0, 2, 1), gm, samples).transpose(0, 2, 1)
    return _weight_and_bias(m, shape)


def _weight_and_bias(m, shape):
    """(dW (O, C/G, KH, KW), db (O,) or None) from m = cols^T g, (G, O/G, KH*KW*C/G [+ 1]),
    whose last column is db when cols had the column of ones."""
    o, cg, kh, kw = shape
    groups = m.shape[0]
    grad_b = m[:, :, -1].reshape(o) if m.shape[2] > kh * kw * cg else None
    grad_w = m[:, :, :kh * kw * cg].reshape(groups, o // groups, kh, kw, cg)
    return grad_w.transpose(0, 1, 4, 2, 3).reshape(shape), grad_b


def as_matrix(y, groups: int):
    """(N, O, OH, OW) -> (G, N*OH*OW, O/G), the layout of cols @ W: a view of a conv's own
    (channels-last) output without groups, else a copy into a work array."""
    xp = backend.array_module(y)
    n, o, oh, ow = y.shape
    if groups == 1:
        channels_last = y.transpose(0, 2, 3, 1)
        if channels_last.flags.c_contiguous:
            return channels_last.reshape(1, n * oh * ow, o)
    out = work.get("matrix", (groups, n, oh, ow, o // groups), y.dtype, xp)
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


def product_as_image(cols, wmat, n: int, hw: tuple[int, int]):
    """cols @ wmat per group (G, N*OH*OW, O/G) as a new (N, O, OH, OW) (a bias rides in
    the product). Without groups it is the product's channels-last memory seen as NCHW
    (the layout contract); with groups, a copy in NCHW."""
    xp = backend.array_module(cols)
    groups, rows, _ = cols.shape
    og = wmat.shape[2]
    if groups == 1:
        product = xp.matmul(cols[0], wmat[0])
        return product.reshape(n, hw[0], hw[1], og).transpose(0, 3, 1, 2)
    product = work.get("product", (groups, rows, og), cols.dtype, xp)
    xp.matmul(cols, wmat, out=product)
    out = xp.empty((n, groups * og) + tuple(hw), dtype=cols.dtype)
    image = product.reshape(groups, n, hw[0], hw[1], og).transpose(1, 0, 4, 2, 3)
    _copy_plus_bias(image, None, out)
    return out


# --- pointwise (1x1) convolutions ---------------------------------------------------------
def _pointwise(plan: Plan) -> bool:
    """A 1x1 conv of stride 1 without padding or groups (nor conv_transpose2d's
    output_padding, pixels no input reaches): cols is x's channels-last memory itself,
    (N*H*W, C), and dx = g W^T is dx's."""
    return (plan.kernel == (1, 1) and plan.stride == (1, 1) and plan.groups == 1
            and plan.pads == (0, 0, 0, 0) and plan.in_hw == plan.out_hw)


def pointwise_matrix(x, keep: bool):
    """(x as its (N*H*W, C) channels-last matrix, the memory of the copy made or None):
    a view of a channels-last x (a conv's output), else one channels-last copy (a work
    array, taken out of the cache when `keep`)."""
    xp = backend.array_module(x)
    n, c, h, w = x.shape
    if is_channels_last(x):
        return xp.moveaxis(x, 1, -1).reshape(n * h * w, c), None
    padded = _padded_channels_last(x, (0, 0, 0, 0), 1, keep=keep)
    return padded.reshape(n * h * w, c), padded


def pointwise_product(matrix, wmat, ones: bool, n: int, hw: tuple[int, int]):
    """matrix @ W (+ the bias, wmat's last row when `ones`) as a new (N, O, H, W),
    channels-last memory (product_as_image's layout): one BLAS product on its threads,
    then the bias added over rows of several pixels (_common.SampleRows' reason)."""
    xp = backend.array_module(matrix)
    c = matrix.shape[1]
    out = xp.matmul(matrix, wmat[0, :c])
    if ones:
        o = out.shape[1]
        k = row_factor(out.shape[0], o)
        out.reshape(-1, k * o)[...] += xp.tile(wmat[0, c], k)
    return out.reshape(n, hw[0], hw[1], out.shape[1]).transpose(0, 3, 1, 2)


def pointwise_weight_gradient(gm, matrix, shape, ones: bool):
    """(dW = g^T x as (O, C, 1, 1), db = g's column sums or None)."""
    grad_w = (gm[0].T @ matrix).reshape(shape)
    return grad_w, (column_sums(gm[0]) if ones else None)


# --- blocked products ----------------------------------------------------------------------
# A piece's columns take about this many bytes, so that they are still in the core's L2
# cache when its product reads them (measured on 2 cores: 256 KiB pieces were slower,
# 4 MiB ones no faster).
PIECE_BYTES = 1 << 20
# The weight gradient sums its pieces' products in this many runs of consecutive pieces,
# each run in piece order and then the runs in order: numbers fixed by the shapes alone.
WEIGHT_RUNS = 8


def _pieces(n: int, oh: int, ow: int, width: int, itemsize: int) -> list[tuple]:
    """The output pixels cut into pieces (n0, n1, h0, h1): image rows h0..h1-1 of samples
    n0..n1-1, several whole images when one's columns fit in PIECE_BYTES, else runs of
    rows of one image."""
    rows = max(1, PIECE_BYTES // (ow * width * itemsize))
    if rows >= oh:
        per = rows // oh
        return [(a, min(n, a + per), 0, oh) for a in range(0, n, per)]
    return [(a, a + 1, h, min(oh, h + rows)) for a in range(n) for h in range(0, oh, rows)]


def _blocked_pieces(x, plan: Plan, ones: bool) -> list[tuple] | None:
    """The pieces of conv2d's fields of x when its products run blocked, else None:
    blocked for NumPy arrays, no groups, several channels (runs of the copy along
    (kw, c)), and columns of more than one piece."""
    if not isinstance(x, np.ndarray) or plan.groups != 1 or x.shape[1] == 1:
        return None
    (kh, kw), (oh, ow) = plan.kernel, plan.out_hw
    pieces = _pieces(x.shape[0], oh, ow, kh * kw * x.shape[1] + ones, x.itemsize)
    return pieces if len(pieces) > 1 else None


class Fields:
    """The receptive fields of a padded channels-last input (1, N, Hp, Wp, C), as the
    strided view (N, OH, OW, KH, KW, C) im2col copies, cut into pieces whose columns are
    made one piece at a time into a work array of the thread that uses them (`pieces`,
    from _blocked_pieces)."""

    def __init__(self, padded, plan: Plan, ones: bool, pieces: list[tuple]):
        _, n, _, _, c = padded.shape
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = plan.kernel, plan.stride, plan.dilation, \
            plan.out_hw
        _, s_n, s_h, s_w, s_c = padded.strides
        self.view = np.lib.stride_tricks.as_strided(
            padded[0], shape=(n, oh, ow, kh, kw, c),
            strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
        self.n, self.out_hw, self.ones = n, (oh, ow), ones
        self.fields = kh * kw * c
        self.width = self.fields + ones
        self.dtype = padded.dtype
        self.pieces = pieces
        n0, n1, h0, h1 = self.pieces[0]
        self.piece_rows = (n1 - n0) * (h1 - h0) * ow  # the largest piece's

    def rows(self, piece) -> slice:
        """The piece's rows in the (N*OH*OW, .) matrices: consecutive."""
        n0, n1, h0, h1 = piece
        oh, ow = self.out_hw
        start = (n0 * oh + h0) * ow
        return slice(start, start + (n1 - n0) * (h1 - h0) * ow)

    def columns(self, piece):
        """The piece's rows of cols, (rows, KH*KW*C [+ 1]), in this thread's work array."""
        n0, n1, h0, h1 = piece
        rows = (n1 - n0) * (h1 - h0) * self.out_hw[1]
        cols = work.get("piece", (self.piece_rows, self.width), self.dtype, np)[:rows]
        shape = (n1 - n0, h1 - h0) + self.view.shape[2:]
        cols[:, :self.fields].reshape(shape)[...] = self.view[n0:n1, h0:h1]
        if self.ones:
            cols[:, -1] = 1
        return cols


def blocked_product(fields: Fields, wmat):
    """cols @ wmat[0] as a new (N, O, OH, OW), channels-last memory (product_as_image's
    layout), made piece by piece: each thread copies a piece's columns and multiplies
    them at once, BLAS on one thread, into the piece's rows of the output."""
    (oh, ow), w = fields.out_hw, wmat[0]
    out = np.empty((fields.n * oh * ow, w.shape[1]), dtype=fields.dtype)

    def run(indices: slice) -> None:
        for piece in fields.pieces[indices]:
            np.matmul(fields.columns(piece), w, out=out[fields.rows(piece)])

    with parallel.one_blas_thread():
        parallel.over_batch(len(fields.pieces), run, out)
    return out.reshape(fields.n, oh, ow, w.shape[1]).transpose(0, 3, 1, 2)


def blocked_weight_gradient(gm, fields: Fields, shape):
    """(dW, db or None) = cols^T gm[0] (weight_gradient), cols made piece by piece: the
    pieces' products summed in WEIGHT_RUNS fixed runs, the runs on the threads."""
    g = gm[0]
    pieces = fields.pieces
    runs = min(WEIGHT_RUNS, len(pieces))
    bounds = [len(pieces) * r // runs for r in range(runs + 1)]
    sums = np.empty((runs, g.shape[1], fields.width), dtype=fields.dtype)

    def product(piece, out) -> None:
        np.matmul(g[fields.rows(piece)].T, fields.columns(piece), out=out)

    def run(indices: slice) -> None:
        part = work.get("partial", sums.shape[1:], sums.dtype, np)
        for r in range(indices.start, indices.stop):
            product(pieces[bounds[r]], sums[r])
            for piece in pieces[bounds[r] + 1:bounds[r + 1]]:
                product(piece, part)
                sums[r] += part

    with parallel.one_blas_thread():
        parallel.over_batch(runs, run, g)
    return _weight_and_bias(sums.sum(axis=0)[None], shape)
