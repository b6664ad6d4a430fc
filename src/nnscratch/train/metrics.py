"""Metrics on NumPy arrays of a whole epoch's outputs and targets.

outputs: what the model returned, (N, C) scores / probabilities, or (N,) / (N, 1) for a
binary or regression output. targets: integer labels (N,), one-hot rows (N, C), or
values of the outputs' shape.
"""

from __future__ import annotations

import numpy as np


def _labels(targets) -> np.ndarray:
    targets = np.asarray(targets)
    return targets.argmax(axis=1) if targets.ndim == 2 and targets.shape[1] > 1 else targets


def predicted_labels(outputs, threshold: float = 0.5) -> np.ndarray:
    """Class predictions: argmax of (N, C) scores; for one output per sample, 1 where the
    output exceeds threshold (0.5 for probabilities; pass 0.0 for logits)."""
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    return (outputs.reshape(len(outputs)) > threshold).astype(np.int64)


def accuracy(outputs, targets, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted class equals the target class."""
    predicted = predicted_labels(outputs, threshold)
    labels = _labels(targets).reshape(len(predicted))
    return float((predicted == labels).mean()) if len(predicted) else float("nan")


def binary_accuracy(outputs, targets, threshold: float = 0.5) -> float:
    """Fraction of elements where (output > threshold) equals the 0/1 target (multi-label)."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    return float(((outputs > threshold) == (targets.reshape(outputs.shape) > 0.5)).mean())


def top_k_accuracy(outputs, targets, k: int = 5) -> float:
    """Fraction of samples whose target is among the k highest scores."""
    outputs = np.asarray(outputs)
    if outputs.ndim != 2 or not 1 <= k <= outputs.shape[1]:
        raise ValueError(f"top_k_accuracy: need (N, C) scores with C >= k={k}, got {outputs.shape}")
    top = np.argpartition(-outputs, k - 1, axis=1)[:, :k]
    return float((top == _labels(targets)[:, None]).any(axis=1).mean())


def mean_absolute_error(outputs, targets) -> float:
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    return float(np.abs(outputs - targets.reshape(outputs.shape)).mean())


def r2_score(outputs, targets) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (1 is perfect, 0 is the mean)."""
    outputs, targets = np.asarray(outputs, np.float64), np.asarray(targets, np.float64)
    targets = targets.reshape(outputs.shape)
    total = ((targets - targets.mean(axis=0)) ** 2).sum()
    residual = ((targets - outputs) ** 2).sum()
    return float(1 - residual / total) if total > 0 else float("nan")


def confusion_matrix(outputs, targets, num_classes: int | None = None) -> np.ndarray:
    """counts[true, predicted] over the samples, (num_classes, num_classes) int64."""
    predicted = predicted_labels(outputs)
    labels = _labels(targets).reshape(len(predicted)).astype(np.int64)
    if num_classes is None:
        num_classes = int(max(predicted.max(initial=0), labels.max(initial=0))) + 1
    flat = np.bincount(labels * num_classes + predicted, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes)


def precision_recall_f1(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / confusion.sum(axis=0))
        recall = np.nan_to_num(hits / confusion.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {"precision": precision, "recall": recall, "f1": f1}


_BY_NAME = {
    "accuracy": accuracy, "acc": accuracy, "binary_accuracy": binary_accuracy,
    "top5_accuracy": lambda o, t: top_k_accuracy(o, t, 5),
    "top_k_accuracy": top_k_accuracy,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "r2": r2_score,
}


def resolve(metric) -> tuple[str, callable]:
    """A metric given by name ('accuracy', 'top5_accuracy', 'mae', 'r2', ...), as a function
    f(outputs, targets) -> float (named by its __name__), or as a (name, function) pair."""
    if isinstance(metric, tuple) and len(metric) == 2 and callable(metric[1]):
        return metric
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if metric not in _BY_NAME:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(_BY_NAME)}")
    return ("accuracy" if metric == "acc" else metric), _BY_NAME[metric]
