"""EMA: an exponential moving average of a model's weights, for sampling or evaluation.

After each optimizer step, `ema.update_parameters(model)` moves every averaged weight
towards the model's: avg <- decay * avg + (1 - decay) * p; the first update copies the
model's weights (as PyTorch's does), so the average never remembers the initial ones.
Buffers (BatchNorm's running statistics) are copied as they are. `ema.module` is a model
of its own holding the averages: call it, sample from it, save its state_dict. As
torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn(decay), use_buffers=False.
"""

from __future__ import annotations

import copy

import numpy as np

from ..nn import Module


class EMA:
    """An averaged copy of `model` (ema.module), decay in [0, 1)."""

    def __init__(self, model: Module, decay: float = 0.999):
        if not isinstance(model, Module):
            raise TypeError(f"EMA: expected an nn.Module, got {type(model).__name__}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA: decay must lie in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.module = copy.deepcopy(model)
        self.num_updates = 0

    def update_parameters(self, model: Module) -> None:
        """avg <- decay avg + (1 - decay) p for every parameter, in place (the first call:
        avg <- p); buffers copied."""
        averages = dict(self.module.named_parameters())
        current = dict(model.named_parameters())
        if list(averages) != list(current):
            raise ValueError("EMA.update_parameters: the model's parameters are not the ones "
                             "the average was made from")
        for name, average in averages.items():
            p = current[name].data
            if average.shape != p.shape:
                raise ValueError(f"EMA.update_parameters: {name} has shape {p.shape}, the "
                                 f"average {average.shape}")
            if self.num_updates == 0:
                np.copyto(average.data, p)
            else:
                average.data *= self.decay
                average.data += (1.0 - self.decay) * p
        own_buffers = dict(self.module.named_buffers())
        for name, buffer in model.named_buffers():
            np.copyto(own_buffers[name].data, buffer.data)
        self.num_updates += 1

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "decay": self.decay,
                "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.decay, self.num_updates = float(state["decay"]), int(state["num_updates"])
