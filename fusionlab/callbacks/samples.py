"""Sample translations (source, reference, hypothesis) after each evaluation: written to
``<run>/samples_val.tsv`` / ``samples_test.tsv`` and logged as the W&B table ``<stage>/samples``."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from fusionlab import atomic
from fusionlab.callbacks.evaluation import EvaluationCallback
from fusionlab.contracts import TEXT, EvalResult

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
    atomic.write_text(path, "\n".join("\t".join(one_line(c) for c in row) for row in [COLUMNS, *rows]) + "\n")
    return path


class SampleTranslationsTable(EvaluationCallback):
    """The first ``max_rows`` sentences (by dataset index, so every epoch shows the same ones) of each
    translation evaluation, from the result's records (source, reference, hypothesis). Files:
    ``<out_dir>/samples_val.tsv`` (the latest validation), ``samples_test.tsv``
    (``samples_test_<set>.tsv`` per set with several test sets); ``out_dir`` defaults to the
    trainer's default_root_dir (the run folder). No-op for other tasks. Written on global rank 0,
    from the records of every rank."""

    def __init__(self, max_rows: int = 20, out_dir: str | Path | None = None):
        self.max_rows = max_rows
        self.out_dir = out_dir
        self.written: dict[str, Path] = {}  # stage file name -> path, for tests and end-of-run summaries

    def on_evaluation(self, trainer: L.Trainer, result: EvalResult) -> None:
        if result.kind != TEXT or not trainer.is_global_zero:
            return
        name = f"samples_{result.stage}_{result.set_name}" if result.several else f"samples_{result.stage}"
        table = [[r.index, r.source or "", r.target, r.prediction] for r in result.records[: self.max_rows]]
        self.written[name] = write_tsv(Path(self.out_dir or trainer.default_root_dir) / f"{name}.tsv", table)
        for lg in wandb_loggers(trainer):
            lg.log_table(key=f"{result.prefix}/samples", columns=COLUMNS, data=table,
                         step=trainer.global_step)
