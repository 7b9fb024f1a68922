"""Classification and regression heads over the fused vector z (B, d), each with its loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import DataError


def mlp(d: int, out: int, hidden: int | None, dropout: float) -> nn.Sequential:
    """Dropout -> Linear(d, out), or Linear(d, hidden) -> ReLU -> Dropout -> Linear(hidden, out)."""
    if not hidden:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(d, out))
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out))


class BinaryPerLabelHead(nn.Module):
    """One binary softmax per label (MulT's IEMOCAP protocol): z (B, d) -> logits (B, n_labels, 2).

    loss: cross-entropy averaged over every sample and every label (no label is left out).
    target: (B, n_labels) long, 1 where the label is present.
    """

    def __init__(self, d: int, n_labels: int, hidden: int | None = None, dropout: float = 0.2):
        super().__init__()
        self.n_labels = n_labels
        self.net = mlp(d, n_labels * 2, hidden, dropout)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], self.n_labels, 2)

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        if target.shape != logits.shape[:2]:
            raise DataError(f"per-label targets must have shape (batch, {self.n_labels}), got "
                            f"{tuple(target.shape)}; check the dataset's label_names")
        return F.cross_entropy(logits.reshape(-1, 2), target.reshape(-1).long())

    @staticmethod
    def predict(logits: Tensor) -> Tensor:
        """(B, n_labels) long: argmax of each pair."""
        return logits.argmax(dim=-1)


class MultiClassHead(nn.Module):
    """One softmax over n_classes (the paper's 4-way IEMOCAP model): z (B, d) -> logits (B, C).

    loss target: (B,) class ids, or (B, C) per-label 0/1 whose positive label is the class
    (argmax: the first positive label; a row without one counts as class 0).
    """

    def __init__(self, d: int, n_classes: int, hidden: int | None = None, dropout: float = 0.2):
        super().__init__()
        self.n_classes = n_classes
        self.net = mlp(d, n_classes, hidden, dropout)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def class_target(self, target: Tensor) -> Tensor:
        """(B,) class ids from either target layout."""
        if target.dim() == 2:
            if target.shape[1] != self.n_classes:
                raise DataError(f"4-way targets must have {self.n_classes} labels per row, got "
                                f"{target.shape[1]}; check the dataset's label_names")
            return target.argmax(dim=1)
        return target.long()

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(logits, self.class_target(target))

    @staticmethod
    def predict(logits: Tensor) -> Tensor:
        """(B,) long class ids."""
        return logits.argmax(dim=-1)


class RegressionHead(nn.Module):
    """z (B, d) -> (B,) score (e.g. MOSI sentiment in [-3, 3]); L1 loss (MulT's choice)."""

    def __init__(self, d: int, hidden: int | None = None, dropout: float = 0.2):
        super().__init__()
        self.net = mlp(d, 1, hidden, dropout)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).squeeze(-1)

    def loss(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(pred, target.to(pred.dtype).view_as(pred))

    @staticmethod
    def predict(pred: Tensor) -> Tensor:
        return pred
