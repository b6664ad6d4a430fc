"""Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ._common import check_option, working_gradient
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), step for step like torch.optim.Adadelta.

    With g the gradient (negated if maximize) and v, u starting at zero:
        g     <- g + weight_decay * p
        v     <- rho * v + (1 - rho) * g * g
        delta =  sqrt(u + eps) / sqrt(v + eps) * g
        u     <- rho * u + (1 - rho) * delta * delta
        p     <- p - lr * delta
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        check_option("Adadelta", "rho", group["rho"], 0.0, 1.0)
        for name in ("eps", "weight_decay"):
            check_option("Adadelta", name, group[name])

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, rho, eps = group["lr"], group["rho"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "square_avg": np.zeros_like(p.data),
                                             "acc_delta": np.zeros_like(p.data)}
                state["step"] += 1
                g, _ = working_gradient(p, group["weight_decay"], group["maximize"])
                square_avg, acc_delta = state["square_avg"], state["acc_delta"]
                work = np.multiply(g, 1 - rho)
                work *= g
                square_avg *= rho
                square_avg += work
                np.add(square_avg, eps, out=work)
                np.sqrt(work, out=work)                # std
                delta = np.add(acc_delta, eps)
                np.sqrt(delta, out=delta)
                delta /= work
                delta *= g
                np.multiply(delta, 1 - rho, out=work)
                work *= delta
                acc_delta *= rho
                acc_delta += work
                delta *= -lr
                p.data += delta
