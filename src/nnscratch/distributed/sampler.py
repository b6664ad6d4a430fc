"""Each rank's disjoint shard of the sample indices: DistributedSampler for loops of
your own, ShardedLoader for fit."""

from __future__ import annotations

import numpy as np

from .. import backend
from .comm import init, share_generator, world_size


def rank_share(order: np.ndarray, per_rank: int, rank: int, world: int) -> np.ndarray:
    """Rank `rank`'s positions rank, rank + world, ... of `order` cut or padded (by its
    first indices) to per_rank * world: shards disjoint but for the padding, and
    together all of order."""
    total = per_rank * world
    if total > len(order):
        order = np.concatenate([order, order[:total - len(order)]])
    return order[:total][rank::world]


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
        return rank_share(order, self.per_rank, self.rank, self.num_replicas)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.per_rank


class ShardedLoader:
    """This rank's batches of a DataLoader's epoch, for data-parallel fit.

    Every epoch all ranks take rank 0's generator state (share_generator), draw the
    DataLoader's permutation from it (the same on every rank), pad it by its first
    indices to a multiple of the world size, and rank r serves positions r, r + N, ...
    in batches of the loader's batch_size. Global batch k is then the loader's batch k of
    N * batch_size samples, split evenly, so N ranks step as one process with batch
    N * batch_size would (padding repeats at most N - 1 samples an epoch, as PyTorch's
    DistributedSampler does). After the draw rank r's generator jumps r times: dropout
    masks differ between ranks; rank 0's stream, the one checkpoints keep, is untouched."""

    def __init__(self, loader, rank: int, world: int):
        self.loader, self.rank, self.world = loader, int(rank), int(world)

    @property
    def per_rank(self) -> int:
        return -(-len(self.loader.dataset) // self.world)

    def __len__(self) -> int:
        batch = self.loader.batch_size
        return self.per_rank // batch if self.loader.drop_last else -(-self.per_rank // batch)

    def __iter__(self):
        share_generator()
        n = len(self.loader.dataset)
        order = backend.generator().permutation(n) if self.loader.shuffle else np.arange(n)
        mine = rank_share(order, self.per_rank, self.rank, self.world)
        backend.jump_generator(self.rank)
        return iter(self.loader.batches(mine))

    def __repr__(self) -> str:
        return f"ShardedLoader(rank {self.rank} of {self.world}, {self.loader!r})"
