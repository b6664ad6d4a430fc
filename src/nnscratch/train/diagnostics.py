"""Gradient-flow and activation statistics of a training run, per layer and per epoch.

`Diagnostics(model, folder)` is a callback. While training (not validation), for every
layer with a weight it records the mean and the largest |gradient| of that weight after
each backward; for every activation module (ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh,
Sigmoid) the mean and standard deviation of its output, and for the ReLU family the
fraction of dead units (units whose output is 0 for every sample of a batch: no gradient
passes them). Each epoch's means go into `history[layer][statistic]`; with a folder,
gradients.png and activations.png are drawn after every epoch. A gradient that shrinks
layer by layer towards the input (vanishing) or dead units that grow are visible at a
glance. `nnscratch train RECIPE --diagnostics` adds it to a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import nn
from .callbacks import Callback

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid)
RELU_FAMILY = (nn.ReLU, nn.LeakyReLU)


class Diagnostics(Callback):
    main_process_only = True  # data parallel: rank 0 observes and draws

    def __init__(self, model, folder=None):
        self.model, self.folder = model, None if folder is None else Path(folder)
        self.weights = {name.rsplit(".", 1)[0] or "weight": p
                        for name, p in model.named_parameters()
                        if name.rsplit(".", 1)[-1] == "weight" and p.ndim >= 2}
        self.activations = {name: m for name, m in model.named_modules()
                            if isinstance(m, ACTIVATIONS)}
        self.history: dict[str, dict[str, list[float]]] = {}
        self._sums: dict[tuple[str, str], list[float]] = {}
        self._handles = []

    def _add(self, layer: str, statistic: str, value: float) -> None:
        self._sums.setdefault((layer, statistic), []).append(float(value))

    def _hook(self, name: str, module):
        def record(_module, _inputs, output):
            if not module.training:
                return None
            out = np.asarray(output.data)
            self._add(name, "mean", out.mean())
            self._add(name, "std", out.std())
            if isinstance(module, RELU_FAMILY) and out.ndim >= 2:
                self._add(name, "dead_fraction", np.mean(np.all(out <= 0, axis=0)))
            return None

        return record

    def on_train_begin(self, trainer):
        self._handles = [m.register_forward_hook(self._hook(name, m))
                         for name, m in self.activations.items()]

    def on_after_backward(self, trainer, optimizer):
        for name, p in self.weights.items():
            if p.grad is not None:
                g = np.abs(np.asarray(p.grad))
                self._add(name, "grad_mean", g.mean())
                self._add(name, "grad_max", g.max())

    def on_epoch_end(self, trainer, epoch, logs):
        for (layer, statistic), values in self._sums.items():
            self.history.setdefault(layer, {}).setdefault(statistic, []).append(
                float(np.mean(values)))
        self._sums = {}
        if self.folder is not None:
            self.draw(self.folder)

    def on_train_end(self, trainer):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def draw(self, folder) -> None:
        """gradients.png and activations.png of the epochs so far."""
        from ..tools.plot import _figure, _save

        folder = Path(folder)
        layers = [name for name in self.weights if name in self.history]
        if layers:
            figure = _figure(10, 4)
            by_epoch, by_layer = figure.subplots(1, 2)
            for name in layers:
                by_epoch.semilogy(range(1, len(self.history[name]["grad_mean"]) + 1),
                                  self.history[name]["grad_mean"], marker=".", label=name)
            by_epoch.set_xlabel("epoch")
            by_epoch.set_title("mean |gradient| of each layer's weight", fontsize=9)
            by_epoch.legend(fontsize=6)
            last = [self.history[name]["grad_mean"][-1] for name in layers]
            top = [self.history[name]["grad_max"][-1] for name in layers]
            positions = np.arange(len(layers))
            by_layer.semilogy(positions, last, marker="o", label="mean |gradient|")
            by_layer.semilogy(positions, top, marker="^", label="max |gradient|")
            by_layer.set_xticks(positions, layers, rotation=60, fontsize=6)
            by_layer.set_title("last epoch, input side left", fontsize=9)
            by_layer.legend(fontsize=7)
            _save(figure, folder / "gradients.png")
        names = [name for name in self.activations if name in self.history]
        if names:
            figure = _figure(10, 4)
            spread, dead = figure.subplots(1, 2)
            for name in names:
                stats = self.history[name]
                spread.plot(range(1, len(stats["std"]) + 1), stats["std"], marker=".",
                            label=f"{name} ({type(self.activations[name]).__name__})")
                if "dead_fraction" in stats:
                    dead.plot(range(1, len(stats["dead_fraction"]) + 1),
                              stats["dead_fraction"], marker=".", label=name)
            spread.set_title("std of each activation's output", fontsize=9)
            spread.set_xlabel("epoch")
            spread.legend(fontsize=6)
            dead.set_title("fraction of dead ReLU units", fontsize=9)
            dead.set_xlabel("epoch")
            dead.set_ylim(0, 1)
            if dead.lines:
                dead.legend(fontsize=6)
            _save(figure, folder / "activations.png")
