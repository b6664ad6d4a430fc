"""What is reproducible, and `use_deterministic_algorithms` for what is not by default.

By default the same seed gives bit-identical training on the same machine with the same
NumPy/BLAS build and the same number of BLAS threads, for any NNSCRATCH_NUM_THREADS (the
batch splits of parallel.py always add their parts in one fixed order).

The BLAS thread count is the one thing that varies by itself: OpenBLAS uses as many
threads as there are cores it may run on, and with more than one it may split the inner
dimension of a large matrix product and add the parts in another order, so a run under
`taskset -c 0`, in a smaller container, or with OPENBLAS_NUM_THREADS set differs in the
last bits, and training carries the difference on (up to ~1e-2 in weights after epochs).

`use_deterministic_algorithms(True)` (PyTorch's name) pins every BLAS library NumPy loaded
to one thread, through threadpoolctl, so results no longer depend on the cores available
either; matrix products lose their BLAS threading (nnscratch's own threads remain).

Never promised, in any mode: equality across CPU kinds (BLAS picks other kernels for other
instruction sets), NumPy or BLAS versions, the GPU and the CPU, or with PyTorch.
"""

from __future__ import annotations

_limiter = None  # the threadpoolctl limit while deterministic mode is on


def use_deterministic_algorithms(mode: bool) -> None:
    """Turn deterministic mode on (every BLAS on one thread) or off (the thread counts
    from before are put back)."""
    global _limiter
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms expects True or False, got {mode!r}")
    from threadpoolctl import threadpool_limits  # only needed when asked for

    if mode and _limiter is None:
        _limiter = threadpool_limits(limits=1, user_api="blas")
    elif not mode and _limiter is not None:
        _limiter.restore_original_limits()
        _limiter = None


def are_deterministic_algorithms_enabled() -> bool:
    """Whether `use_deterministic_algorithms(True)` is in effect."""
    return _limiter is not None
