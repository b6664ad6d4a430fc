"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import numpy as np

from ._common import check_option, lerp_, scratch
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), step for step like torch.optim.RMSprop.

    With g the gradient (negated if maximize) and every buffer starting at zero:
        g   <- g + weight_decay * p
        v   <- alpha * v + (1 - alpha) * g * g
        centered:  m <- m + (1 - alpha) * (g - m);  avg = sqrt(v - m * m) + eps
        otherwise: avg = sqrt(v) + eps
        momentum > 0: b <- momentum * b + g / avg;  p <- p - lr * b
        otherwise:    p <- p - lr * g / avg
    alpha is the decay of the running average (the "rho" of other texts).
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        check_option("RMSprop", "alpha", group["alpha"], 0.0, 1.0)
        for name in ("eps", "weight_decay", "momentum"):
            check_option("RMSprop", name, group[name])

    def init_state(self, p, group):
        state = {"step": 0, "square_avg": np.zeros_like(p.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(p.data)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(p.data)
        return state

    def update(self, p, grad, state, group):
        alpha, lr = group["alpha"], group["lr"]
        state["step"] += 1
        v = state["square_avg"]
        avg = np.multiply(grad, 1 - alpha)
        avg *= grad
        v *= alpha
        v += avg                                 # v <- alpha v + (1 - alpha) g^2
        if group["centered"]:
            m = state["grad_avg"]
            lerp_(m, grad, 1 - alpha, avg)       # m <- m + (1 - alpha) (g - m)
            np.multiply(m, m, out=avg)
            np.subtract(v, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(v, out=avg)
        avg += group["eps"]                      # sqrt(v - m^2 or v) + eps
        if group["momentum"] > 0:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += np.divide(grad, avg, out=avg)   # b <- momentum b + g / avg
            p.data += np.multiply(b, -lr, out=avg)
        else:
            delta = np.multiply(grad, -lr, out=scratch(grad, p))
            delta /= avg
            p.data += delta
