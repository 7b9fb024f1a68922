"""BLEU and affect metrics against hand-computed values and MulT's evaluation functions (re-written
here); the majority-class baselines; what train.py writes to metrics.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from fusionlab.errors import DataError
from fusionlab.cli import train
from fusionlab.metrics import (
    accuracy,
    corpus_bleu,
    fourway_metrics,
    iemocap_metrics,
    regression_metrics,
    weighted_f1,
)
from fusionlab.metrics.affect import majority_scores


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
    # majority: class 0 (3 of 6): acc 1/2; F1 of class 0 = 2·3/(6+3) = 2/3, weight 3/6 -> 1/3
    assert fourway_metrics(torch.tensor(pred), torch.tensor(target)) == pytest.approx(
        {"acc": 3 / 6, "f1": expected, "majority_acc": 0.5, "majority_f1": 1 / 3})


def test_iemocap_metrics_hand_computed():
    pred = np.array([[0, 0], [1, 0], [1, 0], [1, 0], [0, 0]])
    target = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [1, 1]])
    out = iemocap_metrics(pred, target, ["Neutral", "Happy"])
    # Happy: all predicted 0; class 0 F1 = 2*3/(6+2) = 0.75 (support 3), class 1 F1 = 0
    # majority baseline: Neutral truth [0 0 1 1 1] -> always 1: acc 3/5, F1 = (3/5)·(2·3/(6+2)) = 0.45;
    # Happy truth [0 0 0 1 1] -> always 0: acc 3/5, F1 0.45 as above
    assert out == pytest.approx({
        "acc_neutral": 0.6, "f1_neutral": 0.6,
        "acc_happy": 0.6, "f1_happy": 0.45,
        "acc_mean": 0.6, "f1_mean": 0.525,
        "majority_acc_neutral": 0.6, "majority_f1_neutral": 0.45,
        "majority_acc_happy": 0.6, "majority_f1_happy": 0.45,
        "majority_acc_mean": 0.6, "majority_f1_mean": 0.45,
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
    # clipped to [-2, 2] and rounded: 3.7->2 vs 3->2, 2.5->2 vs 2, -1.5->-2 vs -2 match (+ 0/-0.4)
    assert out["acc5"] == pytest.approx(5 / 6)
    # non-zero targets (drop index 1): pred>0 [T T F F F] vs target>0 [T T F F T]
    assert out["acc2"] == pytest.approx(4 / 5)
    # truth-weighted: F1(T) = 2·2/(4+1) = 0.8 (3 true T), F1(F) = 2·2/(4+1) = 0.8 (2 true F)
    assert out["f1"] == pytest.approx(0.8)
    # MulT's reversed call weights the same per-class F1 by the predicted counts (2 T, 3 F)
    assert out["f1_mult"] == pytest.approx(0.8)
    # majority of the non-zero split: positive (3 of 5): acc 3/5, F1 (3/5)·(2·3/(6+2)) = 0.45
    assert out["majority_acc2"] == pytest.approx(0.6) and out["majority_f1"] == pytest.approx(0.45)
    # every sample, >= 0: pred [T F T F T F] vs target [T T T F F T]
    assert out["acc2_nonneg"] == pytest.approx(3 / 6)
    assert out["f1_nonneg"] == pytest.approx((4 * 4 / 7 + 2 * 2 / 5) / 6)


def test_regression_corr_is_nan_for_constant_predictions():
    out = regression_metrics(np.zeros(4), np.array([1.0, -1.0, 2.0, 0.5]))
    assert math.isnan(out["corr"])
    assert out["mae"] == pytest.approx(1.125)


def test_the_two_f1_conventions_differ_when_the_class_counts_do():
    truth = np.array([1.0, 2.0, 0.5, 1.5, -1.0, 2.0])      # > 0: 5 true T, 1 true F
    pred = np.array([1.0, -2.0, -0.5, -1.5, -1.0, 2.0])    # > 0: 2 predicted T, 4 predicted F
    out = regression_metrics(pred, truth)
    f1_t, f1_f = 2 * 2 / (4 + 3), 2 * 1 / (2 + 3)           # T: tp 2 fp 0 fn 3; F: tp 1 fp 3 fn 0
    assert out["f1"] == pytest.approx((5 * f1_t + 1 * f1_f) / 6)
    assert out["f1_mult"] == pytest.approx((2 * f1_t + 4 * f1_f) / 6)


def test_majority_scores_ties_pick_the_smallest_class():
    assert majority_scores([1, 0, 1, 0]) == pytest.approx({"acc": 0.5, "f1": 0.5 * 2 / 3})


# --- MulT's evaluation (yaohungt/Multimodal-Transformer src/eval_metrics.py), re-written ---------
def sklearn_style_weighted_f1(y_true, y_pred) -> float:
    """scikit-learn's f1_score(y_true, y_pred, average="weighted") from its definition: per label
    of either side, precision = tp / predicted, recall = tp / true (0 when undefined), F1 their
    harmonic mean (0 when both are 0), averaged with weights = count of the label in y_true."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    total = 0.0
    for label in sorted(set(y_true.tolist()) | set(y_pred.tolist())):
        tp = np.sum((y_true == label) & (y_pred == label))
        n_pred, n_true = np.sum(y_pred == label), np.sum(y_true == label)
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        total += (2 * p * r / (p + r) if p + r else 0.0) * n_true
    return total / len(y_true)


def mult_eval_mosei_senti(results, truths, exclude_zero=True) -> dict[str, float]:
    preds, truth = np.asarray(results, dtype=np.float64).ravel(), np.asarray(truths).ravel()
    keep = np.array([i for i, e in enumerate(truth) if e != 0 or not exclude_zero])
    a7 = lambda x: np.clip(x, -3.0, 3.0)   # noqa: E731
    a5 = lambda x: np.clip(x, -2.0, 2.0)   # noqa: E731
    return {
        "mae": float(np.mean(np.absolute(preds - truth))),
        "corr": float(np.corrcoef(preds, truth)[0][1]),
        "mult_acc_7": float(np.sum(np.round(a7(preds)) == np.round(a7(truth))) / len(truth)),
        "mult_acc_5": float(np.sum(np.round(a5(preds)) == np.round(a5(truth))) / len(truth)),
        # the call as MulT writes it: predictions in the y_true slot
        "f_score": sklearn_style_weighted_f1(preds[keep] > 0, truth[keep] > 0),
        "accuracy": float(np.mean((truth[keep] > 0) == (preds[keep] > 0))),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_regression_metrics_equal_mults_eval_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    truth = np.round(rng.uniform(-3, 3, 300) * 3) / 3         # MOSI-like thirds, with exact zeros
    truth[rng.choice(300, 20, replace=False)] = 0.0
    pred = np.clip(truth * rng.uniform(-0.5, 1.5, 300) + rng.normal(0, 1, 300), -3.5, 3.5)
    pred[:5] = [0.5, -0.5, 2.5, 0.0, -2.5]                   # ties of np.round (half to even)
    ours, mult = regression_metrics(pred, truth), mult_eval_mosei_senti(pred, truth)
    assert ours["mae"] == pytest.approx(mult["mae"], abs=1e-12)
    assert ours["corr"] == pytest.approx(mult["corr"], abs=1e-12)
    assert ours["acc7"] == pytest.approx(mult["mult_acc_7"], abs=1e-12)
    assert ours["acc5"] == pytest.approx(mult["mult_acc_5"], abs=1e-12)
    assert ours["acc2"] == pytest.approx(mult["accuracy"], abs=1e-12)
    assert ours["f1_mult"] == pytest.approx(mult["f_score"], abs=1e-12)
    keep = truth != 0
    assert ours["f1"] == pytest.approx(sklearn_style_weighted_f1(truth[keep] > 0, pred[keep] > 0),
                                       abs=1e-12)
    assert abs(ours["f1"] - ours["f1_mult"]) > 1e-6          # the random data separates them


def test_weighted_f1_agrees_with_scikit_learn_when_installed():
    """Cross-check (scikit-learn is not a dependency of fusionlab)."""
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    truth, pred = rng.integers(0, 4, 200), rng.integers(0, 3, 200)
    assert weighted_f1(pred, truth) == pytest.approx(
        metrics.f1_score(truth, pred, average="weighted", zero_division=0))
    assert sklearn_style_weighted_f1(truth, pred) == pytest.approx(
        metrics.f1_score(truth, pred, average="weighted", zero_division=0))


# --- what train.py writes ---------------------------------------------------------------------
FDR = ["debug=fdr", "latent_dim=32", "logger=none", "callbacks.progress_bar=null",
       "dataset.batch_size=32"]


def test_metrics_json_has_the_majority_baselines_next_to_the_results(compose, tmp_path, capsys):
    train(compose("dataset=synthetic_emotion", "fusion=concat", *FDR))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for name in ("neutral", "happy", "sad", "angry"):
        assert 0.5 <= metrics[f"test/majority_acc_{name}"] <= 1.0   # binary: majority >= half
    assert "test/majority_f1_mean" in metrics and "test/f1_mean" in metrics
    assert '"test/majority_f1_mean"' in capsys.readouterr().out   # printed with the results


def test_metrics_json_names_both_bleus(compose, tmp_path):
    train(compose("dataset=synthetic_mt", "fusion=concat", *FDR))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"test/bleu", "test/bleu_tok"} <= set(metrics)
    assert metrics["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert "Moses-tokenized" in metrics["bleu_tok_description"]


def test_paper_translation_rows_are_scored_case_insensitively(compose, tmp_path):
    """experiment=paper/translation lowercases the vocabulary: its BLEU must be case:lc."""
    train(compose("experiment=paper/translation", "dataset=synthetic_mt", "fusion=concat", *FDR))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "|case:lc|" in metrics["bleu_signature"]


@pytest.mark.slow
def test_eval_py_writes_the_bleu_descriptions_too(tmp_path, data_dir):
    from tests.test_train_e2e import run_cli

    run_dir, eval_dir = tmp_path / "run", tmp_path / "eval"
    proc = run_cli("train.py", "dataset=synthetic_mt", "fusion=concat", "trainer.max_epochs=1",
                   "trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "logger=none",
                   "latent_dim=32", f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli("eval.py", f"ckpt_path={run_dir}/checkpoints/best.ckpt",
                   f"hydra.run.dir={eval_dir}", f"paths.data_dir={data_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = json.loads((run_dir / "metrics.json").read_text())
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    for key in ("bleu_signature", "bleu_tok_description"):
        assert evaluated[key] == trained[key]
    assert evaluated["test/bleu_tok"] == pytest.approx(trained["test/bleu_tok"], abs=1e-6)
