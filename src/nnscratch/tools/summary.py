"""summary: a Keras-style table of a model's layers, output shapes and parameter counts
(and, for an image input (C, H, W), each layer's receptive field).

The shapes and receptive fields come from tools.shapes (layer_shapes: one zero sample
through the model under no_grad in eval mode, so nothing learns, no running statistic
moves and no random number is drawn; every module's own train/eval flag is put back).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..nn.module import Module
from .shapes import layer_shapes, receptive_field_rows, sample_shape

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


def summary_rows(model: Module, input_shape, dtype=None) -> list[SummaryRow]:
    """The rows of `summary`: one per layer of a Sequential (nested ones opened), or one
    for any other model. input_shape: one sample's shape, without the batch axis.

    A layer that rejects its input raises its own error, prefixed with the layer's name.
    """
    return [SummaryRow(name=row.name, layer=_one_line(row.module),
                       output_shape=row.output_shape, params=row.module.num_parameters(),
                       trainable=row.module.num_parameters(trainable_only=True),
                       module=row.module)
            for row in layer_shapes(model, input_shape, dtype, op="summary")]


def summary(model: Module, input_shape, dtype=None) -> str:
    """A table of the model's layers, their output shapes (without the batch axis) and
    parameter counts, then the totals, as Keras's `model.summary()` prints it.

    model: any nn.Module; a Sequential is shown layer by layer. input_shape: one sample's
    shape, e.g. (784,) or (1, 28, 28). dtype: of the zero input fed through (default: the
    model's floating dtype; an int dtype for models that start with an embedding).
    """
    rows = summary_rows(model, input_shape, dtype)
    shape = sample_shape(input_shape)
    fields = None
    if len(shape) == 3:  # an image: add the receptive field column
        fields = ["x".join(map(str, f.r)) if f.r else "?"
                  for f in receptive_field_rows(rows, shape)]
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
        cells += [f"{cell:<{width}}" for cell, width in zip(middle, widths[2:-1], strict=True)]
        return "   ".join([*cells, f"{count:>{widths[-1]}}"]).rstrip()

    total = model.num_parameters()
    trainable = model.num_parameters(trainable_only=True)
    rule = "=" * (sum(widths) + 3 * (len(widths) - 1))
    out = [f"Model: {type(model).__name__}, input shape {shape}",
           rule, line(*headers), rule]
    columns = (layers, shapes, fields, counts) if fields else (layers, shapes, counts)
    cells = zip(*columns, strict=True)
    out += [line(*row) for row in cells]
    out += [rule, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(out)
