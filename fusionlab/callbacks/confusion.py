"""Confusion matrices of the test set for classification tasks, as PNG and W&B images.

protocol ``mult`` (IEMOCAP/MulT): one 2x2 matrix per emotion (rows: true not-X / X, columns:
predicted); protocol ``fourway``: one CxC matrix over the emotions. Regression and translation
tasks are skipped. Counts cover exactly the test set (gathered across DDP ranks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionlab.callbacks.figures import new_figure, save_and_log
from fusionlab.callbacks.test_records import TestRecordsCallback


def confusion_counts(pred: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) predicted and true class ids -> (n_classes, n_classes) counts, rows = truth."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (target.astype(np.int64), pred.astype(np.int64)), 1)
    return counts


def draw_matrix(ax, counts: np.ndarray, labels: list[str], title: str) -> None:
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    top = counts.max() if counts.size else 0
    for (i, j), c in np.ndenumerate(counts):
        ax.text(j, i, str(c), ha="center", va="center", fontsize=8,
                color="white" if c > top / 2 else "black")


class ConfusionMatrices(TestRecordsCallback):
    """out_dir: folder for ``<prefix>_confusion.png`` (``<output_dir>/plots``); logged to W&B as
    ``<prefix>/confusion``. ``matrices`` keeps the last counts: {emotion or "fourway": (C, C)}."""

    def __init__(self, out_dir: str | Path):
        super().__init__(max_samples=None)
        self.out_dir = Path(out_dir)
        self.matrices: dict[str, np.ndarray] = {}

    def applies_to(self, pl_module) -> bool:
        return getattr(pl_module, "protocol", None) in ("mult", "fourway")

    def records_of(self, pl_module, out, batch) -> list[tuple]:
        """The (index, predicted, true) records the task's eval_step made for this batch (under
        the trainer's precision): the head is not run again here."""
        fourway = pl_module.protocol == "fourway"
        return [(i, p, t.argmax(-1) if fourway and t.ndim == 1 else t)
                for i, p, t in pl_module.last_eval_records]

    def report(self, trainer, pl_module, records, prefix) -> None:
        pred = np.stack([r[1] for r in records])
        target = np.stack([r[2] for r in records])
        names = [str(n) for n in pl_module.spec.label_names]
        if pl_module.protocol == "fourway":
            self.matrices = {"fourway": confusion_counts(pred, target, len(names))}
            fig, axes = new_figure(1, panel_size=4.0)
            draw_matrix(axes[0], self.matrices["fourway"], names, f"{prefix}: 4-way (n={len(records)})")
        else:
            self.matrices = {name: confusion_counts(pred[:, i], target[:, i], 2)
                             for i, name in enumerate(names)}
            fig, axes = new_figure(len(names))
            for ax, name in zip(axes, names):
                draw_matrix(ax, self.matrices[name], [f"not {name}", name], f"{name} (n={len(records)})")
        save_and_log(trainer, fig, self.out_dir, f"{prefix.replace('/', '_')}_confusion",
                     f"{prefix}/confusion")
