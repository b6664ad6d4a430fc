"""Dropout as a layer: active in training mode only."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p while training, scaling survivors by 1/(1-p).

    p is the drop rate, as in PyTorch. Texts that write dropout with a keep rate q (the
    nnfs book's `rate` becomes `1 - rate` inside its layer) mean p = 1 - q. In eval mode
    the layer is the identity: the scaling during training already keeps expectations.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p is a drop probability in [0, 1], got {p}")
        # inplace is accepted (and shown) for PyTorch compatibility only: nnscratch never
        # overwrites an input, which a backward pass may still need.
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class GaussianNoise(Module):
    """Add N(0, std^2) noise to every element while training (Keras's GaussianNoise); the
    identity in eval mode. A regulariser for inputs: where dropout would zero pixels, a
    little noise keeps them all while still never showing the net the same input twice.
    The noise is drawn from the project's seeded generator; d/dx is the identity."""

    def __init__(self, std: float):
        super().__init__()
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not std >= 0:
            raise ValueError(f"GaussianNoise: std must be a number >= 0, got {std!r}")
        self.std = float(std)

    def forward(self, x):
        if not self.training or self.std == 0:
            return x
        from .. import backend
        from ..tensor import Tensor

        rng = backend.generator_for(backend.array_module(x.data))  # drawn on x's device
        noise = rng.standard_normal(x.shape) * self.std
        return x + Tensor(noise.astype(x.dtype))

    def extra_repr(self) -> str:
        return f"std={self.std}"
