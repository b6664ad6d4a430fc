"""What do convolution kernels do, and what does a CNN learn?

A 3 x 3 kernel slid over an image (F.conv2d) weighs each pixel's neighbourhood: a
sharpen kernel (5 at the centre, -1 at its four neighbours) boosts a pixel against its
neighbours, an edge kernel (8 at the centre, -1 around) answers only where the intensity
changes, a blur averages, an emboss kernel answers to edges of one direction. Shown on
Fashion-MNIST images beside the first-layer kernels a small CNN learns in a short
training: many of them look like these edge and direction detectors. Measured: each hand
kernel's mean |response| on flat regions and on edges, and the CNN's held-out accuracy.
"""

from __future__ import annotations

import numpy as np

from .. import backend, nn
from .. import functional as F
from ..tensor import Tensor
from . import fashion_slices, fit_classifier

QUESTION = "What does a convolution kernel do, and what kernels does a CNN learn?"
KERNELS = {
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edges": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "blur": [[1 / 9] * 3] * 3,
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    (x, y), (xv, yv) = fashion_slices(2000 if quick else 10_000, 2000, flat=False)
    weights = np.array(list(KERNELS.values()), np.float32)[:, None]  # (4, 1, 3, 3)
    responses = F.conv2d(Tensor(x[:200]), Tensor(weights), padding=1).data
    # flat regions: pixels whose 3x3 neighbourhood barely varies; edges: the most varied
    spread = F.max_pool2d(Tensor(x[:200]), 3, 1, 1).data + F.max_pool2d(
        Tensor(-x[:200]), 3, 1, 1).data
    flat, edge = spread[:, 0] < 0.02, spread[:, 0] > 0.5
    result = {"hand_kernels": {
        name: {"mean_abs_response_flat": float(np.abs(responses[:, i][flat]).mean()),
               "mean_abs_response_edges": float(np.abs(responses[:, i][edge]).mean())}
        for i, name in enumerate(KERNELS)}}
    with backend.seeded(1):
        cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    fit_classifier(cnn, x, y, epochs=3 if quick else 5, lr=2e-3)
    accuracy = float(np.mean(cnn(Tensor(xv)).data.argmax(axis=1) == yv))
    result["cnn_held_out_accuracy"] = accuracy
    learned = cnn[0].weight.data[:, 0]
    figure = _figure(11, 5.2)
    grid = figure.subplots(3, 8)
    for ax in grid.ravel():
        ax.axis("off")
    image = x[0, 0]
    grid[0, 0].imshow(image, cmap="gray")
    grid[0, 0].set_title("image", fontsize=8)
    for i, name in enumerate(KERNELS):
        grid[0, 2 * i + 1].imshow(weights[i, 0], cmap="RdBu")
        grid[0, 2 * i + 1].set_title(name, fontsize=8)
        grid[1, 2 * i + 1].imshow(responses[0, i], cmap="gray")
        grid[1, 2 * i + 1].set_title(f"{name} of it", fontsize=8)
    for i in range(8):
        grid[2, i].imshow(learned[i], cmap="RdBu")
        grid[2, i].set_title(f"learned {i + 1}", fontsize=8)
    figure.suptitle(f"{QUESTION} (bottom: the CNN's first layer, {100 * accuracy:.1f} % "
                    "held out)", fontsize=10)
    _save(figure, folder / "kernels.png")
    hand = result["hand_kernels"]
    conclusion = (
        "Mean |response| on flat regions / on edges: "
        + ", ".join(f"{n} {v['mean_abs_response_flat']:.3f} / {v['mean_abs_response_edges']:.3f}"
                    for n, v in hand.items())
        + f". The small CNN reached {100 * accuracy:.1f} % held out; its first-layer kernels "
        "are drawn beside the hand-made ones.")
    say(conclusion)
    return result, conclusion
