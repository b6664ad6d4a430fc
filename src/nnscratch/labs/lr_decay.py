"""What does learning-rate decay do, and how is a learning rate found?

A constant rate large enough to make progress early keeps the weights bouncing around
the minimum late; decaying it (inverse time lr / (1 + k t), a step down every so often,
or a cosine to zero) lets the late steps settle. The same net, data and start for each
schedule (stepped once per training step here). Then an LR range test (the "learning-rate
finder"): the rate grows exponentially from 1e-5 to 10 over a few hundred steps of a
fresh net while the loss is recorded; a good rate sits where the loss falls fastest,
well before it blows up, and that suggestion is marked.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, optim
from .. import functional as F
from ..data import synthetic
from ..nn import ReLU
from ..tensor import Tensor
from . import spiral_classifier

QUESTION = "What does learning-rate decay do, and how do I find a learning rate?"
LR = 0.02
SCHEDULES = {
    "constant": lambda o, n: None,
    "inverse time": lambda o, n: optim.lr_scheduler.InverseTimeDecay(o, decay=10 / n),
    "step (x0.3 every quarter)": lambda o, n: optim.lr_scheduler.StepLR(o, n // 4, gamma=0.3),
    "cosine": lambda o, n: optim.lr_scheduler.CosineAnnealingLR(o, T_max=n),
}


def _loss(model, x, y):
    return F.cross_entropy(model(Tensor(x)), Tensor(y))


def _fresh_net():
    with backend.seeded(1):  # the same start for every schedule and for the range test
        return spiral_classifier(ReLU)


def range_test(x, y, steps: int, low: float = 1e-5, high: float = 1.0):
    """(rates, smoothed losses, suggested rate) of Adam: the rate where the smoothed loss
    falls fastest, before its lowest point (the test stops once it passes 4 times its
    lowest)."""
    model = _fresh_net()
    optimizer = optim.Adam(model.parameters(), lr=low)
    rates = low * (high / low) ** (np.arange(steps) / (steps - 1))
    losses, smooth = [], None
    for rate in rates:
        optimizer.param_groups[0]["lr"] = float(rate)
        loss = _loss(model, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        value = loss.item()
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
        losses.append(smooth)
        if not math.isfinite(value) or smooth > 4 * min(losses):
            break
    losses = np.array(losses)
    rates = rates[:len(losses)]
    lowest = int(np.argmin(losses))
    slopes = np.gradient(losses, np.log(rates))[:max(lowest, 1)]
    return rates, losses, float(rates[int(np.argmin(slopes))])


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    x, y = synthetic.spiral(100, 3)
    steps = 300 if quick else 1500
    result, curves, rates = {}, {}, {}
    for name, make in SCHEDULES.items():
        model = _fresh_net()
        optimizer = optim.Adam(model.parameters(), lr=LR)
        scheduler = make(optimizer, steps)
        curves[name], rates[name] = [], []
        for _ in range(steps):
            rates[name].append(optimizer.param_groups[0]["lr"])
            loss = _loss(model, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            curves[name].append(loss.item())
        last = curves[name][-steps // 10:]
        result[name] = {"final_loss": curves[name][-1], "last_tenth_mean": float(np.mean(last)),
                        "last_tenth_spread": float(np.std(last))}
    finder_rates, finder_losses, suggestion = range_test(x, y, 150 if quick else 300)
    result["range_test_suggestion"] = suggestion
    figure = _figure(13, 3.8)
    left, middle, right = figure.subplots(1, 3)
    for name in SCHEDULES:
        left.semilogy(curves[name], label=name, linewidth=0.8)
        middle.plot(rates[name], label=name)
    left.set_title(f"training loss (Adam, lr {LR})", fontsize=9)
    left.legend(fontsize=7)
    middle.set_title("the learning rate", fontsize=9)
    for ax in (left, middle):
        ax.set_xlabel("step")
    right.semilogx(finder_rates, finder_losses)
    right.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.2g}")
    right.set_xlabel("learning rate (grown every step)")
    right.set_ylabel("smoothed loss")
    right.set_title("LR range test", fontsize=9)
    right.legend(fontsize=8)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "schedules.png")
    conclusion = (
        f"Mean loss over the last tenth of {steps} steps (and its spread): "
        + ", ".join(f"{n} {result[n]['last_tenth_mean']:.4f} "
                    f"(±{result[n]['last_tenth_spread']:.4f})" for n in SCHEDULES)
        + f". The range test suggests a learning rate of {suggestion:.2g}.")
    say(conclusion)
    return result, conclusion
