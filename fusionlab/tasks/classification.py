"""Classification of all modalities into labels (IEMOCAP-style emotions).

protocol="binary": one binary softmax per label, per-label accuracy and weighted F1 and their means
(MulT's protocol; its old name "mult", which is also a fusion, is still accepted);
protocol="fourway": one softmax over the labels (the paper's variant). Every evaluation also reports
the split's majority-class baseline (``majority_*``, see fusionlab/metrics/affect.py), so skewed labels
cannot pass for learning. Regression (MOSI/MOSEI) is fusionlab/tasks/regression.py.
"""

from __future__ import annotations

import logging
from typing import Callable

from torch import Tensor

from fusionlab.contracts import CLASS, PER_LABEL, REGRESSION, Batch, DataSpec
from fusionlab.errors import ConfigError
from fusionlab.tasks.head_task import HeadTask

log = logging.getLogger(__name__)

#: protocol -> what a sample's prediction is
PROTOCOLS = {"binary": PER_LABEL, "fourway": CLASS}
#: old protocol names still accepted
RENAMED = {"mult": "binary"}


def check_protocol(protocol: str) -> str:
    """``task.protocol`` as one of PROTOCOLS (an old name is mapped, with a log line saying so)."""
    if protocol in RENAMED:
        log.warning("task.protocol=%s is the old name of task.protocol=%s (renamed because "
                    "fusion=mult names a fusion); using %s", protocol, RENAMED[protocol], RENAMED[protocol])
        return RENAMED[protocol]
    if protocol not in PROTOCOLS:
        raise ConfigError(f"task.protocol must be 'binary' or 'fourway', got {protocol!r}")
    return protocol


class ClassificationTask(HeadTask):
    """head: {hidden, dropout}; protocol: "binary" (alias "mult") | "fourway"."""

    def __init__(self, data_spec: dict, fusion: Callable, latent_dim: int = 256,
                 protocol: str = "binary", head: dict | None = None, **kwargs):
        if DataSpec.from_dict(data_spec).task == REGRESSION:
            raise ConfigError(
                "the dataset is a regression dataset (MOSI/MOSEI) but the task is ClassificationTask: "
                "use task=regression. A run folder written before RegressionTask existed names "
                "ClassificationTask: set task._target_ to fusionlab.tasks.regression.RegressionTask in "
                "its .hydra/config.yaml")
        super().__init__(data_spec, fusion, latent_dim=latent_dim, **kwargs)
        from fusionlab.heads.classifier import BinaryPerLabelHead, MultiClassHead

        self.protocol = check_protocol(protocol)
        self.prediction_kind = PROTOCOLS[self.protocol]
        n = len(self.spec.label_names)
        head_cls = BinaryPerLabelHead if self.protocol == "binary" else MultiClassHead
        self.head = head_cls(latent_dim, n, **dict(head or {}))

    def eval_target(self, batch: Batch) -> Tensor:
        """binary: (B, n_labels) class per label; fourway: (B,) class ids."""
        return batch.target if self.protocol == "binary" else self.head.class_target(batch.target)

    def eval_metrics(self, records, stage):
        from fusionlab.metrics.affect import fourway_metrics, iemocap_metrics

        pred, target = self.stacked(records)
        if self.protocol == "binary":
            return iemocap_metrics(pred, target, self.spec.label_names), {}
        return fourway_metrics(pred, target), {}
