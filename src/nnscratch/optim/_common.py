"""Pieces shared by the update rules: option checks, a scratch array, and an in-place lerp
that rounds like PyTorch's."""

from __future__ import annotations

import math
import numbers

import numpy as np


def check_option(owner: str, name: str, value, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = True) -> None:
    """Raise ValueError naming `name` and `value` unless low <= value (<= or <) high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{owner}: {name} must be a real number, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: invalid {name}={value!r}, must be >= {low}")
    if high is not None and (value > high or (not high_inclusive and value == high)):
        bracket = "]" if high_inclusive else ")"
        raise ValueError(f"{owner}: invalid {name}={value!r}, must be in [{low}, {high}{bracket}")


def scratch(grad, p):
    """An array of grad's shape that an update rule may overwrite: grad itself when the
    step made it afresh (weight decay or maximize), else a new one, since p.grad belongs to
    the user and is never written."""
    return np.empty_like(grad) if grad is p.grad else grad


def lerp_(start, end, weight: float, scratch) -> None:
    """start <- start + weight (end - start), in place, as torch.lerp_ rounds it: for
    weight >= 0.5 it computes end - (end - start)(1 - weight) instead. scratch: an array of
    start's shape that is overwritten."""
    np.subtract(end, start, out=scratch)
    if abs(weight) < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1 - weight
        np.subtract(end, scratch, out=start)
