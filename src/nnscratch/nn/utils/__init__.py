"""Helpers around layers: gradient clipping, applied between backward() and the
optimizer's step(), device_of (where a module's parameters live), and `rnn`, batches of
sequences of unequal lengths (PackedSequence, pack_padded_sequence, pad_packed_sequence,
pad_sequence, ...)."""

from __future__ import annotations

import math

import numpy as np

from ... import backend
from ...tensor import Tensor
from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "device_of", "rnn"]


def device_of(module) -> backend.Device:
    """The Device of a module's parameters (the CPU for a module without any): where its
    inputs must be (fit moves batches there; figures and samples are made there)."""
    first = next(iter(module.parameters()), None)
    return backend.Device("cpu") if first is None else backend.device_of(first.data)


def _with_grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so their joint norm is at most max_norm; returns the
    norm before clipping. The direction of the update is kept, only its length shrinks."""
    params = _with_grads(parameters)
    if not params:
        return Tensor(np.zeros((), dtype=np.float32))
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        total = max(float(np.abs(p.grad).max()) for p in params)
    else:
        total = sum(float((np.abs(p.grad) ** norm_type).sum()) for p in params) ** (1 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        with np.errstate(invalid="ignore"):  # inf * 0 is nan, as PyTorch gives too
            for p in params:
                p.grad *= coefficient
    return Tensor(np.asarray(total, dtype=params[0].grad.dtype))


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every gradient element into [-clip_value, clip_value], in place."""
    for p in _with_grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
