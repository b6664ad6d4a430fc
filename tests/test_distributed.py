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


def mpiexec(mode: str, *arguments: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    return subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(CHILD), mode,
                           *arguments], capture_output=True, text=True, timeout=120, env=env)


def test_two_ranks_with_batch_b_take_one_process_batch_2b_steps():
    done = mpiexec("equal")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK equal" in done.stdout


def test_a_rank_that_raises_ends_every_rank_with_its_error():
    done = mpiexec("raise")  # rank 0 waits in a barrier: without the abort, a timeout
    assert done.returncode != 0
    assert "rank 1 of 2" in done.stderr and "rank 1 fails on purpose" in done.stderr


def _assert_same_weights(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-12, atol=1e-13, err_msg=name)


def test_fit_on_two_ranks_is_one_process_with_twice_the_batch_and_checkpoints_cross(
        tmp_path):
    from distributed_child import PER_RANK, fit_run

    done = mpiexec("fit", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK fit" in done.stdout
    two_ranks = ns.load(tmp_path / "two_ranks.npz")
    # a checkpoint written under two ranks resumes in one process
    resumed, _ = fit_run(2, 2 * PER_RANK, tmp_path / "halfway",
                         resume_from=tmp_path / "halfway" / "last.npz")
    _assert_same_weights(resumed.state_dict(), two_ranks)
    # and one written by one process resumes under two ranks
    fit_run(1, 2 * PER_RANK, tmp_path / "one")
    done = mpiexec("resume", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_same_weights(ns.load(tmp_path / "resumed.npz"), two_ranks)


def test_two_ranks_train_a_model_on_a_device_through_host_buffers():
    done = mpiexec("device")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK device" in done.stdout


def test_fit_shards_only_what_it_can_split_and_one_rank_changes_nothing():
    from distributed_child import PER_RANK, fit_run

    plain, plain_history = fit_run(2, PER_RANK, distributed=False)
    alone, alone_history = fit_run(2, PER_RANK, distributed=True)  # a world of one rank
    _assert_same_weights(alone.state_dict(), plain.state_dict())
    assert alone_history.history == plain_history.history
    model = nn.Linear(2, 2)
    batches = [(ns.tensor(np.ones((2, 2), np.float32)), ns.tensor(np.zeros(2, np.int64)))]

    class Batches:
        def __iter__(self):
            return iter(batches)

        def __len__(self):
            return 1

    with pytest.raises(TypeError, match="cannot split: give fit arrays or a Dataset"):
        ns.train.fit(model, nn.CrossEntropyLoss(), ns.optim.SGD(model.parameters(), 0.1),
                     Batches(), progress=False, distributed=True)


def _train(out, *arguments: str, ranks: int = 2) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    command = [sys.executable, "-m", "nnscratch", "train", "spiral", "--epochs", "3",
               "--out", str(out), *arguments]
    if ranks > 1:
        command = [str(MPIEXEC), "-n", str(ranks), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)


def test_mpiexec_trains_a_recipe_as_one_process_would_and_rank_0_reports(tmp_path):
    import json

    done = _train(tmp_path / "two", "--batch-size", "16")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("run folder:") == 1 and done.stderr.count("epoch 3/3") == 1
    (folder,) = (tmp_path / "two").iterdir()
    assert json.loads((folder / "config.json").read_text())["ranks"] == 2
    alone = _train(tmp_path / "one", "--batch-size", "16", ranks=1)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    (single,) = (tmp_path / "one").iterdir()
    assert {p.name for p in folder.iterdir()} == {p.name for p in single.iterdir()}
    two_ranks = json.loads((folder / "test.json").read_text())
    one = json.loads((single / "test.json").read_text())
    assert two_ranks.keys() == one.keys()
    for key, value in one.items():  # batch 16 = 2 ranks of 8: the same training
        assert abs(two_ranks[key] - value) < 1e-5, (key, two_ranks[key], value)
    odd = _train(tmp_path / "odd", "--batch-size", "15")
    assert odd.returncode != 0 and "give a multiple of 2" in odd.stdout + odd.stderr
    assert not (tmp_path / "odd").exists()


def test_only_data_fit_can_split_is_data_parallel():
    from nnscratch.data import TensorDataset
    from nnscratch.data.text import StatefulBatches
    from nnscratch.distributed.training import can_shard
    from nnscratch.models.char_gpt import RandomWindowBatches

    ids = np.arange(200) % 7
    assert can_shard((np.zeros((4, 2)), np.zeros(4))) and can_shard(TensorDataset(ids))
    assert can_shard(RandomWindowBatches(ids, 8, 4, 3))
    assert not can_shard(StatefulBatches(ids, 4, 8))
