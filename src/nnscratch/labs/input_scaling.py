"""Why scale the inputs?

The same MLP, initial weights, optimizer (SGD with momentum, one learning rate) and steps
on Fashion-MNIST pixels given four ways: raw (0 to 255), scaled to [0, 1], to [-1, 1],
and standardised (each pixel minus its training mean, over its training std). With raw
pixels the first layer's pre-activations are hundreds of times larger, so a step size
that suits scaled inputs throws the weights far off; centred inputs (mean 0) also let
gradient steps change the weights in all directions at once.
"""

from __future__ import annotations

import numpy as np

from .. import backend, optim
from ..tensor import Tensor
from . import fashion_slices, fit_classifier, mlp

QUESTION = "Why scale the inputs to [0, 1], [-1, 1] or to mean 0 and std 1?"


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    (xt, yt), (xv, yv) = fashion_slices(2000 if quick else 10_000, 2000)
    mean, std = xt.mean(axis=0), xt.std(axis=0) + 1e-3
    scalings = {"raw 0-255": lambda x: x * 255.0, "[0, 1]": lambda x: x,
                "[-1, 1]": lambda x: x * 2.0 - 1.0, "standardised": lambda x: (x - mean) / std}
    epochs = 2 if quick else 5
    result, curves = {}, {}
    for name, scale in scalings.items():
        with backend.seeded(1):
            model = mlp()
        optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        train_x = scale(xt).astype(np.float32)
        curves[name] = fit_classifier(model, train_x, yt, epochs, optimizer=optimizer)
        out = model(Tensor(scale(xv).astype(np.float32))).data
        finite = bool(np.isfinite(out).all())
        result[name] = {"val_accuracy": float(np.mean(out.argmax(axis=1) == yv)) if finite
                        else 0.0, "final_train_loss": curves[name][-1], "finite": finite}
    figure = _figure(6, 4)
    ax = figure.subplots()
    for name, losses in curves.items():
        ax.semilogy(range(1, len(losses) + 1), losses,  # fit stops at a non-finite loss
                    marker="o", label=f"{name}: {100 * result[name]['val_accuracy']:.1f} %")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION}\n784-128-10, SGD lr 0.01 + momentum", fontsize=9)
    _save(figure, folder / "scaling.png")
    conclusion = ("Validation accuracy after " + f"{epochs} epochs: "
                  + ", ".join(f"{n} {100 * r['val_accuracy']:.1f} %"
                              + ("" if r["finite"] else " (diverged)")
                              for n, r in result.items()) + ".")
    say(conclusion)
    return result, conclusion
