"""Sample translations (source, reference, hypothesis) after each evaluation: written to
``<run>/samples_val.tsv`` / ``samples_test.tsv`` and logged as the W&B table ``<stage>/samples``."""

from __future__ import annotations

from pathlib import Path

import lightning as L

COLUMNS = ["index", "source", "reference", "hypothesis"]


def wandb_loggers(trainer: L.Trainer) -> list:
    """The trainer's WandbLogger instances (empty when W&B is not in use)."""
    from lightning.pytorch.loggers import WandbLogger

    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def one_line(text: str) -> str:
    """A sentence as one TSV cell: tabs and line breaks become spaces."""
    return " ".join(str(text).split())


def write_tsv(path: Path, rows: list[list]) -> Path:
    """``rows`` under a header line, tab-separated, written atomically (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join("\t".join(one_line(c) for c in row) for row in [COLUMNS, *rows]) + "\n")
    tmp.replace(path)
    return path


class SampleTranslationsTable(L.Callback):
    """The first ``max_rows`` sentences (by dataset index, so every epoch shows the same ones) of each
    translation evaluation, from the task's per-batch records ``(index, hypothesis, reference)`` and
    the batch's raw ``source_text``. Files: ``<out_dir>/samples_val.tsv`` (the latest validation),
    ``samples_test.tsv`` (``samples_test_<set>.tsv`` per set with several test sets); ``out_dir``
    defaults to the trainer's default_root_dir (the run folder). No-op for other tasks. Under DDP
    rank 0 writes the sentences it evaluated."""

    def __init__(self, max_rows: int = 20, out_dir: str | Path | None = None):
        self.max_rows = max_rows
        self.out_dir = out_dir
        self.written: dict[str, Path] = {}  # stage file name -> path, for tests and end-of-run summaries
        self._rows: dict[int, dict[int, list]] = {}  # dataloader_idx -> {dataset index: row}

    @staticmethod
    def _is_translation(pl_module) -> bool:
        from fusionlab.tasks.translation import TranslationTask

        return isinstance(pl_module, TranslationTask)

    def _collect(self, trainer, pl_module, batch, dataloader_idx: int) -> None:
        if trainer.sanity_checking or not self._is_translation(pl_module):
            return
        sources = (batch.meta or {}).get("source_text") or [""] * len(batch)
        rows = self._rows.setdefault(dataloader_idx, {})
        for (index, hypothesis, reference), source in zip(pl_module.last_eval_records, sources):
            rows[int(index)] = [int(index), source, reference, hypothesis]

    def _write(self, trainer, pl_module, stage: str) -> None:
        collected, self._rows = self._rows, {}
        if not collected or not trainer.is_global_zero:
            return
        names = pl_module.test_set_names() if stage == "test" else ["val"]
        out_dir = Path(self.out_dir or trainer.default_root_dir)
        for idx, rows in sorted(collected.items()):
            name = f"samples_{stage}" if len(names) == 1 else f"samples_{stage}_{names[idx]}"
            table = [rows[i] for i in sorted(rows)[: self.max_rows]]
            self.written[name] = write_tsv(out_dir / f"{name}.tsv", table)
            key = f"{stage}/samples" if len(names) == 1 else f"{stage}/{names[idx]}/samples"
            for lg in wandb_loggers(trainer):
                lg.log_table(key=key, columns=COLUMNS, data=table, step=trainer.global_step)

    def on_validation_epoch_start(self, trainer, pl_module):
        self._rows = {}

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._collect(trainer, pl_module, batch, dataloader_idx)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self._collect(trainer, pl_module, batch, dataloader_idx)

    def on_validation_epoch_end(self, trainer, pl_module):
        self._write(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer, pl_module):
        self._write(trainer, pl_module, "test")
