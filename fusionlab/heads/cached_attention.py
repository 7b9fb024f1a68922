"""Incremental multi-head attention with projected keys/values cached between decoding steps.

``nn.MultiheadAttention`` projects its keys and values on every call. Called once per generated
token with the whole prefix (self-attention) and the whole memory (cross-attention) as keys, it
re-projects O(t) prefix rows and all memory rows at every step t: with beam 4 over 200 sentences
this was ~90 % of the beam-search time of ``experiment=multi30k_text``. Here the memory is projected
once and each step projects only its new position, using the same module's weights, so a
checkpoint is unchanged and the result equals ``nn.MultiheadAttention`` up to float rounding.

Shapes: N rows (samples x beams), H heads, head size d_h = d / H.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def project(attn: nn.MultiheadAttention, x: Tensor, which: int) -> Tensor:
    """(N, T, d) -> (N, H, T, d_h): the query (0), key (1) or value (2) projection of ``attn``."""
    d, h = attn.embed_dim, attn.num_heads
    rows = slice(which * d, (which + 1) * d)
    bias = None if attn.in_proj_bias is None else attn.in_proj_bias[rows]
    y = F.linear(x, attn.in_proj_weight[rows], bias)
    return y.view(x.shape[0], x.shape[1], h, d // h).transpose(1, 2)


def attend(attn: nn.MultiheadAttention, q: Tensor, k: Tensor, v: Tensor,
           mask: Tensor | None = None) -> Tensor:
    """q (N, H, T, d_h), k/v (N, H, S, d_h), mask (N, 1, 1, S) bool True = attend -> (N, T, d)
    after ``attn``'s output projection (no dropout: incremental decoding runs in eval mode)."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    n, h, t, dh = out.shape
    return attn.out_proj(out.transpose(1, 2).reshape(n, t, h * dh))


def memory_cache(attn: nn.MultiheadAttention, memory: Tensor) -> tuple[Tensor, Tensor]:
    """Projected keys and values (N, H, S, d_h) of a memory that stays fixed while decoding."""
    return project(attn, memory, 1), project(attn, memory, 2)


def self_attention_step(attn: nn.MultiheadAttention, h: Tensor, past_k: Tensor | None,
                        past_v: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """One new position h (N, 1, d) attends to itself and the P cached ones.

    Returns the attention output (N, 1, d) and the keys/values (N, H, P + 1, d_h) to cache.
    """
    k, v = project(attn, h, 1), project(attn, h, 2)
    if past_k is not None:
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
    return attend(attn, project(attn, h, 0), k, v), k, v
