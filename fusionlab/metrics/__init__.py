"""Evaluation metrics: sacreBLEU for translation, affect protocols for IEMOCAP/MOSI/MOSEI."""

from fusionlab.metrics.affect import (
    accuracy,
    fourway_metrics,
    iemocap_metrics,
    regression_metrics,
    weighted_f1,
)
from fusionlab.metrics.bleu import corpus_bleu

__all__ = ["corpus_bleu", "iemocap_metrics", "fourway_metrics", "regression_metrics",
           "accuracy", "weighted_f1"]
