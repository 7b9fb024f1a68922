"""Low-rank Multimodal Fusion (Liu et al., ACL 2018), as the reference implementation
(Justin1904/Low-rank-Multimodal-Fusion, model.py) computes it.

The TFN weight W (Π(d_in+1) x d_out) is kept as rank-r factors per modality over [1; v_m] (the 1
in front, the reference's layout): z = Σ_r λ_r Π_m ([1; v_m] F_m[r]) + b, never forming W.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.tfn import one_first


class LowRankFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out). Parameters: factors[m] (rank, d_in+1, d_out),
    rank_weights (rank,), bias (d_out,)."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, rank: int):
        super().__init__(modalities, d_in, d_out)
        self.factors = nn.ParameterDict({
            m: nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, d_in + 1, d_out)))
            for m in self.modalities})
        self.rank_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)).squeeze(0))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        product = None
        for m in self.modalities:
            f = torch.einsum("bi,rio->rbo", one_first(encoded[m].vec), self.factors[m])
            product = f if product is None else product * f
        return FusionOutput(z=torch.einsum("r,rbo->bo", self.rank_weights, product) + self.bias)
