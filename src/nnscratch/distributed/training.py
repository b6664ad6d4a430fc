"""What fit does differently when it runs on several ranks (fit(distributed=True), the
default under mpiexec). The contract, kept by the Trainer calling these methods:

- begin: every model's parameters and buffers become rank 0's; from then on, after each
  backward, every trainable parameter's .grad is the mean over the ranks (one
  post-backward hook, so a step of your own needs no extra call);
- shard: the training DataLoader becomes this rank's ShardedLoader (batch_size is per
  rank: N ranks with batch B step as one process with batch N * B);
- agree: stop decisions (a nan on one rank) are taken by all ranks together, so no rank
  waits for ever in an all-reduce that another has left;
- mean_logs: the epoch's logged values are the means over all ranks' samples;
- epoch_end: floating buffers (BatchNorm's running statistics) are averaged;
- validation runs whole on every rank (the same numbers everywhere, so early stopping and
  the scheduler decide alike), and only rank 0 prints or writes files (callbacks with
  `main_process_only = True`: checkpoints, loggers, pictures).
"""

from __future__ import annotations

import numpy as np

from .. import autograd, backend
from .comm import all_reduce, init, share_generator
from .ddp import average_buffers, average_gradients, broadcast_state
from .sampler import ShardedLoader


def can_shard(data) -> bool:
    """Whether fit can split `data` (fit's train_data) over ranks."""
    from ..data import DataLoader, Dataset

    return isinstance(data, (DataLoader, Dataset, tuple, list)) \
        or getattr(data, "random_batches", False)


class DrawnPerRank:
    """Batches that every pass draws at random from the project's generator
    (`random_batches = True`, e.g. random text windows): all ranks take rank 0's state,
    rank r jumps r times, so each rank draws batches of its own and a checkpoint (rank 0's
    state) resumes the same draws."""

    def __init__(self, batches, rank: int):
        self.batches, self.rank = batches, int(rank)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        share_generator()
        backend.jump_generator(self.rank)
        return iter(self.batches)


class DataParallelRun:
    """fit's side of data parallelism over the models of one run (see the module)."""

    def __init__(self, models):
        self.rank, self.world = init()
        self.models = list(models)
        self._hook = None

    def begin(self) -> None:
        broadcast_state(self.models)
        parameters = [p for model in self.models for p in model.parameters()]
        self._hook = autograd.register_post_backward_hook(
            lambda: average_gradients(parameters))

    def end(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def shard(self, loader, name: str = "train_data"):
        from ..data import DataLoader

        if getattr(loader, "random_batches", False):
            return DrawnPerRank(loader, self.rank)
        if not isinstance(loader, DataLoader):
            raise TypeError(
                f"distributed fit shards a DataLoader (or a Dataset, or arrays) over the "
                f"ranks, but {name} is a {type(loader).__name__} whose batches it cannot "
                "split: give fit arrays or a Dataset, or shard the data yourself "
                "(DistributedSampler) and pass distributed=False with a "
                "DistributedDataParallel model (an iterable whose every pass draws its "
                "batches from the project's generator says so with random_batches = True)")
        return ShardedLoader(loader, self.rank, self.world)

    def agree(self, *flags: bool) -> list[bool]:
        """Each flag: whether it holds on any rank."""
        if self.world == 1:
            return [bool(f) for f in flags]
        votes = all_reduce(np.array([float(bool(f)) for f in flags]))
        return [bool(v > 0) for v in votes]

    def mean_logs(self, logs: dict, samples: int) -> dict:
        """The mean of each logged value over the ranks, each rank weighing by its
        samples (every rank must log the same keys)."""
        if self.world == 1 or not logs:
            return logs
        keys = list(logs)  # the same code on every rank logs them in the same order
        totals = all_reduce(np.array([float(samples)] + [logs[k] * samples for k in keys]))
        return {k: float(t / totals[0]) for k, t in zip(keys, totals[1:], strict=True)}

    def epoch_end(self) -> None:
        average_buffers(self.models)
