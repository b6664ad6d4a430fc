"""One training epoch of an MLP 784-128-128-10 (ReLU, Adam 1e-3, batch 128), nnscratch vs
PyTorch CPU, same data, same thread count, in one process; median of 3 epochs each.

Data: 60,000 random samples shaped like Fashion-MNIST (the real set arrives with the data
issue; the timing does not depend on the values). Target: ratio <= 0.9.
Run: .venv/bin/python benchmarks/mlp.py [--epochs 3]
"""

from __future__ import annotations

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
    x = rng.random((samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    order = rng.permutation(samples)
    return x[order], y[order]


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


def main(epochs: int = 3) -> float:
    x, y = data()
    print(f"MLP 784-128-128-10, Adam, batch {BATCH}, {len(x)} samples; torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; median of {epochs}")
    runs = {"nnscratch": ours_epoch(x, y), "torch": torch_epoch(x, y)}
    times = {name: [] for name in runs}
    for _ in range(epochs):  # alternate, so both see the same machine noise
        for name, run in runs.items():
            seconds, loss = run()
            times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in medians.items():
        every = ", ".join(f"{s:.3f}" for s in times[name])
        print(f"  {name:10s} {t:6.3f} s / epoch   (all: {every})")
    ratio = medians["nnscratch"] / medians["torch"]
    print(f"  ratio nnscratch / torch = {ratio:.2f}  (target <= 0.9)")
    return ratio


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    main(parser.parse_args().epochs)
