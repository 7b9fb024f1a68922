"""Multimodal Transformer, MulT (Tsai et al., ACL 2019), on unaligned sequences.

For every target modality t and source s ≠ t, a stack of cross-modal blocks lets t's steps attend to
s's (un-updated) steps; the M-1 results are concatenated per step, refined by self-attention over t,
and mean-pooled over t's real steps. Pooled vectors of all targets are concatenated, passed through a
residual MLP and projected to d_out. Padded steps (mask False) are never attended to nor pooled.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import (AttentionBlock, StepEmbedding, check_heads, masked_mean, mlp,
                                     require_modalities)


def _blocks(n: int, d: int, heads: int, ff_mult: int, dropout: float) -> nn.ModuleList:
    return nn.ModuleList(AttentionBlock(d, heads, ff_mult, dropout) for _ in range(n))


class MultimodalTransformer(Fusion):
    """seq (B, T_m, d_in) + mask (B, T_m) per modality (lengths may differ) -> z (B, d_out)."""

    uses_sequences = True

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, d_model: int = 64,
                 heads: int = 4, cross_layers: int = 2, self_layers: int = 1, ff_mult: int = 4,
                 dropout: float = 0.1):
        super().__init__(modalities, d_in, d_out)
        require_modalities(self.modalities, 2, "mult")
        check_heads(d_model, heads, "fusion.d_model")
        mods = self.modalities
        d_target = (len(mods) - 1) * d_model
        self.embed = nn.ModuleDict({m: StepEmbedding(d_in, d_model, dropout) for m in mods})
        self.cross = nn.ModuleDict({f"{s}_to_{t}": _blocks(cross_layers, d_model, heads, ff_mult, dropout)
                                    for t in mods for s in mods if s != t})
        self.self_attn = nn.ModuleDict({t: _blocks(self_layers, d_target, heads, ff_mult, dropout)
                                        for t in mods})
        d_all = len(mods) * d_target
        self.residual = mlp([d_all, d_all, d_all], dropout=dropout)
        self.out = nn.Linear(d_all, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        steps = {m: encoded[m].steps() for m in self.modalities}
        x = {m: self.embed[m](seq, mask) for m, (seq, mask) in steps.items()}
        pooled = []
        for t in self.modalities:
            mask_t = steps[t][1]
            per_source = []
            for s in self.modalities:
                if s == t:
                    continue
                h = x[t]
                for block in self.cross[f"{s}_to_{t}"]:
                    h = block(h, key_mask=steps[s][1], context=x[s])
                per_source.append(h)
            h = torch.cat(per_source, dim=-1)
            for block in self.self_attn[t]:
                h = block(h, key_mask=mask_t)
            pooled.append(masked_mean(h, mask_t))
        h = torch.cat(pooled, dim=-1)
        return FusionOutput(z=self.out(h + self.residual(h)))
