"""Why not the step function?

A perceptron with the step activation (1 if w.x + b > 0, else 0) on two separable blobs.
Its loss, as a function of the weights, is flat almost everywhere: nudging a weight does
not flip any output, so the gradient (measured here by central differences) is 0, and
gradient descent moves nothing. Rosenblatt's perceptron rule does not need a gradient:
w += lr (target - output) x reaches every point. A sigmoid has a slope everywhere, so
gradient descent on it learns too; that is why trained networks use smooth (or
piecewise-linear) activations.
"""

from __future__ import annotations

import numpy as np

from .. import backend, optim
from .. import functional as F
from ..tensor import Tensor
from . import train

QUESTION = "Why not the step function as an activation?"


def _blobs(count: int):
    rng = backend.generator()
    half = count // 2
    x = np.concatenate([rng.standard_normal((half, 2)) * 0.5 + [-1.0, -1.0],
                        rng.standard_normal((half, 2)) * 0.5 + [1.0, 1.0]]).astype(np.float32)
    return x, np.repeat([0.0, 1.0], half).astype(np.float32)


def _step_loss(w, b, x, t) -> float:
    """The MSE of the step unit's outputs, in float64 (so a tiny nudge of w is exact)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    return float(np.mean(((x @ w + b > 0).astype(np.float64) - t) ** 2))


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    x, t = _blobs(200)
    rng = backend.generator()
    w0, b0 = rng.standard_normal(2).astype(np.float32), np.float32(0.0)
    epochs = 10 if quick else 30
    h = 1e-6  # the step's output flips only for a point within h of the boundary
    gradient = [(_step_loss(w0 + h * e, b0, x, t) - _step_loss(w0 - h * e, b0, x, t)) / (2 * h)
                for e in np.eye(2)]
    # gradient descent on the step unit: w -= lr * gradient, which is zero
    w_gd = w0 - 0.5 * np.asarray(gradient, dtype=np.float32)
    # the perceptron rule, a pass over the points per epoch
    w, b = w0.copy(), b0
    rule_accuracy = []
    for _ in range(epochs):
        for xi, ti in zip(x, t, strict=True):
            out = float(xi @ w + b > 0)
            w += 0.1 * (ti - out) * xi
            b += 0.1 * (ti - out)
        rule_accuracy.append(float(np.mean((x @ w + b > 0) == (t > 0.5))))
    # a sigmoid unit by gradient descent on the BCE
    weight = Tensor(w0.reshape(2, 1).copy(), requires_grad=True)
    bias = Tensor(np.zeros(1, np.float32), requires_grad=True)

    def loss(_):
        return F.binary_cross_entropy_with_logits((Tensor(x) @ weight + bias)[:, 0], Tensor(t))

    sigmoid_losses = train(None, loss, optim.SGD([weight, bias], lr=0.5), epochs * 10)
    sigmoid_accuracy = float(np.mean(((x @ weight.data)[:, 0] + bias.data[0] > 0) == (t > 0.5)))
    start_accuracy = float(np.mean((x @ w0 + b0 > 0) == (t > 0.5)))
    result = {"start_accuracy": start_accuracy,
              "step_gradient_by_central_differences": [float(g) for g in gradient],
              "step_weights_moved_by_gradient_descent": float(np.abs(w_gd - w0).max()),
              "perceptron_rule_accuracy": rule_accuracy[-1],
              "sigmoid_gradient_descent_accuracy": sigmoid_accuracy,
              "sigmoid_final_loss": sigmoid_losses[-1]}
    figure = _figure(9, 3.6)
    left, right = figure.subplots(1, 2)
    span = np.linspace(-3, 3, 200)
    left.plot(span, (span > 0).astype(float), label="step: slope 0 (none at 0)")
    left.plot(span, 1 / (1 + np.exp(-span)), label="sigmoid: slope > 0 everywhere")
    left.legend(fontsize=8)
    left.set_title("the two activations", fontsize=9)
    right.plot(np.arange(1, epochs + 1), rule_accuracy, label="step unit, perceptron rule")
    right.axhline(start_accuracy, linestyle="--", color="grey",
                  label="step unit, gradient descent (never moves)")
    right.axhline(sigmoid_accuracy, linestyle=":", color="green",
                  label=f"sigmoid unit, gradient descent ({epochs * 10} steps)")
    right.set_xlabel("epoch (perceptron rule)")
    right.set_ylabel("accuracy")
    right.legend(fontsize=7)
    right.set_title("two separable blobs", fontsize=9)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "step-vs-sigmoid.png")
    conclusion = (
        f"The step unit's gradient by central differences is "
        f"{result['step_gradient_by_central_differences']}, so gradient descent moved its "
        f"weights by {result['step_weights_moved_by_gradient_descent']:.3g} and it stays at "
        f"{100 * start_accuracy:.1f} % accuracy. The perceptron rule takes it to "
        f"{100 * rule_accuracy[-1]:.1f} % in {epochs} epochs; a sigmoid unit trained by "
        f"gradient descent reaches {100 * sigmoid_accuracy:.1f} %.")
    say(conclusion)
    return result, conclusion
