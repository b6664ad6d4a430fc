"""Why does dropout scale by 1 / (1 - p)?

Dropout zeroes each activation with probability p while training. Left at that, a unit
downstream would see, on average, only (1 - p) of the sum it sees at test time, when
nothing is dropped; scaling the survivors by 1 / (1 - p) ("inverted dropout", what
F.dropout does) makes the training-time expectation equal the test-time sum, so nothing
needs rescaling later. Checked as a learner would: the sum of a fixed activation vector,
dropped 10,000 times, with and without the factor. Then dropout against none on an MLP
that overfits a small slice of Fashion-MNIST, and Gaussian input noise (nn.GaussianNoise,
active in training only) instead of dropping input pixels.
"""

from __future__ import annotations

import numpy as np

from .. import backend, nn, optim
from .. import functional as F
from ..data import datasets, transforms
from ..tensor import Tensor
from ..tools.shapes import eval_mode
from . import accuracy, train

QUESTION = "Why does dropout scale the kept activations by 1 / (1 - p)?"
P, DRAWS = 0.5, 10_000


def _mlp(first=None, dropout: float = 0.0) -> nn.Module:
    layers = [nn.Flatten()] + ([first] if first is not None else [])
    layers += [nn.Linear(784, 256), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Linear(256, 256), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(256, 10))


def _held_out(model, x, y) -> float:
    """Accuracy in eval mode: dropout and noise off, as at test time."""
    with eval_mode(model):
        return accuracy(model, x, y)


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    rng = backend.generator()
    activations = rng.uniform(0, 1, 100).astype(np.float32)
    full = float(activations.sum())
    sums = {"inverted (x 1/(1-p))": [], "plain (no factor)": []}
    for _ in range(DRAWS):
        dropped = F.dropout(Tensor(activations), P, True).data  # survivors scaled already
        sums["inverted (x 1/(1-p))"].append(float(dropped.sum()))
        sums["plain (no factor)"].append(float(dropped.sum()) * (1 - P))
    means = {k: float(np.mean(v)) for k, v in sums.items()}
    images, labels, _ = datasets.fashion_mnist("train")
    train_count, test_count = (500, 1000) if quick else (2000, 5000)
    x = transforms.scale_to_unit(images[:train_count + test_count])[:, None]
    xt, yt = x[:train_count], labels[:train_count]
    xv, yv = x[train_count:], labels[train_count:train_count + test_count]
    steps = 60 if quick else 300
    variants = {"no regularisation": _mlp(), f"dropout {P}": _mlp(dropout=P),
                "input noise (std 0.3)": _mlp(first=nn.GaussianNoise(0.3))}
    training = {}
    for name, model in variants.items():
        optimizer = optim.Adam(model.parameters(), lr=1e-3)
        train(model, lambda m: F.cross_entropy(m(Tensor(xt)), Tensor(yt)), optimizer, steps)
        training[name] = {"train_accuracy": _held_out(model, xt, yt),
                          "test_accuracy": _held_out(model, xv, yv)}
    result = {"full_sum": full, "mean_sum": means, "draws": DRAWS, "p": P,
              "training": training, "train_images": train_count}
    figure = _figure(10, 4)
    left, right = figure.subplots(1, 2)
    for name, values in sums.items():
        left.hist(values, bins=60, alpha=0.6, label=f"{name}: mean {means[name]:.2f}")
    left.axvline(full, color="black", linestyle="--", label=f"no dropout: {full:.2f}")
    left.set_title(f"sum of 100 activations, dropout p = {P}, {DRAWS:,} draws", fontsize=9)
    left.legend(fontsize=7)
    names = list(training)
    positions = np.arange(len(names))
    right.bar(positions - 0.2, [training[n]["train_accuracy"] for n in names], 0.4,
              label="train")
    right.bar(positions + 0.2, [training[n]["test_accuracy"] for n in names], 0.4,
              label="held out")
    right.set_xticks(positions, names, fontsize=7)
    right.set_ylim(0.5, 1.0)
    right.legend(fontsize=8)
    right.set_title(f"784-256-256-10 MLP on {train_count} images, {steps} Adam steps",
                    fontsize=9)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "dropout.png")
    conclusion = (
        f"Over {DRAWS:,} draws the mean sum with inverted dropout is "
        f"{means['inverted (x 1/(1-p))']:.2f} against {full:.2f} without dropout; without "
        f"the factor it is {means['plain (no factor)']:.2f} ((1 - p) of it). Held-out "
        "accuracy: " + ", ".join(f"{n} {100 * v['test_accuracy']:.1f} % (train "
                                 f"{100 * v['train_accuracy']:.1f} %)"
                                 for n, v in training.items()) + ".")
    say(conclusion)
    return result, conclusion
