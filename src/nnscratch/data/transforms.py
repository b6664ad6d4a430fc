"""Transforms on NumPy arrays: scaling, standardization, one-hot labels, flattening.

Advice carried over from the project's seed texts: networks train best on inputs in a
small range centred near zero, so scale raw pixels before training, e.g. to [-1, 1] with
`scale_to_symmetric` or to [0, 1] with `scale_to_unit`, or standardize each feature with
`Standardize`. Any statistic a transform learns (mean,
std) must be fitted on the training split only and then applied unchanged to the
validation and test splits; fitting on all the data leaks the held-out samples into
training and makes the validation score look better than it is.

    scaler = Standardize().fit(x_train)     # statistics of the training split only
    x_train, x_val = scaler(x_train), scaler(x_val)
"""

from __future__ import annotations

import numpy as np

from .. import backend


def _array(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy") and hasattr(x, "shape"):  # an ns.Tensor
        return x.numpy()
    return np.asarray(x)


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype or backend.get_default_dtype())
    if dtype.kind != "f":
        raise TypeError(f"the output dtype must be floating, got {dtype}")
    return dtype


def _check_pixels(x: np.ndarray, who: str) -> None:
    if x.dtype.kind not in "iu":
        raise TypeError(
            f"{who} expects raw integer pixels 0..255 (uint8), got dtype {x.dtype}; "
            f"floating data is presumably scaled already"
        )
    if x.dtype != np.uint8 and x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"{who} expects values in 0..255, got {x.min()}..{x.max()}")


def scale_to_unit(x, dtype=None) -> np.ndarray:
    """uint8 pixels 0..255 -> floats in [0, 1]: x / 255 (float32, the default dtype)."""
    x = _array(x)
    _check_pixels(x, "scale_to_unit")
    dtype = _float_dtype(dtype)
    return x.astype(dtype) / dtype.type(255)


def scale_to_symmetric(x, dtype=None) -> np.ndarray:
    """uint8 pixels 0..255 -> floats in [-1, 1]: (x - 127.5) / 127.5 (float32 by default)."""
    x = _array(x)
    _check_pixels(x, "scale_to_symmetric")
    dtype = _float_dtype(dtype)
    return (x.astype(dtype) - dtype.type(127.5)) / dtype.type(127.5)


class Standardize:
    """z = (x - mean) / std with mean and std fitted on the training split only.

    per_feature: statistics per feature, over axis 0 (mean.shape == x.shape[1:]); if False
      one global mean and std over all values.
    eps: a std below eps (a constant feature) is replaced by 1, so that feature becomes 0
      instead of inf or nan.
    Integer input comes out in the default float dtype, floating input keeps its dtype.
    """

    def __init__(self, per_feature: bool = True, eps: float = 1e-8):
        self.per_feature = bool(per_feature)
        self.eps = float(eps)
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, train_x) -> Standardize:
        """Compute mean and std of `train_x` (N, ...) (float64 accumulation); returns self."""
        x = _array(train_x)
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"Standardize.fit needs at least one sample, got shape {x.shape}")
        axis = 0 if self.per_feature else None
        mean = x.mean(axis=axis, dtype=np.float64)
        std = x.std(axis=axis, dtype=np.float64)
        self.mean = np.asarray(mean)
        self.std = np.where(std < self.eps, 1.0, std)
        return self

    def _check_fitted(self, x: np.ndarray) -> None:
        if self.mean is None:
            raise RuntimeError(
                "Standardize used before fit(): call .fit(x_train) on the training split first"
            )
        if self.per_feature and x.shape[1:] != self.mean.shape:
            raise ValueError(
                f"Standardize was fitted on samples of shape {self.mean.shape}, got samples of "
                f"shape {x.shape[1:]}"
            )

    def _dtype(self, x: np.ndarray) -> np.dtype:
        return x.dtype if x.dtype.kind == "f" else backend.get_default_dtype()

    def transform(self, x) -> np.ndarray:
        """(x - mean) / std with the fitted statistics; x: (N, ...) like the training data."""
        x = _array(x)
        self._check_fitted(x)
        dtype = self._dtype(x)
        mean, std = self.mean.astype(dtype), self.std.astype(dtype)
        return (x.astype(dtype, copy=False) - mean) / std

    __call__ = transform

    def fit_transform(self, train_x) -> np.ndarray:
        """fit(train_x) then transform(train_x)."""
        return self.fit(train_x).transform(train_x)

    def inverse_transform(self, z) -> np.ndarray:
        """z * std + mean: back to the original units."""
        z = _array(z)
        self._check_fitted(z)
        dtype = self._dtype(z)
        return z.astype(dtype, copy=False) * self.std.astype(dtype) + self.mean.astype(dtype)

    def state_dict(self) -> dict:
        """The fitted statistics as plain arrays (to save them beside a model)."""
        if self.mean is None:
            raise RuntimeError("Standardize.state_dict() before fit(): nothing to save")
        return {"mean": self.mean.copy(), "std": self.std.copy()}

    def load_state_dict(self, state: dict) -> None:
        """Restore statistics returned by `state_dict`."""
        mean, std = np.asarray(state["mean"], np.float64), np.asarray(state["std"], np.float64)
        if mean.shape != std.shape:
            raise ValueError(f"mean and std shapes differ: {mean.shape} vs {std.shape}")
        self.mean, self.std = mean, std

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean is None else f"fitted, mean shape {self.mean.shape}"
        return f"Standardize(per_feature={self.per_feature}, {fitted})"


def one_hot(labels, num_classes: int | None = None, dtype=np.int64) -> np.ndarray:
    """Integer labels (...) -> one-hot rows (..., num_classes), int64 as torch's F.one_hot.

    num_classes: defaults to max(labels) + 1. Pass dtype=np.float32 for float targets.
    """
    labels = _array(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot expects integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"one_hot expects labels >= 0, got {labels.min()}")
    top = int(labels.max()) if labels.size else -1
    if num_classes is None:
        num_classes = top + 1
    elif top >= num_classes:
        raise ValueError(f"one_hot: label {top} out of range for num_classes={num_classes}")
    return np.eye(num_classes, dtype=dtype)[labels]


def flatten(x) -> np.ndarray:
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...): one row per sample (a view when possible)."""
    x = _array(x)
    if x.ndim == 0:
        raise ValueError("flatten expects a batch (N, ...), got a 0-d array")
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))
