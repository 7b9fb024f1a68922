"""Attention-bottleneck fusion, MBT (Nagrani et al., NeurIPS 2021).

Each modality has its own transformer layers. From layer ``fusion_start`` on, a layer of modality m
runs over [own steps; bottleneck tokens]; the bottleneck tokens each modality produces are averaged
and passed on, so modalities exchange information only through those few tokens. z = W_o of the
mean over modalities of each modality's masked-mean-pooled (normalised) steps.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import AttentionBlock, StepEmbedding, check_heads
from fusionlab.nn.masking import masked_mean


class BottleneckFusion(Fusion):
    """seq (B, T_m, d_in) + mask per modality -> z (B, d_out)."""

    uses_sequences = True

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, d_model: int,
                 heads: int, layers: int, n_bottleneck: int, fusion_start: int, ff_mult: int,
                 dropout: float):
        super().__init__(modalities, d_in, d_out)
        check_heads(d_model, heads, "fusion.d_model")
        if not 0 <= fusion_start < layers:
            raise ConfigError(f"fusion.fusion_start={fusion_start} must be in [0, fusion.layers={layers})")
        if n_bottleneck < 1:
            raise ConfigError(f"fusion.n_bottleneck must be >= 1, got {n_bottleneck}")
        self.fusion_start, self.layers = fusion_start, layers
        self.embed = nn.ModuleDict({m: StepEmbedding(d_in, d_model, dropout) for m in self.modalities})
        self.bottleneck = nn.Parameter(torch.randn(n_bottleneck, d_model) * 0.02)
        self.blocks = nn.ModuleDict({
            m: nn.ModuleList(AttentionBlock(d_model, heads, ff_mult, dropout) for _ in range(layers))
            for m in self.modalities})
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        steps = {m: encoded[m].steps() for m in self.modalities}
        h = {m: self.embed[m](seq, mask) for m, (seq, mask) in steps.items()}
        batch = next(iter(h.values())).shape[0]
        b = self.bottleneck.unsqueeze(0).expand(batch, -1, -1)
        b_mask = torch.ones(b.shape[:2], dtype=torch.bool, device=b.device)
        for layer in range(self.layers):
            if layer < self.fusion_start:
                h = {m: self.blocks[m][layer](h[m], key_mask=steps[m][1]) for m in self.modalities}
                continue
            updated = []
            for m in self.modalities:
                length = h[m].shape[1]
                y = self.blocks[m][layer](torch.cat([h[m], b], dim=1),
                                          key_mask=torch.cat([steps[m][1], b_mask], dim=1))
                h[m] = y[:, :length]
                updated.append(y[:, length:])
            b = torch.stack(updated).mean(dim=0)
        pooled = torch.stack([masked_mean(self.norm(h[m]), steps[m][1]) for m in self.modalities])
        return FusionOutput(z=self.out(pooled.mean(dim=0)))
