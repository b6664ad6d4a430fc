"""Helpers shared by the ops: turning constants into tensors, checking arguments."""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import IndexedGradient
from ..tensor import Tensor, _init_fields, record

REDUCTIONS = ("mean", "sum", "none")


def constant(value, like: Tensor | None = None) -> Tensor:
    """Wrap a number or array as a tensor that needs no gradient.

    A Python number takes the dtype of `like` (so `x * 2` stays float32, as in PyTorch);
    an array keeps its own dtype.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and like is not None:
        dtype = like.data.dtype
        if isinstance(value, float) and dtype.kind != "f":
            dtype = backend.get_default_dtype()
        xp = backend.array_module(like.data)
        data = xp.asarray(value, dtype=dtype)
    elif hasattr(value, "dtype") and hasattr(value, "shape"):
        data = value
    else:
        data = np.asarray(value)
        if data.dtype.kind == "f":
            data = data.astype(backend.get_default_dtype())
    out = Tensor.__new__(Tensor)
    _init_fields(out, data, False)
    return out


def array_of(value, like=None):
    """The array behind a Tensor, an array (NumPy or CuPy) as it is, anything else (a
    list, a number) as a NumPy array: for arguments such as masks and labels that may
    come in any of these forms. like: an array whose device the result is moved to (a
    mask or labels given on the host go where the input lives)."""
    value = value.data if isinstance(value, Tensor) else value
    value = value if hasattr(value, "dtype") else np.asarray(value)
    if like is not None and not isinstance(like, np.ndarray):
        value = backend.to_device(value, backend.device_of(like))
    return value


def check_floating_input(x, w, op: str) -> None:
    """Integer or bool inputs are refused, as PyTorch refuses mixed dtypes, rather than
    computed silently in another precision than the weight's."""
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating-point input like the weight ({w.dtype}), got "
            f"dtype {x.dtype}; convert it first, e.g. x.float()"
        )


def tensors(a, b) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors (a constant takes the other's dtype)."""
    if not isinstance(a, Tensor):
        a = constant(a, b if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = constant(b, a)
    # PyTorch's rule, not NumPy's: an integer or bool operand takes the floating
    # operand's dtype (NumPy would promote int64 with float32 to float64).
    kind_a, kind_b = a.data.dtype.kind, b.data.dtype.kind
    if kind_a != kind_b:
        if kind_a == "f" and kind_b in "iub":
            b = constant(b.data.astype(a.data.dtype))
        elif kind_b == "f" and kind_a in "iub":
            a = constant(a.data.astype(b.data.dtype))
    return a, b


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def reduce_loss(loss_data, reduction: str):
    """Reduce per-element losses; returns (value, scale of d(value)/d(element))."""
    if reduction == "mean":
        return loss_data.mean(), 1.0 / max(loss_data.size, 1)
    if reduction == "sum":
        return loss_data.sum(), 1.0
    return loss_data, 1.0


def normalize_axes(dim, ndim: int) -> tuple[int, ...] | None:
    """dim as a tuple of non-negative axes (None means all axes)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dim {d} is out of range for a tensor with {ndim} dimensions")
        axes.append(int(d) % max(ndim, 1))
    return tuple(axes)


def pick_dim(dim, axis, default=None):
    """PyTorch's `dim` with NumPy's `axis` accepted as an alias."""
    if axis is not None:
        if dim is not None and dim != axis:
            raise TypeError("pass either dim or axis, not both")
        return axis
    return default if dim is None else dim


def pick_keepdim(keepdim: bool, keepdims: bool | None) -> bool:
    return keepdim if keepdims is None else bool(keepdims)


def check_same_shape(input: Tensor, target: Tensor, op: str) -> None:
    if input.shape != target.shape:
        raise ValueError(
            f"{op}: target must have the input's shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )


# Rows at most this long are summed by BLAS in `column_sums`; longer ones by NumPy, whose
# inner loop is then long enough to beat BLAS's product (as it does at 128-256 values a
# row on large matrices).
SHORT_ROW = 64
_ones_vectors: dict = {}


def _ones(length: int, dtype, xp):
    """A read-only vector of ones, kept: a fresh one costs page faults on every call."""
    key = (length, np.dtype(dtype).str, xp.__name__)
    vector = _ones_vectors.get(key)
    if vector is None:
        if len(_ones_vectors) >= 16:
            _ones_vectors.clear()
        vector = _ones_vectors[key] = xp.ones(length, dtype=dtype)
        if xp is np:  # (CuPy's arrays have no read-only flag)
            vector.flags.writeable = False
    return vector


def column_sums(matrix):
    """(..., rows, k) -> (..., k): the sum of each column.

    Why: NumPy sums over rows by adding one row of k values at a time; for a few values
    (a conv's channels) that inner loop is overhead-bound, and BLAS's product with a
    vector of ones runs at memory speed.
    """
    if matrix.shape[-1] > SHORT_ROW or matrix.dtype.kind != "f":
        return matrix.sum(axis=-2)
    return _ones(matrix.shape[-2], matrix.dtype, backend.array_module(matrix)) @ matrix


def channel_sums(a, keepdims: bool = False):
    """(N, C, *spatial) -> (C,) (or (1, C, 1, ...) with keepdims): sums over all axes but
    the channels; by `column_sums` when the memory is channels-last (a conv's output)."""
    channels = a.shape[1]
    last = backend.array_module(a).moveaxis(a, 1, -1)
    if last.flags.c_contiguous:
        sums = column_sums(last.reshape(-1, channels))
    else:
        sums = a.sum(axis=(0,) + tuple(range(2, a.ndim)))
    return sums.reshape((1, channels) + (1,) * (a.ndim - 2)) if keepdims else sums


def memory_order(a) -> tuple[int, ...]:
    """The axes in the order a's memory holds them, outermost first: a.transpose(order)
    is C-contiguous (identity for C order, (0, 2, 3, 1) for a conv's channels-last NCHW
    output). Other arrays (slices, broadcasts) get the identity. For ops that allocate
    their output: working on a.transpose(order) and transposing back (by the transpose
    np.argsort(order), as a list), the output keeps
    the input's layout and every pass reads and writes contiguous memory."""
    identity = tuple(range(a.ndim))
    if a.flags.c_contiguous:
        return identity
    order = tuple(sorted(identity, key=lambda axis: -a.strides[axis]))
    return order if a.transpose(order).flags.c_contiguous else identity


def in_layout_of(a, template):
    """a, or a copy of it in the memory order of `template` (same shape): ufuncs over
    operands of one layout run along contiguous memory, mixed ones do not."""
    order = np.argsort(template.strides, kind="stable")
    if (np.argsort(a.strides, kind="stable") == order).all():
        return a
    out = backend.array_module(a).empty_like(template, dtype=a.dtype)
    out[...] = a
    return out


def is_channels_last(x) -> bool:
    """Whether an (N, C, *spatial) array's memory is (N, *spatial, C) in C order."""
    return x.ndim > 2 and backend.array_module(x).moveaxis(x, 1, -1).flags.c_contiguous


# Rows of a channels-last SampleRows view hold up to this many values: NumPy's loop
# that scales every position by per-channel numbers runs one call per row, so rows of
# one position's C channels leave it overhead-bound.
WIDE_ROW = 4096


def row_factor(positions: int, channels: int) -> int:
    """The largest k dividing `positions` with k * channels <= WIDE_ROW (at least 1)."""
    limit, best = max(WIDE_ROW // max(channels, 1), 1), 1
    for d in range(1, math.isqrt(max(positions, 1)) + 1):
        if positions % d == 0:
            best = max([best] + [k for k in (d, positions // d) if k <= limit])
    return best


class SampleRows:
    """(N, C, *spatial) arrays of one memory layout as (N, rows, width) views, for ops
    that scale and shift each sample's channels by their own numbers (group norm): the
    elementwise passes then run over long contiguous rows, and per-channel sums are one
    BLAS product or one contiguous reduction.

    Channels-last memory (a conv's output): (N, P/k, k*C), k positions of C channels a
    row (k from row_factor); a per-channel (n, C) coefficient is spread by repeating it
    k times along the row. C order: (N, C, P), one channel's positions a row; the
    coefficient becomes (n, C, 1). Other layouts are copied to C order first
    (`layout_of`). Every array a SampleRows views must have the layout it was made for.
    """

    def __init__(self, x):
        self.n, self.channels = x.shape[:2]
        self.positions = x.size // max(self.n * self.channels, 1)
        self.channels_last = not x.flags.c_contiguous and is_channels_last(x)
        self.template = x
        self.k = row_factor(self.positions, self.channels) if self.channels_last else 1

    @staticmethod
    def layout_of(x):
        """x itself when its memory is C order or channels-last, else a C-order copy."""
        if x.flags.c_contiguous or is_channels_last(x):
            return x
        return backend.array_module(x).ascontiguousarray(x)

    def like(self, a):
        """a (of the template's shape) in this layout (in_layout_of)."""
        return in_layout_of(a, self.template)

    def view(self, a):
        """The (N, rows, width) view of an array in this layout."""
        xp = backend.array_module(a)
        if self.channels_last:
            k = self.k
            return xp.moveaxis(a, 1, -1).reshape(self.n, self.positions // k, k * self.channels)
        return a.reshape(self.n, self.channels, self.positions)

    def sums(self, rows):
        """(p, rows, width) piece of a view -> (p, C): each sample's channel sums."""
        if self.channels_last:
            return column_sums(rows.reshape(rows.shape[0], self.positions, self.channels))
        return rows.sum(axis=2)

    def spread(self, coefficient):
        """(p, C) -> an array that broadcasts against a (p, rows, width) piece."""
        if self.channels_last:
            p, c = coefficient.shape
            xp = backend.array_module(coefficient)  # the reshape copies: k copies a row
            return xp.broadcast_to(coefficient[:, None, :], (p, self.k, c)).reshape(p, 1, -1)
        return coefficient[:, :, None]


def record_outputs(buffer, views, parents: tuple, backward, op: str) -> tuple[Tensor, ...]:
    """Record an op with several outputs (an LSTM's output, h_n and c_n) as one op.

    The engine gives each recorded op one output tensor, so the op writes all of its
    results into one contiguous array, `buffer`, whose flat form buffer.reshape(-1) is
    recorded with `backward`; each output handed back is a view of it: views =
    ((offset, shape), ...) into that flat array, recorded as a getitem whose backward is
    an IndexedGradient (O(view) work). The engine adds the views' gradients into one flat
    gradient of the buffer's size, zero where no output was used, and `backward` receives
    that whole 1-D gradient and splits it as its forward laid the buffer out. So an
    unused output costs only a zero region, backward from one output alone works, and
    two views over the same region (h_n is the last step of the output) have their
    gradients summed there, as the chain rule wants.
    """
    flat = buffer.reshape(-1)  # a view: the buffer is contiguous
    whole = record(flat, parents, backward, op)
    outputs = []
    for offset, shape in views:
        size = int(np.prod(shape, dtype=np.int64))
        region = slice(offset, offset + size)

        def view_backward(g, region=region):
            return (IndexedGradient(region, g.reshape(-1), False),)

        view = record(flat[region].reshape(shape), (whole,), view_backward, "getitem")
        outputs.append(view)
    return tuple(outputs)
