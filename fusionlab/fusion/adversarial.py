"""Adversarial modality-invariant fusion.

A shared encoder maps every modality vector into one space; a modality discriminator tries to tell
which modality each shared vector came from. The discriminator sits behind a gradient-reversal layer,
so one optimizer step trains it to classify while the shared encoder learns to fool it: the loss
``adv`` (cross-entropy of the modality classifier) is simply added with ``adv_weight``.
z = W_o [s_1; ...; s_M].
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import GradientReversal, mlp, require_modalities


class AdversarialFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out); losses {"adv": modality-classification CE}."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, shared_dim: int,
                 disc_hidden: int, grl_scale: float, adv_weight: float, dropout: float):
        super().__init__(modalities, d_in, d_out, loss_weights={"adv": adv_weight})
        require_modalities(self.modalities, 2, "adversarial")
        self.shared = nn.Sequential(nn.Linear(d_in, shared_dim), nn.Tanh())
        self.discriminator = nn.Sequential(GradientReversal(grl_scale),
                                           mlp([shared_dim, disc_hidden, len(self.modalities)]))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(len(self.modalities) * shared_dim, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        shared = self.shared(self.stacked(encoded))                      # (B, M, shared_dim)
        logits = self.discriminator(shared)                              # (B, M, M)
        labels = torch.arange(len(self.modalities), device=logits.device).expand(logits.shape[:2])
        adv = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        z = self.out(self.dropout(shared.flatten(1)))
        return FusionOutput(z=z, losses={"adv": adv})
