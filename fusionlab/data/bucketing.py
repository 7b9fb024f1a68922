"""Length-bucketed training batches: less padding, same randomness.

:class:`BucketBatchSampler` draws the epoch's indices from an inner ``sampler`` (shuffled), cuts
them into chunks of ``chunk_batches`` batches, sorts each chunk by source length (ties broken by
target length, when given), slices it into batches and shuffles the batch order with ``seed`` and
the epoch. On Multi30K (batch 100) this cuts source padding from 54% to 3% and target padding
from 54% to 18%.

Distributed training: Lightning (``use_distributed_sampler=True``, the default) re-creates this
batch sampler with its ``sampler`` argument replaced by a ``DistributedSampler``, so each rank buckets
its own shard and every rank yields the same number of batches; Lightning calls
``sampler.set_epoch(epoch)``, which this class also reads for its batch shuffle. Outside Lightning,
pass a ``torch.utils.data.DistributedSampler`` yourself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler


class EpochShuffleSampler(Sampler[int]):
    """Random permutation of ``range(n)`` from ``seed`` and the epoch (``set_epoch``)."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = int(n), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class BucketBatchSampler(BatchSampler):
    """Batches of indices with similar ``lengths`` (see the module docstring).

    sampler: yields dataset indices (its order decides which sentences share a chunk).
    lengths: (N,) length of every dataset row, indexed by dataset index.
    tie_lengths: optional (N,) secondary sort key (e.g. target lengths).
    """

    def __init__(self, sampler: Sampler[int] | Sequence[int], lengths: Sequence[int], batch_size: int,
                 drop_last: bool = False, chunk_batches: int = 50, seed: int = 0,
                 tie_lengths: Sequence[int] | None = None):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.sampler = sampler
        self.lengths = np.asarray(lengths)
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.chunk_batches = max(1, int(chunk_batches))
        self.seed = int(seed)
        self.tie_lengths = np.zeros_like(self.lengths) if tie_lengths is None else np.asarray(tie_lengths)
        self._iterations = 0

    def _epoch(self) -> int:
        epoch = getattr(self.sampler, "epoch", None)
        return self._iterations if epoch is None else int(epoch)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        indices = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        chunk = self.chunk_batches * self.batch_size
        ordered = []
        for start in range(0, len(indices), chunk):
            part = indices[start:start + chunk]
            ordered.append(part[np.lexsort((self.tie_lengths[part], self.lengths[part]))])
        ordered = np.concatenate(ordered) if ordered else indices
        batches = [ordered[i:i + self.batch_size].tolist() for i in range(0, len(ordered), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        rng = np.random.default_rng([self.seed, self._epoch()])
        self._iterations += 1
        for b in rng.permutation(len(batches)):
            yield batches[b]


def padding_ratio(batches: list[list[int]], lengths: Sequence[int]) -> float:
    """Fraction of padded positions when each batch is padded to its longest row."""
    lengths = np.asarray(lengths)
    real = padded = 0
    for b in batches:
        lb = lengths[b]
        real += int(lb.sum())
        padded += int(lb.max()) * len(lb) if len(lb) else 0
    return 1.0 - real / padded if padded else 0.0


def bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int = 0, chunk_batches: int = 50,
                     tie_lengths: Sequence[int] | None = None) -> list[list[int]]:
    """One epoch of bucketed batches over all rows (for summaries and benchmarks)."""
    sampler = EpochShuffleSampler(len(lengths), seed)
    return list(BucketBatchSampler(sampler, lengths, batch_size, chunk_batches=chunk_batches, seed=seed,
                                   tie_lengths=tie_lengths))


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """One epoch of plain shuffled batches (the no-bucketing baseline)."""
    order = list(EpochShuffleSampler(n, seed))
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
