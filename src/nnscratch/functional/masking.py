"""Masking ops: fill where a boolean mask holds, keep a matrix's lower or upper triangle."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, record
from ._common import array_of


def _bool_mask(mask, op: str, like=None):
    mask = array_of(mask, like)
    if mask.dtype.kind != "b":
        raise TypeError(f"{op}: expected a bool mask, got dtype {mask.dtype}")
    return mask


def masked_fill(input: Tensor, mask, value) -> Tensor:
    """input with `value` where mask is True, as torch.masked_fill.

    input: any shape; mask: bool, broadcast with input (the output has the broadcast shape);
    value: a number or a 0-d tensor (cast to input's dtype).
    d/d input = g where not mask, else 0; d/d value = sum of g where mask.
    """
    x = input.data
    xp = backend.array_module(x)
    fill = _bool_mask(mask, "masked_fill", x)
    value_input = value if isinstance(value, Tensor) else None
    if value_input is not None and value_input.ndim != 0:
        raise ValueError(
            f"masked_fill: value must be a number or a 0-d tensor, got a tensor of shape "
            f"{tuple(value_input.shape)}"
        )
    try:
        shape = np.broadcast_shapes(x.shape, fill.shape)
    except ValueError:
        raise ValueError(
            f"masked_fill: mask of shape {tuple(fill.shape)} does not broadcast with input "
            f"of shape {tuple(x.shape)}"
        ) from None
    out = xp.broadcast_to(x, shape).copy()
    xp.copyto(out, value_input.data if value_input is not None else value, where=fill,
              casting="unsafe")

    def backward(g):
        grad_x = xp.where(fill, 0, g) if input.requires_grad else None
        if value_input is None:
            return (grad_x,)
        grad_value = xp.where(fill, g, 0).sum() if value_input.requires_grad else None
        return (grad_x, grad_value)

    parents = (input,) if value_input is None else (input, value_input)
    return record(out, parents, backward, "masked_fill")


def _triangle(input: Tensor, diagonal: int, lower: bool) -> Tensor:
    op = "tril" if lower else "triu"
    x = input.data
    if x.ndim < 2:
        raise ValueError(
            f"{op}: expected input of shape (..., rows, columns) with at least 2 dimensions, "
            f"got {tuple(x.shape)}"
        )
    if not isinstance(diagonal, (int, np.integer)) or isinstance(diagonal, bool):
        raise TypeError(f"{op}: diagonal must be an int, got {type(diagonal).__name__}")
    xp = backend.array_module(x)
    keep = xp.tril if lower else xp.triu

    def backward(g):
        return (keep(g, k=int(diagonal)),)

    return record(keep(x, k=int(diagonal)), (input,), backward, op)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes: entries (i, j) with j - i <= diagonal, the
    rest 0, as torch.tril. input: (..., rows, columns). d/d input = tril(g, diagonal)."""
    return _triangle(input, diagonal, lower=True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes: entries (i, j) with j - i >= diagonal, the
    rest 0, as torch.triu. input: (..., rows, columns). d/d input = triu(g, diagonal)."""
    return _triangle(input, diagonal, lower=False)
