"""What does overfitting look like?

Twelve noisy samples of one period of a sine. A 3-degree polynomial (4 coefficients)
follows the curve; a 9-degree one (10 coefficients, nearly one per point) threads through
the noise, its training error near zero and its error on fresh points from the same curve
far larger. A small MLP trained long enough does the same; an L2 penalty (weight decay)
or stopping when the error on a validation set stops falling (early stopping) keeps it
close to the curve. Least squares for the polynomials; Adam for the nets.
"""

from __future__ import annotations

import numpy as np

from .. import backend, nn, optim
from .. import functional as F
from ..tensor import Tensor

QUESTION = "What does overfitting look like (a sine against a 9-degree polynomial)?"
POINTS, NOISE = 12, 0.25


def _samples(count: int):
    rng = backend.generator()
    x = np.sort(rng.uniform(0, 1, count))
    return x, np.sin(2 * np.pi * x) + NOISE * rng.standard_normal(count)


def _mse(pred, target) -> float:
    return float(np.mean((pred - target) ** 2))


def _net():
    with backend.seeded(1):
        return nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                             nn.Linear(64, 1))


def _fit_net(x, y, val, steps: int, weight_decay: float = 0.0, early_stopping=False):
    """(best or last predictions function, train MSE, test MSE hook) of the small MLP."""
    model = _net()
    optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=weight_decay)
    xs, ys = Tensor(x[:, None].astype(np.float32)), Tensor(y[:, None].astype(np.float32))
    vx, vy = val
    best, best_state, best_step = np.inf, None, steps
    for step in range(steps):
        loss = F.mse_loss(model(xs), ys)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if early_stopping:
            error = _mse(model(Tensor(vx[:, None].astype(np.float32))).data[:, 0], vy)
            if error < best:
                best, best_step = error, step + 1
                best_state = {k: np.array(v) for k, v in model.state_dict().items()}
    if early_stopping:
        model.load_state_dict(best_state)
    return model, best_step


def _predict(model, x) -> np.ndarray:
    return model(Tensor(x[:, None].astype(np.float32))).data[:, 0].astype(np.float64)


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    x, y = _samples(POINTS)
    val = _samples(POINTS)
    test_x, test_y = _samples(1000)
    steps = 1500 if quick else 6000
    result, curves = {}, {}
    grid = np.linspace(0, 1, 200)
    for degree in (3, 9):
        coefficients = np.polyfit(x, y, degree)
        result[f"polynomial, degree {degree}"] = {
            "train_mse": _mse(np.polyval(coefficients, x), y),
            "test_mse": _mse(np.polyval(coefficients, test_x), test_y)}
        curves[f"polynomial, degree {degree}"] = np.polyval(coefficients, grid)
    for name, options in (("MLP", {}), ("MLP + L2 (weight decay 1e-1)", {"weight_decay": 1e-1}),
                          ("MLP + early stopping", {"early_stopping": True})):
        model, stopped = _fit_net(x, y, val, steps, **options)
        result[name] = {"train_mse": _mse(_predict(model, x), y),
                        "test_mse": _mse(_predict(model, test_x), test_y),
                        "weight_norm": float(np.sqrt(sum(float((p.data ** 2).sum())
                                                         for p in model.parameters()))),
                        "steps": stopped}
        curves[name] = _predict(model, grid)
    result["noise_floor_mse"] = NOISE ** 2
    figure = _figure(10, 4)
    left, right = figure.subplots(1, 2, sharey=True)
    for ax, names in ((left, [k for k in curves if "polynomial" in k]),
                      (right, [k for k in curves if "MLP" in k])):
        ax.plot(grid, np.sin(2 * np.pi * grid), color="grey", linestyle=":", label="sin(2 pi x)")
        ax.scatter(x, y, color="black", s=14, zorder=3, label=f"{POINTS} training points")
        for name in names:
            ax.plot(grid, curves[name], label=f"{name}: test MSE {result[name]['test_mse']:.3f}")
        ax.set_ylim(-2, 2)
        ax.legend(fontsize=7)
    left.set_title("least-squares polynomials", fontsize=9)
    right.set_title(f"a 1-64-64-1 tanh MLP, {steps} Adam steps", fontsize=9)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "fits.png")
    poly3, poly9 = result["polynomial, degree 3"], result["polynomial, degree 9"]
    mlp = result["MLP"]
    conclusion = (
        f"Degree 3: train MSE {poly3['train_mse']:.4f}, test {poly3['test_mse']:.3f}; degree 9: "
        f"train {poly9['train_mse']:.4f}, test {poly9['test_mse']:.3f} "
        f"({poly9['test_mse'] / poly9['train_mse']:.0f}x its training error; the noise alone "
        f"gives {NOISE ** 2:.4f}). The MLP after {steps} steps: train {mlp['train_mse']:.4f}, "
        f"test {mlp['test_mse']:.3f}; with weight decay test "
        f"{result['MLP + L2 (weight decay 1e-1)']['test_mse']:.3f}; stopped early (step "
        f"{result['MLP + early stopping']['steps']}) test "
        f"{result['MLP + early stopping']['test_mse']:.3f}.")
    say(conclusion)
    return result, conclusion
