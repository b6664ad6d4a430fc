"""`nnscratch train char-gpt` against its PyTorch twin (benchmarks/torch_char_gpt.py),
each in a fresh process: the validation loss after the same steps (same data, windows,
initial weights, schedule and clipping), and the whole-process time ratio.
Run: .venv/bin/python benchmarks/recipe_char_gpt.py [--epochs 5] [--tokenizer bpe]
(make bench: 1 epoch)
"""

from __future__ import annotations

import argparse
import json
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


def compare(epochs: int, tokenizer: str = "char") -> tuple[float, float, list, list]:
    """(our seconds, torch seconds, our val losses, torch val losses) per epoch."""
    flags = ["--epochs", str(epochs), "--tokenizer", tokenizer]
    with tempfile.TemporaryDirectory() as out:
        ours, _ = _timed([sys.executable, "-m", "nnscratch", "train", "char-gpt", "--quiet",
                          *flags, "--out", out])
        (folder,) = Path(out).iterdir()
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        our_losses = [json.loads(line)["val_loss"] for line in lines]
    theirs, output = _timed([sys.executable, str(HERE / "torch_char_gpt.py"), *flags])
    their_losses = json.loads(output.strip().splitlines()[-1])["val_loss"]
    return ours, theirs, our_losses, their_losses


def rows(epochs: int = 1, tokenizer: str = "char") -> list[tuple[str, float, float]]:
    ours, theirs, our_losses, their_losses = compare(epochs, tokenizer)
    for epoch, (a, b) in enumerate(zip(our_losses, their_losses, strict=True), start=1):
        print(f"  epoch {epoch}: val loss nnscratch {a:.4f}, torch {b:.4f} "
              f"({100 * (a - b) / b:+.2f} %)")
    return [(f"char-gpt recipe ({tokenizer}), {epochs} epoch(s), whole process", ours, theirs)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--tokenizer", choices=("char", "bpe"), default="char")
    args = parser.parse_args()
    for name, ours, theirs in rows(args.epochs, args.tokenizer):
        print(f"{name}: nnscratch {ours:.1f} s, torch {theirs:.1f} s, ratio {ours / theirs:.2f}")
