"""Token embeddings with sinusoidal positions (``fusionlab/nn/positions.py``), shared by the
Transformer encoder and decoder."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from fusionlab.nn.dropout import FastDropout
from fusionlab.nn.positions import sinusoidal_positions


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
        self.dropout = FastDropout(dropout)
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
