"""shapes: output sizes of convolutions and pools, and receptive-field arithmetic.

Output size of a convolution or pooling window along one spatial axis of size H, with
kernel k, stride s, padding p (on each side) and dilation d:

    out = floor((H + 2p - d(k - 1) - 1) / s) + 1

d(k - 1) + 1 is the span of the dilated kernel, so this is "how many strides fit the
kernel's span into the padded input, plus the first position". Some texts write the
padding term as "+ 2 * 1" while using padding 0 (or drop the dilation): that is wrong
whenever p != 1; the formula above is the one PyTorch (and nnscratch) compute. Worked
example: a 3x28x28 input, 16 filters of 5x5, stride 1, padding 0 gives
floor((28 + 0 - 4 - 1) / 1) + 1 = 24, i.e. 16x24x24.

Pooling with ceil_mode rounds up instead, but (as PyTorch) drops a last window that would
start in the right padding. A transposed convolution inverts the conv formula:

    out = (H - 1)s - 2p + d(k - 1) + output_padding + 1

Receptive field, per layer, with j the jump (distance in input pixels between adjacent
outputs), r the receptive-field size and start the centre of the first output's field
(input pixel i covers [i, i + 1), so the input itself has j = 1, r = 1, start = 0.5),
for a layer of kernel k, stride s, padding p, dilation d and k_eff = d(k - 1) + 1:

    j_out = j_in * s
    r_out = r_in + (k_eff - 1) * j_in
    start_out = start_in + ((k_eff - 1) / 2 - p) * j_in

Layers that keep the spatial geometry (activations, BatchNorm, Dropout, ...) pass the
values through; Flatten and Linear end the spatial part and see the whole input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RFRow", "conv_output_shape", "conv_transpose_output_shape", "pool_output_shape",
           "receptive_field"]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_axis(value, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    values = (value,) * n if _is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != n or not all(_is_int(v) for v in values):
        raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def _sizes(input_size, op: str) -> tuple[tuple[int, ...], bool]:
    """(sizes as a tuple, whether the caller gave a single int)."""
    single = _is_int(input_size)
    sizes = (input_size,) if single else input_size
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if not sizes or not all(_is_int(n) and n >= 1 for n in sizes):
        raise ValueError(f"{op}: input_size must be a positive int or a tuple of positive "
                         f"ints (the spatial sizes), got {input_size!r}")
    return tuple(int(n) for n in sizes), single


def _conv_padding(padding, n, kernel, stride, dilation, op) -> tuple[int, ...]:
    """Padding on each side per axis ('same' pads d(k - 1) in all; the side that counts
    for the size is the total, so only an even total is exactly 2p)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
            return tuple(d * (k - 1) / 2 for k, d in zip(kernel, dilation))
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', "
                         f"got {padding!r}")
    return _per_axis(padding, n, "padding", op, 0)


def _result(sizes, single):
    return sizes[0] if single else tuple(sizes)


def conv_output_shape(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """Spatial output size of a convolution: floor((H + 2p - d(k-1) - 1) / s) + 1 per axis.

    input_size: an int (one axis) or a tuple (H, W, ...); the other arguments an int for
    all axes or a tuple per axis; padding also 'valid' (0) or 'same' (output = input, stride
    1 only). Returns an int for an int input_size, else a tuple. Raises ValueError when the
    dilated kernel is larger than the padded input (an output size below 1).
    """
    op = "conv_output_shape"
    sizes, single = _sizes(input_size, op)
    n = len(sizes)
    kernel = _per_axis(kernel_size, n, "kernel_size", op, 1)
    stride = _per_axis(stride, n, "stride", op, 1)
    dilation = _per_axis(dilation, n, "dilation", op, 1)
    pads = _conv_padding(padding, n, kernel, stride, dilation, op)
    out = []
    for axis, (h, k, s, p, d) in enumerate(zip(sizes, kernel, stride, pads, dilation)):
        span = d * (k - 1) + 1
        size = math.floor((h + 2 * p - span) / s) + 1
        if size < 1:
            raise ValueError(
                f"{op}: kernel larger than the padded input along axis {axis}: dilated kernel "
                f"span {span} (kernel_size={k}, dilation={d}) > padded size "
                f"{h + 2 * p:g} (input {h}, padding {p:g})")
        out.append(size)
    return _result(out, single)


def conv_transpose_output_shape(input_size, kernel_size, stride=1, padding=0,
                                output_padding=0, dilation=1):
    """Spatial output size of a transposed convolution, as PyTorch:
    (H - 1)s - 2p + d(k - 1) + output_padding + 1 per axis. output_padding must be smaller
    than the stride or the dilation (PyTorch's rule)."""
    op = "conv_transpose_output_shape"
    sizes, single = _sizes(input_size, op)
    n = len(sizes)
    kernel = _per_axis(kernel_size, n, "kernel_size", op, 1)
    stride = _per_axis(stride, n, "stride", op, 1)
    dilation = _per_axis(dilation, n, "dilation", op, 1)
    pads = _per_axis(padding, n, "padding", op, 0)
    extra = _per_axis(output_padding, n, "output_padding", op, 0)
    out = []
    for axis, (h, k, s, p, d, e) in enumerate(zip(sizes, kernel, stride, pads, dilation, extra)):
        if e >= s and e >= d:
            raise ValueError(f"{op}: output_padding must be smaller than stride or dilation, "
                             f"got output_padding={e}, stride={s}, dilation={d}")
        size = (h - 1) * s - 2 * p + d * (k - 1) + e + 1
        if size < 1:
            raise ValueError(f"{op}: padding {p} too large along axis {axis}: output size "
                             f"{size} < 1")
        out.append(size)
    return _result(out, single)


def pool_output_shape(input_size, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False):
    """Spatial output size of a max/avg pool, as PyTorch: the conv formula, rounded up with
    ceil_mode, but without a last window that would start in the right padding. stride
    defaults to kernel_size; padding must be at most half the kernel (PyTorch's rule)."""
    op = "pool_output_shape"
    sizes, single = _sizes(input_size, op)
    n = len(sizes)
    kernel = _per_axis(kernel_size, n, "kernel_size", op, 1)
    stride = kernel if stride is None else _per_axis(stride, n, "stride", op, 1)
    dilation = _per_axis(dilation, n, "dilation", op, 1)
    pads = _per_axis(padding, n, "padding", op, 0)
    out = []
    for axis, (h, k, s, p, d) in enumerate(zip(sizes, kernel, stride, pads, dilation)):
        if p > k // 2:
            raise ValueError(f"{op}: padding must be at most half the kernel size, got "
                             f"padding={p} for kernel_size={k}")
        span = d * (k - 1) + 1
        steps = h + 2 * p - span
        size = (-(-steps // s) if ceil_mode else steps // s) + 1
        if ceil_mode and (size - 1) * s >= h + p:
            size -= 1
        if size < 1:  # (ceil_mode, as PyTorch, keeps a window that overhangs on the right)
            raise ValueError(
                f"{op}: kernel larger than the padded input along axis {axis}: window span "
                f"{span} (kernel_size={k}, dilation={d}) > padded size {h + 2 * p}")
        out.append(size)
    return _result(out, single)


# --- receptive fields -------------------------------------------------------------------

@dataclass(frozen=True)
class RFRow:
    """One layer: dotted name, layer class, output shape without the batch axis, and per
    spatial axis (H, W) the receptive field r, jump j and start (centre of the first
    output's field, in input pixels whose first centre is 0.5). j and start are None once
    the spatial part has ended (Flatten, Linear: r is then the whole input); all three are
    None after a layer whose geometry is unknown."""

    name: str
    layer: str
    output_shape: tuple
    r: tuple | None
    j: tuple | None
    start: tuple | None


def _geometry(module, n: int):
    """(kernel, stride, padding, dilation) per axis of a conv or pool layer, else None."""
    from ..nn.conv import Conv1d, Conv2d
    from ..nn.pooling import AvgPool2d, LPPool2d, MaxPool1d, MaxPool2d

    if not isinstance(module, (Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool2d, LPPool2d)):
        return None
    op = type(module).__name__

    def axes(value, name, minimum):
        return _per_axis(value, n, name, op, minimum)

    kernel = axes(module.kernel_size, "kernel_size", 1)
    stride = axes(module.stride, "stride", 1)
    dilation = axes(getattr(module, "dilation", 1), "dilation", 1)
    padding = getattr(module, "padding", 0)
    if padding == "same":
        # PyTorch pads d(k - 1) // 2 before, the rest after: the first window's offset
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    elif padding == "valid":
        padding = 0
    return kernel, stride, axes(padding, "padding", 0), dilation


def _rf_rows(rows, input_shape) -> list[RFRow]:
    from ..nn.linear import Linear

    spatial = tuple(input_shape[1:])
    n = len(spatial)
    r, j, start = (1,) * n, (1,) * n, (0.5,) * n
    ended = False  # past Flatten/Linear: the whole input
    known = True
    previous = tuple(input_shape)
    out = []
    for row in rows:
        shape = row.output_shape
        geometry = _geometry(row.module, n) if known and not ended else None
        is_image = isinstance(shape, tuple) and len(shape) == n + 1 and all(
            _is_int(v) for v in shape)
        if not known:
            pass
        elif ended or isinstance(row.module, Linear) or type(row.module).__name__ == "Flatten":
            ended = True
        elif geometry is not None:
            kernel, stride, pads, dilation = geometry
            spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
            r = tuple(ri + (e - 1) * ji for ri, e, ji in zip(r, spans, j))
            start = tuple(si + ((e - 1) / 2 - p) * ji
                          for si, e, p, ji in zip(start, spans, pads, j))
            j = tuple(ji * s for ji, s in zip(j, stride))
        elif not (is_image and shape[1:] == previous[1:]):
            known = False  # geometry changed by a layer we cannot read
        if ended:
            out.append(RFRow(row.name, type(row.module).__name__, shape, spatial, None, None))
        elif known:
            out.append(RFRow(row.name, type(row.module).__name__, shape, r, j, start))
        else:
            out.append(RFRow(row.name, type(row.module).__name__, shape, None, None, None))
        previous = shape if is_image else previous
    return out


def receptive_field(model, input_shape) -> list[RFRow]:
    """Per layer of `model` (a Sequential is opened layer by layer, nested ones too, as
    `summary` does): name, layer class, output shape (C, H, W), receptive field r, jump j
    and start per spatial axis, by the arithmetic in this module's docstring.

    input_shape: one sample's shape without the batch axis, (C, H, W) (or (C, L) for 1-D
    models). A zero sample is run through the model (eval mode, no_grad) for the shapes.
    """
    from .summary import _checked_shape, summary_rows

    shape = _checked_shape(input_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"receptive_field: input_shape must be (C, H, W) (or (C, L)), got "
                         f"{input_shape!r}")
    return _rf_rows(summary_rows(model, shape), shape)
