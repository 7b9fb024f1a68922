"""Affect evaluation protocols: IEMOCAP per-emotion binary tasks, 4-way, MOSI/MOSEI regression.

Weighted F1 follows scikit-learn's ``f1_score(average="weighted")``: per-class F1 over the labels
present in either truth or prediction, weighted by each class's support in the truth; a class
with zero precision+recall scores 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from fusionlab.errors import DataError


def as_array(x) -> np.ndarray:
    """numpy view of a list, array or (any-device) tensor."""
    if hasattr(x, "detach"):
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
    return out


def fourway_metrics(pred, target) -> dict[str, float]:
    """The paper's 4-way softmax: pred, target (N,) class ids -> accuracy and weighted F1."""
    return {"acc": accuracy(pred, target), "f1": weighted_f1(pred, target)}


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (correlation undefined)."""
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denom) if denom > 0 else float("nan")


def seven_class(x: np.ndarray) -> np.ndarray:
    """Sentiment classes -3..3: clip to [-3, 3], then round half to even (as numpy and MulT do)."""
    return np.round(np.clip(x, -3.0, 3.0))


def regression_metrics(pred, target) -> dict[str, float]:
    """MOSI/MOSEI sentiment metrics (MulT's evaluation).

    pred, target: (N,) floats in [-3, 3].
    - ``mae``, ``corr`` (Pearson) on the raw values;
    - ``acc7``: both sides clipped to [-3, 3] and rounded (numpy round-half-to-even), equal class;
    - ``acc2``, ``f1``: MulT's reported convention: samples whose target is exactly 0 are dropped,
      then positive (> 0) vs not; ``f1`` is the weighted F1 of that split;
    - ``acc2_nonneg``, ``f1_nonneg``: every sample, non-negative (>= 0) vs negative.
    """
    pred, target = as_array(pred).astype(np.float64).ravel(), as_array(target).astype(
        np.float64).ravel()
    _same_length(pred, target)
    if not target.size:
        raise DataError("regression metrics need at least one sample")
    nonzero = target != 0
    return {
        "mae": float(np.mean(np.abs(pred - target))),
        "corr": pearson(pred, target),
        "acc7": float(np.mean(seven_class(pred) == seven_class(target))),
        "acc2": accuracy(pred[nonzero] > 0, target[nonzero] > 0),
        "f1": weighted_f1(pred[nonzero] > 0, target[nonzero] > 0),
        "acc2_nonneg": accuracy(pred >= 0, target >= 0),
        "f1_nonneg": weighted_f1(pred >= 0, target >= 0),
    }
