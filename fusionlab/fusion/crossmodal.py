"""MulT's Transformer encoder stack (Tsai et al., ACL 2019), as its reference implementation
(yaohungt/Multimodal-Transformer, modules/transformer.py) computes it.

A stack maps target steps x (B, Tq, d), and for a cross-modal stack source steps c (B, Tk, d), to
(B, Tq, d): x and c are each multiplied by √d and get fairseq sinusoidal positions, then ``layers``
pre-LayerNorm blocks let the target attend to the source (which is never updated; each block
normalizes it with the same LayerNorm as the query), and a final LayerNorm ends the stack.
Without a source the blocks are self-attention.

Positions and masks are computed by the caller (see :mod:`fusionlab.fusion.mult`): ``x_pos``/
``c_pos`` (B, T) long, 0 on padding, and ``blocked`` (B, Tq, Tk) bool, True where a query may not
attend a key (None: attend everywhere).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.nn.positions import fairseq_position_embedding


def future_blocked(q_rank: Tensor, q_len: Tensor, k_rank: Tensor, k_len: Tensor) -> Tensor:
    """(B, Tq, Tk) bool, True where key j lies in query i's future, shifted by the length gap:
    rank_k(j) - rank_q(i) > |L_k - L_q| (MulT's ``buffered_future_mask``; ranks count real steps,
    L are the real lengths, (B,) each). For equal lengths this is the usual causal mask."""
    gap = (k_len - q_len).abs().view(-1, 1, 1)
    return (k_rank.unsqueeze(1) - q_rank.unsqueeze(2)) > gap


class CrossmodalLayer(nn.Module):
    """One pre-LayerNorm block: (cross-)attention and a ReLU feed-forward (ff_mult·d), both residual.

    Dropouts as in the reference: ``attn_dropout`` on the attention weights, ``relu_dropout`` after
    the ReLU, ``res_dropout`` on each branch before the residual sum.
    """

    def __init__(self, d: int, heads: int, ff_mult: int = 4, attn_dropout: float = 0.0,
                 relu_dropout: float = 0.0, res_dropout: float = 0.0):
        super().__init__()
        self.heads = heads
        self.norm_attn = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=attn_dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, ff_mult * d)
        self.fc2 = nn.Linear(ff_mult * d, d)
        self.relu_dropout = float(relu_dropout)
        self.res_dropout = float(res_dropout)

    def forward(self, x: Tensor, context: Tensor | None = None,
                blocked: Tensor | None = None) -> Tensor:
        """x (B, Tq, d), context (B, Tk, d) or None, blocked (B, Tq, Tk) bool or None."""
        q = self.norm_attn(x)
        kv = q if context is None else self.norm_attn(context)
        mask = None if blocked is None else blocked.repeat_interleave(self.heads, dim=0)
        attended, _ = self.attn(q, kv, kv, attn_mask=mask, need_weights=False)
        x = x + F.dropout(attended, self.res_dropout, self.training)
        h = F.dropout(F.relu(self.fc1(self.norm_ff(x))), self.relu_dropout, self.training)
        return x + F.dropout(self.fc2(h), self.res_dropout, self.training)


class CrossmodalStack(nn.Module):
    """√d scaling + fairseq positions + embed dropout, ``layers`` CrossmodalLayers, final LayerNorm."""

    def __init__(self, d: int, heads: int, layers: int, ff_mult: int = 4, attn_dropout: float = 0.0,
                 relu_dropout: float = 0.0, res_dropout: float = 0.0, embed_dropout: float = 0.0):
        super().__init__()
        self.d = d
        self.scale = math.sqrt(d)
        self.embed_dropout = float(embed_dropout)
        self.layers = nn.ModuleList(
            CrossmodalLayer(d, heads, ff_mult, attn_dropout, relu_dropout, res_dropout)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d)

    def embed(self, x: Tensor, positions: Tensor) -> Tensor:
        """(B, T, d), (B, T) long -> √d·x + position rows, with embed dropout."""
        x = self.scale * x + fairseq_position_embedding(positions, self.d, x.dtype)
        return F.dropout(x, self.embed_dropout, self.training)

    def forward(self, x: Tensor, x_pos: Tensor, context: Tensor | None = None,
                c_pos: Tensor | None = None, blocked: Tensor | None = None) -> Tensor:
        h = self.embed(x, x_pos)
        c = None if context is None else self.embed(context, c_pos)
        for layer in self.layers:
            h = layer(h, c, blocked)
        return self.norm(h)


def any_key(blocked: Tensor) -> Tensor:
    """Unblock every key of rows that have none left (padded queries, empty sources), so softmax
    never sees a row of -inf; those rows are never pooled."""
    return blocked & ~blocked.all(dim=-1, keepdim=True)

