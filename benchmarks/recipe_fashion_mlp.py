"""Whole-process time of `nnscratch train fashion-mlp` vs its PyTorch twin script
(benchmarks/torch_fashion_mlp.py): Python start-up, imports, data loading, 20 epochs of
training with validation and checkpoints, and the test evaluation, each in a fresh process.
Run: .venv/bin/python benchmarks/recipe_fashion_mlp.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def rows() -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory() as out:
        ours, ours_output = _timed([sys.executable, "-m", "nnscratch", "train", "fashion-mlp",
                                    "--quiet", "--out", out])
    theirs, their_output = _timed([sys.executable, str(HERE / "torch_fashion_mlp.py")])
    accuracy = [line for line in ours_output.splitlines() if "test accuracy" in line]
    print(f"  nnscratch: {accuracy[-1] if accuracy else ours_output.strip()}")
    print(f"  {their_output.strip()}")
    return [("fashion-mlp recipe, whole process", ours, theirs)]


if __name__ == "__main__":
    for name, ours, theirs in rows():
        print(f"{name}: nnscratch {ours:.1f} s, torch {theirs:.1f} s, ratio {ours / theirs:.2f}")
