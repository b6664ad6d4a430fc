"""Run under `mpiexec -n 2` by test_distributed.py: `equal` checks that two ranks with
batch B each take the same steps as one process with batch 2B; `fit DIR` does so for fit
(and its checkpoints, logs, BatchNorm statistics and generator streams); `resume DIR`
continues a single process's checkpoint on two ranks; `raise` makes rank 1 fail while
rank 0 waits in a barrier (the job must end, non-zero, not hang). `build` and `fit_run`
are shared with the single-process side of the tests."""

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


PER_RANK = 4  # two ranks of 4 = one process of 8; 30 samples: the last batch is 6 = 3 + 3


def build(batch_norm: bool = False):
    ns.set_default_dtype(np.float64)
    ns.manual_seed(0)
    layers = [nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)]
    if batch_norm:
        layers.insert(1, nn.BatchNorm1d(8))
    model = nn.Sequential(*layers)
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((30, 5)), rng.integers(0, 3, 30))
    return model, optim.SGD(model.parameters(), lr=0.3, momentum=0.9), data


def fit_run(epochs: int, batch_size: int, folder=None, resume_from=None, batch_norm=False,
            distributed=None, device=None):
    """(model, history) of the shared little run, checkpointing into `folder`, the model
    on `device` (default the CPU)."""
    model, optimizer, data = build(batch_norm)
    if device is not None:
        model.to(device)
    callbacks = [] if folder is None else [ns.train.ModelCheckpoint(folder, monitor="loss")]
    history = ns.train.fit(model, nn.CrossEntropyLoss(), optimizer, data, epochs=epochs,
                           batch_size=batch_size, progress=False, callbacks=callbacks,
                           resume_from=resume_from, distributed=distributed)
    return model, history


def _same_on_every_rank(value: np.ndarray) -> bool:
    from mpi4py import MPI

    both = np.empty((2,) + value.shape, dtype=value.dtype)
    MPI.COMM_WORLD.Allgather(np.ascontiguousarray(value), both)
    return bool(np.array_equal(both[0], both[1]))


def fit_on_two_ranks(folder: str) -> None:
    from pathlib import Path

    rank, size = dist.init()
    assert size == 2, size
    folder = Path(folder)
    model, history = fit_run(2, PER_RANK, folder / "uninterrupted")
    reference, expected = fit_run(2, 2 * PER_RANK, distributed=False)
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name], value, rtol=1e-12, atol=1e-13,
                                   err_msg=name)
    # the logs are means over both ranks' samples: the one process's numbers
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-12)
    np.testing.assert_allclose(history.history["accuracy"], expected.history["accuracy"],
                               rtol=1e-12)
    # rank 0 alone writes; a resumed run under two ranks equals the uninterrupted one
    assert (folder / "uninterrupted" / "last.npz").is_file()
    fit_run(1, PER_RANK, folder / "halfway")
    resumed, _ = fit_run(2, PER_RANK, folder / "halfway",
                         resume_from=folder / "halfway" / "last.npz")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)
    if rank == 0:
        ns.save(model.state_dict(), folder / "two_ranks.npz")
    # BatchNorm's running statistics are averaged at each epoch end
    normed, _ = fit_run(1, PER_RANK, batch_norm=True)
    assert _same_on_every_rank(normed[1].running_mean.data)
    assert _same_on_every_rank(normed[1].running_var.data)
    # the same permutation everywhere, then one stream of draws per rank
    loader = dist.ShardedLoader(ns.data.DataLoader(ns.data.TensorDataset(np.arange(30.0)),
                                                   batch_size=4, shuffle=True), rank, 2)
    first = np.concatenate([b[0].data for b in loader])
    assert not _same_on_every_rank(ns.backend.generator().random(3))
    assert len(first) == 15 and len(loader) == 4
    from mpi4py import MPI

    both = np.empty(30)
    MPI.COMM_WORLD.Allgather(first, both)
    assert sorted(both.tolist()) == list(range(30))
    if rank == 0:
        print("OK fit", flush=True)


def fit_on_two_ranks_on_a_device() -> None:
    """Gradients and weights of a model on the strict device travel through the host."""
    model, history = fit_run(2, PER_RANK, device="strict")
    reference, expected = fit_run(2, 2 * PER_RANK, distributed=False)
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(ns.backend.to_host(model.state_dict()[name]), value,
                                   rtol=1e-12, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-12)
    if dist.is_main():
        print("OK device", flush=True)


def resume_on_two_ranks(folder: str) -> None:
    from pathlib import Path

    folder = Path(folder)
    model, _ = fit_run(2, PER_RANK, folder / "one", resume_from=folder / "one" / "last.npz")
    if dist.is_main():
        ns.save(model.state_dict(), folder / "resumed.npz")
        print("OK resume", flush=True)


def fail() -> None:
    rank, _ = dist.init()
    if rank == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.barrier()  # rank 0 waits for a rank that never comes


if __name__ == "__main__":
    modes = {"equal": equal, "raise": fail, "fit": fit_on_two_ranks,
             "resume": resume_on_two_ranks, "device": fit_on_two_ranks_on_a_device}
    modes[sys.argv[1]](*sys.argv[2:])
