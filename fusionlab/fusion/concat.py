"""Concatenation baseline: z = ReLU(W [z_1; ...; z_M] + b)."""

from __future__ import annotations

from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput


class ConcatFusion(Fusion):
    """(B, M*d_in) concatenated pooled vectors -> Linear -> ReLU -> dropout -> z (B, d_out)."""

    def __init__(self, modalities, d_in: int, d_out: int, *, dropout: float):
        super().__init__(modalities, d_in, d_out)
        self.proj = nn.Sequential(nn.Linear(len(self.modalities) * d_in, d_out), nn.ReLU(),
                                  nn.Dropout(dropout))

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        return FusionOutput(z=self.proj(self.concatenated(encoded)))
