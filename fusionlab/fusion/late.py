"""Late fusion: one predictor per modality, outputs averaged, z = mean_m f_m(v_m)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import mlp


class LateFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out). f_m is Linear (hidden=0) or Linear-ReLU-Linear."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, hidden: int,
                 dropout: float):
        super().__init__(modalities, d_in, d_out)
        sizes = [d_in, hidden, d_out] if hidden else [d_in, d_out]
        self.predictors = nn.ModuleDict({m: mlp(sizes, dropout=dropout) for m in self.modalities})

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        outputs = torch.stack([self.predictors[m](encoded[m].vec) for m in self.modalities])
        return FusionOutput(z=outputs.mean(dim=0))
