"""shapes: output sizes of convolutions and pools, each layer's output shape, and
receptive-field arithmetic.

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

The formulas are computed by functional/_geometry.py, the code the ops themselves run.
layer_shapes puts one zero sample through a model, layer by layer, for their output
shapes; receptive_field and tools.summary (which adds parameter counts) build on it.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..autograd import no_grad
from ..backend import get_default_dtype
from ..functional._geometry import (
    check_pool_padding,
    conv_padding,
    int_tuple,
    is_int,
    output_sizes,
    transposed_output_sizes,
)
from ..nn.containers import Sequential
from ..nn.conv import Conv1d, Conv2d
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.pooling import AvgPool2d, LPPool2d, MaxPool1d, MaxPool2d
from ..nn.utils import device_of
from ..tensor import Tensor, zeros

__all__ = ["LayerShape", "RFRow", "conv_output_shape", "conv_transpose_output_shape",
           "eval_mode", "layer_shapes", "layers", "pool_output_shape", "receptive_field",
           "receptive_field_rows", "sample_shape"]


def _sizes(input_size, op: str) -> tuple[tuple[int, ...], bool]:
    """(sizes as a tuple, whether the caller gave a single int)."""
    single = is_int(input_size)
    sizes = (input_size,) if single else input_size
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if not sizes or not all(is_int(n) and n >= 1 for n in sizes):
        raise ValueError(f"{op}: input_size must be a positive int or a tuple of positive "
                         f"ints (the spatial sizes), got {input_size!r}")
    return tuple(int(n) for n in sizes), single


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
    kernel = int_tuple(kernel_size, n, "kernel_size", op, 1)
    stride = int_tuple(stride, n, "stride", op, 1)
    dilation = int_tuple(dilation, n, "dilation", op, 1)
    pads = conv_padding(padding, kernel, stride, dilation, op)
    return _result(output_sizes(op, sizes, kernel, stride, pads, dilation), single)


def conv_transpose_output_shape(input_size, kernel_size, stride=1, padding=0,
                                output_padding=0, dilation=1):
    """Spatial output size of a transposed convolution, as PyTorch:
    (H - 1)s - 2p + d(k - 1) + output_padding + 1 per axis. output_padding must be smaller
    than the stride or the dilation (PyTorch's rule)."""
    op = "conv_transpose_output_shape"
    sizes, single = _sizes(input_size, op)
    n = len(sizes)
    kernel = int_tuple(kernel_size, n, "kernel_size", op, 1)
    stride = int_tuple(stride, n, "stride", op, 1)
    dilation = int_tuple(dilation, n, "dilation", op, 1)
    padding = int_tuple(padding, n, "padding", op, 0)
    extra = int_tuple(output_padding, n, "output_padding", op, 0)
    return _result(transposed_output_sizes(op, sizes, kernel, stride, padding, dilation,
                                           extra), single)


def pool_output_shape(input_size, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False):
    """Spatial output size of a max/avg pool, as PyTorch: the conv formula, rounded up with
    ceil_mode, but without a last window that would start in the right padding. stride
    defaults to kernel_size; padding must be at most half the kernel (PyTorch's rule)."""
    op = "pool_output_shape"
    sizes, single = _sizes(input_size, op)
    n = len(sizes)
    kernel = int_tuple(kernel_size, n, "kernel_size", op, 1)
    stride = kernel if stride is None else int_tuple(stride, n, "stride", op, 1)
    dilation = int_tuple(dilation, n, "dilation", op, 1)
    padding = int_tuple(padding, n, "padding", op, 0)
    check_pool_padding(padding, kernel, op)
    pads = tuple((p, p) for p in padding)
    return _result(output_sizes(op, sizes, kernel, stride, pads, dilation, ceil_mode), single)


# --- the shape of every layer's output ------------------------------------------------
@dataclass(frozen=True)
class LayerShape:
    """One layer a sample went through: its dotted name in the model ('1.0' inside a nested
    Sequential, '' for a model run whole), the module, and its output's shape without the
    batch axis (a tuple of shapes for a tuple of outputs)."""

    name: str
    module: Module
    output_shape: tuple


def sample_shape(input_shape, op: str = "summary") -> tuple:
    """One sample's shape (without the batch axis) as a tuple of positive ints."""
    shape = (input_shape,) if is_int(input_shape) else input_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or not all(is_int(n) and n > 0 for n in shape):
        raise ValueError(f"{op}: input_shape must be a tuple of positive ints without the "
                         f"batch axis, e.g. (784,) or (1, 28, 28), got {input_shape!r}")
    return tuple(int(n) for n in shape)


def layers(module: Module, prefix: str = ""):
    """(dotted name, module) of the layers a Sequential runs one after another, nested
    Sequentials opened; any other module (or a Sequential with its own forward) is one."""
    opens = isinstance(module, Sequential) and type(module).forward is Sequential.forward
    if not opens:
        yield prefix, module
        return
    for name, child in module.named_children():
        yield from layers(child, f"{prefix}.{name}" if prefix else name)


@contextmanager
def eval_mode(model: Module):
    """Run `model` in eval mode under no_grad: nothing learns, no running statistic moves,
    no random number is drawn; every module's own train/eval flag is put back after."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        model.eval()
        with no_grad():
            yield model
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)


def _output_shape(output):
    if isinstance(output, Tensor) or hasattr(output, "shape"):
        return tuple(int(n) for n in output.shape[1:])
    if isinstance(output, (tuple, list)):
        return tuple(_output_shape(item) for item in output)
    return type(output).__name__


def _input_dtype(model: Module, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    for p in model.parameters():  # a model made float64 by .double() gets a float64 input
        if p.dtype.kind == "f":
            return p.dtype
    return get_default_dtype()


def _run(layer: Module, name: str, x, op: str):
    try:
        return layer(x)
    except Exception as error:
        where = f"layer {name} " if name else "model "
        shape = _output_shape(x) if not isinstance(x, Tensor) else tuple(x.shape)
        prefix = f"{op}: {where}{type(layer).__name__} failed on input of shape {shape}: "
        # Keep the layer's own exception type and message; only say where it happened.
        if error.args and isinstance(error.args[0], str):
            error.args = (prefix + error.args[0], *error.args[1:])
        else:
            error.args = (prefix + str(error),)
        raise


def layer_shapes(model: Module, input_shape, dtype=None, op: str = "summary"
                 ) -> list[LayerShape]:
    """The output shape of every layer (see `layers`) of `model` for one zero sample of
    input_shape (without the batch axis), run in `eval_mode`. dtype: the sample's (default:
    the model's floating dtype). A layer that rejects its input raises its own error,
    prefixed with `op` and the layer's name."""
    if not isinstance(model, Module):
        raise TypeError(f"{op}: expected an nn.Module, got {type(model).__name__}")
    x = zeros((1, *sample_shape(input_shape, op)), dtype=_input_dtype(model, dtype),
              device=device_of(model))  # the probe goes where the model lives
    rows = []
    with eval_mode(model):
        for name, layer in layers(model):
            x = _run(layer, name, x, op)
            rows.append(LayerShape(name, layer, _output_shape(x)))
    return rows


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
    """(kernel, stride, padding before, dilation) per axis of a conv or pool layer, else
    None."""
    if not isinstance(module, (Conv1d, Conv2d, MaxPool1d, MaxPool2d, AvgPool2d, LPPool2d)):
        return None
    op = type(module).__name__
    kernel = int_tuple(module.kernel_size, n, "kernel_size", op, 1)
    stride = kernel if module.stride is None else int_tuple(module.stride, n, "stride", op, 1)
    dilation = int_tuple(getattr(module, "dilation", 1), n, "dilation", op, 1)
    # The first window's offset is the padding before ('same': d(k - 1) // 2, as PyTorch).
    pads = conv_padding(getattr(module, "padding", 0), kernel, stride, dilation, op)
    return kernel, stride, tuple(before for before, _ in pads), dilation


def receptive_field_rows(rows, input_shape) -> list[RFRow]:
    """RFRows for the layers of `layer_shapes` (anything with .name, .module and
    .output_shape), by the arithmetic in this module's docstring; input_shape: (C, H, W)."""
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
            is_int(v) for v in shape)
        if not known:
            pass
        elif ended or isinstance(row.module, Linear) or type(row.module).__name__ == "Flatten":
            ended = True
        elif geometry is not None:
            kernel, stride, pads, dilation = geometry
            spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
            r = tuple(ri + (e - 1) * ji for ri, e, ji in zip(r, spans, j, strict=True))
            start = tuple(si + ((e - 1) / 2 - p) * ji
                          for si, e, p, ji in zip(start, spans, pads, j, strict=True))
            j = tuple(ji * s for ji, s in zip(j, stride, strict=True))
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
    op = "receptive_field"
    shape = sample_shape(input_shape, op)
    if len(shape) not in (2, 3):
        raise ValueError(f"{op}: input_shape must be (C, H, W) (or (C, L)), got "
                         f"{input_shape!r}")
    return receptive_field_rows(layer_shapes(model, shape, op=op), shape)
