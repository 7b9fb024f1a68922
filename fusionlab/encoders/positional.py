"""Token embeddings with sinusoidal positions, shared by the Transformer encoder and decoder."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positions(length: int, d: int, device=None, dtype=torch.float32) -> Tensor:
    """(length, d) fixed sinusoidal table (Vaswani et al. 2017): sin even, cos odd channels."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / d))
    table = torch.zeros(length, d, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table.to(dtype)


class PositionalTokenEmbedding(nn.Module):
    """ids (B, T) long -> (B, T, d): embedding · sqrt(d) + sinusoidal position, then dropout.

    ``start`` is the position of ``ids[:, 0]`` (incremental decoding embeds one step at a time).

    The position table is computed on demand (no maximum length) and cached as a plain attribute,
    not a buffer: checkpoints hold only the embedding matrix, and DDP never tries to broadcast a
    table whose length differs between ranks.
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d, padding_idx=pad_id)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        with torch.no_grad():
            self.embed.weight[pad_id].zero_()
        self.d = d
        self.scale = math.sqrt(d)
        self.dropout = nn.Dropout(dropout)
        self._table: Tensor | None = None

    @property
    def weight(self) -> Tensor:
        """The (V, d) embedding matrix (for tying an output projection to it)."""
        return self.embed.weight

    def positions(self, length: int, like: Tensor) -> Tensor:
        """(length, d) position rows on ``like``'s device and dtype."""
        table = self._table
        if table is None or table.shape[0] < length or table.device != like.device:
            self._table = sinusoidal_positions(max(length, 64), self.d, device=like.device)
        return self._table[:length].to(like.dtype)

    def forward(self, ids: Tensor, start: int = 0) -> Tensor:
        x = self.embed(ids) * self.scale
        return self.dropout(x + self.positions(start + ids.shape[1], x)[start:])


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
