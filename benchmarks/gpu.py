"""Training steps on a GPU: nnscratch through CuPy vs PyTorch CUDA, same weights, same
batches, one process; the median seconds of a step and the ratio.

Workloads: the MLP 784-128-128-10 (batch 128), a CNN conv(1->32, 3) - pool - conv(32->64,
3) - pool - linear (batch 128), and a GPT of 2 layers, 4 heads, 128 wide (block 64, batch
32); Adam, float32. Our models load the PyTorch twin's state_dict, so both start equal;
the first losses are printed side by side as a check.

Needs CuPy and a CUDA build of PyTorch (make bench-gpu installs CuPy). `--device strict`
runs the same script on the strict stand-in device against PyTorch on the CPU: a check
that the script itself works on a machine without a GPU, not a benchmark.
Run: .venv/bin/python benchmarks/gpu.py [--device cuda] [--steps 30]
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
from nnscratch.models.gpt import GPT
from timing import fmt


def _mlp(framework):
    return framework.Sequential(framework.Linear(784, 128), framework.ReLU(),
                                framework.Linear(128, 128), framework.ReLU(),
                                framework.Linear(128, 10))


def _cnn(framework):
    return framework.Sequential(framework.Conv2d(1, 32, 3, padding=1), framework.ReLU(),
                                framework.MaxPool2d(2), framework.Conv2d(32, 64, 3, padding=1),
                                framework.ReLU(), framework.MaxPool2d(2), framework.Flatten(),
                                framework.Linear(64 * 7 * 7, 10))


def _gpt_pair():
    from gpt import torch_gpt

    theirs = torch_gpt(96, 64, 2, 4, 128)
    ours = GPT(96, 64, 2, 4, 128)
    return ours, theirs


def _batches(name: str, count: int = 4):
    rng = np.random.default_rng(0)
    if name == "gpt":
        ids = rng.integers(0, 96, (count, 32, 65))
        return [(b[:, :-1], b[:, 1:]) for b in ids]
    shape = (128, 784) if name == "mlp" else (128, 1, 28, 28)
    return [(rng.random(shape, dtype=np.float32), rng.integers(0, 10, 128))
            for _ in range(count)]


def _pair(name: str):
    torch.manual_seed(0)
    if name == "gpt":
        return _gpt_pair()
    theirs = (_mlp if name == "mlp" else _cnn)(torch.nn)
    ours = (_mlp if name == "mlp" else _cnn)(nn)
    return ours, theirs


def _loss(name, model, framework_f, x, y):
    if name == "gpt":  # both GPTs take the targets and give (logits, loss)
        return model(x, y)[1]
    return framework_f.cross_entropy(model(x), y)


def measure(name: str, device: str, steps: int) -> tuple[float, float, float, float]:
    """(our seconds a step, PyTorch's, our first loss, PyTorch's)."""
    import torch.nn.functional as TF

    from nnscratch import functional as F

    torch_device = "cuda" if device.startswith("cuda") else "cpu"
    ours, theirs = _pair(name)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.to(device)
    theirs.to(torch_device)
    our_optimizer = optim.Adam(ours.parameters(), lr=1e-3)
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=1e-3)
    batches = _batches(name)
    ours_on = [(ns.tensor(x, device=device), ns.tensor(y, device=device)) for x, y in batches]
    theirs_on = [(torch.from_numpy(x).to(torch_device), torch.from_numpy(y).to(torch_device))
                 for x, y in batches]
    module = ns.device(device).module

    def sync_ours():
        if device.startswith("cuda"):
            module.cuda.Device().synchronize()

    def sync_theirs():
        if torch_device == "cuda":
            torch.cuda.synchronize()

    def stepper(model, optimizer, on_device, functional):
        def step(i):
            x, y = on_device[i % len(on_device)]
            loss = _loss(name, model, functional, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return loss
        return step

    our_step = stepper(ours, our_optimizer, ours_on, F)
    their_step = stepper(theirs, their_optimizer, theirs_on, TF)

    first = (float(our_step(0).item()), float(their_step(0).item()))
    timings = []
    for step, sync in ((our_step, sync_ours), (their_step, sync_theirs)):
        for i in range(3):  # warm up: kernels compiled, memory pools filled
            step(i)
        sync()
        samples = []
        for _ in range(3):
            start = time.perf_counter()
            for i in range(steps):
                step(i)
            sync()
            samples.append((time.perf_counter() - start) / steps)
        timings.append(statistics.median(samples))
    return timings[0], timings[1], first[0], first[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    print(f"nnscratch on {args.device} vs PyTorch {torch.__version__} on "
          f"{'cuda' if args.device.startswith('cuda') else 'cpu'}")
    print(f"{'workload':10s}  {'nnscratch':>11s}  {'PyTorch':>11s}  {'ratio':>6s}  "
          f"first losses")
    for name in ("mlp", "cnn", "gpt"):
        ours, theirs, our_loss, their_loss = measure(name, args.device, args.steps)
        print(f"{name + ' step':10s}  {fmt(ours):>11s}  {fmt(theirs):>11s}  "
              f"{ours / theirs:6.2f}  {our_loss:.4f} / {their_loss:.4f}")


if __name__ == "__main__":
    main()
