"""Polynomial Tensor Pooling (Hou et al., NeurIPS 2019), low-rank.

f = [v_1; ...; v_M; 1] (size F = M·d_in + 1). The order-P polynomial tensor f⊗...⊗f (P times) is
weighted by a rank-r tensor: z_o = Σ_r λ_r Π_p (f · W_p[r, :, o]) + b. Unlike LMF the same
concatenated vector enters every order, so interactions within a modality are modelled too.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import with_one


class PolynomialTensorPooling(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out). Parameters: factors (order, rank, F, d_out),
    rank_weights (rank,), bias (d_out,)."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, order: int, rank: int):
        super().__init__(modalities, d_in, d_out)
        if order < 1 or rank < 1:
            raise ConfigError(f"fusion.order ({order}) and fusion.rank ({rank}) must be >= 1")
        size = len(self.modalities) * d_in + 1
        self.factors = nn.Parameter(torch.randn(order, rank, size, d_out) / size ** 0.5)
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        f = with_one(self.concatenated(encoded))
        per_order = torch.einsum("bf,prfo->prbo", f, self.factors)
        z = torch.einsum("r,rbo->bo", self.rank_weights, per_order.prod(dim=0)) + self.bias
        return FusionOutput(z=z)
