"""Classification (IEMOCAP-style, per-emotion binary or 4-way) and regression (MOSI/MOSEI).

protocol="mult": one binary softmax per label, per-label accuracy and weighted F1 and their means
(the MulT protocol); protocol="fourway": one softmax over the labels (the paper's variant).
Regression datasets (DataSpec.task == "regression") use an L1 head and MAE/corr/acc metrics.
Every evaluation also reports the split's majority-class baseline (``majority_*``, see
fusionlab/metrics/affect.py), so skewed labels cannot pass for learning.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from torch import Tensor

from fusionlab.data.batch import Batch
from fusionlab.data.spec import REGRESSION
from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, FusionOutput
from fusionlab.tasks.base import FusionTask


class ClassificationTask(FusionTask):
    """head: {hidden, dropout}; protocol: "mult" | "fourway" (ignored for regression)."""

    def __init__(self, data_spec: dict, fusion: Callable, latent_dim: int = 256,
                 protocol: str = "mult", head: dict | None = None, **kwargs):
        super().__init__(data_spec, fusion, latent_dim=latent_dim, **kwargs)
        from fusionlab.heads.classifier import BinaryPerLabelHead, MultiClassHead, RegressionHead

        head = dict(head or {})
        n = len(self.spec.label_names)
        if self.spec.task == REGRESSION:
            self.protocol = "regression"
            self.head = RegressionHead(latent_dim, **head)
        elif protocol == "mult":
            self.protocol = protocol
            self.head = BinaryPerLabelHead(latent_dim, n, **head)
        elif protocol == "fourway":
            self.protocol = protocol
            self.head = MultiClassHead(latent_dim, n, **head)
        else:
            raise ConfigError(f"task.protocol must be 'mult' or 'fourway', got {protocol!r}")

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        return self.head.loss(self.head(out.z), batch.target)

    def predict_labels(self, out: FusionOutput) -> Tensor:
        """mult: (B, n_labels) 0/1; fourway: (B,) class; regression: (B,) value."""
        logits = self.head(out.z)
        if self.protocol == "mult":
            return logits.argmax(-1)
        if self.protocol == "fourway":
            return logits.argmax(-1)
        return logits

    def eval_step(self, batch, out, encoded, stage):
        pred = self.predict_labels(out).detach().cpu().numpy()
        target = batch.target.detach().cpu().numpy()
        return [(int(i), p, t) for i, p, t in zip(batch.index.tolist(), pred, target)]

    def eval_metrics(self, records, stage):
        from fusionlab.metrics.affect import fourway_metrics, iemocap_metrics, regression_metrics

        pred = np.stack([r[1] for r in records])
        target = np.stack([r[2] for r in records])
        if self.protocol == "mult":
            return iemocap_metrics(pred, target, self.spec.label_names)
        if self.protocol == "fourway":
            return fourway_metrics(pred, target.argmax(-1))
        return regression_metrics(pred, target)
