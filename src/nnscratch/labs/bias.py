"""Why does a neuron have a bias?

Data: y = 2x + 3 plus a little noise, for x in [-1, 1]: a line that misses the origin by 3.
A neuron without a bias computes w x, so its output is 0 at x = 0 whatever it learns. A
ReLU network without biases is no better: every layer maps 0 to 0 and scales with its
input (f(a x) = a f(x) for a > 0), so it too passes through the origin. With biases both
fit. Same data, Adam, same steps.
"""

from __future__ import annotations

import numpy as np

from .. import backend, nn, optim
from .. import functional as F
from ..tensor import Tensor
from . import train

QUESTION = "Why does a neuron have a bias?"


def _models(bias: bool) -> dict:
    return {"a neuron": nn.Linear(1, 1, bias=bias),
            "a ReLU net 1-32-32-1": nn.Sequential(nn.Linear(1, 32, bias=bias), nn.ReLU(),
                                                  nn.Linear(32, 32, bias=bias), nn.ReLU(),
                                                  nn.Linear(32, 1, bias=bias))}


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    rng = backend.generator()
    x = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
    y = (2 * x + 3 + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
    steps = 150 if quick else 600
    grid = np.linspace(-1.5, 1.5, 61, dtype=np.float32)[:, None]
    result, fits = {}, {}
    for bias in (True, False):
        for name, model in _models(bias).items():
            optimizer = optim.Adam(model.parameters(), lr=0.05)
            losses = train(model, lambda m: F.mse_loss(m(Tensor(x)), Tensor(y)), optimizer,
                           steps)
            key = f"{name}, {'with' if bias else 'without'} biases"
            result[key] = {"final_mse": losses[-1],
                           "output_at_0": float(model(Tensor(np.zeros((1, 1), np.float32)))
                                                .data[0, 0])}
            fits[key] = model(Tensor(grid)).data[:, 0]
    figure = _figure(6.5, 4)
    ax = figure.subplots()
    ax.scatter(x[:, 0], y[:, 0], s=8, color="black", label="data: y = 2x + 3 + noise")
    for key, line in fits.items():
        ax.plot(grid[:, 0], line, label=f"{key} (MSE {result[key]['final_mse']:.3f})",
                linestyle="-" if "with biases" in key else "--")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.legend(fontsize=7)
    ax.set_title(f"{QUESTION} ({steps} Adam steps each)", fontsize=9)
    _save(figure, folder / "fits.png")
    without = [k for k in result if "without" in k]
    with_ = [k for k in result if "with biases" in k]
    conclusion = (
        "Without biases the outputs at x = 0 are "
        + ", ".join(f"{result[k]['output_at_0']:.3g}" for k in without)
        + " (the fitted line with a bias crosses x = 0 at "
        + f"{result['a neuron, with biases']['output_at_0']:.2f}), and the MSE stays at "
        + ", ".join(f"{result[k]['final_mse']:.3f}" for k in without)
        + "; with biases the MSE falls to "
        + ", ".join(f"{result[k]['final_mse']:.4f}" for k in with_)
        + ". A bias moves the neuron's line (and the net's function) off the origin.")
    say(conclusion)
    return result, conclusion
