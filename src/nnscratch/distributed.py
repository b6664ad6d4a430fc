"""Data-parallel training over MPI: the same model on every process, each on its own
shard of the data, gradients averaged after every backward.

Run under an MPI launcher (`mpiexec -n 2 python train.py`); mpi4py talks to it. Without
a launcher a program is one process of a world of size 1 and needs no MPI installed.

    ns.distributed.init()                       # rank and world size from the launcher
    model = ns.distributed.DistributedDataParallel(model)   # weights broadcast from rank 0
    sampler = ns.distributed.DistributedSampler(len(x), shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                # the same permutation on every rank
        for batch in batches(list(sampler)):    # this rank's disjoint shard
            loss = loss_fn(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()                     # .grad is now the mean over the ranks
            optimizer.step()                    # unchanged: every rank takes the same step

The gradient average is one all-reduce of a flat buffer per dtype, run by a post-backward
hook of the engine (autograd.register_post_backward_hook), so nothing has to be called
between backward and step. With batch B on each of N ranks, a step equals one process's
step on the N*B samples together (tested with mpiexec -n 2). The collectives are mpi4py's
buffer calls (Allreduce, Bcast, Barrier), never the pickling ones.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from . import autograd
from .nn import Module

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

    from .parallel import set_num_threads

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


def broadcast(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite `array` on every rank with root's, in place; returns it."""
    init()
    _contiguous(array, "broadcast")
    if _state["comm"] is not None:
        _state["comm"].Bcast(array, root=root)
    return array


def all_reduce(array: np.ndarray, op: str = "sum") -> np.ndarray:
    """Replace `array` on every rank by the elementwise sum (op 'sum') or mean ('mean')
    over the ranks, in place; returns it."""
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce: op must be 'sum' or 'mean', got {op!r}")
    init()
    _contiguous(array, "all_reduce")
    comm = _state["comm"]
    if comm is not None:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        if op == "mean":
            array /= _state["size"]
    return array


class DistributedSampler:
    """The indices of this rank's shard of `length` samples (a length or a sized
    dataset): every epoch one permutation (seed + epoch, the same on every rank), padded
    by its first indices to a multiple of the world size, rank r taking positions r,
    r + N, r + 2N, ... Shards are disjoint and together cover every sample. set_epoch(e)
    before each epoch, as in PyTorch."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        self.length = dataset if isinstance(dataset, (int, np.integer)) else len(dataset)
        self.num_replicas = world_size() if num_replicas is None else int(num_replicas)
        self.rank = init()[0] if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must lie in [0, {self.num_replicas}), "
                             f"got {self.rank}")
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0
        if drop_last:
            self.per_rank = self.length // self.num_replicas
        else:
            self.per_rank = -(-self.length // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        order = (np.random.default_rng(self.seed + self.epoch).permutation(self.length)
                 if self.shuffle else np.arange(self.length))
        total = self.per_rank * self.num_replicas
        if total > len(order):
            order = np.concatenate([order, order[:total - len(order)]])
        return order[:total][self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.per_rank


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training (PyTorch's semantics): its parameters and
    buffers are broadcast from rank 0 now; calling this calls the module; after each
    backward that went through it, every parameter's .grad is the mean over the ranks
    (one all-reduce a dtype, from a post-backward hook). no_sync() skips the averaging,
    for gradient accumulation: the next backward outside it averages the sums.
    sync_buffers() averages buffers (BatchNorm's running statistics), e.g. at an epoch's
    end. `.module` is the wrapped model; state_dict keys start with "module."."""

    def __init__(self, module: Module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        for p in module.parameters():
            broadcast(p.data)
        for b in module.buffers():
            broadcast(b.data)
        object.__setattr__(self, "_pending", False)
        object.__setattr__(self, "_syncing", True)
        object.__setattr__(self, "_hook", autograd.register_post_backward_hook(self._reduce))

    def forward(self, *args, **kwargs):
        object.__setattr__(self, "_pending", True)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        object.__setattr__(self, "_syncing", False)
        try:
            yield
        finally:
            object.__setattr__(self, "_syncing", True)

    def _reduce(self) -> None:
        if not (self._pending and self._syncing):
            return
        object.__setattr__(self, "_pending", False)
        if world_size() == 1:
            return
        by_dtype: dict = {}
        for p in self.module.parameters():
            if p.requires_grad:
                if p.grad is None:  # unused this step: a zero gradient, so all ranks agree
                    p.grad = np.zeros_like(p.data)
                by_dtype.setdefault(p.grad.dtype, []).append(p)
        for params in by_dtype.values():
            flat = np.concatenate([p.grad.ravel() for p in params])
            all_reduce(flat, "mean")
            start = 0
            for p in params:  # each gradient becomes its own slice of the averaged buffer
                size = p.grad.size
                p.grad = flat[start:start + size].reshape(p.grad.shape)
                start += size

    def sync_buffers(self) -> None:
        """Average every floating buffer over the ranks (in place)."""
        for b in self.module.buffers():
            if b.data.dtype.kind == "f":
                all_reduce(b.data, "mean")

    def close(self) -> None:
        """Unregister the gradient hook (the wrapper then stops averaging)."""
        self._hook.remove()
