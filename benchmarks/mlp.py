"""One training epoch of an MLP 784-128-128-10 (ReLU, Adam 1e-3, batch 128), nnscratch vs
PyTorch CPU, same data, same thread count, in one process; median of 3 epochs each.

Data: the 60,000 Fashion-MNIST training images (scaled to [0, 1]) when the files are
installed, else random data of the same shape (the timing does not depend on the values).
Target: ratio <= 0.9.
Run: .venv/bin/python benchmarks/mlp.py [--epochs 3]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import statistics
import time

import numpy as np
import torch

import nnscratch as ns
from nnscratch import nn, optim

BATCH = 128


def data(samples: int = 60_000):
    rng = np.random.default_rng(0)
    try:
        images, labels, _ = ns.data.datasets.fashion_mnist("train")
        x = ns.data.transforms.scale_to_unit(images).reshape(-1, 784)[:samples]
        y = labels[:samples]
    except FileNotFoundError:
        x = rng.random((samples, 784), dtype=np.float32)
        y = rng.integers(0, 10, samples)
    order = rng.permutation(len(x))
    return np.ascontiguousarray(x[order]), y[order]


def ours_epoch(x, y):
    ns.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        start = time.perf_counter()
        for i in range(0, len(x), BATCH):
            xb, yb = ns.Tensor(x[i:i + BATCH]), y[i:i + BATCH]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start, loss.item()

    return epoch


def torch_epoch(x, y):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        start = time.perf_counter()
        for i in range(0, len(tx), BATCH):
            loss = loss_fn(model(tx[i:i + BATCH]), ty[i:i + BATCH])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start, loss.item()

    return epoch


def rows(epochs: int = 3) -> list[tuple[str, float, float]]:
    x, y = data()
    runs = {"nnscratch": ours_epoch(x, y), "torch": torch_epoch(x, y)}
    times = {name: [] for name in runs}
    for _ in range(epochs):  # alternate, so both see the same machine noise
        for name, run in runs.items():
            times[name].append(run()[0])
    return [("MLP 784-128-128-10 epoch, Fashion-MNIST",
             statistics.median(times["nnscratch"]), statistics.median(times["torch"]))]


def main(epochs: int = 3) -> float:
    print(f"MLP 784-128-128-10, Adam, batch {BATCH}, one epoch of 60,000 samples; torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; median of {epochs}")
    (_, ours, theirs), = rows(epochs)
    print(f"  nnscratch {ours:6.3f} s / epoch   torch {theirs:6.3f} s / epoch")
    print(f"  ratio nnscratch / torch = {ours / theirs:.2f}  (target <= 0.9)")
    return ours / theirs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    main(parser.parse_args().epochs)
