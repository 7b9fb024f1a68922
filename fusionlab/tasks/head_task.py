"""Tasks whose head maps the fused vector to one prediction per sample (classification, regression).

The head (fusionlab/heads/classifier.py) has ``forward(z (B, d)) -> outputs``, ``loss(outputs, target)``
and ``predict(outputs) -> (B, ...)``; the records hold numpy predictions and targets.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor, nn

from fusionlab.contracts import Batch, Encoded, EvalRecord, FusionOutput
from fusionlab.tasks.base import FusionTask


class HeadTask(FusionTask):
    """Subclasses set ``self.head`` and implement :meth:`eval_metrics`."""

    head: nn.Module

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        return self.head.loss(self.head(out.z), batch.target)

    def eval_target(self, batch: Batch) -> Tensor:
        """The target a record holds (the batch's by default)."""
        return batch.target

    def eval_step(self, batch, out, encoded, stage) -> list[EvalRecord]:
        pred = self.head.predict(self.head(out.z)).detach().cpu().numpy()
        target = self.eval_target(batch).detach().cpu().numpy()
        return [EvalRecord(int(i), p, t) for i, p, t in zip(batch.index.tolist(), pred, target)]

    @staticmethod
    def stacked(records: list[EvalRecord]) -> tuple[np.ndarray, np.ndarray]:
        """(N, ...) predictions and targets of ``records``."""
        return np.stack([r.prediction for r in records]), np.stack([r.target for r in records])
