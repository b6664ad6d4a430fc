"""The PyTorch twin of the `fashion-mlp` recipe, for whole-process timing.

Same data and split (read with nnscratch's IDX reader, which is plain NumPy), same model
(784-512-256-10 with batch norm, ReLU and dropout 0.2), Adam 1e-3 with cosine annealing
over 20 epochs, label smoothing 0.1, batch 128, a validation pass and a last/best
checkpoint every epoch, and one test evaluation of the best weights at the end. It does
not draw the run's PNG plots, which the recipe does (about a second).
Run: .venv/bin/python benchmarks/torch_fashion_mlp.py [--epochs 20]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch

import nnscratch as ns
from nnscratch.data import datasets, transforms


def main(epochs: int = 20) -> float:
    started = time.perf_counter()
    torch.manual_seed(0)
    ns.manual_seed(0)
    images, labels, _ = datasets.fashion_mnist("train")
    test_images, test_labels, _ = datasets.fashion_mnist("test")
    (x, y), (xv, yv) = ns.data.train_val_split(transforms.scale_to_unit(images), labels,
                                               val_fraction=1 / 6, stratify=labels)
    x, y, xv, yv = map(torch.from_numpy, (x, y, xv, yv))
    xt = torch.from_numpy(transforms.scale_to_unit(test_images))
    yt = torch.from_numpy(test_labels)
    nn = torch.nn
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 10),
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    folder = Path(tempfile.mkdtemp())
    best = float("inf")
    for _ in range(epochs):
        model.train()
        for index in torch.randperm(len(x)).split(128):
            loss = loss_fn(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss = sum(loss_fn(model(xb), yb).item() * len(yb)
                           for xb, yb in zip(xv.split(256), yv.split(256), strict=True)) / len(yv)
        scheduler.step()
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict()}
        torch.save(state, folder / "last.pt")
        if val_loss < best:
            best = val_loss
            torch.save(state, folder / "best.pt")
            best_weights = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_weights)
    model.eval()
    with torch.no_grad():
        accuracy = (model(xt).argmax(1) == yt).float().mean().item()
    print(f"torch fashion-mlp twin: test accuracy {100 * accuracy:.2f} % in "
          f"{time.perf_counter() - started:.1f} s")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    main(parser.parse_args().epochs)
