"""Why does a GPU multiply matrices faster?

An n x n matrix product does 2 n^3 floating-point operations on 3 n^2 numbers, so its
arithmetic intensity (operations per number moved) grows with n: small products wait on
memory, large ones keep the arithmetic units busy, and the speed then is set by how many
multiply-adds the chip does per second. A CPU core does a few dozen per cycle (its SIMD
width times its FMA units); a GPU runs thousands of simpler cores side by side, and
float64 costs a CPU half the float32 rate (half as many per vector). Measured here:
GFLOP/s of NumPy's (BLAS's) products against n in float32 and float64, with an estimate
of this CPU's float32 peak from its core count, clock and vector width (and CuPy's on a
GPU when CuPy finds one).
"""

from __future__ import annotations

import os
import re
import time

import numpy as np

QUESTION = "Why does a GPU multiply matrices faster than a CPU?"


def _gflops(n: int, dtype, xp=np, repeats: int = 3) -> float:
    a = xp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype(dtype))
    b = xp.asarray(np.random.default_rng(1).standard_normal((n, n)).astype(dtype))
    a @ b  # warm-up (and CuPy's kernel load)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        c = a @ b
        if xp is not np:
            xp.cuda.Stream.null.synchronize()
        best = min(best, time.perf_counter() - start)
    del c
    return 2 * n ** 3 / best / 1e9


def cpu_peak_gflops() -> dict:
    """An estimate of the float32 peak: cores x GHz x FLOPs a cycle, read from
    /proc/cpuinfo (16 float32 lanes with AVX-512, 8 with AVX2, 4 otherwise; two fused
    multiply-add units of 2 FLOPs each). None where the file says nothing."""
    try:
        with open("/proc/cpuinfo") as file:
            text = file.read()
    except OSError:
        return {"gflops": None}
    flags = re.search(r"^flags\s*:(.*)$", text, re.MULTILINE)
    flags = set(flags.group(1).split()) if flags else set()
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.MULTILINE)]
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not mhz:
        return {"gflops": None, "lanes": lanes, "cores": cores}
    ghz = max(mhz) / 1000
    return {"gflops": cores * ghz * lanes * 2 * 2, "lanes": lanes, "cores": cores, "ghz": ghz}


def run(folder, quick: bool, say):
    from ..tools.plot import _figure, _save

    sizes = [32, 64, 128, 256, 512] if quick else [32, 64, 128, 256, 512, 1024, 2048]
    result = {"cpu": {name: {str(n): _gflops(n, dtype) for n in sizes}
                      for name, dtype in (("float32", np.float32), ("float64", np.float64))},
              "peak": cpu_peak_gflops()}
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        result["gpu"] = {"float32": {str(n): _gflops(n, np.float32, cupy) for n in sizes}}
    except Exception:  # no CuPy, or no GPU: the CPU's figures alone
        result["gpu"] = None
    figure = _figure(6.5, 4.2)
    ax = figure.subplots()
    for name, values in result["cpu"].items():
        ax.loglog(sizes, [values[str(n)] for n in sizes], marker="o", label=f"CPU {name}")
    if result["gpu"]:
        ax.loglog(sizes, [result["gpu"]["float32"][str(n)] for n in sizes], marker="o",
                  label="GPU float32 (CuPy)")
    peak = result["peak"]["gflops"]
    if peak:
        ax.axhline(peak, color="grey", linestyle="--", label=f"CPU float32 peak (est.) {peak:.0f}")
    ax.set_xlabel("n (an n x n by n x n product)")
    ax.set_ylabel("GFLOP/s")
    ax.legend(fontsize=8)
    ax.set_title(QUESTION, fontsize=9)
    _save(figure, folder / "matmul.png")
    f32, f64 = result["cpu"]["float32"], result["cpu"]["float64"]
    small, large = str(sizes[0]), str(sizes[-1])
    conclusion = (
        f"float32: {f32[small]:.1f} GFLOP/s at n = {small} (arithmetic intensity "
        f"{2 * sizes[0] / 3:.0f} FLOPs a number) and {f32[large]:.1f} at n = {large} "
        f"(intensity {2 * sizes[-1] / 3:.0f}); float64 {f64[large]:.1f} at n = {large}, "
        f"{f64[large] / f32[large]:.2f} of float32."
        + (f" The estimated float32 peak of these {result['peak']['cores']} cores is "
           f"{peak:.0f} GFLOP/s; the largest product reached {100 * f32[large] / peak:.0f} % "
           "of it." if peak else "")
        + (f" The GPU: {result['gpu']['float32'][large]:.0f} GFLOP/s at n = {large}."
           if result["gpu"] else " No GPU found (CuPy): a GPU's figure needs one."))
    say(conclusion)
    return result, conclusion
