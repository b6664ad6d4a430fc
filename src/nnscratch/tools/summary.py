"""summary: a Keras-style table of a model's layers, output shapes and parameter counts
(and, for an image input (C, H, W), each layer's receptive field: see tools.shapes).

One zero sample of the given shape goes through the model under no_grad in eval mode, so
nothing learns, no running statistic moves and no random number is drawn; every module's
own train/eval flag is put back afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..nn.containers import Sequential
from ..nn.module import Module
from ..tensor import Tensor, zeros

_LAYER_WIDTH = 100  # a layer's repr is cut to this many characters


@dataclass(frozen=True)
class SummaryRow:
    """One layer of the table: its dotted name in the model ('1.0' inside a nested
    Sequential, '' for a model shown whole), its repr on one line, the shape of its output
    without the batch axis, and its parameters (all, and those requiring grad)."""

    name: str
    layer: str
    output_shape: tuple
    params: int
    trainable: int
    module: Module | None = field(default=None, compare=False, repr=False)


def _one_line(module: Module) -> str:
    text = " ".join(part.strip() for part in repr(module).splitlines())
    text = text.replace("( ", "(").replace(" )", ")")
    return text if len(text) <= _LAYER_WIDTH else text[: _LAYER_WIDTH - 3] + "..."


def _shape(output):
    """The shape of a layer's output without the batch axis; tuples of outputs (an RNN's
    (output, state)) give a tuple of shapes."""
    if isinstance(output, Tensor) or hasattr(output, "shape"):
        return tuple(int(n) for n in output.shape[1:])
    if isinstance(output, (tuple, list)):
        return tuple(_shape(item) for item in output)
    return type(output).__name__


def _leaves(module: Module, prefix: str = ""):
    """(dotted name, module) of the layers a Sequential runs one after another, nested
    Sequentials opened; any other module (or a Sequential with its own forward) is one."""
    opens = isinstance(module, Sequential) and type(module).forward is Sequential.forward
    if not opens:
        yield prefix, module
        return
    for name, child in module.named_children():
        yield from _leaves(child, f"{prefix}.{name}" if prefix else name)


def _input_dtype(model: Module, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    for p in model.parameters():  # a model made float64 by .double() gets a float64 input
        if p.dtype.kind == "f":
            return p.dtype
    return backend.get_default_dtype()


def _checked_shape(input_shape) -> tuple:
    shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in shape
    ):
        raise ValueError(f"summary: input_shape must be a tuple of positive ints without the "
                         f"batch axis, e.g. (784,) or (1, 28, 28), got {input_shape!r}")
    return tuple(int(n) for n in shape)


def _run(layer: Module, name: str, x):
    try:
        return layer(x)
    except Exception as error:
        where = f"layer {name} " if name else "model "
        shape = _shape(x) if not isinstance(x, Tensor) else tuple(x.shape)
        prefix = f"summary: {where}{type(layer).__name__} failed on input of shape {shape}: "
        # Keep the layer's own exception type and message; only say where it happened.
        if error.args and isinstance(error.args[0], str):
            error.args = (prefix + error.args[0], *error.args[1:])
        else:
            error.args = (prefix + str(error),)
        raise


def summary_rows(model: Module, input_shape, dtype=None) -> list[SummaryRow]:
    """The rows of `summary`: one per layer of a Sequential (nested ones opened), or one
    for any other model. input_shape: one sample's shape, without the batch axis.

    A layer that rejects its input raises its own error, prefixed with the layer's name.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected an nn.Module, got {type(model).__name__}")
    shape = _checked_shape(input_shape)
    x = zeros((1, *shape), dtype=_input_dtype(model, dtype))
    modes = [(module, module.training) for module in model.modules()]
    rows = []
    try:
        model.eval()
        with no_grad():
            for name, layer in _leaves(model):
                x = _run(layer, name, x)
                rows.append(SummaryRow(
                    name=name,
                    layer=_one_line(layer),
                    output_shape=_shape(x),
                    params=layer.num_parameters(),
                    trainable=layer.num_parameters(trainable_only=True),
                    module=layer,
                ))
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    return rows


def summary(model: Module, input_shape, dtype=None) -> str:
    """A table of the model's layers, their output shapes (without the batch axis) and
    parameter counts, then the totals, as Keras's `model.summary()` prints it.

    model: any nn.Module; a Sequential is shown layer by layer. input_shape: one sample's
    shape, e.g. (784,) or (1, 28, 28). dtype: of the zero input fed through (default: the
    model's floating dtype; an int dtype for models that start with an embedding).
    """
    rows = summary_rows(model, input_shape, dtype)
    fields = None
    if len(_checked_shape(input_shape)) == 3:  # an image: add the receptive field column
        from .shapes import _rf_rows

        fields = ["x".join(map(str, f.r)) if f.r else "?"
                  for f in _rf_rows(rows, _checked_shape(input_shape))]
    name_width = max((len(row.name) for row in rows), default=0)
    layers = [f"{row.name:<{name_width}}  {row.layer}" if name_width else row.layer
              for row in rows]
    shapes = [str(row.output_shape) for row in rows]
    counts = [f"{row.params:,}" for row in rows]
    headers = ("Layer", "Output shape", "Param #")
    if fields is not None:
        headers = ("Layer", "Output shape", "Receptive field", "Param #")
    columns = [[headers[0], *layers], [headers[1], *shapes], [headers[-1], *counts]]
    if fields is not None:
        columns.insert(2, [headers[2], *fields])
    widths = [max(map(len, column), default=0) for column in columns]

    def line(layer: str, shape: str, *rest: str) -> str:
        *middle, count = rest
        cells = [f"{layer:<{widths[0]}}", f"{shape:<{widths[1]}}"]
        cells += [f"{cell:<{width}}" for cell, width in zip(middle, widths[2:-1])]
        return "   ".join([*cells, f"{count:>{widths[-1]}}"]).rstrip()

    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    rule = "=" * (sum(widths) + 3 * (len(widths) - 1))
    out = [f"Model: {type(model).__name__}, input shape {_checked_shape(input_shape)}",
           rule, line(*headers), rule]
    cells = zip(layers, shapes, fields, counts) if fields else zip(layers, shapes, counts)
    out += [line(*row) for row in cells]
    out += [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(out)
