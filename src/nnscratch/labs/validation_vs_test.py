"""Why choose settings on a validation set and never on the test set?

Train many configurations (hidden size and learning rate drawn at random), score each on
a validation split and on a test split, and pick the best. If the pick is made on the
test split, its test score is the maximum of many noisy estimates, so it is optimistic:
the same model scores lower on fresh data it has never influenced. Picked on validation,
the test score is an honest estimate. Measured: both picks' scores on the split they were
chosen on, on the test split, and on 10,000 fresh images.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from . import fashion_slices, fit_classifier, mlp

QUESTION = "Why tune on a validation split and never on the test set?"


def _accuracy(model, x, y) -> float:
    from ..tensor import Tensor

    return float(np.mean(model(Tensor(x)).data.argmax(axis=1) == y))


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    configs, train_count, small = (8, 1000, 300) if quick else (24, 3000, 300)
    (xt, yt), (xv, yv), (xs, ys), (xf, yf) = fashion_slices(train_count, small, small, 10_000)
    rng = backend.generator()
    trials = []
    for _ in range(configs):
        hidden = int(rng.choice([16, 32, 64, 128, 256]))
        lr = float(10 ** rng.uniform(-3.5, -1.5))
        model = mlp(hidden=hidden)
        fit_classifier(model, xt, yt, epochs=2 if quick else 4, lr=lr)
        trials.append({"hidden": hidden, "lr": lr, "val": _accuracy(model, xv, yv),
                       "test": _accuracy(model, xs, ys), "fresh": _accuracy(model, xf, yf)})
    by_val = max(trials, key=lambda t: t["val"])
    by_test = max(trials, key=lambda t: t["test"])
    result = {"trials": trials, "picked_on_validation": by_val, "picked_on_test": by_test,
              "test_optimism_when_picked_on_test": by_test["test"] - by_test["fresh"],
              "test_optimism_when_picked_on_validation": by_val["test"] - by_val["fresh"],
              "split_size": small}
    figure = _figure(6, 4.5)
    ax = figure.subplots()
    ax.scatter([t["test"] for t in trials], [t["fresh"] for t in trials], s=14,
               label="each configuration")
    ax.scatter([by_test["test"]], [by_test["fresh"]], s=80, marker="*", color="red",
               label="picked on test")
    ax.scatter([by_val["test"]], [by_val["fresh"]], s=80, marker="*", color="green",
               label="picked on validation")
    low = min(min(t["test"], t["fresh"]) for t in trials)
    ax.plot([low, 1], [low, 1], color="grey", linewidth=0.6)
    ax.set_xlabel(f"accuracy on the test split ({small} images)")
    ax.set_ylabel("accuracy on 10,000 fresh images")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION} ({configs} configurations)", fontsize=9)
    _save(figure, folder / "selection.png")
    conclusion = (
        f"Picked on the test split: test {100 * by_test['test']:.1f} %, fresh data "
        f"{100 * by_test['fresh']:.1f} % (optimistic by "
        f"{100 * result['test_optimism_when_picked_on_test']:.1f} points). Picked on "
        f"validation: validation {100 * by_val['val']:.1f} %, test {100 * by_val['test']:.1f} %, "
        f"fresh {100 * by_val['fresh']:.1f} %.")
    say(conclusion)
    return result, conclusion
