"""Language-model batches from a stream of token ids.

`TokenWindows`: every window of block_size + 1 tokens as a Dataset, for models that read
a fixed context (GPT; also RNNs trained on independent windows). Shuffle it with a
DataLoader; build one per split, so no window crosses the train/validation cut.

`StatefulBatches`: the stream cut into batch_size contiguous lanes and served in order,
for recurrent models trained by truncated backpropagation through time that carry their
hidden state from one batch to the next.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...tensor import Tensor
from ..dataset import Dataset
from .corpus import as_ids


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class TokenWindows(Dataset):
    """Item i is (x, y) = (ids[i : i+T], ids[i+1 : i+T+1]), two (T,) int64 arrays.

    ids: the token ids of one split (1-D; list, array or ns.Tensor), N of them.
    block_size: T, the context length. There are N - T items: every start position whose
      window of T + 1 tokens fits. y is x shifted by one: y[t] is the token after x[t].

    Batches (`get_batch`, which the DataLoader calls) are one fancy index into a strided
    view of all windows: no Python loop over samples or tokens, no copy of the stream.
    """

    def __init__(self, ids, block_size: int):
        self.ids = as_ids(ids, "TokenWindows")
        self.block_size = _positive_int(block_size, "block_size")
        if len(self.ids) < self.block_size + 1:
            raise ValueError(
                f"TokenWindows needs at least block_size + 1 = {self.block_size + 1} tokens, "
                f"got {len(self.ids)}"
            )
        # (N - T, T + 1): row i is ids[i : i + T + 1], a read-only view
        self._windows = sliding_window_view(self.ids, self.block_size + 1)

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            return self.get_batch(index)
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"window index {index} out of range for {n} windows")
        window = self._windows[index]
        return window[:-1].copy(), window[1:].copy()

    def get_batch(self, indices):
        """(x, y), each (B, T) int64, for the windows at `indices` (int array or slice)."""
        windows = self._windows[indices]
        return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])

    def __repr__(self) -> str:
        return f"TokenWindows({len(self.ids)} tokens, block_size={self.block_size})"


class StatefulBatches:
    """(x, y) batches of shape (B, T) for truncated BPTT, row b of batch k+1 continuing row b
    of batch k exactly.

    ids: the token stream of one split, N tokens. It is cut into B = batch_size lanes of
    M = (N - 1) // B consecutive tokens: lane b is ids[b*M : (b+1)*M], its targets the
    same positions shifted by one. Batch k holds, in every lane, the tokens
    k*T .. (k+1)*T - 1 of that lane (T = seq_len):

        x[k][b] = ids[b*M + k*T     : b*M + (k+1)*T]
        y[k][b] = ids[b*M + k*T + 1 : b*M + (k+1)*T + 1]

    so x[k+1][b, 0] == y[k][b, -1]: a model that carries its hidden state of lane b from
    batch k to batch k+1 (detached) sees one unbroken text per lane. len() = M // T; the
    last M % T tokens of each lane (fewer than T) and the last (N - 1) % B tokens of the
    stream are not served. Iterating yields ns.Tensors (int64) like a DataLoader, always
    in this order (shuffling would break the continuation); `batch(k)` gives arrays.
    """

    def __init__(self, ids, batch_size: int, seq_len: int):
        ids = as_ids(ids, "StatefulBatches")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.seq_len = _positive_int(seq_len, "seq_len")
        lane = (len(ids) - 1) // self.batch_size if len(ids) else 0
        if lane < self.seq_len:
            raise ValueError(
                f"StatefulBatches needs at least batch_size * seq_len + 1 = "
                f"{self.batch_size * self.seq_len + 1} tokens, got {len(ids)}"
            )
        self.lane_length = lane
        used = self.batch_size * lane
        self._inputs = ids[:used].reshape(self.batch_size, lane)
        self._targets = ids[1 : used + 1].reshape(self.batch_size, lane)

    def __len__(self) -> int:
        return self.lane_length // self.seq_len

    def batch(self, k: int):
        """(x, y) of batch k as (B, T) int64 arrays."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(self):
            raise IndexError(f"batch index {k!r} out of range for {len(self)} batches")
        cols = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return (np.ascontiguousarray(self._inputs[:, cols]),
                np.ascontiguousarray(self._targets[:, cols]))

    def __iter__(self):
        for k in range(len(self)):
            x, y = self.batch(k)
            yield Tensor(x), Tensor(y)

    def __repr__(self) -> str:
        return (f"StatefulBatches({len(self)} batches of ({self.batch_size}, {self.seq_len}), "
                f"lanes of {self.lane_length} tokens)")
