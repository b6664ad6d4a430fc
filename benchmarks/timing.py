"""Timing helper for the benchmarks: median seconds per call over several repeats."""

from __future__ import annotations

import os
import statistics
import time


def median_seconds(fn, repeat: int = 7, min_batch_seconds: float = 0.05) -> float:
    """Median time of one call of fn(), each repeat timing a batch of calls long enough
    to be measured reliably (noisy machines: the median, not the mean)."""
    fn()  # warm up caches and lazy imports
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_batch_seconds:
            break
        loops *= 2
    samples = [elapsed / loops]
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def blas_description() -> str:
    """NumPy's BLAS: library, threads and the kernels it runs, e.g. "openblas 2 threads,
    SkylakeX kernels". OpenBLAS picks its kernels for the processor unless
    OPENBLAS_CORETYPE pins them (some machines pin older kernels, e.g. Haswell's AVX2 ones
    on an AVX-512 processor: its products then run up to ~1.6x slower), so the figures
    of a benchmark depend on it; the description says when it is pinned."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    parts = [f"{i['internal_api']} {i['num_threads']} threads, {i.get('architecture')} kernels"
             for i in threadpool_info() if i["user_api"] == "blas"]
    pinned = os.environ.get("OPENBLAS_CORETYPE")
    if pinned:
        parts.append(f"pinned by OPENBLAS_CORETYPE={pinned}")
    return ", ".join(parts) or "?"


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds:8.2f} s"


def print_rows(rows) -> None:
    """Print benchmark rows (workload, our seconds, PyTorch's seconds) with their ratio."""
    for name, ours, theirs in rows:
        print(f"{name}: nnscratch {fmt(ours)}, PyTorch {fmt(theirs)}, ratio {ours / theirs:.2f}")


def memory_children(script: str, *args: str, values: int = 3) -> dict[str, tuple[int, ...]]:
    """{'nnscratch'|'torch': the last `values` integers that a fresh
    `python script --memory ours|torch *args` prints} (its RSS figures, in KiB).

    Through a small launcher process: Linux's ru_maxrss of a process also counts the peak
    of the process it was forked from (recorded at exec), which would be this one."""
    import os
    import subprocess
    import sys

    launcher = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
    result = {}
    for which, name in (("ours", "nnscratch"), ("torch", "torch")):
        out = subprocess.run(
            [sys.executable, "-c", launcher, sys.executable, os.path.abspath(script),
             "--memory", which, *args],
            check=True, capture_output=True, text=True,
        ).stdout.split()
        result[name] = tuple(int(v) for v in out[-values:])
    return result


def without_torch_flag(rss: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The children's (before, peak) with their last figure, 'imported torch', checked:
    our child must not have imported torch (its memory would count torch's)."""
    if rss["nnscratch"][-1]:
        raise RuntimeError("the nnscratch memory child imported torch")
    return {name: figures[:-1] for name, figures in rss.items()}


THREADS_HELP = ("threads for both frameworks (torch's and the BLAS's): on a busy machine "
                "one each is the steadier comparison")


def limit_threads(threads: int | None) -> None:
    """--threads N: torch.set_num_threads(N) and threadpoolctl's BLAS limit N for NumPy
    (nothing when None: each framework's default)."""
    if not threads:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")


def recipe_start(recipe, seed: int):
    """(splits, our model) as train_recipe draws them from `seed`: the data first, then
    the model's initial weights; a twin copies the very weights our run starts from."""
    import nnscratch as ns

    ns.manual_seed(seed)
    splits = recipe.data()
    return splits, recipe.build_model_for(recipe.model_info(splits))
