"""ReLU or GELU? tanh or sigmoid? The same net, data, initial weights' draws and steps,
with only the activation changed: the loss curves and the accuracy they reach.

Why they differ: sigmoid's outputs are all positive (centred at 1/2) and its slope at
most 1/4, tanh is sigmoid rescaled to be centred at 0 with slope up to 1 (tanh(x) =
2 sigmoid(2x) - 1), so gradients through tanh are larger and better balanced. ReLU
passes gradient 1 or 0; GELU (x times the normal CDF of x) is a smooth ReLU that lets a
little negative signal through.
"""

from __future__ import annotations

from .. import backend, nn, optim
from .. import functional as F
from ..data import synthetic
from ..tensor import Tensor
from . import accuracy, spiral_classifier, train

QUESTIONS = {"relu-vs-gelu": "ReLU or GELU: does the smooth one train better?",
             "tanh-vs-sigmoid": "tanh or sigmoid: why is tanh usually preferred?"}
VARIANTS = {"relu-vs-gelu": {"pair": ("ReLU", "GELU")},
            "tanh-vs-sigmoid": {"pair": ("tanh", "sigmoid")}}
ACTIVATIONS = {"ReLU": nn.ReLU, "GELU": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def run(folder, quick: bool, say, pair=("ReLU", "GELU")):
    from ..tools.plot import _figure, _save

    x, y = synthetic.spiral(100, 3)
    steps = 300 if quick else 1500
    result, curves = {}, {}
    for name in pair:
        with backend.seeded(1):  # the same draws for both nets' weights
            model = spiral_classifier(ACTIVATIONS[name], depth=3)
        optimizer = optim.Adam(model.parameters(), lr=3e-3)
        curves[name] = train(model, lambda m: F.cross_entropy(m(Tensor(x)), Tensor(y)),
                             optimizer, steps)
        result[name] = {"final_loss": curves[name][-1],
                        "train_accuracy": accuracy(model, x, y),
                        "loss_after_a_tenth": curves[name][steps // 10]}
    figure = _figure(6, 4)
    ax = figure.subplots()
    for name in pair:
        ax.semilogy(curves[name], label=f"{name}: {100 * result[name]['train_accuracy']:.1f} %")
    ax.set_xlabel("Adam step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    ax.set_title(f"{' vs '.join(pair)}: 2-64-64-64-3 on the spiral", fontsize=9)
    _save(figure, folder / "curves.png")
    a, b = pair
    conclusion = (f"After {steps} steps: {a} loss {result[a]['final_loss']:.4f} "
                  f"({100 * result[a]['train_accuracy']:.1f} % accuracy), {b} "
                  f"{result[b]['final_loss']:.4f} ({100 * result[b]['train_accuracy']:.1f} %); "
                  f"after a tenth of them {result[a]['loss_after_a_tenth']:.4f} against "
                  f"{result[b]['loss_after_a_tenth']:.4f}.")
    say(conclusion)
    return result, conclusion
