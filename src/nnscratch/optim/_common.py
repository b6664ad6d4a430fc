"""Pieces shared by the update rules: option checks, the check of a saved value against
the one it replaces, a scratch array, and an in-place lerp that rounds like PyTorch's."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend, parallel


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


def check_like(owner: str, where: str, saved, current) -> None:
    """A saved value (of a state_dict being loaded) must be the kind of value it replaces:
    a bool for a bool, an int for an int (not negative where the current one is not), a
    number for a float (finite where the current one is), a list of the same length, a
    dict (checked key by key), an array of the same shape with finite values; None only
    where the current value is None too. ValueError naming `where` otherwise."""
    def refuse(expected: str):
        raise ValueError(f"{owner}: {where} must be {expected}, got {saved!r}"[:300])

    if current is None:
        if saved is not None and not isinstance(saved, (numbers.Real, str)):
            refuse("None, a number or a string")
    elif isinstance(current, (bool, np.bool_)):
        if not isinstance(saved, (bool, np.bool_)):
            refuse("a bool")
    elif isinstance(current, numbers.Integral):
        if isinstance(saved, bool) or not isinstance(saved, numbers.Integral) \
                or (current >= 0 > saved):
            refuse("an int" + (" >= 0" if current >= 0 else ""))
    elif isinstance(current, numbers.Real):
        if isinstance(saved, bool) or not isinstance(saved, numbers.Real) \
                or math.isnan(saved) or (math.isfinite(current) and not math.isfinite(saved)):
            refuse("a finite number" if math.isfinite(current) else "a number")
    elif isinstance(current, str):
        if not isinstance(saved, str):
            refuse("a string")
    elif hasattr(current, "shape") and hasattr(current, "dtype"):  # on any device
        if hasattr(saved, "dtype") and not isinstance(saved, np.ndarray):
            saved = backend.to_host(saved)
        if not isinstance(saved, np.ndarray) or saved.shape != current.shape \
                or saved.dtype.kind not in "fiu" or not np.isfinite(saved).all():
            refuse(f"a finite array of shape {current.shape}")
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(current):
            refuse(f"a list of {len(current)}")
        for i, (s, c) in enumerate(zip(saved, current, strict=True)):
            check_like(owner, f"{where}[{i}]", s, c)
    elif isinstance(current, dict):
        if not isinstance(saved, dict):
            refuse("a dict")
        for k in saved.keys() & current.keys():
            check_like(owner, f"{where}[{k!r}]", saved[k], current[k])


def scratch(grad, p):
    """An array of grad's shape that an update rule may overwrite: grad itself when the
    step made it afresh (weight decay or maximize), else a new one, since p.grad belongs to
    the user and is never written."""
    return np.empty_like(grad) if grad is p.grad else grad


def elementwise(fn, *arrays) -> None:
    """fn(*parts) on matching parts of `arrays` (a parameter, its gradient and state, all
    of one shape; None passed on as None), the parts split between threads
    (parallel.over_batch) when every array is a contiguous NumPy array: an update rule is
    a dozen memory-bound passes, which two cores run nearly twice as fast as one. The
    result is the same bit for bit: each element's arithmetic is its own."""
    present = [a for a in arrays if a is not None]
    if not all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in present):
        fn(*arrays)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]

    def part(chunk):
        fn(*(None if a is None else a[chunk] for a in flat))

    parallel.over_batch(flat[0].size, part, flat[0])


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
