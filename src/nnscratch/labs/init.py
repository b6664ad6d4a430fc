"""How should weights be initialised?

Two things go wrong. If every weight of a layer starts equal (zeros, or any constant),
every unit of the layer computes the same thing and receives the same gradient, so the
units stay equal forever: the layer is one unit, however wide (the symmetry is measured
after training). If the weights are drawn at the wrong scale, the activations' spread
shrinks or grows layer after layer: N(0, 1) is far too large for 256 inputs, Glorot
(variance 2 / (fan_in + fan_out)) keeps tanh's spread, He (variance 2 / fan_in) keeps
ReLU's (ReLU zeroes half of its input, hence the 2). Measured: the standard deviation of
each layer's activations through 20 layers of 256 units, then which schemes train a
small net on the spiral.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn, optim
from ..data import synthetic
from ..tensor import Tensor
from . import accuracy, spiral_classifier, train

QUESTION = "How should weights be initialised: zeros, N(0, 1), Glorot or He?"
SCHEMES = {
    "zeros": lambda w: nn.init.zeros_(w),
    "constant 0.1": lambda w: nn.init.constant_(w, 0.1),
    "N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "Glorot": lambda w: nn.init.xavier_normal_(w),
    "He": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}
ACTIVATIONS = {"ReLU": nn.ReLU, "tanh": nn.Tanh}


def _initialised(model, scheme: str):
    for layer in model:
        if isinstance(layer, nn.Linear):
            SCHEMES[scheme](layer.weight)
            nn.init.zeros_(layer.bias)
    return model


def _activation_stds(activation, scheme: str, depth: int, width: int) -> list[float]:
    """In float64: N(0, 1) weights grow ReLU activations by about sqrt(width / 2) a layer,
    past float32's range within 20 layers."""
    x = Tensor(np.random.default_rng(0).standard_normal((512, width)))
    stds = []
    for _ in range(depth):
        layer = _initialised(nn.Sequential(nn.Linear(width, width)), scheme).to(np.float64)
        x = activation()(layer(x))
        stds.append(float(x.data.std()))
    return stds


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    depth, width = (10, 128) if quick else (20, 256)
    steps = 200 if quick else 800
    x, y = synthetic.spiral(100, 3)
    result = {"activation_std": {}, "training": {}}
    for act_name, activation in ACTIVATIONS.items():
        result["activation_std"][act_name] = {
            scheme: _activation_stds(activation, scheme, depth, width) for scheme in SCHEMES}
        for scheme in SCHEMES:
            model = _initialised(spiral_classifier(activation, depth=2), scheme)
            losses = train(model, lambda m: F.cross_entropy(m(Tensor(x)), Tensor(y)),
                           optim.Adam(model.parameters(), lr=3e-3), steps)
            hidden = model[0].weight.data  # (64, 2): one row per unit of the first layer
            result["training"][f"{act_name}, {scheme}"] = {
                "final_loss": losses[-1], "train_accuracy": accuracy(model, x, y),
                "first_layer_unit_spread": float(np.abs(hidden - hidden[0]).max())}
    figure = _figure(10, 4)
    axes = figure.subplots(1, 2)
    for ax, act_name in zip(axes, ACTIVATIONS, strict=True):
        for scheme, stds in result["activation_std"][act_name].items():
            ax.semilogy(np.arange(1, depth + 1), np.maximum(stds, 1e-12), marker=".",
                        label=scheme)
        ax.set_title(f"{act_name}: std of each layer's activations", fontsize=9)
        ax.set_xlabel(f"layer ({width} units each)")
        ax.legend(fontsize=7)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "activations.png")
    last = {f"{a}, {s}": result["activation_std"][a][s][-1] for a in ACTIVATIONS
            for s in ("N(0, 1)", "Glorot", "He")}
    training = result["training"]
    conclusion = (
        f"After {depth} layers the activations' std is "
        + ", ".join(f"{k} {v:.3g}" for k, v in last.items())
        + ". Started from a constant, the first layer's units still differ by at most "
        + f"{training['ReLU, constant 0.1']['first_layer_unit_spread']:.1e} after {steps} "
        + "steps (symmetry never breaks); accuracies on the spiral: "
        + ", ".join(f"{k} {100 * v['train_accuracy']:.0f} %" for k, v in training.items())
        + ".")
    say(conclusion)
    return result, conclusion
