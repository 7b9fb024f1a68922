"""Tensor Fusion Network (Zadeh et al., EMNLP 2017).

Each modality vector is projected to ``tfn_dim`` (set ``tfn_dim: null`` to keep d_in), a 1 is appended,
the outer product of all modalities is flattened (size Π(tfn_dim + 1)) and an MLP maps it to d_out.
"""

from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import mlp, with_one


def outer_product_size(sizes: Sequence[int]) -> int:
    """Flattened size of the outer product of [v_m; 1] over modalities."""
    return math.prod(s + 1 for s in sizes)


class TensorFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out) through the flattened outer product of [W_m v_m; 1]."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, tfn_dim: int | None = 32,
                 hidden: int = 128, dropout: float = 0.2, max_product_size: int = 131072):
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
        self.post = mlp([self.product_size, hidden, d_out], dropout=dropout)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        product: Tensor | None = None
        for m in self.modalities:
            v = with_one(self.reduce[m](encoded[m].vec))
            product = v if product is None else (product.unsqueeze(-1) * v.unsqueeze(1)).flatten(1)
        return FusionOutput(z=self.post(self.dropout(product)))
