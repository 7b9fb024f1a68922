"""Building blocks shared by the fusion methods: MLPs, gradient reversal, masked pooling, attention.

Masks follow the contract: (B, T) bool, True where the step is real.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError


def mlp(sizes: Sequence[int], dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``; activation + dropout between them, none at the end."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def with_one(x: Tensor) -> Tensor:
    """(B, d) -> (B, d + 1): append a constant 1 (keeps unimodal terms in tensor products)."""
    return torch.cat([x, x.new_ones(x.shape[:-1] + (1,))], dim=-1)


def zero_padded(seq: Tensor, mask: Tensor) -> Tensor:
    """(B, T, d) with padded steps set to 0, so no value there (even NaN) can leak through."""
    return seq.masked_fill(~mask.unsqueeze(-1), 0.0)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """(B, T, d), (B, T) -> (B, d) mean over the real steps (0 for a row without any)."""
    x = zero_padded(x, mask)
    return x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)


def with_a_real_step(mask: Tensor) -> Tensor:
    """Mark step 0 real in rows that have none, so attention over them never divides by zero."""
    empty = ~mask.any(dim=1)
    if not bool(empty.any()):
        return mask
    mask = mask.clone()
    mask[empty, 0] = True
    return mask


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> Tensor:
    """(length, dim) fixed sine/cosine position codes (Vaswani et al.)."""
    pos = torch.arange(length, device=device, dtype=dtype).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=dtype) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim, device=device, dtype=dtype)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return out


def check_heads(d_model: int, heads: int, option: str) -> None:
    if d_model % heads:
        raise ConfigError(f"{option}={d_model} is not divisible by fusion.heads={heads}; "
                          f"pick sizes so that heads divides it")


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    """Identity forward; multiplies the gradient by -scale backward (Ganin & Lempitsky, 2015)."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = float(scale)

    def forward(self, x: Tensor) -> Tensor:
        return _ReverseGrad.apply(x, self.scale)


class AttentionBlock(nn.Module):
    """Pre-norm transformer layer: (cross-)attention + feed-forward, both residual.

    forward(x (B, Tq, d), key_mask (B, Tk) bool, context (B, Tk, d) or None) -> (B, Tq, d).
    context=None is self-attention over x. Keys whose mask is False are never attended to.
    """

    def __init__(self, d_model: int, heads: int, ff_mult: int = 4, dropout: float = 0.1):
        super().__init__()
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_mult * d_model), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(ff_mult * d_model, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_mask: Tensor, context: Tensor | None = None) -> Tensor:
        q = self.norm_q(x)
        kv = q if context is None else self.norm_kv(context)
        attended, _ = self.attn(q, kv, kv, key_padding_mask=~with_a_real_step(key_mask),
                                need_weights=False)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ff(self.norm_ff(x)))


def pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Unordered pairs (a, b), a before b."""
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def require_modalities(modalities: Sequence[str], at_least: int, method: str) -> None:
    if len(modalities) < at_least:
        raise ConfigError(f"fusion={method} needs at least {at_least} modalities, the dataset gives "
                          f"{list(modalities)}; pick another fusion (e.g. fusion=text_only)")


class StepEmbedding(nn.Module):
    """(B, T, d_in) steps + (B, T) mask -> (B, T, d_model): Linear, ×√d_model, + sine positions.

    Padded steps are zeroed first, so their values cannot reach real steps.
    """

    def __init__(self, d_in: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.proj = nn.Linear(d_in, d_model)
        self.scale = math.sqrt(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, seq: Tensor, mask: Tensor) -> Tensor:
        x = self.proj(zero_padded(seq, mask)) * self.scale
        x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype)
        return self.dropout(x)
