"""Why does pooling make a network less sensitive to where things are?

A pooled feature summarises a window: the largest value (max), the mean (average), the
root of the sum of squares (L2), or an average weighted by the distance from the
window's centre (F.weighted_avg_pool2d, Gaussian weights). Shift the input by a pixel and
most of each window's content is still in the same window, so the summary barely moves,
while the raw pixels (unpooled) change a lot. Measured: the relative change
|f(shifted x) - f(x)| / |f(x)| of each kind of feature of 500 Fashion-MNIST images shifted
right by 1, 2 and 3 pixels, with 4 x 4 windows (stride 4).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..data import datasets, transforms
from ..tensor import Tensor

QUESTION = "Why does pooling give some translation invariance?"
WINDOW, SHIFTS = 4, (1, 2, 3)
FEATURES = {
    "unpooled pixels": lambda t: t,
    "max pool": lambda t: F.max_pool2d(t, WINDOW),
    "average pool": lambda t: F.avg_pool2d(t, WINDOW),
    "L2 pool": lambda t: F.lp_pool2d(t, 2, WINDOW),
    "distance-weighted pool": lambda t: F.weighted_avg_pool2d(t, WINDOW, sigma=1.0),
}


def _shifted(x: np.ndarray, pixels: int) -> np.ndarray:
    out = np.zeros_like(x)
    out[..., pixels:] = x[..., :x.shape[-1] - pixels]
    return out


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    images, _, _ = datasets.fashion_mnist("test")
    count = 100 if quick else 500
    x = transforms.scale_to_unit(images[:count])[:, None]
    result = {}
    for name, feature in FEATURES.items():
        base = feature(Tensor(x)).data.reshape(count, -1)
        changes = []
        for pixels in SHIFTS:
            moved = feature(Tensor(_shifted(x, pixels))).data.reshape(count, -1)
            changes.append(float(np.mean(np.linalg.norm(moved - base, axis=1)
                                         / np.linalg.norm(base, axis=1))))
        result[name] = dict(zip((f"shift {p}" for p in SHIFTS), changes, strict=True))
    figure = _figure(6.5, 4)
    ax = figure.subplots()
    for name, changes in result.items():
        ax.plot(SHIFTS, list(changes.values()), marker="o", label=name)
    ax.set_xticks(SHIFTS)
    ax.set_xlabel("shift to the right (pixels)")
    ax.set_ylabel("relative change of the features")
    ax.legend(fontsize=8)
    ax.set_title(f"{QUESTION} ({count} test images, {WINDOW}x{WINDOW} windows)", fontsize=9)
    _save(figure, folder / "invariance.png")
    conclusion = (
        "Relative change after a 1-pixel shift: "
        + ", ".join(f"{name} {changes['shift 1']:.3f}" for name, changes in result.items())
        + "; after 3 pixels: "
        + ", ".join(f"{name} {changes['shift 3']:.3f}" for name, changes in result.items())
        + ".")
    say(conclusion)
    return result, conclusion
