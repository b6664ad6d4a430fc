"""How do momentum and the adaptive optimizers differ?

Plain SGD steps along -lr * gradient. Momentum keeps a running sum of past gradients, so
it speeds up along a consistent direction and damps zig-zags (Nesterov looks one step
ahead). AdaGrad, RMSProp, AdaDelta and Adam give every parameter its own step size,
divided by a running size of its gradients: steep directions get small steps, flat ones
large. Raced here on Rosenbrock's banana-shaped valley f(x, y) = (1 - x)^2 +
100 (y - x^2)^2 (minimum at (1, 1)), from (-1.5, 2), and on a small net fitting the
spiral. Each optimizer keeps one learning rate for both races (a hand-picked, common
value; no tuning per race).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import optim
from ..data import synthetic
from ..nn import ReLU
from ..tensor import Tensor
from . import spiral_classifier, train

QUESTION = "How do SGD, momentum and the adaptive optimizers (Adam and co.) differ?"
OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=1e-3),
    "momentum": lambda p: optim.SGD(p, lr=1e-3, momentum=0.9),
    "Nesterov": lambda p: optim.SGD(p, lr=1e-3, momentum=0.9, nesterov=True),
    "AdaGrad": lambda p: optim.Adagrad(p, lr=0.1),
    "RMSProp": lambda p: optim.RMSprop(p, lr=1e-2),
    "AdaDelta": lambda p: optim.Adadelta(p, lr=1.0),
    "Adam": lambda p: optim.Adam(p, lr=2e-2),
    "AdamW": lambda p: optim.AdamW(p, lr=2e-2),
}
START = (-1.5, 2.0)


def rosenbrock(point: Tensor) -> Tensor:
    x, y = point[0], point[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    steps = 300 if quick else 2000
    net_steps = 100 if quick else 500
    x, y = synthetic.spiral(100, 3)
    result, paths, curves = {}, {}, {}
    for name, make in OPTIMIZERS.items():
        point = Tensor(np.array(START, np.float64), requires_grad=True)
        path = [point.data.copy()]
        losses = train(point, rosenbrock, make([point]), steps,
                       record=lambda _, p=point, kept=path: kept.append(p.data.copy()))
        paths[name] = np.array(path)
        net = spiral_classifier(ReLU)
        curves[name] = train(net, lambda m: F.cross_entropy(m(Tensor(x)), Tensor(y)),
                             make(net.parameters()), net_steps)
        result[name] = {"rosenbrock_final": losses[-1],
                        "distance_to_minimum": float(np.hypot(*(point.data - 1.0))),
                        "spiral_final_loss": curves[name][-1]}
    figure = _figure(11, 4.5)
    left, right = figure.subplots(1, 2)
    u, v = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
    left.contour(u, v, np.log10((1 - u) ** 2 + 100 * (v - u * u) ** 2 + 1e-3), levels=20,
                 colors="lightgrey", linewidths=0.6)
    for name, path in paths.items():
        left.plot(path[:, 0], path[:, 1], label=name, linewidth=1)
        right.semilogy(curves[name], label=name)
    left.plot(*START, "ko")
    left.plot(1, 1, "k*", markersize=10)
    left.set_xlim(-2, 2)
    left.set_ylim(-1, 3)
    left.set_title(f"Rosenbrock, {steps} steps from {START} (star: the minimum)", fontsize=9)
    left.legend(fontsize=7)
    right.set_title(f"spiral, 2-64-64-3 ReLU net, {net_steps} steps", fontsize=9)
    right.set_xlabel("step")
    right.set_ylabel("training loss")
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "race.png")
    ranked = sorted(result, key=lambda n: result[n]["distance_to_minimum"])
    conclusion = (
        "Distance to Rosenbrock's minimum after " + f"{steps} steps: "
        + ", ".join(f"{n} {result[n]['distance_to_minimum']:.3g}" for n in ranked)
        + f". Spiral loss after {net_steps} steps: "
        + ", ".join(f"{n} {result[n]['spiral_final_loss']:.3f}" for n in OPTIMIZERS) + ".")
    say(conclusion)
    return result, conclusion
