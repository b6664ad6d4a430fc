"""DataLoader: a dataset served in (optionally shuffled) mini-batches of ns.Tensors."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import collate_items


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` samples, as PyTorch's DataLoader.

    Each batch is a tuple of ns.Tensors, one per field of a sample: (x, y) for a
    `TensorDataset(x, y)`, x: (B, ...) with B = batch_size (smaller for the last batch
    unless `drop_last`). Dtypes are kept: float32 stays float32, int64 labels stay int64.
    A generic dataset whose items are single arrays gives single Tensors, dicts give dicts.

    shuffle: a fresh permutation is drawn from the seeded generator at the start of every
      epoch (every `iter(loader)`), so `ns.manual_seed(s)` replays the same batches.
    drop_last: skip the last, incomplete batch.

    Speed: `TensorDataset` and `Subset`s of it are indexed once per batch with the batch's
    index array (a slice when not shuffling); only other datasets are collated item by item.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(
                f"DataLoader needs a dataset with __getitem__ and __len__, got "
                f"{type(dataset).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)

    def __len__(self) -> int:
        """The number of batches in one epoch."""
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        # Drawn here, not lazily, so the epoch's order is fixed the moment iteration starts.
        order = backend.generator().permutation(n) if self.shuffle else None
        return self._batches(n, order)

    def batches(self, order):
        """The batches of the samples at the indices `order` (an int array), in that
        order: batch_size at a time, the last one smaller unless drop_last (a data-parallel
        rank serves its shard so)."""
        order = np.asarray(order)
        return self._batches(len(order), order)

    def _batches(self, n: int, order):
        stop = n - n % self.batch_size if self.drop_last else n
        fetch = getattr(self.dataset, "get_batch", None)
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            indices = slice(start, end) if order is None else order[start:end]
            batch = fetch(indices) if fetch is not None else collate_items(self.dataset, indices)
            yield _to_tensors(batch)

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )


def batch_to(batch, device):
    """`batch` (a Tensor, or a tuple or dict of them, as DataLoader gives) with every
    tensor on `device`; itself when device is None or the CPU and it is there."""
    if device is None:
        return batch
    if isinstance(batch, tuple):
        return tuple(batch_to(field, device) for field in batch)
    if isinstance(batch, list):
        return [batch_to(field, device) for field in batch]
    if isinstance(batch, dict):
        return {key: batch_to(value, device) for key, value in batch.items()}
    return batch.to(device) if isinstance(batch, Tensor) else batch


def _to_tensors(batch):
    if isinstance(batch, tuple):
        return tuple(_to_tensors(field) for field in batch)
    if isinstance(batch, dict):
        return {key: _to_tensors(value) for key, value in batch.items()}
    return Tensor(batch)
