"""Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients."""

from __future__ import annotations

import numpy as np

from ._common import check_option
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

    def init_state(self, p, group):
        return {"step": 0, "square_avg": np.zeros_like(p.data),
                "acc_delta": np.zeros_like(p.data)}

    def update(self, p, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        state["step"] += 1
        v, u = state["square_avg"], state["acc_delta"]
        work = np.multiply(grad, 1 - rho)
        work *= grad
        v *= rho
        v += work                                # v <- rho v + (1 - rho) g^2
        std = np.sqrt(np.add(v, eps, out=work), out=work)
        delta = np.add(u, eps)
        np.sqrt(delta, out=delta)
        delta /= std
        delta *= grad                            # sqrt(u + eps) / sqrt(v + eps) g
        np.multiply(delta, 1 - rho, out=work)
        work *= delta
        u *= rho
        u += work                                # u <- rho u + (1 - rho) delta^2
        delta *= -group["lr"]
        p.data += delta
