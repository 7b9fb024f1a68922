"""BLEU and affect metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusionlab.errors import DataError
from fusionlab.metrics import (
    accuracy,
    corpus_bleu,
    fourway_metrics,
    iemocap_metrics,
    regression_metrics,
    weighted_f1,
)


# --- BLEU -----------------------------------------------------------------------------------
def test_bleu_hand_computed_single_sentence():
    # n-gram precisions 5/6, 3/5, 2/4, 1/3; equal lengths so no brevity penalty.
    score, signature = corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert score == pytest.approx(expected, abs=1e-6)
    assert "nrefs:1" in signature and "tok:13a" in signature and "version:" in signature


def test_bleu_tokenizes_punctuation_and_scores_identity_100():
    hyps = ["A man, riding a bike.", "Two dogs play!"]
    score, _ = corpus_bleu(hyps, hyps)
    assert score == pytest.approx(100.0)
    # 13a splits the punctuation: missing the final period costs n-grams
    assert corpus_bleu(["Two dogs play"], ["Two dogs play!"])[0] < 100.0


def test_bleu_multiple_references():
    hyps = ["the cat sat on the mat"]
    single, _ = corpus_bleu(hyps, ["the cat sat on a mat"])
    multi, signature = corpus_bleu(hyps, [["the cat sat on a mat", "on the mat the cat sat"]])
    assert "nrefs:2" in signature
    assert multi > single


def test_bleu_rejects_mismatched_inputs():
    with pytest.raises(DataError, match="one reference entry per hypothesis"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(DataError, match="same"):
        corpus_bleu(["a", "b"], [["a"], ["b", "c"]])


# --- classification -----------------------------------------------------------------------
def test_weighted_f1_hand_computed_binary():
    target = [0, 0, 1, 1, 1]
    pred = [0, 1, 1, 1, 0]
    # class 0: P = R = 1/2 -> F1 1/2 (support 2); class 1: P = R = 2/3 (support 3)
    assert weighted_f1(pred, target) == pytest.approx((2 * 0.5 + 3 * 2 / 3) / 5)
    assert accuracy(pred, target) == pytest.approx(0.6)


def test_weighted_f1_multiclass_with_absent_and_never_predicted_classes():
    target = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 3])  # class 3 never true (weight 0), class 2 never predicted
    # class 0: tp 2 fp 0 fn 1 -> 4/5; class 1: tp 1 fp 2 fn 0 -> 2/4; class 2: F1 0
    expected = (3 * 0.8 + 1 * 0.5 + 2 * 0.0) / 6
    assert weighted_f1(pred, target) == pytest.approx(expected)
    assert fourway_metrics(torch.tensor(pred), torch.tensor(target)) == pytest.approx(
        {"acc": 3 / 6, "f1": expected})


def test_iemocap_metrics_hand_computed():
    pred = np.array([[0, 0], [1, 0], [1, 0], [1, 0], [0, 0]])
    target = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [1, 1]])
    out = iemocap_metrics(pred, target, ["Neutral", "Happy"])
    # Happy: all predicted 0; class 0 F1 = 2*3/(6+2) = 0.75 (support 3), class 1 F1 = 0
    assert out == pytest.approx({
        "acc_neutral": 0.6, "f1_neutral": 0.6,
        "acc_happy": 0.6, "f1_happy": 0.45,
        "acc_mean": 0.6, "f1_mean": 0.525,
    })


def test_iemocap_metrics_shape_errors():
    with pytest.raises(DataError, match="Neutral"):
        iemocap_metrics(np.zeros((3, 4)), np.zeros((3, 4)), ["Neutral", "Happy"])


# --- regression ---------------------------------------------------------------------------
def test_regression_metrics_hand_computed():
    pred = np.array([3.7, -0.4, 2.5, -1.5, 0.0, -0.6])
    target = np.array([3.0, 0.0, 2.0, -2.0, -0.4, 0.3])
    out = regression_metrics(torch.tensor(pred), torch.tensor(target))
    assert out["mae"] == pytest.approx(3.4 / 6)
    assert out["corr"] == pytest.approx(np.corrcoef(pred, target)[0, 1])
    # clipped+rounded: 3.7->3, 2.5->2 (half to even) match; -0.6->-1 vs 0.3->0 does not
    assert out["acc7"] == pytest.approx(5 / 6)
    # non-zero targets (drop index 1): pred>0 [T T F F F] vs target>0 [T T F F T]
    assert out["acc2"] == pytest.approx(4 / 5)
    assert out["f1"] == pytest.approx(0.8)
    # every sample, >= 0: pred [T F T F T F] vs target [T T T F F T]
    assert out["acc2_nonneg"] == pytest.approx(3 / 6)
    assert out["f1_nonneg"] == pytest.approx((4 * 4 / 7 + 2 * 2 / 5) / 6)


def test_regression_corr_is_nan_for_constant_predictions():
    out = regression_metrics(np.zeros(4), np.array([1.0, -1.0, 2.0, 0.5]))
    assert math.isnan(out["corr"])
    assert out["mae"] == pytest.approx(1.125)
