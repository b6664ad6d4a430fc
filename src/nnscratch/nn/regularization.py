"""L1 and L2 penalties on a model's weights and biases, added to the loss.

One function builds the penalty as an ordinary expression of the parameters, so
`loss = data_loss + penalty(model, ...)` and a single backward() give every parameter
the penalty's gradient too: d/dw of l1 * sum|w| is l1 * sign(w), of l2 * sum w^2 is
2 * l2 * w. These are the nnfs book's weight_regularizer_l1/l2 and bias_regularizer_l1/l2.
"""

from __future__ import annotations

from .. import functional as F
from ..tensor import Tensor
from .module import Module


def is_bias(name: str) -> bool:
    """Parameters named 'bias' (the last part of the dotted name) are biases."""
    return name.rsplit(".", 1)[-1] == "bias"


def penalty(model: Module, weight_l1: float = 0.0, weight_l2: float = 0.0,
            bias_l1: float = 0.0, bias_l2: float = 0.0) -> Tensor:
    """l1 * sum|p| + l2 * sum p^2 over the model's parameters, with separate strengths for
    biases (parameters named 'bias') and weights (all others). A 0-d tensor."""
    for name, value in (("weight_l1", weight_l1), ("weight_l2", weight_l2),
                        ("bias_l1", bias_l1), ("bias_l2", bias_l2)):
        if value < 0:
            raise ValueError(f"penalty: {name} must be >= 0, got {value}")
    total = None
    for name, p in model.named_parameters():
        l1, l2 = (bias_l1, bias_l2) if is_bias(name) else (weight_l1, weight_l2)
        terms = []
        if l1:
            terms.append(F.abs(p).sum() * l1)
        if l2:
            terms.append((p * p).sum() * l2)
        for term in terms:
            total = term if total is None else total + term
    if total is None:
        first = next(model.parameters(), None)
        dtype = None if first is None else first.dtype
        return Tensor(0.0, dtype=dtype)
    return total
