"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, step for step like torch.optim.SGD.

    With g the gradient (negated if maximize):
        g <- g + weight_decay * p
        momentum m > 0:  v <- g at the first step, then v <- m * v + (1 - dampening) * g;
                         g <- g + m * v if nesterov, else g <- v
        p <- p - lr * g
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum={group['momentum']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay={group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")

    lazy_state_keys = ("momentum_buffer",)

    def update(self, p, grad, state, group):
        momentum = group["momentum"]
        if momentum:
            buffer = state.get("momentum_buffer")
            if buffer is None:  # the first step: v is the gradient itself
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        p.data -= group["lr"] * grad
