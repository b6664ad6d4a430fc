"""What is the vanishing gradient?

Backpropagation multiplies, layer by layer, by each activation's slope. A sigmoid's slope
is at most 1/4, so through ten sigmoid layers the gradient that reaches the first layer
is a tiny fraction of the last layer's; tanh's slope is at most 1, ReLU's and (mostly)
GELU's are 1 where they pass. Here a 10-layer net (64 units a layer) on the spiral, each
activation with the initialisation made for it (N(0, gain^2 / fan_in), the gain of
nn.init.calculate_gain: 1 for sigmoid, 5/3 for tanh, sqrt(2) for ReLU and GELU), so what
vanishes is the activation's doing: the gradient norm of every layer's weights at
initialisation and after training, and the loss curves.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..data import synthetic
from ..tensor import Tensor
from . import spiral_classifier

QUESTION = "What is the vanishing gradient, and which activations suffer from it?"
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU, "GELU": nn.GELU}
GAINS = {"sigmoid": nn.init.calculate_gain("sigmoid"), "tanh": nn.init.calculate_gain("tanh"),
         "ReLU": nn.init.calculate_gain("relu"), "GELU": nn.init.calculate_gain("relu")}
DEPTH = 10


def _gradient_norms(model, x, y) -> tuple[float, list[float]]:
    """(loss, the norm of each Linear weight's gradient, first layer first)."""
    model.zero_grad()
    loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
    loss.backward()
    return loss.item(), [float(np.linalg.norm(m.weight.grad)) for m in model
                         if isinstance(m, nn.Linear)]


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    x, y = synthetic.spiral(100, 3)
    steps = 100 if quick else 600
    result, curves = {}, {}
    for name, activation in ACTIVATIONS.items():
        model = spiral_classifier(activation, depth=DEPTH)
        for layer in model:
            if isinstance(layer, nn.Linear):
                nn.init.normal_(layer.weight, 0.0, GAINS[name] / np.sqrt(layer.in_features))
                nn.init.zeros_(layer.bias)
        _, at_init = _gradient_norms(model, x, y)
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses = []
        for _ in range(steps):
            loss, _ = _gradient_norms(model, x, y)
            optimizer.step()
            losses.append(loss)
        _, trained = _gradient_norms(model, x, y)
        curves[name] = losses
        result[name] = {"gradient_norms_at_init": at_init,
                        "gradient_norms_after_training": trained,
                        "first_over_last_at_init": at_init[0] / at_init[-1],
                        "final_loss": losses[-1]}
    figure = _figure(10, 3.8)
    left, middle, right = figure.subplots(1, 3)
    layers = np.arange(1, DEPTH + 2)
    for name in ACTIVATIONS:
        left.semilogy(layers, result[name]["gradient_norms_at_init"], marker="o", label=name)
        middle.semilogy(layers, result[name]["gradient_norms_after_training"], marker="o",
                        label=name)
        right.plot(curves[name], label=name)
    left.set_title("|dL/dW| per layer at initialisation", fontsize=9)
    middle.set_title(f"... after {steps} SGD steps", fontsize=9)
    for ax in (left, middle):
        ax.set_xlabel("layer (1 = first)")
    right.set_title("training loss", fontsize=9)
    right.set_xlabel("step")
    right.legend(fontsize=8)
    figure.suptitle(f"{QUESTION} ({DEPTH} hidden layers of 64)", fontsize=10)
    _save(figure, folder / "gradients.png")
    ratios = ", ".join(f"{name} {result[name]['first_over_last_at_init']:.2g}"
                       for name in ACTIVATIONS)
    losses = ", ".join(f"{name} {result[name]['final_loss']:.3f}" for name in ACTIVATIONS)
    conclusion = (f"At initialisation the first layer's gradient norm over the last layer's "
                  f"is {ratios}: through {DEPTH} sigmoid layers the signal all but vanishes. "
                  f"Loss after {steps} steps: {losses}.")
    say(conclusion)
    return result, conclusion
