"""nnscratch.distributed: one process is a world of size 1 (no MPI needed); the sampler's
shards; DistributedDataParallel's hook; and, under `mpiexec -n 2` (mpi4py and mpich are
dev dependencies), two ranks with batch B equal one process with batch 2B step for step,
and a rank that raises ends the whole job with an error instead of a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import distributed as dist
from nnscratch import functional as F
from nnscratch import nn

CHILD = Path(__file__).with_name("distributed_child.py")
MPIEXEC = Path(sys.executable).with_name("mpiexec")


def test_a_single_process_is_rank_0_of_a_world_of_1():
    assert not dist.launched_by_mpi()
    assert dist.init() == (0, 1) and dist.rank() == 0 and dist.world_size() == 1
    assert dist.is_main()
    dist.barrier()
    a = np.arange(3.0)
    assert dist.all_reduce(a) is a and a.tolist() == [0.0, 1.0, 2.0]
    assert dist.all_reduce(a, "mean").tolist() == [0.0, 1.0, 2.0]
    assert dist.broadcast(a) is a
    with pytest.raises(ValueError, match="op must be 'sum' or 'mean'"):
        dist.all_reduce(a, "max")
    with pytest.raises(TypeError, match="C-contiguous NumPy array"):
        dist.all_reduce(np.zeros((3, 3))[:, 0])


def test_sampler_shards_are_disjoint_cover_everything_and_follow_the_epoch():
    shards = [dist.DistributedSampler(10, num_replicas=3, rank=r, seed=1) for r in range(3)]
    indices = [s.indices() for s in shards]
    assert all(len(i) == len(s) == 4 for i, s in zip(indices, shards, strict=True))
    everything = np.concatenate(indices)
    assert sorted(set(everything.tolist())) == list(range(10))  # 12 slots: 2 repeats pad
    for s in shards:
        s.set_epoch(1)
    assert not np.array_equal(shards[0].indices(), indices[0])
    plain = dist.DistributedSampler(list(range(6)), num_replicas=2, rank=1, shuffle=False)
    assert list(plain) == [1, 3, 5]
    dropped = dist.DistributedSampler(7, num_replicas=2, rank=0, drop_last=True)
    assert len(dropped) == 3 == len(dropped.indices())
    with pytest.raises(ValueError, match=r"rank must lie in \[0, 2\), got 2"):
        dist.DistributedSampler(7, num_replicas=2, rank=2)


def test_ddp_in_one_process_is_the_model_and_can_skip_sync():
    ns.manual_seed(0)
    model = nn.Linear(3, 2)
    ddp = dist.DistributedDataParallel(model)
    x = ns.tensor(np.ones((4, 3), np.float32))
    np.testing.assert_array_equal(ddp(x).data, model(x).data)
    assert ddp.module is model and set(ddp.state_dict()) == {"module.weight", "module.bias"}
    with ddp.no_sync():
        F.mse_loss(ddp(x), ns.zeros(4, 2)).backward()
    assert model.weight.grad is not None
    ddp.close()
    with pytest.raises(TypeError, match="expected an nn.Module, got int"):
        dist.DistributedDataParallel(3)


def mpiexec(mode: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(CHILD), mode],
                          capture_output=True, text=True, timeout=120, env=env)


def test_two_ranks_with_batch_b_take_one_process_batch_2b_steps():
    done = mpiexec("equal")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK equal" in done.stdout


def test_a_rank_that_raises_ends_every_rank_with_its_error():
    done = mpiexec("raise")  # rank 0 waits in a barrier: without the abort, a timeout
    assert done.returncode != 0
    assert "rank 1 of 2" in done.stderr and "rank 1 fails on purpose" in done.stderr
