"""Per-op overhead: a tiny op's forward + backward in nnscratch vs PyTorch (CPU).

Target: our overhead no larger than PyTorch's (ratio <= 1).
Run: .venv/bin/python benchmarks/overhead.py
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import numpy as np
import torch

import nnscratch as ns
from timing import fmt, median_seconds


def tiny_add():
    a = ns.tensor(1.0, requires_grad=True)
    b = ns.tensor(2.0, requires_grad=True)
    ta = torch.tensor(1.0, requires_grad=True)
    tb = torch.tensor(2.0, requires_grad=True)

    def ours():
        a.grad = b.grad = None
        (a + b).backward()

    def theirs():
        ta.grad = tb.grad = None
        (ta + tb).backward()

    return ours, theirs


def matmul_128():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 128)).astype(np.float32)
    w = rng.standard_normal((128, 128)).astype(np.float32)
    a, b = ns.tensor(x, requires_grad=True), ns.tensor(w, requires_grad=True)
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

    def ours():
        a.grad = b.grad = None
        (a @ b).sum().backward()

    def theirs():
        ta.grad = tb.grad = None
        (ta @ tb).sum().backward()

    return ours, theirs


CASES = [("1-element add, forward + backward", tiny_add),
         ("(128,128) matmul + sum, forward + backward", matmul_128)]


def rows() -> list[tuple[str, float, float]]:
    results = []
    for name, case in CASES:
        ours, theirs = case()
        results.append((name, median_seconds(ours), median_seconds(theirs)))
    return results


def main() -> list[tuple[str, float]]:
    print(f"per-op overhead, forward + backward, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    ratios = []
    for name, t_ours, t_theirs in rows():
        ratio = t_ours / t_theirs
        ratios.append((name, ratio))
        print(f"  {name:44s} nnscratch {fmt(t_ours)}   torch {fmt(t_theirs)}   "
              f"ratio {ratio:5.2f}  (target <= 1.0)")
    return ratios


if __name__ == "__main__":
    main()
