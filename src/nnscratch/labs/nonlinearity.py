"""Why does a network need a non-linear activation?

A stack of linear layers is one linear map: W3 (W2 (W1 x + b1) + b2) + b3 = W x + b, so
a deep net with identity activations draws straight class boundaries, however deep. On
the spiral (three arms wound into each other) that caps its accuracy; the same net with
ReLU between the layers bends its boundaries around the arms. Same data, layers, Adam
and steps; the decision regions are plotted.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..data import synthetic
from ..tensor import Tensor
from . import accuracy, spiral_classifier, train

QUESTION = "Why does a network need a non-linear activation?"


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    x, y = synthetic.spiral(100, 3)
    steps = 300 if quick else 1500
    nets = {"identity": spiral_classifier(nn.Identity), "ReLU": spiral_classifier(nn.ReLU)}
    result = {}
    for name, model in nets.items():
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        losses = train(model, lambda m: F.cross_entropy(m(Tensor(x)), Tensor(y)), optimizer,
                       steps)
        result[name] = {"train_accuracy": accuracy(model, x, y), "final_loss": losses[-1]}
    # The identity net is one linear map: check it by composing its layers' weights.
    layers = [m for m in nets["identity"] if isinstance(m, nn.Linear)]
    w, b = np.eye(2, dtype=np.float32), np.zeros(2, np.float32)
    for layer in layers:
        w, b = layer.weight.data @ w, layer.weight.data @ b + layer.bias.data
    composed = x @ w.T + b
    result["identity"]["largest_gap_to_one_linear_map"] = float(
        np.abs(composed - nets["identity"](Tensor(x)).data).max())
    figure = _figure(9, 4.2)
    axes = figure.subplots(1, 2)
    u, v = np.meshgrid(np.linspace(-1.1, 1.1, 200), np.linspace(-1.1, 1.1, 200))
    points = np.column_stack([u.ravel(), v.ravel()]).astype(np.float32)
    for ax, (name, model) in zip(axes, nets.items(), strict=True):
        regions = model(Tensor(points)).data.argmax(axis=1).reshape(u.shape)
        ax.contourf(u, v, regions, levels=[-0.5, 0.5, 1.5, 2.5], alpha=0.3, cmap="brg")
        ax.scatter(x[:, 0], x[:, 1], c=y, s=6, cmap="brg")
        ax.set_title(f"{name} activations: train accuracy "
                     f"{100 * result[name]['train_accuracy']:.1f} %", fontsize=9)
        ax.set_aspect("equal")
    figure.suptitle(f"{QUESTION} (2-64-64-3, {steps} Adam steps)", fontsize=10)
    _save(figure, folder / "regions.png")
    conclusion = (
        f"With identity activations the 3-layer net reaches "
        f"{100 * result['identity']['train_accuracy']:.1f} % on the spiral and equals one "
        f"linear map to within {result['identity']['largest_gap_to_one_linear_map']:.1e}: "
        f"its boundaries are straight. With ReLU the same net reaches "
        f"{100 * result['ReLU']['train_accuracy']:.1f} %.")
    say(conclusion)
    return result, conclusion
