"""The MPI world: rank and size from the launcher (mpi4py's COMM_WORLD), and the
collectives on arrays, through mpi4py's buffer calls (Allreduce, Bcast, Barrier), never
the pickling ones. Without a launcher a program is rank 0 of a world of size 1 and needs
no MPI installed."""

from __future__ import annotations

import os

import numpy as np

_LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK",
                       "HYDRA_CONTROL_FD")
_state = {"comm": None, "rank": 0, "size": 1, "initialised": False}


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (its environment says so)."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _abort_all_on_error(comm) -> None:
    """An uncaught error on one rank would leave the others waiting in a collective for
    ever: print it (with the rank) and abort the whole job, so every rank exits non-zero."""
    import sys
    import traceback

    def abort(kind, error, trace):
        sys.stderr.write(f"rank {comm.Get_rank()} of {comm.Get_size()}: "
                         + "".join(traceback.format_exception(kind, error, trace)))
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = abort


def local_ranks(comm) -> int:
    """How many ranks of the job run on this machine (a shared-memory split of the world)."""
    from mpi4py import MPI

    return comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()


def _share_the_cores(comm) -> None:
    """Each rank's thread pool and BLAS get cores / local ranks threads (at least 1), so
    ranks on one machine do not oversubscribe it."""
    from threadpoolctl import threadpool_limits

    from ..parallel import set_num_threads

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // local_ranks(comm))
    set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


def init() -> tuple[int, int]:
    """(rank, world size). Under an MPI launcher, through mpi4py's COMM_WORLD (an
    ImportError saying what to install when mpi4py is missing); an uncaught error on any
    rank then aborts every rank, and each rank's threads are cores / local ranks;
    otherwise (0, 1)."""
    if not _state["initialised"]:
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError:
                raise ImportError("nnscratch.distributed: this process was started by an MPI "
                                  "launcher but mpi4py is not installed (pip install mpi4py "
                                  "mpich)") from None
            comm = MPI.COMM_WORLD
            _state.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
            _abort_all_on_error(comm)
            _share_the_cores(comm)
        _state["initialised"] = True
    return _state["rank"], _state["size"]


def rank() -> int:
    return init()[0]


def world_size() -> int:
    return init()[1]


def is_main() -> bool:
    """Rank 0: the one that prints, logs and writes files."""
    return rank() == 0


def barrier() -> None:
    init()
    if _state["comm"] is not None:
        _state["comm"].Barrier()


def _contiguous(array: np.ndarray, who: str) -> np.ndarray:
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise TypeError(f"{who}: expected a C-contiguous NumPy array (the buffer MPI sends), "
                        f"got {type(array).__name__}"
                        + ("" if not isinstance(array, np.ndarray) else " not contiguous"))
    return array


def _through_host(array, collective):
    """A device's array (CuPy, the strict stand-in) goes through a host copy: MPI sends
    host buffers. Written back in place; returns `array`."""
    from .. import backend

    host = np.ascontiguousarray(backend.to_host(array))
    collective(host)
    array[...] = backend.to_device(host, backend.device_of(array))
    return array


def broadcast(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite `array` on every rank with root's, in place; returns it."""
    init()
    if hasattr(array, "get") and not isinstance(array, np.ndarray):
        return _through_host(array, lambda host: broadcast(host, root))
    _contiguous(array, "broadcast")
    if _state["comm"] is not None:
        _state["comm"].Bcast(array, root=root)
    return array


def broadcast_text(text: str | None, root: int = 0) -> str:
    """Root's string on every rank (its UTF-8 bytes in two Bcasts: length, then bytes);
    the other ranks may pass None."""
    if world_size() == 1:
        return text
    data = np.frombuffer((text or "").encode(), dtype=np.uint8) if rank() == root else None
    length = broadcast(np.array([0 if data is None else data.size], dtype=np.int64), root)
    buffer = data.copy() if data is not None else np.empty(int(length[0]), dtype=np.uint8)
    return broadcast(buffer, root).tobytes().decode()


def all_reduce(array: np.ndarray, op: str = "sum") -> np.ndarray:
    """Replace `array` on every rank by the elementwise sum (op 'sum') or mean ('mean')
    over the ranks, in place; returns it."""
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    init()
    if hasattr(array, "get") and not isinstance(array, np.ndarray):
        return _through_host(array, lambda host: all_reduce(host, op))
    _contiguous(array, "all_reduce")
    comm = _state["comm"]
    if comm is not None:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        if op == "mean":
            array /= _state["size"]
    return array


def _pcg64_words(state: dict) -> np.ndarray:
    mask = (1 << 64) - 1
    s, inc = state["state"]["state"], state["state"]["inc"]
    return np.array([s & mask, s >> 64, inc & mask, inc >> 64, state["has_uint32"],
                     state["uinteger"]], dtype=np.uint64)


def share_generator() -> None:
    """Give every rank rank 0's generator state (six 64-bit words of PCG64, one Bcast)."""
    from .. import backend

    if world_size() == 1:
        return
    state = backend.get_rng_state()
    words = broadcast(_pcg64_words(state))
    w = [int(v) for v in words]
    backend.set_rng_state({**state, "state": {"state": w[0] | w[1] << 64,
                                              "inc": w[2] | w[3] << 64},
                           "has_uint32": w[4], "uinteger": w[5]})
