"""Modal attention: softmax weights over the modality vectors, z = W_o Σ_m α_m v_m.

α_m = softmax_m(uᵀ tanh(W v_m + b)); the weights are returned in extras["attention"] (B, M).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput


class ModalAttentionFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out); extras["attention"] (B, M) sums to 1 per row."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, hidden: int,
                 dropout: float):
        super().__init__(modalities, d_in, d_out)
        self.score = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(d_in, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        x = self.stacked(encoded)                              # (B, M, d_in)
        weights = self.score(x).squeeze(-1).softmax(dim=1)     # (B, M)
        pooled = (weights.unsqueeze(-1) * x).sum(dim=1)
        return FusionOutput(z=self.out(self.dropout(pooled)), extras={"attention": weights})
