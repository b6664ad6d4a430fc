"""Elementwise ops. g is d(loss)/d(output); inputs broadcast as in NumPy and the engine
sums each gradient back to its input's shape, so no op here handles broadcasting itself.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, _moved, record
from ._common import constant, tensors


def _float_of_ints(out, *inputs):
    """`out` in the default float dtype where only integer (or bool) inputs made it.

    NumPy gives float64 for true division, exp, log and sqrt of integers; PyTorch gives
    its default dtype, and so must we, or `arange(n) / n` would turn a model float64.
    """
    if out.dtype.kind == "f" and all(t.data.dtype.kind in "iub" for t in inputs):
        return out.astype(backend.get_default_dtype(), copy=False)
    return out


def add(input, other) -> Tensor:
    """input + other (broadcast). d/d input = g, d/d other = g."""
    a, b = tensors(input, other)

    def backward(g):
        return g, g

    return record(a.data + b.data, (a, b), backward, "add")


def sub(input, other) -> Tensor:
    """input - other (broadcast). d/d input = g, d/d other = -g."""
    a, b = tensors(input, other)

    def backward(g):
        return g, (-g if b.requires_grad else None)

    return record(a.data - b.data, (a, b), backward, "sub")


def mul(input, other) -> Tensor:
    """input * other (broadcast). d/d input = g * other, d/d other = g * input."""
    a, b = tensors(input, other)

    def backward(g):
        return (
            g * b.data if a.requires_grad else None,
            g * a.data if b.requires_grad else None,
        )

    return record(a.data * b.data, (a, b), backward, "mul")


def div(input, other) -> Tensor:
    """input / other (broadcast). d/d input = g / other, d/d other = -g * out / other."""
    a, b = tensors(input, other)
    out = _float_of_ints(a.data / b.data, a, b)

    def backward(g):
        grad_a = g / b.data if a.requires_grad else None
        grad_b = -g * out / b.data if b.requires_grad else None
        return grad_a, grad_b

    return record(out, (a, b), backward, "div")


def neg(input: Tensor) -> Tensor:
    """-input. d/d input = -g."""

    def backward(g):
        return (-g,)

    return record(-input.data, (input,), backward, "neg")


def pow(input, exponent) -> Tensor:  # noqa: A001 - PyTorch's name
    """input ** exponent, the exponent a number or a tensor (broadcast).

    d/d input = g * e * input^(e-1) (0 where e == 0); d/d e = g * out * log(input)
    (0 where input == 0 and e >= 0, the limit of x^e log x).
    """
    if isinstance(exponent, (int, float)) and isinstance(input, Tensor):
        x = input.data
        e = exponent

        def backward_scalar(g):
            if e == 0:
                return (g * 0,)
            if e == 1:
                return (g,)
            if e == 2:
                return (g * (2 * x),)
            return (g * (e * x ** (e - 1)),)

        return record(x**e, (input,), backward_scalar, "pow")

    base, power = tensors(input, exponent)
    x, e = base.data, power.data
    out = x**e

    def backward(g):
        xp = backend.array_module(x)
        grad_x = grad_e = None
        if base.requires_grad:
            grad_x = g * xp.where(e == 0, 0, e * x ** (e - 1))
        if power.requires_grad:
            safe_x = xp.where(x == 0, 1, x)
            grad_e = g * xp.where((x == 0) & (e >= 0), 0, out * xp.log(safe_x))
        return grad_x, grad_e

    return record(out, (base, power), backward, "pow")


def exp(input: Tensor) -> Tensor:
    """e^input. d/d input = g * out."""
    xp = backend.array_module(input.data)
    out = _float_of_ints(xp.exp(input.data), input)

    def backward(g):
        return (g * out,)

    return record(out, (input,), backward, "exp")


def log(input: Tensor) -> Tensor:
    """Natural logarithm. d/d input = g / input."""
    xp = backend.array_module(input.data)

    def backward(g):
        return (g / input.data,)

    return record(_float_of_ints(xp.log(input.data), input), (input,), backward, "log")


def sqrt(input: Tensor) -> Tensor:
    """Square root. d/d input = g / (2 * out)."""
    xp = backend.array_module(input.data)
    out = _float_of_ints(xp.sqrt(input.data), input)

    def backward(g):
        return (g / (2 * out),)

    return record(out, (input,), backward, "sqrt")


def abs(input: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """|input|. d/d input = g * sign(input) (0 at 0, as PyTorch)."""
    xp = backend.array_module(input.data)

    def backward(g):
        return (g * xp.sign(input.data),)

    return record(xp.abs(input.data), (input,), backward, "abs")


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
    """input limited to [min, max] (either may be None; bounds get no gradient).

    d/d input = g where min <= input <= max, else 0.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    xp = backend.array_module(input.data)
    x = input.data
    low = None if min is None else constant(min, input).data
    high = None if max is None else constant(max, input).data
    out = xp.clip(x, low, high)

    def backward(g):
        inside = True
        if low is not None:
            inside = x >= low
        if high is not None:
            inside = inside & (x <= high)
        return (g * inside,)

    return record(out, (input,), backward, "clamp")


clip = clamp


def _tie_split(first, second, g, xp):
    """Gradients of max(first, second): to the larger, split in half on ties (PyTorch's rule)."""
    share = (first > second) + 0.5 * (first == second)
    return g * share.astype(g.dtype, copy=False)


def maximum(input, other) -> Tensor:
    """Elementwise max of two tensors (broadcast). g goes to the larger input; ties split it."""
    a, b = tensors(input, other)
    xp = backend.array_module(a.data)

    def backward(g):
        return (
            _tie_split(a.data, b.data, g, xp) if a.requires_grad else None,
            _tie_split(b.data, a.data, g, xp) if b.requires_grad else None,
        )

    return record(xp.maximum(a.data, b.data), (a, b), backward, "maximum")


def minimum(input, other) -> Tensor:
    """Elementwise min of two tensors (broadcast). g goes to the smaller input; ties split it."""
    a, b = tensors(input, other)
    xp = backend.array_module(a.data)

    def backward(g):
        return (
            _tie_split(b.data, a.data, g, xp) if a.requires_grad else None,
            _tie_split(a.data, b.data, g, xp) if b.requires_grad else None,
        )

    return record(xp.minimum(a.data, b.data), (a, b), backward, "minimum")


def where(condition, input, other) -> Tensor:
    """input where condition holds, else other (all broadcast).

    d/d input = g where condition, else 0; d/d other = g where not condition, else 0.
    """
    cond = condition.data if isinstance(condition, Tensor) else condition
    a, b = tensors(input, other)
    xp = backend.array_module(a.data)

    def backward(g):
        return (
            xp.where(cond, g, 0) if a.requires_grad else None,
            xp.where(cond, 0, g) if b.requires_grad else None,
        )

    return record(xp.where(cond, a.data, b.data), (a, b), backward, "where")


def to(input: Tensor, *targets) -> Tensor:
    """input on a device and/or cast to a dtype, as torch's x.to: x.to("cuda"),
    x.to(ns.float64), x.to(ns.device("strict"), "float32"). d/d input = g moved back to
    input's device and cast back to its dtype."""
    device, dtype = None, None
    for target in targets:
        if backend.names_a_device(target):
            device = backend.device(target)
        else:
            dtype = target
    if not targets:
        raise TypeError("to() needs a device ('cpu', 'cuda', ...) or a dtype")
    if device is not None:
        input = _moved(input, device)
    return input if dtype is None else _cast(input, dtype)


def _cast(input: Tensor, dtype) -> Tensor:
    target = np.dtype(dtype)
    if input.data.dtype == target:
        return input

    def backward(g):
        return (g.astype(input.data.dtype),)

    return record(input.data.astype(target), (input,), backward, "to")
