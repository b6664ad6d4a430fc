"""Numerical gradient check: compare hand-derived gradients with central differences."""

from __future__ import annotations

import numpy as np

from .. import autograd
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numerical gradients of some input differ beyond tolerance."""


def _scalar_projection(outputs, weights):
    total = None
    for out, w in zip(outputs, weights, strict=True):
        term = (out * Tensor(w)).sum()
        total = term if total is None else total + term
    return total


def _outputs(fn, inputs) -> list[Tensor]:
    result = fn(*inputs)
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    outputs = [o for o in outputs if isinstance(o, Tensor) and o.dtype.kind == "f"]
    if not outputs:
        raise TypeError("gradcheck: fn must return a floating tensor (or a tuple of them)")
    return outputs


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check d(fn)/d(input) for every input with requires_grad against central differences.

    fn: takes the tensors of `inputs` and returns a tensor (or a tuple of tensors).
    inputs: float64 tensors. fn's outputs are projected on fixed random weights R to one
    scalar L = sum(R * out), so one backward gives the whole vector-Jacobian product
    R^T J, which is compared element by element with (L(x + eps) - L(x - eps)) / (2 eps).
    Passes when |analytic - numerical| <= atol + rtol * |numerical| everywhere; returns
    True, or raises GradcheckError naming the input and index of the worst mismatch.
    """
    inputs = list(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} must be float64 for a meaningful check, got "
                f"{inputs[i].dtype}"
            )
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(o.shape) for o in _outputs(fn, inputs)]

    for i in checked:
        inputs[i].grad = None
    _scalar_projection(_outputs(fn, inputs), weights).backward()
    analytic = [np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad
                for i in checked]
    for i in checked:
        inputs[i].grad = None

    def projected() -> float:
        with autograd.no_grad():
            return float(_scalar_projection(_outputs(fn, inputs), weights).item())

    worst = None  # (excess over tolerance, input, index, analytic, numerical)
    failures = 0
    for slot, i in enumerate(checked):
        data = inputs[i].data
        numerical = np.zeros(data.shape)
        for index in np.ndindex(data.shape):
            original = data[index]
            data[index] = original + eps
            plus = projected()
            data[index] = original - eps
            minus = projected()
            data[index] = original
            numerical[index] = (plus - minus) / (2 * eps)
        excess = np.abs(analytic[slot] - numerical) - (atol + rtol * np.abs(numerical))
        if excess.size and np.nanmax(excess) > 0 or np.isnan(excess).any():
            failures += int((excess > 0).sum() + np.isnan(excess).sum())
            flat = int(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)))
            index = np.unravel_index(flat, data.shape)
            if worst is None or excess[index] > worst[0] or np.isnan(excess[index]):
                worst = (excess[index], i, index, analytic[slot][index], numerical[index])
    if worst is not None:
        _, i, index, a, n = worst
        raise GradcheckError(
            f"gradcheck failed for input {i} (shape {tuple(inputs[i].shape)}) at index "
            f"{tuple(int(k) for k in index)}: analytic {a:.8g}, numerical {n:.8g} "
            f"(|difference| {abs(a - n):.3g} > atol {atol:g} + rtol {rtol:g} * |numerical|); "
            f"{failures} element(s) out of tolerance"
        )
    return True
