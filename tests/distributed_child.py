"""Run under `mpiexec -n 2` by test_distributed.py: `equal` checks that two ranks with
batch B each take the same steps as one process with batch 2B; `raise` makes rank 1 fail
while rank 0 waits in a barrier (the job must end, non-zero, not hang)."""

import os
import sys

import numpy as np

import nnscratch as ns
from nnscratch import distributed as dist
from nnscratch import functional as F
from nnscratch import nn, optim


def equal() -> None:
    rank, size = dist.init()
    assert size == 2, size
    ns.set_default_dtype(np.float64)
    ns.manual_seed(rank)  # different on purpose: DDP must broadcast rank 0's weights
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    ddp = dist.DistributedDataParallel(model)
    ns.manual_seed(0)
    reference = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    reference.load_state_dict(model.state_dict())  # rank 0's weights after the broadcast
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 4)), rng.integers(0, 3, 24)
    ours = optim.SGD(ddp.parameters(), lr=0.5, momentum=0.9)
    theirs = optim.SGD(reference.parameters(), lr=0.5, momentum=0.9)
    for step in range(3):
        rows = slice(8 * step, 8 * step + 8)
        local = slice(8 * step + 4 * rank, 8 * step + 4 * rank + 4)
        loss = F.cross_entropy(ddp(ns.tensor(x[local])), ns.tensor(y[local]))
        ours.zero_grad()
        loss.backward()
        ours.step()
        full = F.cross_entropy(reference(ns.tensor(x[rows])), ns.tensor(y[rows]))
        theirs.zero_grad()
        full.backward()
        theirs.step()
    expected = reference.state_dict()
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-12, atol=1e-14, err_msg=name)
    sampler = dist.DistributedSampler(10, shuffle=True, seed=3)
    shard = np.array(sampler.indices())
    both = np.empty(2 * len(shard), dtype=shard.dtype)
    from mpi4py import MPI

    MPI.COMM_WORLD.Allgather(shard, both)
    assert sorted(set(both.tolist())) == list(range(10)), both
    from threadpoolctl import threadpool_info

    cores = len(os.sched_getaffinity(0))
    assert ns.get_num_threads() == max(1, cores // 2), ns.get_num_threads()
    assert all(pool["num_threads"] == max(1, cores // 2) for pool in threadpool_info()
               if pool["user_api"] == "blas")
    if dist.is_main():
        print("OK equal", flush=True)


def fail() -> None:
    rank, _ = dist.init()
    if rank == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.barrier()  # rank 0 waits for a rank that never comes


if __name__ == "__main__":
    {"equal": equal, "raise": fail}[sys.argv[1]]()
