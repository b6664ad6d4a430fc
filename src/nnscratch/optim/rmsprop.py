"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ._common import check_option, lerp_, working_gradient
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

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            momentum, centered = group["momentum"], group["centered"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "square_avg": np.zeros_like(p.data)}
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(p.data)
                    if centered:
                        state["grad_avg"] = np.zeros_like(p.data)
                state["step"] += 1
                g, owned = working_gradient(p, group["weight_decay"], group["maximize"])
                square_avg = state["square_avg"]
                avg = np.multiply(g, 1 - alpha)
                avg *= g
                square_avg *= alpha
                square_avg += avg
                if centered:
                    grad_avg = state["grad_avg"]
                    lerp_(grad_avg, g, 1 - alpha, avg)
                    np.multiply(grad_avg, grad_avg, out=avg)
                    np.subtract(square_avg, avg, out=avg)
                    np.sqrt(avg, out=avg)
                else:
                    np.sqrt(square_avg, out=avg)
                avg += eps
                if momentum > 0:
                    buffer = state["momentum_buffer"]
                    buffer *= momentum
                    np.divide(g, avg, out=avg)
                    buffer += avg
                    np.multiply(buffer, -lr, out=avg)
                    p.data += avg
                else:
                    scaled = g if owned else np.empty_like(g)
                    np.multiply(g, -lr, out=scaled)
                    scaled /= avg
                    p.data += scaled
