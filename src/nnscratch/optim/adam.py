"""Adam and AdamW: steps from bias-corrected running averages of the gradient and of its
square."""

from __future__ import annotations

import numpy as np

from ._common import check_option, elementwise, lerp_, scratch
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), step for step like torch.optim.Adam.

    At step t (counted per parameter from 1), with g the gradient (negated if maximize)
    and m, v starting at zero:
        decoupled_weight_decay: p <- p * (1 - lr * weight_decay)   (AdamW)
        otherwise:              g <- g + weight_decay * p            (L2 in the gradient)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g * g
        amsgrad: v_max <- max(v_max, v), used in place of v below
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 *, maximize: bool = False, decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_options(self, group: dict) -> None:
        super()._check_options(group)
        owner = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        for i, beta in enumerate(betas):
            check_option(owner, f"betas[{i}]", beta, 0.0, 1.0, high_inclusive=False)
        for name in ("eps", "weight_decay"):
            check_option(owner, name, group[name])

    def gradient_weight_decay(self, group):
        return 0.0 if group["decoupled_weight_decay"] else group["weight_decay"]

    def init_state(self, p, group):
        state = {"step": 0, "exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(p.data)
        return state

    def update(self, p, grad, state, group):
        lr, (beta1, beta2) = group["lr"], group["betas"]
        state["step"] += 1
        t = state["step"]
        decay = lr * group["weight_decay"] if group["decoupled_weight_decay"] else 0.0
        # Python floats, like torch's non-capturable path
        step_size = lr / (1 - beta1 ** t)
        bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5

        def step_on(param, g, m, v, v_max, delta):  # on a part of the elements
            if decay:
                param *= 1 - decay
            work = np.empty_like(param)
            lerp_(m, g, 1 - beta1, work)          # m <- beta1 m + (1 - beta1) g
            np.multiply(g, 1 - beta2, out=work)
            work *= g
            v *= beta2
            v += work                             # v <- beta2 v + (1 - beta2) g^2
            if v_max is not None:                 # amsgrad
                v = np.maximum(v_max, v, out=v_max)
            denominator = np.sqrt(v, out=work)
            denominator /= bias_correction2_sqrt
            denominator += group["eps"]           # sqrt(v) / sqrt(1 - beta2^t) + eps
            np.multiply(m, -step_size, out=delta)
            delta /= denominator
            param += delta

        elementwise(step_on, p.data, grad, state["exp_avg"], state["exp_avg_sq"],
                    state.get("max_exp_avg_sq"), scratch(grad, p))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), like torch.optim.AdamW:
    p <- p * (1 - lr * weight_decay) before the Adam step, the gradient left alone.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False,
                 *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: dict) -> None:
        # AdamW's decay stays decoupled, even with the state of a plain Adam.
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
