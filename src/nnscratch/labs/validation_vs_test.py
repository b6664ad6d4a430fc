"""Why choose settings on a validation set and never on the test set?

Train many configurations (hidden size and learning rate drawn at random) and pick the
best by its score on a small held-out split. If the pick is made on the test split, its
test score is the maximum of many noisy estimates, so it is optimistic: the same model
scores lower on fresh data. Picked on a validation split, the test score is an honest
estimate. One split decides little (the noise of 300 images is a few points either
way), so the held-out predictions are computed once and the split is redrawn many
times: for each draw, a validation and a test split of 300 images each from a pool, the
two picks, and each pick's test score minus its accuracy on the rest of the pool (its
true accuracy, within the noise of thousands of images).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor
from . import fashion_slices, fit_classifier, mlp

QUESTION = "Why tune on a validation split and never on the test set?"
SPLIT, DRAWS = 300, 500


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    configs, train_count, pool = (8, 1000, 3000) if quick else (24, 3000, 10_000)
    (xt, yt), (xp, yp) = fashion_slices(train_count, pool)
    rng = backend.generator()
    trials, correct = [], []
    for _ in range(configs):
        hidden = int(rng.choice([16, 32, 64, 128, 256]))
        lr = float(10 ** rng.uniform(-3.5, -1.5))
        model = mlp(hidden=hidden)
        fit_classifier(model, xt, yt, epochs=2 if quick else 4, lr=lr)
        right = model(Tensor(xp)).data.argmax(axis=1) == yp  # each pool image, once
        correct.append(right)
        trials.append({"hidden": hidden, "lr": lr, "pool_accuracy": float(right.mean())})
    correct = np.array(correct)  # (configs, pool)
    optimism = {"picked on test": [], "picked on validation": []}
    for _ in range(DRAWS):
        order = rng.permutation(pool)
        val, test, rest = order[:SPLIT], order[SPLIT:2 * SPLIT], order[2 * SPLIT:]
        for name, chooser in (("picked on test", test), ("picked on validation", val)):
            pick = int(np.argmax(correct[:, chooser].mean(axis=1)))
            optimism[name].append(float(correct[pick, test].mean() - correct[pick, rest].mean()))
    result = {"trials": trials, "split_size": SPLIT, "draws": DRAWS,
              "mean_optimism": {k: float(np.mean(v)) for k, v in optimism.items()},
              "optimism_spread": {k: float(np.std(v)) for k, v in optimism.items()},
              "best_true_accuracy": max(t["pool_accuracy"] for t in trials)}
    figure = _figure(6.5, 4)
    ax = figure.subplots()
    for name, values in optimism.items():
        ax.hist(100 * np.array(values), bins=30, alpha=0.6,
                label=f"{name}: mean {100 * result['mean_optimism'][name]:+.2f} points")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("test score minus true accuracy of the picked model (points)")
    ax.set_ylabel(f"draws of the splits (of {DRAWS})")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION}\n{configs} configurations, splits of {SPLIT} images", fontsize=9)
    _save(figure, folder / "selection.png")
    mean = result["mean_optimism"]
    conclusion = (
        f"Over {DRAWS} draws of {SPLIT}-image splits, the model picked on the test split "
        f"scores {100 * mean['picked on test']:+.2f} points on it above its true accuracy; "
        f"the model picked on validation {100 * mean['picked on validation']:+.2f} "
        f"(spread of one draw: {100 * result['optimism_spread']['picked on validation']:.1f} "
        "points).")
    say(conclusion)
    return result, conclusion
