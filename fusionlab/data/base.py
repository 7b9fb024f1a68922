"""Base DataModule: every dataset family subclasses it and implements :meth:`load`.

Contract with the task modules and the CLI:
- ``prepare_data()`` does one-time work (generate embedded data, build tokenizer/caches) on rank 0;
- ``setup(stage)`` calls :meth:`load` once and fills ``self.spec`` (:class:`DataSpec`),
  ``self.splits`` (name -> map-style Dataset of sample dicts, see ``collate.py``) and, for
  translation, ``self.tgt_tokenizer`` (has ``decode(ids) -> str``);
- ``train/val/test_dataloader`` yield :class:`Batch`; ``test_dataloader`` returns one loader per name
  in ``self.test_names`` (``dataloader_idx`` follows that order).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

# imported at module level on purpose: Lightning records a BatchSampler subclass's constructor
# arguments (to re-create it with a DistributedSampler under DDP) only for classes defined
# before the dataloader hooks run
from fusionlab.contracts import EvalContext
from fusionlab.data.bucketing import BucketBatchSampler, EpochShuffleSampler
from fusionlab.data.collate import Collator
from fusionlab.data.spec import DataSpec


class FusionDataModule(L.LightningDataModule):
    """Shared loader plumbing. ``batch_size`` is per device (per process) under DDP."""

    def __init__(self, data_dir: str, batch_size: int = 100, eval_batch_size: int | None = None,
                 num_workers: int = 0, seed: int = 0, test_names: list[str] | None = None):
        super().__init__()
        self.data_dir = str(data_dir)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.test_names: list[str] = list(test_names or ["test"])
        self.spec: DataSpec | None = None
        self.splits: dict[str, Dataset] = {}
        self.tgt_tokenizer: Any = None
        self.tgt_lang: str = "en"  # translation: target language code (subclasses set it)
        # set by the CLI (fusionlab.run.threads.WorkerThreads): runs first in every DataLoader worker
        self.worker_init_fn: Any = None
        #: length-bucketed train batches (translation sets; see :meth:`bucket_lengths`)
        self.bucketing: bool = False

    # --- to implement -----------------------------------------------------------------------
    def load(self) -> None:
        """Fill self.spec, self.splits ("train", "val" and every name in test_names), tokenizers."""
        raise NotImplementedError

    def bucket_lengths(self, split: str) -> tuple[Any, Any] | None:
        """(source lengths (N,), target lengths (N,) or None) of ``split`` for length bucketing;
        None (the default) when the split's samples have no lengths to bucket by."""
        return None

    # --- shared -------------------------------------------------------------------------------
    def evaluation_context(self) -> EvalContext:
        """What the task's evaluation needs besides batches: the test set names and, for
        translation, the target tokenizer's decoding, its lowercasing and the target language."""
        tok = self.tgt_tokenizer
        return EvalContext(set_names=list(self.test_names), decode=None if tok is None else tok.decode,
                           lowercase=bool(tok is not None and tok.lowercase), tgt_lang=str(self.tgt_lang))

    def setup(self, stage: str | None = None) -> None:
        if self.spec is None:
            self.load()

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        dataset = self.splits[split]
        lengths = self.bucket_lengths(split) if shuffle and self.bucketing else None
        if lengths is not None:
            # length-bucketed train batches (fusionlab/data/bucketing.py); Lightning injects its
            # DistributedSampler into the batch sampler under DDP
            batch_sampler = BucketBatchSampler(EpochShuffleSampler(len(dataset), self.seed), lengths[0],
                                               batch_size, seed=self.seed, tie_lengths=lengths[1])
            return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=self.num_workers,
                              collate_fn=Collator(self.spec), persistent_workers=self.num_workers > 0,
                              worker_init_fn=self.worker_init_fn)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, collate_fn=Collator(self.spec),
                          persistent_workers=self.num_workers > 0, worker_init_fn=self.worker_init_fn)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(name, False, self.eval_batch_size) for name in self.test_names]
