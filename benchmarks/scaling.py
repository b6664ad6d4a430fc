"""Data-parallel scaling over MPI: training samples per second of the fashion-mlp and
fashion-cnn recipes' models with 1 and 2 ranks (`mpiexec -n R`, 1 thread each), the
scaling efficiency (samples/s with 2 ranks over twice those with 1), and the time each
step spends in the gradient all-reduce.

Each rank trains on batches of 128 (weak scaling: 2 ranks take steps of 256 samples, as
fit's batch_size is per rank), through fit on Fashion-MNIST training images, after one
warm-up epoch; times are medians over repeats. Run: .venv/bin/python benchmarks/scaling.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
MPIEXEC = Path(sys.executable).with_name("mpiexec")
STEPS = {"fashion-mlp": 40, "fashion-cnn": 8}
BATCH = 128
REPEATS = 3


def worker(recipe_name: str) -> None:
    """One rank: time REPEATS epochs of STEPS steps; rank 0 prints a JSON line."""
    from threadpoolctl import threadpool_limits

    import nnscratch as ns
    from nnscratch import distributed
    from nnscratch.distributed import training
    from nnscratch.models import get

    rank, ranks = distributed.init()
    ns.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")
    recipe = get(recipe_name)
    ns.manual_seed(0)
    splits = recipe.data()
    model = recipe.build_model_for(recipe.model_info(splits))
    optimizer = recipe.optimizer(model, recipe.lr)
    samples = STEPS[recipe_name] * BATCH * ranks
    data = tuple(a[:samples] for a in splits.train)
    reducing = []
    average = training.average_gradients

    def timed_average(parameters):
        started = time.perf_counter()
        average(parameters)
        reducing.append(time.perf_counter() - started)

    training.average_gradients = timed_average
    epochs = []
    for _ in range(REPEATS + 1):  # the first epoch warms up
        reducing.clear()
        distributed.barrier()
        started = time.perf_counter()
        ns.train.fit(model, recipe.loss(), optimizer, data, epochs=1, batch_size=BATCH,
                     progress=False, metrics=None)
        distributed.barrier()
        epochs.append((time.perf_counter() - started, sum(reducing) / max(len(reducing), 1)))
    if rank == 0:
        seconds = statistics.median(e[0] for e in epochs[1:])
        print(json.dumps({"samples_per_second": samples / seconds,
                          "all_reduce_per_step": statistics.median(e[1] for e in epochs[1:])}))


def measure(recipe_name: str, ranks: int) -> dict:
    done = subprocess.run([str(MPIEXEC), "-n", str(ranks), sys.executable, str(HERE),
                           "--worker", recipe_name], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def report() -> None:
    print(f"\ndata-parallel scaling over MPI (batch {BATCH} per rank, 1 thread per rank)")
    print(f"{'recipe':12s}  {'1 rank':>12s}  {'2 ranks':>12s}  {'efficiency':>10s}  "
          f"{'all-reduce/step':>15s}")
    for name in STEPS:
        one, two = measure(name, 1), measure(name, 2)
        efficiency = two["samples_per_second"] / (2 * one["samples_per_second"])
        print(f"{name:12s}  {one['samples_per_second']:8.0f} /s  "
              f"{two['samples_per_second']:8.0f} /s  {100 * efficiency:9.0f} %  "
              f"{1e3 * two['all_reduce_per_step']:12.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        report()
