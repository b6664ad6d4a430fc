"""A small CNN on Fashion-MNIST, nnscratch vs its PyTorch twin (CPU), in one process:
Conv2d(1->32, 3, pad 1)-ReLU-MaxPool2d(2) - Conv2d(32->64, 3, pad 1)-ReLU-MaxPool2d(2) -
Flatten - Linear(3136->128)-ReLU - Linear(128->10), Adam 1e-3, batch 128.

Three measurements:
- seconds per epoch (469 batches of 128): by default estimated from a fixed number of
  training steps (after a few warm-up steps; the frameworks alternate in 9 short
  repetitions, and each framework's median counts: the machine's noise comes in bursts of
  seconds, which many short alternations spread evenly over both); `--full` times one
  real epoch of each instead. Target: ratio <= 1.3.
- conv2d forward + backward alone for the common configurations, ratio per configuration.
- peak memory (RSS) of training: each framework in a fresh subprocess
  (`cnn.py --memory ours|torch`) reads its own peak resident size after the steps; the
  torch subprocess is the only one that imports torch. Target: ours <= PyTorch's.

Data: the 60,000 Fashion-MNIST training images scaled to [0, 1], (N, 1, 28, 28), when the
files are installed, else random data of the same shape (the timing does not depend on
the values). Both frameworks use their default thread counts on the same cores (printed).
Run: .venv/bin/python benchmarks/cnn.py [--steps 60] [--full] [--no-memory]
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import argparse
import os
import resource
import statistics
import time

import numpy as np

import nnscratch as ns
from nnscratch import functional as F
from nnscratch import nn, optim
from timing import fmt, median_seconds, memory_children

BATCH = 128
SAMPLES = 60_000
BATCHES_PER_EPOCH = -(-SAMPLES // BATCH)  # 469, the last one of 96 samples
STEPS, WARMUP, REPEATS = 20, 3, 9
MEMORY_STEPS = 60


def data(samples: int = SAMPLES):
    """(x (N, 1, 28, 28) float32 in [0, 1], y (N,) int64), shuffled with a fixed seed."""
    rng = np.random.default_rng(0)
    try:
        images, labels, _ = ns.data.datasets.fashion_mnist("train")
        images, labels = images[:samples], labels[:samples]
    except FileNotFoundError:
        images = rng.integers(0, 256, (samples, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, samples)
    order = rng.permutation(len(images))
    # Shuffled and scaled a chunk at a time into the final array: no full-size float
    # temporaries, so loading does not set the process's peak RSS (see memory_child).
    x = np.empty((len(images), 1, 28, 28), dtype=np.float32)
    for i in range(0, len(images), 10_000):
        chunk = order[i:i + 10_000]
        x[i:i + len(chunk), 0] = ns.data.transforms.scale_to_unit(images[chunk])
    return x, np.ascontiguousarray(labels[order])


def _batches(n: int, start: int, steps: int):
    """`steps` batch slices starting at batch `start`, wrapping around the data."""
    for k in range(start, start + steps):
        i = (k % BATCHES_PER_EPOCH) * BATCH
        yield slice(i, min(i + BATCH, n))


def ours_trainer(x, y):
    """step(batch_slice) -> loss for the nnscratch net."""
    ns.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def step(batch: slice):
        loss = loss_fn(model(ns.Tensor(x[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def torch_trainer(x, y):
    """step(batch_slice) -> loss for the PyTorch twin."""
    import torch

    torch.manual_seed(0)
    tnn = torch.nn
    model = tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Linear(64 * 7 * 7, 128), tnn.ReLU(), tnn.Linear(128, 10),
    )
    loss_fn = tnn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step(batch: slice):
        loss = loss_fn(model(tx[batch]), ty[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def _run(step, n: int, start: int, steps: int) -> tuple[float, float]:
    """Seconds for `steps` training steps from batch `start`, and the last loss."""
    begin = time.perf_counter()
    for batch in _batches(n, start, steps):
        loss = step(batch)
    return time.perf_counter() - begin, float(loss.item())


def epoch_seconds(steps: int = STEPS, repeats: int = REPEATS, full: bool = False, x=None,
                  y=None) -> dict[str, float]:
    """Seconds per epoch for each framework: measured (full) or extrapolated from `steps`
    steps, median of `repeats`, the frameworks alternating so both see the same noise."""
    if x is None:
        x, y = data()
    trainers = {"nnscratch": ours_trainer(x, y), "torch": torch_trainer(x, y)}
    for step in trainers.values():  # warm-up: lazy imports, work arrays, allocator
        _run(step, len(x), 0, WARMUP)
    if full:
        steps, repeats = BATCHES_PER_EPOCH, 1
    times = {name: [] for name in trainers}
    start = WARMUP
    for _ in range(repeats):
        for name, step in trainers.items():
            times[name].append(_run(step, len(x), start, steps)[0])
        start += steps
    return {name: statistics.median(t) * BATCHES_PER_EPOCH / steps
            for name, t in times.items()}


# --- conv2d forward + backward alone ------------------------------------------------------
# (label, input shape (N, C, H, W), out_channels, kernel, stride, padding, groups)
CONV_CONFIGS = [
    ("128x32x14x14 -> 64 3x3 pad 1", (128, 32, 14, 14), 64, 3, 1, 1, 1),
    ("128x1x28x28 -> 32 3x3 pad 1", (128, 1, 28, 28), 32, 3, 1, 1, 1),
    ("128x32x28x28 -> 64 3x3 stride 2 pad 1", (128, 32, 28, 28), 64, 3, 2, 1, 1),
    ("128x64x14x14 -> 128 1x1", (128, 64, 14, 14), 128, 1, 1, 0, 1),
    ("128x32x28x28 depthwise 3x3 pad 1", (128, 32, 28, 28), 32, 3, 1, 1, 32),
]


def conv_pair(shape, out_channels: int, kernel: int, stride: int, padding: int,
              groups: int = 1):
    """(ours, theirs): one conv2d forward + backward (into x, weight and bias) each."""
    import torch

    rng = np.random.default_rng(0)
    c = shape[1]
    x = rng.standard_normal(shape).astype(np.float32)
    cg = c // groups
    w = (rng.standard_normal((out_channels, cg, kernel, kernel)) / np.sqrt(cg * kernel * kernel)
         ).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32)
    oh = (shape[2] + 2 * padding - kernel) // stride + 1
    ow = (shape[3] + 2 * padding - kernel) // stride + 1
    g = rng.standard_normal((shape[0], out_channels, oh, ow)).astype(np.float32)

    xs, ws, bs = (ns.tensor(a, requires_grad=True) for a in (x, w, b))
    gs = ns.tensor(g)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gt = torch.from_numpy(g)

    def ours():
        xs.grad = ws.grad = bs.grad = None
        F.conv2d(xs, ws, bs, stride, padding, groups=groups).backward(gs)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, stride, padding, groups=groups).backward(gt)

    return ours, theirs


def conv_rows() -> list[tuple[str, float, float]]:
    rows_ = []
    for label, shape, out_channels, kernel, stride, padding, groups in CONV_CONFIGS:
        ours, theirs = conv_pair(shape, out_channels, kernel, stride, padding, groups)
        rows_.append((f"conv2d fwd+bwd {label}", median_seconds(ours), median_seconds(theirs)))
    return rows_


# --- peak memory ---------------------------------------------------------------------------
def _rss_now_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return 0


def memory_child(which: str, steps: int) -> None:
    """In a fresh process: load the data, train `steps` steps, print in KiB the RSS before
    the model, the peak RSS before the model (loading's) and the peak RSS after training
    (training's peak when larger than loading's)."""
    x, y = data()
    baseline = _rss_now_kib()  # the interpreter, NumPy and the data (before any model)
    loading_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    make = ours_trainer if which == "ours" else torch_trainer
    _run(make(x, y), len(x), 0, steps)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(baseline, loading_peak, peak)


def peak_rss(steps: int = MEMORY_STEPS) -> dict[str, tuple[int, int, int]]:
    """{'nnscratch'|'torch': (RSS before the model, peak before it, peak after)} in KiB."""
    return memory_children(__file__, "--memory-steps", str(steps))


def rows(steps: int = STEPS) -> list[tuple[str, float, float]]:
    epoch = epoch_seconds(steps)
    return [(f"CNN epoch (estimated from {steps} steps)", epoch["nnscratch"], epoch["torch"])] \
        + conv_rows()


def main(steps: int = STEPS, full: bool = False, memory: bool = True,
         memory_steps: int = MEMORY_STEPS) -> None:
    import torch

    print(f"CNN conv32-pool-conv64-pool-fc128-fc10, Adam, batch {BATCH}, Fashion-MNIST; torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads, NumPy "
          f"{np.__version__}, {os.cpu_count()} CPUs")
    how = ("one full epoch each" if full else
           f"{steps} steps x {BATCHES_PER_EPOCH / steps:.2f}, median of {REPEATS}")
    epoch = epoch_seconds(steps, full=full)
    ours, theirs = epoch["nnscratch"], epoch["torch"]
    print(f"epoch ({how}):")
    print(f"  nnscratch {ours:6.2f} s / epoch   torch {theirs:6.2f} s / epoch   "
          f"ratio {ours / theirs:.2f}  (target <= 1.3)")
    print("conv2d forward + backward (median):")
    for label, ours, theirs in conv_rows():
        print(f"  {label:52s} nnscratch {fmt(ours)}  torch {fmt(theirs)}  "
              f"ratio {ours / theirs:5.2f}")
    if memory:
        print(f"peak RSS of {memory_steps} training steps (fresh process each; 'before' is "
              "after loading the data, before the model):")
        for name, (before, loading, peak) in peak_rss(memory_steps).items():
            note = "" if peak > loading else "  (the peak is loading's, not training's)"
            print(f"  {name:9s} peak {peak / 1024:7.1f} MiB   before {before / 1024:7.1f} MiB   "
                  f"training adds {(peak - before) / 1024:7.1f} MiB{note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS,
                        help="training steps timed per repetition (default %(default)s)")
    parser.add_argument("--full", action="store_true", help="time one real epoch each")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS runs")
    parser.add_argument("--memory", choices=("ours", "torch"),
                        help="(internal) train in this process and print its peak RSS")
    parser.add_argument("--memory-steps", type=int, default=MEMORY_STEPS)
    args = parser.parse_args()
    if args.memory:
        memory_child(args.memory, args.memory_steps)
    else:
        main(args.steps, args.full, not args.no_memory, args.memory_steps)
