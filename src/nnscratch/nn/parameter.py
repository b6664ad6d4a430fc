"""Parameter: a tensor that a Module registers as learnable."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _init_fields


class Parameter(Tensor):
    """A leaf tensor that requires grad and is found by `Module.parameters()`.

    data: an array or tensor, used as is (not copied), like torch.nn.Parameter.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data
        if not hasattr(data, "dtype"):
            data = np.asarray(data, dtype=np.float32)
        if data.dtype.kind != "f":
            raise TypeError(f"a Parameter must hold floating-point data, got {data.dtype}")
        _init_fields(self, data, bool(requires_grad))

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
