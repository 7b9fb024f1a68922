"""Fixed sinusoidal position codes (no weights): the Transformer's interleaved table and the
fairseq/tensor2tensor form MulT uses."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoidal_positions(length: int, d: int, device=None, dtype=torch.float32) -> Tensor:
    """(length, d) table (Vaswani et al. 2017): sin on even, cos on odd channels.

    Computed in float32 and then cast to ``dtype``, so reduced-precision runs get rounded exact
    values rather than values computed in low precision.
    """
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / d))
    table = torch.zeros(length, d, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table.to(dtype)


def fairseq_sinusoidal_table(length: int, d: int, device=None, dtype=torch.float32) -> Tensor:
    """(length, d) sinusoidal table in the fairseq/tensor2tensor form that MulT uses.

    Row p (p >= 1) is [sin(p·f_0..f_{h-1}), cos(p·f_0..f_{h-1})] with h = d // 2 and
    f_k = 10000^(-k / (h - 1)) (sin and cos as two halves, not interleaved); a zero column is added
    when d is odd; row 0 is all zeros (position 0 marks padding).
    """
    half = d // 2
    step = math.log(10000.0) / max(half - 1, 1)
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -step)
    angles = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1) * freq
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if d % 2:
        table = torch.cat([table, table.new_zeros(length, 1)], dim=1)
    table[0] = 0.0
    return table.to(dtype)


def fairseq_position_embedding(positions: Tensor, d: int, dtype=torch.float32) -> Tensor:
    """positions (B, T) long, 0 for padding and 1, 2, ... for real steps -> (B, T, d) embeddings."""
    length = int(positions.max()) + 1 if positions.numel() else 1
    return fairseq_sinusoidal_table(length, d, positions.device, dtype)[positions]
