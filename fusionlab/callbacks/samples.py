"""Log a table of sample translations (hypothesis vs reference) to W&B after each evaluation."""

from __future__ import annotations

import lightning as L


def wandb_loggers(trainer: L.Trainer) -> list:
    """The trainer's WandbLogger instances (empty when W&B is not in use)."""
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


class SampleTranslationsTable(L.Callback):
    """Reads ``pl_module.samples`` (list of {index, hypothesis, reference}) filled by the
    translation task and logs them as a W&B table ``<stage>/samples``; no-op for other tasks.
    Uses the *_end hooks, which run after the module has filled ``samples``."""

    def __init__(self, max_rows: int = 20):
        self.max_rows = max_rows

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        samples = getattr(pl_module, "samples", None)
        if not samples or trainer.sanity_checking or not trainer.is_global_zero:
            return
        rows = [[s["index"], s["hypothesis"], s["reference"]] for s in samples[: self.max_rows]]
        for lg in wandb_loggers(trainer):
            lg.log_table(key=f"{stage}/samples", columns=["index", "hypothesis", "reference"],
                         data=rows, step=trainer.global_step)

    def on_validation_end(self, trainer, pl_module):
        self._log(trainer, pl_module, "val")

    def on_test_end(self, trainer, pl_module):
        self._log(trainer, pl_module, "test")
