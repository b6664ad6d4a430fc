"""The nnfs book's small problems: the perceptron, the spiral, the sine wave."""

from __future__ import annotations

import numpy as np

from .. import backend, nn, optim
from ..data import synthetic, train_val_split
from ..functional import step
from ..tensor import Tensor
from ..train import metrics
from .recipe import Recipe, Splits

GATE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATE_TARGETS = np.array([[0, 0], [0, 1], [0, 1], [1, 1]], dtype=np.float32)  # AND, OR


def perceptron_rule(x, t, epochs: int = 20, lr: float = 0.1):
    """Rosenblatt's rule for a step neuron: w += lr (t - step(w.x + b)) x. It needs no
    gradient, which the step function does not have; it converges on separable data."""
    w = np.zeros(x.shape[1], dtype=np.float32)
    b = 0.0
    for _ in range(epochs):
        for xi, ti in zip(x, t, strict=True):
            error = ti - step(Tensor(np.array(xi @ w + b))).item()
            w += lr * error * xi
            b += lr * error
    return w, b


class Perceptron(Recipe):
    def build_model(self):
        # Two independent neurons side by side: one learns AND, the other OR.
        return nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())

    def data(self) -> Splits:
        return Splits((GATE_INPUTS, GATE_TARGETS), None, (GATE_INPUTS, GATE_TARGETS))

    def loss(self):
        return nn.BCELoss()

    def optimizer(self, model, lr):
        return optim.SGD(model.parameters(), lr=lr)

    def after_training(self, model, splits, folder, say):
        from ..train import predict

        out = predict(model, GATE_INPUTS)
        say("sigmoid neurons (gradient descent):   x1 x2 -> AND  OR")
        for (a, b), (p_and, p_or) in zip(GATE_INPUTS.astype(int), out, strict=True):
            say(f"                                      {a}  {b}  ->  {p_and:.2f} {p_or:.2f}")
        say("step neurons (perceptron rule):        x1 x2 -> AND OR")
        rules = [perceptron_rule(GATE_INPUTS, GATE_TARGETS[:, k]) for k in range(2)]
        for x1, x2 in GATE_INPUTS.astype(int):
            fired = [int(np.dot(w, [x1, x2]) + b > 0) for w, b in rules]
            say(f"                                      {x1}  {x2}  ->  {fired[0]}   {fired[1]}")


class Spiral(Recipe):
    def build_model(self):
        return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))

    def data(self) -> Splits:
        x, y = synthetic.spiral(samples=100, classes=3)
        x_test, y_test = synthetic.spiral(samples=100, classes=3)  # a fresh draw
        train, val = train_val_split(x, y, val_fraction=0.2, stratify=y)
        return Splits(train, val, (x_test, y_test), list(self.class_names))

    def loss(self):
        return nn.CrossEntropyLoss()


class Sine(Recipe):
    def build_model(self):
        return nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                             nn.Linear(64, 1))

    def data(self) -> Splits:
        x, y = synthetic.sine(samples=1000)
        order = backend.generator().permutation(len(x))
        x, y = x[order], y[order]
        return Splits((x[:800], y[:800]), (x[800:900], y[800:900]), (x[900:], y[900:]))

    def loss(self):
        return nn.MSELoss()


RECIPES = {
    "perceptron": Perceptron(
        "perceptron", "one sigmoid neuron each for AND and OR, and the step perceptron rule",
        input_shape=(2,), epochs=300, batch_size=4, lr=5.0,
        metrics=(("binary_accuracy", metrics.binary_accuracy),), classifier=False),
    "spiral": Spiral(
        "spiral", "the nnfs spiral: 3 classes x 100 points, Linear(2,64)-ReLU-Linear(64,3)",
        input_shape=(2,), epochs=300, batch_size=32, lr=0.02,
        class_names=("arm 0", "arm 1", "arm 2")),
    "sine": Sine(
        "sine", "regression of sin(2 pi x) with a 1-64-64-1 ReLU network",
        input_shape=(1,), epochs=300, batch_size=32, lr=0.005, metrics=("mae", "r2"),
        classifier=False),
}
