"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ._common import check_option, working_gradient
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

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {
                        "step": 0,
                        "sum": np.full_like(p.data, group["initial_accumulator_value"]),
                    }
                state["step"] += 1
                g, owned = working_gradient(p, group["weight_decay"], group["maximize"])
                clr = lr / (1 + (state["step"] - 1) * lr_decay)
                total = state["sum"]
                std = np.multiply(g, g)
                total += std
                np.sqrt(total, out=std)
                std += eps
                scaled = g if owned else np.empty_like(g)
                np.multiply(g, -clr, out=scaled)
                scaled /= std
                p.data += scaled
