"""Affect evaluation protocols: IEMOCAP per-emotion binary tasks, 4-way, MOSI/MOSEI regression.

Weighted F1 follows scikit-learn's ``f1_score(y_true, y_pred, average="weighted")``: per-class F1
over the labels present in either truth or prediction, weighted by each class's support in the
FIRST argument (the truth); a class with zero precision+recall scores 0.

Every protocol also reports the majority-class baseline of the evaluated split (``majority_*``):
the scores of always predicting the split's most frequent class, for reading skewed labels.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from fusionlab.errors import DataError


def as_array(x) -> np.ndarray:
    """numpy view of a list, array or (any-device) tensor."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _same_length(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape[0] != target.shape[0]:
        raise DataError(f"metrics need as many predictions as targets, got {pred.shape[0]} "
                        f"and {target.shape[0]}")


def accuracy(pred, target) -> float:
    pred, target = as_array(pred).ravel(), as_array(target).ravel()
    _same_length(pred, target)
    return float(np.mean(pred == target)) if target.size else 0.0


def weighted_f1(pred, target) -> float:
    """Support-weighted mean of per-class F1 (scikit-learn's ``average="weighted"``)."""
    pred, target = as_array(pred).ravel(), as_array(target).ravel()
    _same_length(pred, target)
    if not target.size:
        return 0.0
    total = 0.0
    for label in np.union1d(pred, target):
        tp = np.sum((pred == label) & (target == label))
        fp = np.sum((pred == label) & (target != label))
        fn = np.sum((pred != label) & (target == label))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        total += f1 * np.sum(target == label)
    return float(total / target.size)


def iemocap_metrics(pred, target, label_names: Sequence[str]) -> dict[str, float]:
    """MulT protocol: per emotion, accuracy and weighted F1 of the binary task, and their means.

    pred, target: (N, n_labels) ints (0/1 per emotion). Keys ``acc_<name>``, ``f1_<name>``
    (names lower-cased, e.g. ``acc_neutral``), ``acc_mean``, ``f1_mean``.
    """
    pred, target = as_array(pred), as_array(target)
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != len(label_names):
        raise DataError(f"IEMOCAP metrics need (N, {len(label_names)}) predictions and targets "
                        f"for labels {list(label_names)}, got {pred.shape} and {target.shape}")
    out: dict[str, float] = {}
    for i, name in enumerate(label_names):
        key = str(name).lower()
        out[f"acc_{key}"] = accuracy(pred[:, i], target[:, i])
        out[f"f1_{key}"] = weighted_f1(pred[:, i], target[:, i])
    out["acc_mean"] = float(np.mean([out[f"acc_{str(n).lower()}"] for n in label_names]))
    out["f1_mean"] = float(np.mean([out[f"f1_{str(n).lower()}"] for n in label_names]))
    for i, name in enumerate(label_names):
        key = str(name).lower()
        base = majority_scores(target[:, i])
        out[f"majority_acc_{key}"], out[f"majority_f1_{key}"] = base["acc"], base["f1"]
    out["majority_acc_mean"] = float(np.mean([out[f"majority_acc_{str(n).lower()}"]
                                              for n in label_names]))
    out["majority_f1_mean"] = float(np.mean([out[f"majority_f1_{str(n).lower()}"]
                                             for n in label_names]))
    return out


def majority_scores(target) -> dict[str, float]:
    """Accuracy and weighted F1 of predicting the most frequent class of ``target`` (N,) for every
    sample (ties: the smallest class id)."""
    target = as_array(target).ravel()
    if not target.size:
        return {"acc": 0.0, "f1": 0.0}
    labels, counts = np.unique(target, return_counts=True)
    constant = np.full_like(target, labels[np.argmax(counts)])
    return {"acc": accuracy(constant, target), "f1": weighted_f1(constant, target)}


def fourway_metrics(pred, target) -> dict[str, float]:
    """The paper's 4-way softmax: pred, target (N,) class ids -> accuracy and weighted F1, and the
    majority-class baseline (``majority_acc``, ``majority_f1``)."""
    base = majority_scores(target)
    return {"acc": accuracy(pred, target), "f1": weighted_f1(pred, target),
            "majority_acc": base["acc"], "majority_f1": base["f1"]}


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (correlation undefined)."""
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denom) if denom > 0 else float("nan")


def sentiment_classes(x: np.ndarray, bound: int) -> np.ndarray:
    """Sentiment classes -bound..bound: clip to [-bound, bound], then round half to even (as numpy
    and MulT do); bound 3 gives the 7 classes of acc7, bound 2 the 5 of acc5."""
    return np.round(np.clip(x, -float(bound), float(bound)))


def regression_metrics(pred, target) -> dict[str, float]:
    """MOSI/MOSEI sentiment metrics (MulT's ``eval_mosei_senti(results, truths, exclude_zero=True)``).

    pred, target: (N,) floats in [-3, 3].
    - ``mae``, ``corr`` (Pearson) on the raw values;
    - ``acc7`` / ``acc5``: both sides clipped to [-3, 3] / [-2, 2] and rounded (numpy
      round-half-to-even), equal class;
    - ``acc2``: MulT's convention: samples whose target is exactly 0 are dropped, then positive
      (> 0) vs not;
    - ``f1``: the standard weighted F1 of that split (weights: support of the TRUE classes);
    - ``f1_mult``: the F1 MulT printed, ``f1_score(pred > 0, truth > 0, average="weighted")``
      with the arguments reversed, so the weights are the support of the PREDICTED classes;
      papers comparing with MulT's tables compare with this one;
    - ``acc2_nonneg``, ``f1_nonneg``: every sample, non-negative (>= 0) vs negative;
    - ``majority_acc2``, ``majority_f1``: always predicting the majority sign of the non-zero split.
    """
    pred, target = as_array(pred).astype(np.float64).ravel(), as_array(target).astype(
        np.float64).ravel()
    _same_length(pred, target)
    if not target.size:
        raise DataError("regression metrics need at least one sample")
    nonzero = target != 0
    pos_pred, pos_true = pred[nonzero] > 0, target[nonzero] > 0
    base = majority_scores(pos_true)
    return {
        "mae": float(np.mean(np.abs(pred - target))),
        "corr": pearson(pred, target),
        "acc7": float(np.mean(sentiment_classes(pred, 3) == sentiment_classes(target, 3))),
        "acc5": float(np.mean(sentiment_classes(pred, 2) == sentiment_classes(target, 2))),
        "acc2": accuracy(pos_pred, pos_true),
        "f1": weighted_f1(pos_pred, pos_true),
        "f1_mult": weighted_f1(pos_true, pos_pred),   # MulT's reversed arguments, on purpose
        "acc2_nonneg": accuracy(pred >= 0, target >= 0),
        "f1_nonneg": weighted_f1(pred >= 0, target >= 0),
        "majority_acc2": base["acc"],
        "majority_f1": base["f1"],
    }
