"""A module for every functional activation, so they can sit in a Sequential."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class ReLU(Module):
    """max(x, 0). (inplace is accepted for PyTorch compatibility; nnscratch never
    overwrites an input, since backward passes may still need it.)"""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x, or negative_slope * x where x <= 0."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x, or alpha (e^x - 1) where x <= 0."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """x * Phi(x); approximate='tanh' for the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x)."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.silu(x)


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return F.tanh(x)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, linear above threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """Normalized exponentials along `dim` (rows of (N, C) by default)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along `dim`, computed stably."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Sparsemax(Softmax):
    """Projection onto the probability simplex along `dim` (exact zeros)."""

    def forward(self, x):
        return F.sparsemax(x, self.dim)


class BRU(Module):
    """Bionodal root unit; mode 'exponential' (ERU) or 'odd' (ORU)."""

    def __init__(self, r: float = 2.0, mode: str = "exponential"):
        super().__init__()
        self.r, self.mode = r, mode

    def forward(self, x):
        return F.bru(x, self.r, self.mode)

    def extra_repr(self) -> str:
        return f"r={self.r}, mode={self.mode!r}"


class Step(Module):
    """Heaviside step (the perceptron's activation); passes no gradient."""

    def forward(self, x):
        return F.step(x)
