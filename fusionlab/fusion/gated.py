"""Gated fusion as used in multimodal MT: the text vector plus a gated projection of the others.

o = [v_2; ...; v_M], g = sigmoid(W_g [v_1; o]), z = W_o (v_1 + g ⊙ W_p o)
(W_o is the identity when d_in == d_out). The mean gate per sample is in extras["gate"] (B,).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import require_modalities


class GatedFusion(Fusion):
    """vec (B, d_in) per modality, the first (text) is primary -> z (B, d_out)."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, dropout: float):
        super().__init__(modalities, d_in, d_out)
        require_modalities(self.modalities, 2, "gated")
        d_other = (len(self.modalities) - 1) * d_in
        self.project = nn.Linear(d_other, d_in)
        self.gate = nn.Linear(d_in + d_other, d_in)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        primary = encoded[self.modalities[0]].vec
        other = torch.cat([encoded[m].vec for m in self.modalities[1:]], dim=-1)
        gate = torch.sigmoid(self.gate(torch.cat([primary, other], dim=-1)))
        fused = primary + gate * self.dropout(self.project(other))
        return FusionOutput(z=self.out(fused), extras={"gate": gate.mean(dim=-1)})
