"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients."""

from __future__ import annotations

import numpy as np

from ._common import check_option, scratch
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011), step for step like torch.optim.Adagrad.

    At step t (counted per parameter from 1), with g the gradient (negated if maximize):
        g     <- g + weight_decay * p
        clr   =  lr / (1 + (t - 1) * lr_decay)
        sum   <- sum + g * g                  (sum starts at initial_accumulator_value)
        p     <- p - clr * g / (sqrt(sum) + eps)
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, maximize: bool = False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        for name in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_option("Adagrad", name, group[name])

    def init_state(self, p, group):
        return {"step": 0, "sum": np.full_like(p.data, group["initial_accumulator_value"])}

    def update(self, p, grad, state, group):
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        square = np.multiply(grad, grad)
        state["sum"] += square                   # sum <- sum + g^2
        std = np.sqrt(state["sum"], out=square)
        std += group["eps"]
        delta = np.multiply(grad, -clr, out=scratch(grad, p))
        delta /= std
        p.data += delta
