"""Embedding: a lookup table of learned vectors, one row per token id."""

from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from ..functional._geometry import is_int
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """Row `i` of weight for each id i of the input. input: (*) ints in
    [0, num_embeddings) -> (*, embedding_dim).

    weight: (num_embeddings, embedding_dim), drawn from N(0, 1) as PyTorch's default. The
    row padding_idx starts at zero and gets no gradient, so it stays what it is: the
    vector of a padding token that should carry no meaning. A negative padding_idx counts
    from the end, as in PyTorch. Equal to a Linear layer (without bias) applied to one-hot
    rows, without building them.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=None, _weight=None):
        super().__init__()
        if not all(is_int(n) and n > 0 for n in (num_embeddings, embedding_dim)):
            raise ValueError(
                f"Embedding: expected num_embeddings and embedding_dim to be positive ints, "
                f"got num_embeddings={num_embeddings!r}, embedding_dim={embedding_dim!r}"
            )
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not is_int(padding_idx) or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be an int in [-{num_embeddings}, "
                    f"{num_embeddings}) (within num_embeddings), got {padding_idx!r}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            dtype = np.dtype(dtype or backend.get_default_dtype())
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                             dtype=dtype))
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of `embeddings` (num_embeddings, embedding_dim), a
        Tensor or an array, frozen (requires_grad False) unless freeze=False. The padding
        row is kept as given, as PyTorch keeps it."""
        values = embeddings.data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if values.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected embeddings of shape "
                             f"(num_embeddings, embedding_dim), got {tuple(values.shape)}")
        layer = cls(values.shape[0], values.shape[1], padding_idx=padding_idx,
                    _weight=values.copy())
        layer.weight.requires_grad_(not freeze)
        return layer

    def forward(self, input) -> Tensor:
        if not isinstance(input, Tensor):  # a list or an array of ids
            input = Tensor(input)
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        return text
