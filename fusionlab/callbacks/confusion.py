"""Confusion matrices of the test set for classification tasks, as PNG and W&B images.

From the test predictions the task scored (``EvalResult.records``): one class per label (protocol
``binary``, IEMOCAP/MulT): one 2x2 matrix per emotion (rows: true not-X / X, columns: predicted);
one class over the labels (``fourway``): one CxC matrix over the emotions. Regression and
translation results are skipped. Counts cover exactly the test set (gathered across DDP ranks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionlab.callbacks.evaluation import EvaluationCallback
from fusionlab.callbacks.figures import new_figure, save_and_log
from fusionlab.contracts import CLASS, PER_LABEL, EvalResult


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


class ConfusionMatrices(EvaluationCallback):
    """out_dir: folder for ``<prefix>_confusion.png`` (``<output_dir>/plots``); logged to W&B as
    ``<prefix>/confusion``. ``matrices`` keeps the last counts: {emotion or "fourway": (C, C)}."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self.matrices: dict[str, np.ndarray] = {}

    def on_evaluation(self, trainer, result: EvalResult) -> None:
        if result.stage != "test" or result.kind not in (PER_LABEL, CLASS) or not trainer.is_global_zero:
            return
        pred = np.stack([r.prediction for r in result.records])
        target = np.stack([r.target for r in result.records])
        names, n, prefix = result.label_names, len(result.records), result.prefix
        if result.kind == CLASS:
            self.matrices = {"fourway": confusion_counts(pred, target, len(names))}
            fig, axes = new_figure(1, panel_size=4.0)
            draw_matrix(axes[0], self.matrices["fourway"], names, f"{prefix}: 4-way (n={n})")
        else:
            self.matrices = {name: confusion_counts(pred[:, i], target[:, i], 2)
                             for i, name in enumerate(names)}
            fig, axes = new_figure(len(names))
            for ax, name in zip(axes, names):
                draw_matrix(ax, self.matrices[name], [f"not {name}", name], f"{name} (n={n})")
        save_and_log(trainer, fig, self.out_dir, f"{prefix.replace('/', '_')}_confusion",
                     f"{prefix}/confusion")
