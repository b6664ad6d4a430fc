"""Dropout: randomly zero activations while training so units cannot co-adapt."""

from __future__ import annotations

from .. import backend
from ..tensor import Tensor, record


def draw_keep(shape, p: float, dtype, xp):
    """Boolean keep mask of `shape`, each element kept with probability 1 - p (p < 1): one
    uniform per element from the seeded generator, in dtype when it is float32/64 (else
    float64), so every op that drops (dropout, attention) draws the same way. On a device
    the device's generator draws there: no mask crosses from the host."""
    draw_dtype = dtype if dtype in (backend.float32, backend.float64) else backend.float64
    return backend.generator_for(xp).random(shape, dtype=draw_dtype) >= p


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) ("inverted"
    dropout), so the expected value of every element is unchanged and evaluation needs no
    rescaling. The identity when not training or p == 0. x: any shape.

    d/dx = g * mask, mask = 1[kept] / (1 - p), the same mask as the forward pass.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p is a drop probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    x = input.data
    xp = backend.array_module(x)
    if p == 1.0:
        mask = xp.zeros_like(x)
    else:
        mask = draw_keep(x.shape, p, x.dtype, xp).astype(x.dtype) * (1.0 / (1.0 - p))

    def backward(g):
        return (g * mask,)

    return record(x * mask, (input,), backward, "dropout")
