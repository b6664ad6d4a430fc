"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from ..autograd import no_grad
from .optimizer import Optimizer


class SGD(Optimizer):
    """p -= lr * v, where v is the gradient, or with momentum m the running
    v = m v + (1 - dampening) (grad + weight_decay p); nesterov uses grad + m v instead.
    Matches torch.optim.SGD step for step.
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

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            decay, nesterov = group["weight_decay"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = -p.grad if group["maximize"] else p.grad
                if decay:
                    d_p = d_p + decay * p.data
                if momentum:
                    state = self.state.setdefault(p, {})
                    buffer = state.get("momentum_buffer")
                    if buffer is None:
                        state["momentum_buffer"] = buffer = d_p.copy()
                    else:
                        buffer *= momentum
                        buffer += (1 - dampening) * d_p
                    d_p = d_p + momentum * buffer if nesterov else buffer
                p.data -= lr * d_p
