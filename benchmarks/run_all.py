"""Every benchmark of benchmarks/ in one table: workload, nnscratch, PyTorch, ratio.

Times are medians on this machine (noisy: compare ratios, not seconds). ratio < 1 means
nnscratch is faster. Run: make bench (or .venv/bin/python benchmarks/run_all.py).
"""

from __future__ import annotations

import nnscratch  # noqa: F401 - first: it sets OpenBLAS's thread timeout before NumPy loads
import importlib
import platform

import numpy as np
import torch

from timing import blas_description, fmt

MODULES = ["overhead", "softmax_ce", "slicing", "mlp", "recipe_fashion_mlp", "cnn", "lstm",
           "recipe_char_lstm", "gpt", "recipe_char_gpt", "dcgan", "vae", "unet", "unet_ops"]


def main() -> None:
    print(f"nnscratch vs PyTorch {torch.__version__} (CPU, {torch.get_num_threads()} threads), "
          f"NumPy {np.__version__} (BLAS: {blas_description()}), "
          f"Python {platform.python_version()}")
    table = []
    for name in MODULES:
        print(f"running {name} ...", flush=True)
        table += importlib.import_module(name).rows()
    width = max(len(row[0]) for row in table)
    print()
    print(f"{'workload':{width}s}  {'nnscratch':>11s}  {'PyTorch':>11s}  {'ratio':>6s}")
    for workload, ours, theirs in table:
        print(f"{workload:{width}s}  {fmt(ours):>11s}  {fmt(theirs):>11s}  {ours / theirs:6.2f}")
    importlib.import_module("scaling").report()  # 1 vs 2 MPI ranks: a table of its own


if __name__ == "__main__":
    main()
