"""Timing helper for the benchmarks: median seconds per call over several repeats."""

from __future__ import annotations

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
