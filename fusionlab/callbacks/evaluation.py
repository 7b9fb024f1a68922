"""Base callback for what an evaluation produced: one :class:`~fusionlab.contracts.EvalResult` per
evaluated set (records, metrics, notes), handed over by the task.

At the end of every validation and test epoch (not the sanity check) the task gathers the set's
per-sample records across DDP ranks, computes its metrics, then calls :meth:`on_evaluation` of every
trainer callback that subclasses :class:`EvaluationCallback`, on every rank. A callback reads only
the result (never the task's attributes, never the model); one that writes files or logs images
does so on global rank 0 (``trainer.is_global_zero``).
"""

from __future__ import annotations

import lightning as L

from fusionlab.contracts import EvalResult


class EvaluationCallback(L.Callback):
    """Subclasses implement :meth:`on_evaluation`."""

    def on_evaluation(self, trainer: L.Trainer, result: EvalResult) -> None:
        raise NotImplementedError
