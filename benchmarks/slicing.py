"""Gradients of slices: reading x[t] for every step t of a (T, N, H) tensor, as an unrolled
recurrence does, then backward. Each slice's gradient is added into one accumulator of
x's size, so the time per step stays about the same as T grows (it grew with T when
every slice's backward made a zero array of x's size).

Prints the backward time per step for T = 50, 100, 200 (N = 64, H = 256) in nnscratch
and PyTorch. Run: .venv/bin/python benchmarks/slicing.py
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import numpy as np
import torch

import nnscratch as ns
from timing import median_seconds, print_rows

STEPS = (50, 100, 200)
BATCH, HIDDEN = 64, 256


def _read_every_step(x, steps: int) -> None:
    """Forward (x * 1 read one step at a time) and backward; the same code for either
    framework's tensor."""
    x.grad = None
    h = x * 1.0
    total = h[0].sum()
    for t in range(1, steps):
        total = total + h[t].sum()
    total.backward()


def _case(steps: int):
    x0 = np.random.default_rng(0).standard_normal((steps, BATCH, HIDDEN)).astype(np.float32)
    x, tx = ns.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    return (lambda: _read_every_step(x, steps)), (lambda: _read_every_step(tx, steps))


def rows() -> list[tuple[str, float, float]]:
    results = []
    for steps in STEPS:
        ours, theirs = _case(steps)
        results.append((f"x[t] for T={steps} steps of (T, {BATCH}, {HIDDEN}), per step",
                        median_seconds(ours) / steps, median_seconds(theirs) / steps))
    return results


def main() -> None:
    print_rows(rows())


if __name__ == "__main__":
    main()
