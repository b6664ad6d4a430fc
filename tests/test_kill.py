"""Kill test: a training in a subprocess killed with SIGKILL at random moments, including
while it writes checkpoints. After every kill, every checkpoint left loads and best.npz
holds the best epoch so far; resuming after each kill ends exactly where an uninterrupted
run ends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import nnscratch as ns
from kill_child import EPOCHS
from test_io_fuzz import _same

KILLS = 24
CHILD = Path(__file__).with_name("kill_child.py")


def _start(folder: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(folder)], stdout=subprocess.PIPE,
                             text=True, env=env)
    assert child.stdout.readline().strip() == "training"
    return child


def _finish(folder: Path) -> float:
    """Run (or resume) the training to its end; the seconds it trained."""
    child = _start(folder)
    started = time.perf_counter()
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0 and "done" in out
    return time.perf_counter() - started


def _best_epoch(history: dict) -> int:
    losses = history["history"]["val_loss"]
    return history["epochs"][int(np.argmin(losses))]


def _check_after_kill(folder: Path) -> None:
    """Every file left loads; best.npz is the true best of the epochs it has seen."""
    checkpoints = {p.name: ns.load(p) for p in folder.glob("*.npz")}  # raises if damaged
    if "best.npz" not in checkpoints:
        assert "last.npz" not in checkpoints  # best is written first, so never only last
        return
    best = checkpoints["best.npz"]
    assert best["epoch"] == _best_epoch(best["history"])
    last = checkpoints.get("last.npz")
    if last is not None and last["epoch"] >= best["epoch"]:
        # best was written before last, so last never lags behind it by more than one epoch,
        # and what last has seen since cannot beat best
        assert _best_epoch(last["history"]) == best["epoch"]
        assert _same(last["history"]["history"]["val_loss"][:best["epoch"]],
                     best["history"]["history"]["val_loss"])
    elif last is not None:
        assert best["epoch"] == last["epoch"] + 1  # killed between writing best and last


def test_sigkill_at_random_moments_loses_and_poisons_nothing(tmp_path):
    reference = tmp_path / "uninterrupted"
    epoch_time = _finish(reference) / EPOCHS
    rng = random.Random(3)
    killed = tmp_path / "killed"
    started = time.perf_counter()
    kills = during_writes = 0
    while kills < KILLS:
        child = _start(killed)
        # up to one and a half epochs a life: the run is not over before the last kill
        time.sleep(rng.uniform(0.0, 1.5 * epoch_time))
        if child.poll() is not None:
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        kills += 1
        during_writes += any(p.suffix == ".tmp" for p in killed.iterdir()) if killed.exists() \
            else 0
        if killed.exists():
            _check_after_kill(killed)
    _finish(killed)
    print(f"\nkill test: {kills} SIGKILLs, {during_writes} during a checkpoint write, "
          f"{time.perf_counter() - started:.1f} s; epoch {1e3 * epoch_time:.0f} ms")
    assert kills >= 20
    assert not list(killed.glob("*.tmp")), "the writes after the kills left temporaries"
    for name in ("last.npz", "best.npz"):
        assert _same(ns.load(killed / name), ns.load(reference / name)), name
