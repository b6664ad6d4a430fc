"""Batches of sequences of unequal lengths, as PyTorch's torch.nn.utils.rnn.

A padded batch holds every sequence in a (T, B, *) block (or (B, T, *) with
batch_first), filled out with padding after each sequence's end. A PackedSequence holds
only the real steps, time step by time step, the longest sequences first:

    lengths 3, 2, 1 (sorted)   data rows: a0 b0 c0 | a1 b1 | a2     batch_sizes: 3, 2, 1

so a recurrent layer given one never runs (or learns from) a padding step. Every function
here is differentiable: each moves rows of its input to new places (one gather, below), so
the gradient of a row is the output gradient at the place it went to, and padding gets
none.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ... import backend
from ... import functional as F
from ...tensor import Tensor, record

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


def _take_rows(source: Tensor, index: np.ndarray, fill: float = 0.0) -> Tensor:
    """Rows of source (M, *) picked by index (any shape; -1 picks a row of `fill`):
    out (*index.shape, *). No row is picked twice, so d/d source is g put back at the row
    each output row came from, and zero for rows never picked (padding)."""
    x = source.data
    xp = backend.array_module(x)
    index = xp.asarray(index)
    picked = index >= 0
    rows = index[picked]
    out = xp.full(index.shape + x.shape[1:], fill, dtype=x.dtype)
    out[picked] = x[rows]

    def backward(g):
        grad = xp.zeros_like(x)
        grad[rows] = g[picked]
        return (grad,)

    return record(out, (source,), backward, "take_rows")


def _int_tensor(values) -> Tensor:
    return Tensor(np.asarray(values, dtype=np.int64))


def _host(values) -> np.ndarray:
    """A Tensor, an array (NumPy or CuPy) or a list as a NumPy array: lengths and batch
    sizes live on the host, as in PyTorch."""
    if isinstance(values, Tensor):
        values = values.data
    return np.asarray(values.get() if hasattr(values, "get") else values)


def _ints(values) -> np.ndarray | None:
    """An index-like argument (None, a Tensor, an array or a list) as a NumPy int64 array."""
    return None if values is None else _host(values).astype(np.int64)


_PackedSequenceFields = namedtuple(
    "_PackedSequenceFields", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceFields):
    """The real steps of a batch of sequences, packed time step by time step.

    data: (sum of lengths, *), the rows of step 0 of every sequence, then of step 1 of
    those still running, ...; a Tensor, so gradients flow through it.
    batch_sizes: (max length,) int64, how many sequences are running at each step.
    sorted_indices: (B,) the original batch position of each sorted (longest first)
    sequence, or None when the batch came sorted; unsorted_indices: its inverse.
    Build one with pack_padded_sequence or pack_sequence, not by hand.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if not isinstance(data, Tensor):
            data = Tensor(data)
        batch_sizes = _int_tensor(_ints(batch_sizes))
        if sorted_indices is not None:
            sorted_indices = _int_tensor(_ints(sorted_indices))
            if unsorted_indices is None:
                unsorted_indices = _int_tensor(_inverse(sorted_indices.data))
            else:
                unsorted_indices = _int_tensor(_ints(unsorted_indices))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def detach(self) -> PackedSequence:
        """The same sequence with its data cut from the graph."""
        return type(self)(self.data.detach(), *self[1:])


def _inverse(permutation: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(permutation)
    inverse[permutation] = np.arange(len(permutation))
    return inverse


def _lengths_array(lengths, batch: int, steps: int) -> np.ndarray:
    """lengths (a list, an array or a Tensor of B ints in 1..T) as an int64 array."""
    values = _host(lengths)
    if values.ndim != 1 or values.dtype.kind not in "iuf" or (
            values.dtype.kind == "f" and not np.all(values == np.round(values))):
        raise ValueError(f"pack_padded_sequence: expected lengths to be a 1-D sequence of "
                         f"ints, got {values!r}")
    values = values.astype(np.int64)
    if len(values) != batch:
        raise ValueError(f"pack_padded_sequence: expected {batch} lengths, one for each "
                         f"sequence of the batch, got {len(values)}")
    if batch and values.min() <= 0:
        raise ValueError(f"pack_padded_sequence: every length must be at least 1, got "
                         f"{values.tolist()}")
    if batch and values.max() > steps:
        raise ValueError(f"pack_padded_sequence: lengths must be at most the input's "
                         f"{steps} time steps, got {values.tolist()}")
    return values


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    steps = int(sorted_lengths.max()) if len(sorted_lengths) else 0
    return (sorted_lengths[None, :] > np.arange(steps)[:, None]).sum(axis=1).astype(np.int64)


def _packed_positions(batch_sizes: np.ndarray, total_length: int) -> np.ndarray:
    """(total_length, B): where step t of sorted sequence j sits in the packed data, -1 in
    the padding after its end."""
    batch = int(batch_sizes[0]) if len(batch_sizes) else 0
    steps = len(batch_sizes)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
    column = np.arange(batch)
    running = column[None, :] < batch_sizes[:, None]
    positions = np.full((total_length, batch), -1, dtype=np.int64)
    positions[:steps][running] = (offsets[:, None] + column[None, :])[running]
    return positions


def _pack(input: Tensor, sorted_lengths: np.ndarray, sorted_indices, batch_first: bool):
    """(data, batch_sizes) of a padded (T, B, *) or (B, T, *) input, sequences taken in
    the order sorted_indices (None: as they stand, already sorted)."""
    batch_axis = 0 if batch_first else 1
    steps, batch = input.shape[1 - batch_axis], input.shape[batch_axis]
    t, j = np.nonzero(np.arange(steps)[:, None] < sorted_lengths[None, :])  # packed order
    b = j if sorted_indices is None else sorted_indices[j]
    rows = b * steps + t if batch_first else t * batch + b
    flat = F.reshape(input, (steps * batch,) + tuple(input.shape[2:]))
    return _take_rows(flat, rows), _batch_sizes(sorted_lengths)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch: input (T, B, *) (or (B, T, *) with batch_first), lengths (B,)
    the number of real steps of each sequence. With enforce_sorted, lengths must come
    longest first; enforce_sorted=False sorts them (and remembers how, so the recurrent
    layers hand results back in the original order)."""
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected a padded batch of shape "
                         f"{'(B, T, *)' if batch_first else '(T, B, *)'}, got "
                         f"{tuple(input.shape)}")
    batch_axis = 0 if batch_first else 1
    lengths = _lengths_array(lengths, input.shape[batch_axis], input.shape[1 - batch_axis])
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"pack_padded_sequence: lengths must be sorted in decreasing order when "
                f"enforce_sorted=True, got {lengths.tolist()}; pass enforce_sorted=False "
                "to pack an unsorted batch")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths if sorted_indices is None else lengths[sorted_indices]
    data, batch_sizes = _pack(input, sorted_lengths, sorted_indices, batch_first)
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def _unpack_sorted(sequence: PackedSequence, total_length: int | None = None,
                   padding_value: float = 0.0):
    """The packed sequence as a time-major padded batch in sorted order, and its sorted
    lengths: what the recurrent ops take."""
    batch_sizes = sequence.batch_sizes.data
    steps = len(batch_sizes)
    positions = _packed_positions(batch_sizes, steps if total_length is None else total_length)
    lengths = (positions >= 0).sum(axis=0)
    return _take_rows(sequence.data, positions, padding_value), lengths


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The inverse of pack_padded_sequence: (padded, lengths), padded (T, B, *) (or
    (B, T, *)) with padding_value after each sequence's end, T = total_length or the
    longest length, lengths (B,) int64; both in the batch's original order."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    steps = len(sequence.batch_sizes.data)
    if total_length is not None and total_length < steps:
        raise ValueError(f"pad_packed_sequence: total_length must be at least the length "
                         f"of the longest sequence, {steps}, got {total_length}")
    positions = _packed_positions(sequence.batch_sizes.data,
                                  steps if total_length is None else int(total_length))
    if sequence.unsorted_indices is not None:
        positions = positions[:, sequence.unsorted_indices.data]
    lengths = (positions >= 0).sum(axis=0)
    if batch_first:
        positions = positions.T
    return _take_rows(sequence.data, positions, padding_value), _int_tensor(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into one (T, B, *) block (or (B, T, *) with
    batch_first), T = max L_i, filled out with padding_value on padding_side."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not sequences:
        raise ValueError("pad_sequence: expected a non-empty list of sequences")
    trailing = {tuple(s.shape[1:]) for s in sequences if s.ndim}
    if any(s.ndim == 0 for s in sequences) or len(trailing) != 1:
        raise ValueError(
            f"pad_sequence: expected sequences of shapes (L_i, *) with the same trailing "
            f"shape *, got {[tuple(s.shape) for s in sequences]}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    steps = int(lengths.max())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    t = np.arange(steps)[:, None]
    start = 0 if padding_side == "right" else steps - lengths[None, :]  # where each begins
    inside = (t >= start) & (t < start + lengths[None, :])
    positions = np.where(inside, offsets[None, :] + t - start, -1)
    if batch_first:
        positions = positions.T
    return _take_rows(F.cat(sequences, 0), positions, padding_value)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *): pad_sequence, then pack_padded_sequence."""
    sequences = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    lengths = [s.shape[0] if s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The inverse of pad_sequence: the list of sequences (L_i, *) cut from the padding."""
    lengths = _ints(lengths)
    if batch_first:
        return [padded_sequences[b, :int(n)] for b, n in enumerate(lengths)]
    return [padded_sequences[:int(n), b] for b, n in enumerate(lengths)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of pack_sequence: the list of sequences (L_i, *), original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
