"""Can a network memorise random labels?

The same MLP trained on 1,000 Fashion-MNIST images twice: with their real labels, and
with labels drawn at random. With enough parameters it fits both: training accuracy
climbs towards 100 % either way, but with random labels the held-out accuracy stays at
chance (10 %), since there is nothing to generalise, and fitting takes many more epochs.
Large weights are often named as a sign of memorising; the norm of all weights at the
end is measured for both runs, to see whether it holds here.
"""

from __future__ import annotations

import numpy as np

from .. import backend, optim
from . import accuracy, fashion_slices, fit_classifier, mlp

QUESTION = "Can a network memorise random labels, and how would I notice?"


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    count, epochs = (500, 60) if quick else (1000, 200)
    (x, y), (xv, yv) = fashion_slices(count, 2000)
    shuffled = backend.generator().integers(0, 10, count)
    result, curves = {}, {}
    for name, labels in (("real labels", y), ("random labels", shuffled)):
        with backend.seeded(1):
            model = mlp(hidden=512)
        optimizer = optim.Adam(model.parameters(), lr=1e-3)  # one Adam for the whole run
        accuracies, reached = [], None
        for epoch in range(1, epochs + 1):
            fit_classifier(model, x, labels, 1, batch_size=100, optimizer=optimizer)
            accuracies.append(accuracy(model, x, labels))
            if reached is None and accuracies[-1] >= 0.95:
                reached = epoch
        curves[name] = accuracies
        result[name] = {"train_accuracy": accuracies[-1],
                        "held_out_accuracy": accuracy(model, xv, yv),
                        "epochs_to_95_percent": reached,
                        "weight_norm": float(np.sqrt(sum(float((p.data ** 2).sum())
                                                         for p in model.parameters())))}
    figure = _figure(6, 4)
    ax = figure.subplots()
    for name, accuracies in curves.items():
        ax.plot(range(1, epochs + 1), accuracies, label=f"{name}: training accuracy")
        ax.axhline(result[name]["held_out_accuracy"], linestyle="--", linewidth=0.8,
                   color=ax.lines[-1].get_color(), label=f"{name}: held-out accuracy")
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION}\n784-512-10 MLP, {count} images", fontsize=9)
    _save(figure, folder / "memorization.png")
    real, noise = result["real labels"], result["random labels"]
    conclusion = (
        f"Real labels: training {100 * real['train_accuracy']:.1f} %, held out "
        f"{100 * real['held_out_accuracy']:.1f} %, 95 % reached at epoch "
        f"{real['epochs_to_95_percent']}, weight norm {real['weight_norm']:.1f}. Random "
        f"labels: training {100 * noise['train_accuracy']:.1f} %, held out "
        f"{100 * noise['held_out_accuracy']:.1f} %, 95 % at epoch "
        f"{noise['epochs_to_95_percent']}, weight norm {noise['weight_norm']:.1f}.")
    say(conclusion)
    return result, conclusion
