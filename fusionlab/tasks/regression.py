"""Regression of all modalities onto a score (MOSI/MOSEI sentiment in [-3, 3]): an L1 head, MAE,
correlation, Acc-7/5/2 and F1 (fusionlab/metrics/affect.py)."""

from __future__ import annotations

from typing import Callable

from fusionlab.contracts import SCORE
from fusionlab.tasks.head_task import HeadTask


class RegressionTask(HeadTask):
    """head: {hidden, dropout}."""

    prediction_kind = SCORE

    def __init__(self, data_spec: dict, fusion: Callable, latent_dim: int = 256,
                 head: dict | None = None, **kwargs):
        super().__init__(data_spec, fusion, latent_dim=latent_dim, **kwargs)
        from fusionlab.heads.classifier import RegressionHead

        self.head = RegressionHead(latent_dim, **dict(head or {}))

    def eval_metrics(self, records, stage):
        from fusionlab.metrics.affect import regression_metrics

        return regression_metrics(*self.stacked(records)), {}
