"""Base callback: per-sample records from every test batch, gathered once per sample across ranks.

The task modules return their :class:`~fusionlab.fusion.base.FusionOutput` from ``test_step``; a
subclass turns (module, output, batch) into ``(index, ...)`` tuples. At the end of the test epoch the
records of every rank are gathered (:func:`~fusionlab.tasks.gather.gather_unique` drops the
DistributedSampler's padding repeats) and :meth:`report` runs on global rank 0, once per test set.
"""

from __future__ import annotations

import lightning as L

from fusionlab.data.batch import Batch
from fusionlab.fusion.base import FusionOutput
from fusionlab.tasks.gather import gather_unique


class TestRecordsCallback(L.Callback):
    """max_samples: keep at most this many records per test set and rank (None = all)."""

    def __init__(self, max_samples: int | None = None):
        self.max_samples = None if max_samples is None else int(max_samples)
        self._records: dict[int, list[tuple]] = {}

    # --- to implement -------------------------------------------------------------------------
    def applies_to(self, pl_module: L.LightningModule) -> bool:
        """Whether this callback has anything to do for this task (must agree on every rank)."""
        return True

    def records_of(self, pl_module: L.LightningModule, out: FusionOutput, batch: Batch) -> list[tuple]:
        raise NotImplementedError

    def report(self, trainer: L.Trainer, pl_module: L.LightningModule, records: list[tuple],
               prefix: str) -> None:
        """prefix: ``test``, or ``test/<set name>`` when the datamodule has several test sets."""
        raise NotImplementedError

    # --- hooks --------------------------------------------------------------------------------
    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._records = {}

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not isinstance(outputs, FusionOutput) or not self.applies_to(pl_module):
            return
        kept = self._records.setdefault(dataloader_idx, [])
        room = None if self.max_samples is None else self.max_samples - len(kept)
        if room is not None and room <= 0:
            return
        kept.extend(self.records_of(pl_module, outputs, batch)[:room])

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not self.applies_to(pl_module):
            return
        names = pl_module.test_set_names()
        for idx, name in enumerate(names):
            records = gather_unique(self._records.get(idx, []))  # a collective: every rank calls it
            if self.max_samples is not None:
                records = records[: self.max_samples]
            if records and trainer.is_global_zero:
                self.report(trainer, pl_module, records, f"test/{name}" if len(names) > 1 else "test")
        self._records = {}
