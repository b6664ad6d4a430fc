"""Loss modules: thin wrappers holding the options of the functional losses."""

from __future__ import annotations

from .. import functional as F
from ..functional._common import check_reduction
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class MSELoss(_Loss):
    """Mean squared error; input and target of the same shape."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error; input and target of the same shape."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """Quadratic within delta of the target, linear beyond."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (e.g. after Sigmoid); weight rescales elements."""

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, sigmoid fused in (stable for any logit)."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (e.g. after LogSoftmax)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits and integer labels (or class probabilities), softmax fused
    in; label_smoothing, class weights and ignore_index as PyTorch."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index,
                               self.reduction, self.label_smoothing)


class CategoricalCrossEntropy(_Loss):
    """Cross-entropy of probabilities (the nnfs book's loss): integer or one-hot targets,
    probabilities clipped to [1e-7, 1 - 1e-7].

    A model that ends in Softmax over the classes and is trained with this loss gets the
    fused gradient (softmax - onehot) / N automatically: F.categorical_cross_entropy
    sees that its input came from F.softmax and differentiates with respect to the
    softmax's input directly.
    """

    def forward(self, input, target):
        return F.categorical_cross_entropy(input, target, self.reduction)
