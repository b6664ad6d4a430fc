"""NumPy work on several cores: the batch cut into chunks, one thread per chunk.

NumPy runs each op on one core, but its ufunc loops and copies release the GIL, so
threads that run the same ops on their own part of the batch (writing disjoint parts of
the output) do run at once. The result is the same, bit for bit, for any number of
threads: nothing is summed across chunks. Matrix products need none of this (BLAS has
its own threads); it is for the memory-bound work around them: copies, pooling,
activations, which would otherwise leave the other cores idle.

The number of threads is the number of cores this process may use, as PyTorch's
default; `set_num_threads` or the NNSCRATCH_NUM_THREADS variable change it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Below this many elements a chunk's thread hand-off costs more than it saves.
MIN_ELEMENTS = 1 << 15


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_threads(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: expected a positive int, got {value!r}")
    return int(value)


def _from_environment() -> int:
    text = os.environ.get("NNSCRATCH_NUM_THREADS", "").strip()
    if not text:
        return _cores()
    try:
        value = int(text)
    except ValueError:
        value = text
    return _check_threads(value, "NNSCRATCH_NUM_THREADS")


_threads = _from_environment()
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_inside = threading.local()  # set in the pool's threads: no nested splitting


def get_num_threads() -> int:
    """How many threads the batch-parallel ops use."""
    return _threads


def set_num_threads(threads: int) -> None:
    """Use `threads` threads (>= 1) for the batch-parallel ops; 1 runs everything here."""
    global _threads, _pool
    threads = _check_threads(threads, "set_num_threads")
    with _lock:
        if _pool is not None and threads != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = threads


def _forget_pool_after_fork() -> None:
    """A forked child has none of the parent's threads: its first split starts a new pool
    (the parent's would wait forever for workers that do not exist)."""
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _worker_start() -> None:
    _inside.active = True


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="nnscratch",
                                       initializer=_worker_start)
        return _pool


_blas_controller = None


def one_blas_thread():
    """A context that holds every BLAS library NumPy loaded to one thread: for threads
    that each run their own matrix products on their part of the work (the recurrences'
    time loops, the convolutions' blocked products), where BLAS's own threads would
    compete with them, and whose numbers must not depend on BLAS's thread count."""
    global _blas_controller
    if _blas_controller is None:  # finding the libraries costs ~ms: once per process
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


# Elements per piece of over_pieces: a chain of passes over a piece stays in the outer
# cache, and there are few pieces, each costing its dozen NumPy calls (~0.15 ms of
# Python; measured on 2 cores, the U-Net's group norms at 2^16 were slower than in one
# piece, 2^20 fastest).
PIECE_ELEMENTS = 1 << 20


def over_pieces(n: int, per_item: int, fn, work) -> None:
    """fn(piece) for consecutive slices of range(n) of about PIECE_ELEMENTS elements (each
    item holding per_item), the pieces shared among the threads (over_batch), with BLAS
    on one thread (fn's small products are its own). For ops whose items never meet
    (the samples of a group norm), whose several passes then read and write a piece while
    it is in cache. Device arrays: fn(slice(0, n)) once."""
    if not isinstance(work, np.ndarray):
        fn(slice(0, n))
        return
    step = max(1, PIECE_ELEMENTS // max(per_item, 1))

    def run(chunk: slice) -> None:
        for start in range(chunk.start, chunk.stop, step):
            fn(slice(start, min(start + step, chunk.stop)))

    with one_blas_thread():
        over_batch(n, run, work)


def over_batch(n: int, fn, work) -> None:
    """Call fn(chunk) for slices `chunk` that cut range(n) into one piece per thread, at
    once. `work`: the largest array involved; when it is small, or not a NumPy array
    (CuPy has its own parallelism), fn(slice(0, n)) runs alone, here."""
    chunks = min(_threads, n)
    if (chunks <= 1 or not isinstance(work, np.ndarray) or work.size < MIN_ELEMENTS
            or getattr(_inside, "active", False)):
        fn(slice(0, n))
        return
    bounds = [n * i // chunks for i in range(chunks + 1)]
    pool = _get_pool()
    futures = [pool.submit(fn, slice(bounds[i], bounds[i + 1])) for i in range(1, chunks)]
    try:
        fn(slice(bounds[0], bounds[1]))
    finally:
        for future in futures:
            future.result()  # waits, and raises a chunk's exception here
