"""Datasets (PyTorch's names): Dataset, TensorDataset, Subset, random_split, train_val_split.

A dataset maps an index to a sample and knows its length. `get_batch(indices)` returns a
whole batch at once: `TensorDataset` (and a `Subset` of one) answer it with one fancy
index per array, so a `DataLoader` never loops over samples in Python; the base class
falls back to fetching item by item and stacking.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend


def _as_array(value, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy") and hasattr(value, "shape"):  # an ns.Tensor, without copying
        return value.data
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{what} must be an array or ns.Tensor, got {type(value).__name__}")
    return array


def _check_same_length(arrays, who: str) -> int:
    if not arrays:
        raise ValueError(f"{who} needs at least one array")
    for array in arrays:
        if array.ndim == 0:
            raise ValueError(f"{who}: every array needs a first (sample) dimension, got a 0-d one")
    lengths = {array.shape[0] for array in arrays}
    if len(lengths) != 1:
        shapes = ", ".join(str(tuple(array.shape)) for array in arrays)
        raise ValueError(
            f"{who}: all arrays need the same first dimension (number of samples), got shapes "
            f"{shapes}"
        )
    return lengths.pop()


class Dataset:
    """A map from index to sample: subclasses define `__getitem__(i)` and `__len__()`.

    `get_batch(indices)` gives a batch as arrays: the default fetches each item and stacks
    (the generic, slow path); override it when the data can be indexed all at once.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def get_batch(self, indices):
        """The samples at `indices` (int array or slice), stacked into one batch."""
        return collate_items(self, indices)


def collate_items(dataset, indices):
    """Fetch `dataset[i]` for each index and stack them field by field (np.stack).

    Items that are tuples give a tuple of arrays, dicts a dict, single arrays or numbers one
    array. This is the fallback for datasets that cannot index a whole batch at once.
    """
    if isinstance(indices, slice):
        indices = range(*indices.indices(len(dataset)))
    items = [dataset[int(i)] for i in indices]
    if not items:
        raise ValueError("cannot collate an empty batch")
    return _stack(items)


def _stack(items):
    first = items[0]
    if isinstance(first, (tuple, list)):
        if any(len(item) != len(first) for item in items):
            raise ValueError(
                f"samples of a batch must have the same number of fields, got "
                f"{sorted({len(item) for item in items})}"
            )
        return tuple(_stack(list(field)) for field in zip(*items, strict=True))
    if isinstance(first, dict):
        return {key: _stack([item[key] for item in items]) for key in first}
    if isinstance(first, (bool, int, float)):
        # Python numbers follow ns.tensor's rules: floats -> default dtype, ints -> int64.
        array = np.array(items)
        if array.dtype.kind == "f":
            return array.astype(backend.get_default_dtype(), copy=False)
        if array.dtype.kind in "iu":
            return array.astype(np.int64, copy=False)
        return array
    return np.stack([_as_array(item, "a sample") for item in items])


class TensorDataset(Dataset):
    """Samples are the rows of equally long arrays: item i is `(a[i], b[i], ...)`.

    arrays: NumPy arrays or ns.Tensors (kept by reference, not copied), all with the same
    first dimension N.
    """

    def __init__(self, *tensors):
        self.tensors = tuple(_as_array(t, "TensorDataset's arguments") for t in tensors)
        self._length = _check_same_length(self.tensors, "TensorDataset")

    def __getitem__(self, index):
        return tuple(array[index] for array in self.tensors)

    def __len__(self) -> int:
        return self._length

    def get_batch(self, indices):
        """One fancy index (or slice) per array: no Python loop over samples."""
        return tuple(array[indices] for array in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in self.tensors)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of `dataset` at `indices` (a sequence of ints in [0, len(dataset)))."""

    def __init__(self, dataset, indices):
        indices = np.asarray(indices)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise ValueError(
                f"Subset indices must be a 1-D sequence of ints, got shape {indices.shape} "
                f"of dtype {indices.dtype}"
            )
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(
                f"Subset indices must lie in [0, {n}) for a dataset of {n} samples, got "
                f"values from {indices.min()} to {indices.max()}"
            )
        self.dataset = dataset
        self.indices = indices.astype(np.int64, copy=False)

    def __getitem__(self, index):
        if isinstance(index, (slice, list, np.ndarray)):
            return self.dataset[self.indices[index]]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)

    def get_batch(self, indices):
        inner = self.indices[indices]
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(inner)
        return collate_items(self.dataset, inner)


def random_split(dataset, lengths):
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    lengths: ints summing to len(dataset), or fractions summing to 1 (as in PyTorch: each
    gets floor(fraction * N) and the remainder is handed out one by one from the first).
    The permutation comes from the seeded generator (`ns.manual_seed`).
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split needs at least one length")
    if math.isclose(sum(lengths), 1) and sum(lengths) <= n:
        if any(not 0 <= frac <= 1 for frac in lengths):
            raise ValueError(f"fractions must lie in [0, 1], got {lengths}")
        sizes = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        if any(isinstance(x, bool) or int(x) != x or x < 0 for x in lengths):
            raise ValueError(
                f"lengths must be non-negative ints summing to {n} or fractions summing to 1, "
                f"got {lengths}"
            )
        sizes = [int(x) for x in lengths]
        if sum(sizes) != n:
            raise ValueError(
                f"sum of input lengths ({sum(sizes)}) does not equal the length of the "
                f"dataset ({n})"
            )
    order = backend.generator().permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, order[bounds[i] : bounds[i + 1]]) for i in range(len(sizes))]


def train_val_split(*arrays, val_fraction: float = 0.1, shuffle: bool = True, stratify=None):
    """Split equally long arrays into (train_arrays, val_arrays), two tuples of arrays.

    val_fraction: share of samples held out, round(N * val_fraction), in (0, 1).
    shuffle: draw the split from the seeded generator; if False the validation set is the
      last rows (as Keras' validation_split), each class's last rows with `stratify`.
    stratify: labels (N,); every class then keeps its proportion in both parts (the
      per-class counts are rounded so that they sum to the validation size).
    """
    arrays = tuple(_as_array(a, "train_val_split's arguments") for a in arrays)
    n = _check_same_length(arrays, "train_val_split")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if not 0 < n_val < n:
        raise ValueError(
            f"val_fraction={val_fraction} of {n} samples gives {n_val} validation samples; "
            f"both parts need at least one"
        )
    rng = backend.generator()
    if stratify is None:
        order = rng.permutation(n) if shuffle else np.arange(n)
        train_idx, val_idx = order[: n - n_val], order[n - n_val :]
    else:
        train_idx, val_idx = _stratified_indices(
            _as_array(stratify, "stratify"), n, n_val, shuffle, rng
        )
        if shuffle:  # otherwise the parts come out grouped by class
            train_idx, val_idx = rng.permutation(train_idx), rng.permutation(val_idx)
        else:
            train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    return tuple(a[train_idx] for a in arrays), tuple(a[val_idx] for a in arrays)


def _stratified_indices(labels, n, n_val, shuffle, rng):
    if labels.shape != (n,):
        raise ValueError(f"stratify must be labels of shape ({n},), got shape {labels.shape}")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    # Largest-remainder rounding: per-class quotas that sum exactly to n_val.
    exact = counts * (n_val / n)
    quota = np.floor(exact).astype(np.int64)
    leftover = n_val - int(quota.sum())
    if leftover > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:leftover]] += 1
    # Sort the samples by class (stable, so original order within a class), shuffled first.
    order = rng.permutation(n) if shuffle else np.arange(n)
    by_class = order[np.argsort(inverse[order], kind="stable")]
    class_end = np.cumsum(counts)
    rank_from_end = class_end[inverse[by_class]] - np.arange(n)  # 1 for a class's last row
    is_val = rank_from_end <= quota[inverse[by_class]]
    return by_class[~is_val], by_class[is_val]
