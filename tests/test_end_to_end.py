"""Small seeded trainings with a hand-written loop must reach a stated accuracy or loss,
deterministically (the same seed gives bit-identical results)."""

import numpy as np

import nnscratch as ns
from nnscratch import nn, optim


def train_spiral(seed: int = 0, epochs: int = 2_000):
    ns.manual_seed(seed)
    x, y = ns.data.synthetic.spiral(samples=100, classes=3)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    loss_fn = nn.CrossEntropyLoss()
    inputs = ns.tensor(x)
    for _ in range(epochs):
        loss = loss_fn(model(inputs), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with ns.no_grad():
        accuracy = (model(inputs).argmax(dim=1).numpy() == y).mean()
    return accuracy, loss.item(), model.state_dict()


def test_spiral_reaches_90_percent_training_accuracy_deterministically():
    accuracy, loss, weights = train_spiral()
    assert accuracy >= 0.90, f"accuracy {accuracy:.3f}, loss {loss:.3f}"
    again_accuracy, again_loss, again_weights = train_spiral()
    assert (again_accuracy, again_loss) == (accuracy, loss)
    for name in weights:
        np.testing.assert_array_equal(weights[name], again_weights[name])


def test_sine_regression_reaches_mse_below_001():
    ns.manual_seed(0)
    x, y = ns.data.synthetic.sine(samples=1000)
    model = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.005)
    loss_fn = nn.MSELoss()
    inputs, targets = ns.tensor(x), ns.tensor(y)
    for _ in range(1_500):
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with ns.no_grad():
        mse = float(((model(inputs) - targets) ** 2).mean().item())
    assert mse < 0.01, f"mse {mse:.4f}"
