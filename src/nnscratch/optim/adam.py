"""Adam and AdamW: steps from bias-corrected running averages of the gradient and of its
square."""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ._common import check_option, lerp_, working_gradient
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

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, eps, amsgrad = group["lr"], group["eps"], group["amsgrad"]
            beta1, beta2 = group["betas"]
            decay, decoupled = group["weight_decay"], group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "exp_avg": np.zeros_like(p.data),
                                             "exp_avg_sq": np.zeros_like(p.data)}
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                if decoupled:
                    g, owned = working_gradient(p, 0.0, group["maximize"])
                    if decay:
                        p.data *= 1 - lr * decay
                else:
                    g, owned = working_gradient(p, decay, group["maximize"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                work = np.empty_like(p.data)
                lerp_(exp_avg, g, 1 - beta1, work)
                np.multiply(g, 1 - beta2, out=work)
                work *= g
                exp_avg_sq *= beta2
                exp_avg_sq += work
                second = exp_avg_sq
                if amsgrad:
                    second = state["max_exp_avg_sq"]
                    np.maximum(second, exp_avg_sq, out=second)
                # Python floats, like torch's non-capturable path
                step_size = lr / (1 - beta1 ** t)
                bias_correction2_sqrt = (1 - beta2 ** t) ** 0.5
                np.sqrt(second, out=work)
                work /= bias_correction2_sqrt
                work += eps                              # denominator
                scaled = g if owned else np.empty_like(g)
                np.multiply(exp_avg, -step_size, out=scaled)
                scaled /= work
                p.data += scaled


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
