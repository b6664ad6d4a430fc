"""Embedding lookup: rows of a weight table picked by integer indices."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, record
from ._common import array_of, constant

# Up to this many elements in the (num_embeddings, indices) one-hot matrix, the gradient
# is one matrix product with it (BLAS, ~4x faster than np.add.at at a vocabulary of 96);
# beyond, np.add.at, whose cost does not grow with the vocabulary.
ONE_HOT_LIMIT = 1 << 22


def _indices(input, op: str, like):
    """The indices as an integer array (a Tensor's data, an array or a nested list), on
    the device of the weight `like`."""
    data = array_of(input, like)
    if data.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected integer indices, got {data.dtype}")
    return data


def _check_padding_idx(padding_idx, num_embeddings: int, op: str):
    """padding_idx as a row in 0..num_embeddings-1 (negative counts from the end), or None."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{op}: expected padding_idx to be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"{op}: expected padding_idx in -{num_embeddings}..{num_embeddings - 1} for "
            f"num_embeddings={num_embeddings}, got {padding_idx}"
        )
    return int(padding_idx) % num_embeddings


def scatter_add_rows(index, values, rows: int):
    """(rows, D) array whose row r is the sum of values[k] over all k with index[k] == r.

    index: (M,) ints; values: (M, D). Repeats accumulate.
    """
    xp = backend.array_module(values)
    count, width = values.shape
    if rows * count <= ONE_HOT_LIMIT:
        one_hot = xp.zeros((rows, count), dtype=values.dtype)
        one_hot[index, xp.arange(count)] = 1
        return one_hot @ values
    total = xp.zeros((rows, width), dtype=values.dtype)
    xp.add.at(total, index, values)
    return total


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """weight[input], as torch.nn.functional.embedding.

    input: integer indices of any shape (a Tensor, an array or a list); weight
    (num_embeddings, D) -> (*input.shape, D).
    d/dweight[r] = sum of g over the positions whose index is r (repeats accumulate);
    row padding_idx (negative counts from the end) gets no gradient, as in PyTorch, so a
    padding vector stays what it was initialised to. No gradient for the indices.
    """
    op = "embedding"
    weight = constant(weight)
    w = weight.data
    if w.ndim != 2:
        raise ValueError(
            f"{op}: expected weight of shape (num_embeddings, embedding_dim), got "
            f"{tuple(w.shape)}"
        )
    index = _indices(input, op, w)
    num_embeddings = w.shape[0]
    padding_idx = _check_padding_idx(padding_idx, num_embeddings, op)
    if index.size:
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= num_embeddings:
            bad = low if low < 0 else high
            raise ValueError(
                f"{op}: expected indices in 0..{num_embeddings - 1} for "
                f"num_embeddings={num_embeddings}, got {bad}"
            )
    out = w[index]

    def backward(g):
        flat_index = index.reshape(-1)
        grad = scatter_add_rows(flat_index, g.reshape(flat_index.size, w.shape[1]),
                                num_embeddings)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return record(out, (weight,), backward, op)
