"""How much data is enough?

The same MLP and number of updates trained on growing slices of Fashion-MNIST: test
accuracy rises quickly at first and then ever more slowly (a learning curve), while the
gap between training and test accuracy, large for small slices, closes as the data grow.
"""

from __future__ import annotations

from .. import backend
from . import accuracy, fashion_slices, fit_classifier, mlp

QUESTION = "How much training data is enough?"


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    sizes = [125, 250, 500, 1000, 2000] if quick else [125, 250, 500, 1000, 2000, 4000,
                                                        8000, 16000]
    updates = 150 if quick else 600
    (x, y), (xv, yv) = fashion_slices(sizes[-1], 5000)
    result = {}
    for size in sizes:
        with backend.seeded(1):
            model = mlp()
        epochs = max(1, round(updates * 64 / size))
        fit_classifier(model, x[:size], y[:size], epochs, batch_size=64)
        result[str(size)] = {"train_accuracy": accuracy(model, x[:size], y[:size]),
                             "test_accuracy": accuracy(model, xv, yv), "epochs": epochs}
    figure = _figure(6, 4)
    ax = figure.subplots()
    ax.semilogx(sizes, [result[str(s)]["train_accuracy"] for s in sizes], marker="o",
                label="training accuracy")
    ax.semilogx(sizes, [result[str(s)]["test_accuracy"] for s in sizes], marker="o",
                label="held-out accuracy (5,000 images)")
    ax.set_xlabel("training images")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION} (784-128-10, about {updates} updates each)", fontsize=9)
    _save(figure, folder / "learning-curve.png")
    first, last = result[str(sizes[0])], result[str(sizes[-1])]
    conclusion = ("Held-out accuracy by training images: "
                  + ", ".join(f"{s} {100 * result[str(s)]['test_accuracy']:.1f} %"
                              for s in sizes)
                  + "; the train-test gap falls from "
                  + f"{100 * (first['train_accuracy'] - first['test_accuracy']):.1f} to "
                  + f"{100 * (last['train_accuracy'] - last['test_accuracy']):.1f} points.")
    say(conclusion)
    return result, conclusion
