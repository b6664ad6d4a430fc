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

from .comm import (
    all_reduce,
    barrier,
    broadcast,
    broadcast_text,
    init,
    is_main,
    launched_by_mpi,
    local_ranks,
    rank,
    world_size,
)
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler, ShardedLoader

__all__ = ["DistributedDataParallel", "DistributedSampler", "ShardedLoader", "all_reduce",
           "barrier", "broadcast", "broadcast_text", "init", "is_main", "launched_by_mpi",
           "local_ranks", "rank", "world_size"]
