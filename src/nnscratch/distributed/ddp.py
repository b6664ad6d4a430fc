"""DistributedDataParallel: a model whose gradients are averaged over the ranks by the
time backward() returns."""

from __future__ import annotations

import contextlib

import numpy as np

from .. import autograd, backend
from ..nn import Module
from .comm import all_reduce, broadcast, world_size


def average_gradients(parameters) -> None:
    """Replace every trainable parameter's .grad by its mean over the ranks: one
    all-reduce of a flat buffer per dtype. A parameter without a gradient on this rank
    (unused this step) takes part with zeros, so every rank sends the same layout."""
    if world_size() == 1:
        return
    by_dtype: dict = {}
    for p in parameters:
        if p.requires_grad:
            if p.grad is None:
                p.grad = backend.array_module(p.data).zeros_like(p.data)
            by_dtype.setdefault(p.grad.dtype, []).append(p)
    for params in by_dtype.values():
        xp = backend.array_module(params[0].grad)
        flat = xp.concatenate([p.grad.ravel() for p in params])
        if xp is not np:  # MPI sends host buffers: a GPU's gradients travel through them
            host = all_reduce(backend.to_host(flat), "mean")
            flat = backend.to_device(host, backend.device_of(params[0].grad))
        else:
            all_reduce(flat, "mean")
        start = 0
        for p in params:  # each gradient becomes its own slice of the averaged buffer
            size = p.grad.size
            p.grad = flat[start:start + size].reshape(p.grad.shape)
            start += size


def average_buffers(modules) -> None:
    """Average every floating buffer of `modules` (BatchNorm's running statistics) over
    the ranks, in place; integer buffers (batch counts) are the same on every rank."""
    if world_size() == 1:
        return
    for module in modules:
        for b in module.buffers():
            if b.data.dtype.kind == "f":
                all_reduce(b.data, "mean")


def broadcast_state(modules) -> None:
    """Give every rank rank 0's parameters and buffers of `modules`, in place."""
    for module in modules:
        for p in module.parameters():
            broadcast(p.data)
        for b in module.buffers():
            broadcast(b.data)


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training (PyTorch's semantics): its parameters and
    buffers are broadcast from rank 0 now; calling this calls the module; after each
    backward that went through it, every parameter's .grad is the mean over the ranks
    (one all-reduce a dtype, from a post-backward hook). no_sync() skips the averaging,
    for gradient accumulation: the next backward outside it averages the sums.
    sync_buffers() averages buffers (BatchNorm's running statistics), e.g. at an epoch's
    end. `.module` is the wrapped model; state_dict keys start with "module."."""

    def __init__(self, module: Module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        broadcast_state([module])
        object.__setattr__(self, "_pending", False)
        object.__setattr__(self, "_syncing", True)
        object.__setattr__(self, "_hook", autograd.register_post_backward_hook(self._reduce))

    def forward(self, *args, **kwargs):
        object.__setattr__(self, "_pending", True)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        object.__setattr__(self, "_syncing", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_syncing", True)

    def _reduce(self) -> None:
        if not (self._pending and self._syncing):
            return
        object.__setattr__(self, "_pending", False)
        if world_size() == 1:
            return
        average_gradients(self.module.parameters())

    def sync_buffers(self) -> None:
        """Average every floating buffer over the ranks (in place)."""
        average_buffers([self.module])

    def close(self) -> None:
        """Unregister the gradient hook (the wrapper then stops averaging)."""
        self._hook.remove()
