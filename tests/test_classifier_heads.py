"""Classifier and regression heads: shapes, losses against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fusionlab.errors import DataError
from fusionlab.heads import BinaryPerLabelHead, MultiClassHead, RegressionHead


def test_binary_per_label_shapes_and_predict():
    head = BinaryPerLabelHead(8, 4, hidden=16, dropout=0.1)
    logits = head(torch.randn(5, 8))
    assert logits.shape == (5, 4, 2)
    pred = head.predict(logits)
    assert pred.shape == (5, 4) and torch.equal(pred, (logits[..., 1] > logits[..., 0]).long())


def test_binary_per_label_loss_averages_every_label():
    head = BinaryPerLabelHead(8, 4)
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [1.0, 3.0]]], requires_grad=True)
    target = torch.tensor([[0, 0, 1, 1]])

    def ce(pair, label):  # -log softmax(pair)[label]
        return -(pair[label] - math.log(math.exp(pair[0]) + math.exp(pair[1])))

    pairs = [(2.0, 0.0), (0.0, 1.0), (0.0, 0.0), (1.0, 3.0)]
    expected = sum(ce(p, int(t)) for p, t in zip(pairs, target[0])) / 4
    loss = head.loss(logits, target)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert torch.all(logits.grad.abs().sum(-1) > 0)  # every label (incl. the last) gets gradient


def test_binary_per_label_rejects_wrong_target_shape():
    head = BinaryPerLabelHead(8, 4)
    with pytest.raises(DataError, match="label_names"):
        head.loss(torch.zeros(2, 4, 2), torch.zeros(2, 3, dtype=torch.long))


def test_multiclass_head_one_hot_target_is_the_positive_emotion():
    head = MultiClassHead(8, 4, hidden=None)
    logits = head(torch.randn(3, 8))
    assert logits.shape == (3, 4)
    one_hot = torch.tensor([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    assert head.loss(logits, one_hot).item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([2, 0, 3])).item())
    assert head.loss(logits, torch.tensor([2, 0, 3])).item() == pytest.approx(
        head.loss(logits, one_hot).item())
    assert torch.equal(head.predict(logits), logits.argmax(-1))
    with pytest.raises(DataError):
        head.loss(logits, torch.zeros(3, 2, dtype=torch.long))


def test_regression_head_l1():
    head = RegressionHead(8, hidden=4)
    out = head(torch.randn(6, 8))
    assert out.shape == (6,)
    pred = torch.tensor([0.5, -1.0, 2.0])
    target = torch.tensor([1.0, -1.0, -1.0])
    assert head.loss(pred, target).item() == pytest.approx((0.5 + 0.0 + 3.0) / 3)
    assert head.loss(pred, target.view(3, 1)).item() == pytest.approx(3.5 / 3)

