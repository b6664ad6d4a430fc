"""Why is the fused softmax + cross-entropy gradient faster?

For logits z (N, C), s = softmax(z) and the loss L = -mean log s[label], the gradient
with respect to z can be computed three ways, all equal:

- the Jacobian path: dL/ds = -onehot / (s N), then per sample the C x C Jacobian of the
  softmax, ds/dz = diag(s) - s s^T, times that vector: O(N C^2) work and memory;
- the separate vectorised path: the same chain rule without forming the Jacobian,
  dz = s * (g - sum(g * s)) with g = dL/ds: O(N C), but several passes and a division;
- the fused path: the two derivatives cancel into dz = (s - onehot) / N: one pass.

Timed here at several class counts (median of repeats); the ratios are printed and
plotted. F.cross_entropy uses the fused form.
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend

QUESTION = "Why is the fused softmax + cross-entropy gradient faster than the chain rule?"


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def jacobian_path(z, labels):
    n, c = z.shape
    s = _softmax(z)
    g = np.zeros_like(s)
    g[np.arange(n), labels] = -1.0 / (s[np.arange(n), labels] * n)
    jacobians = s[:, :, None] * np.eye(c, dtype=z.dtype)[None] - s[:, :, None] * s[:, None, :]
    return np.einsum("nij,nj->ni", jacobians, g)


def separate_path(z, labels):
    n = len(z)
    s = _softmax(z)
    g = np.zeros_like(s)
    g[np.arange(n), labels] = -1.0 / (s[np.arange(n), labels] * n)
    return s * (g - (g * s).sum(axis=1, keepdims=True))


def fused_path(z, labels):
    n = len(z)
    grad = _softmax(z)
    grad[np.arange(n), labels] -= 1.0
    grad /= n
    return grad


PATHS = {"Jacobian": jacobian_path, "separate": separate_path, "fused": fused_path}


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    rng = backend.generator()
    batch, classes, repeats = (128, (10, 50, 100), 5) if quick else (128, (10, 100, 300, 1000), 9)
    result = {}
    for c in classes:
        z = rng.standard_normal((batch, c)).astype(np.float32)
        labels = rng.integers(0, c, batch)
        grads = {name: fn(z, labels) for name, fn in PATHS.items()}
        seconds = {name: _median_seconds(lambda f=fn, a=z, b=labels: f(a, b), repeats)
                   for name, fn in PATHS.items()}
        result[str(c)] = {
            "seconds": seconds,
            "jacobian_over_fused": seconds["Jacobian"] / seconds["fused"],
            "separate_over_fused": seconds["separate"] / seconds["fused"],
            "largest_difference": float(max(np.abs(grads[n] - grads["fused"]).max()
                                            for n in PATHS))}
    figure = _figure(9, 4)
    left, right = figure.subplots(1, 2)
    for name in PATHS:
        left.loglog(classes, [result[str(c)]["seconds"][name] for c in classes], marker="o",
                    label=name)
    left.set_xlabel("classes C")
    left.set_ylabel("seconds per gradient")
    left.set_title(f"gradient of softmax + cross-entropy, batch {batch}", fontsize=9)
    left.legend(fontsize=8)
    right.semilogx(classes, [result[str(c)]["jacobian_over_fused"] for c in classes],
                   marker="o", label="Jacobian / fused")
    right.semilogx(classes, [result[str(c)]["separate_over_fused"] for c in classes],
                   marker="o", label="separate / fused")
    right.set_yscale("log")
    right.set_xlabel("classes C")
    right.set_title("how many times slower than the fused gradient", fontsize=9)
    right.legend(fontsize=8)
    figure.suptitle(QUESTION, fontsize=10)
    _save(figure, folder / "speed.png")
    conclusion = (
        "Slower than the fused gradient, by class count: "
        + "; ".join(f"C = {c}: Jacobian {result[str(c)]['jacobian_over_fused']:.1f}x, "
                    f"separate {result[str(c)]['separate_over_fused']:.1f}x" for c in classes)
        + ". All three agree to within "
        + f"{max(r['largest_difference'] for r in result.values()):.1e}.")
    say(conclusion)
    return result, conclusion
