"""Tensor Fusion Network (Zadeh et al., EMNLP 2017), as the reference implementation
(Justin1904/TensorFusionNetworks, model.py) computes the fusion.

Each modality vector is projected to ``tfn_dim`` (``tfn_dim: null`` keeps d_in, the reference's
fusion on the sub-network outputs), a 1 is put in FRONT of it ([1; h], the reference's layout),
the outer product over the modalities (in order) is flattened (size Π(tfn_dim + 1)), and the
post-fusion network maps it to d_out: dropout -> Linear(P, hidden) -> ReLU -> Linear(hidden,
hidden) -> ReLU -> Linear(hidden, d_out). (The reference's last layer predicts the sentiment and
squashes it to [-3, 3]; here the task's head follows instead.)
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import mlp


def one_first(x: Tensor) -> Tensor:
    """(B, d) -> (B, d + 1) as [1; x]: the constant the TFN/LMF references prepend, which keeps
    the unimodal and bimodal terms in the tensor product."""
    return torch.cat([x.new_ones(x.shape[:-1] + (1,)), x], dim=-1)


def outer_product_size(sizes: Sequence[int]) -> int:
    """Flattened size of the outer product of [1; v_m] over modalities."""
    return math.prod(s + 1 for s in sizes)


class TensorFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out) through the flattened outer product of [1; W_m v_m]."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, tfn_dim: int | None,
                 hidden: int, dropout: float, max_product_size: int):
        super().__init__(modalities, d_in, d_out)
        size = d_in if tfn_dim is None else int(tfn_dim)
        self.product_size = outer_product_size([size] * len(self.modalities))
        if self.product_size > max_product_size:
            raise ConfigError(
                f"fusion=tfn: the outer product of {len(self.modalities)} modalities of size {size}+1 has "
                f"{self.product_size:,} entries per sample (above fusion.max_product_size="
                f"{max_product_size:,}); lower fusion.tfn_dim or raise fusion.max_product_size")
        self.reduce = nn.ModuleDict({m: nn.Identity() if tfn_dim is None else nn.Linear(d_in, size)
                                     for m in self.modalities})
        self.dropout = nn.Dropout(dropout)
        self.post = mlp([self.product_size, hidden, hidden, d_out])

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        product: Tensor | None = None
        for m in self.modalities:
            v = one_first(self.reduce[m](encoded[m].vec))
            product = v if product is None else (product.unsqueeze(-1) * v.unsqueeze(1)).flatten(1)
        return FusionOutput(z=self.post(self.dropout(product)))
