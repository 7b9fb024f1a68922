"""Building blocks shared by the fusion methods: MLPs, gradient reversal, attention, step embedding.

Masks follow the contract: (B, T) bool, True where the step is real (helpers: ``fusionlab/nn/masking.py``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.nn.masking import with_a_real_step, zero_padded
from fusionlab.nn.positions import sinusoidal_positions


#: fusion.out_norm: what follows a fusion's output ("none": the reference's output as it is)
OUT_NORMS = {"none": lambda d: nn.Identity(),
             "layer": lambda d: nn.LayerNorm(d, elementwise_affine=False)}


def output_norm(name: str, d: int, reference: str) -> nn.Module:
    """The ``fusion.out_norm`` module for a (B, d) fused vector: Identity ("none", the output of
    ``reference``, e.g. "the reference TFN") or a LayerNorm without weights ("layer"); ConfigError
    naming the option otherwise."""
    if name not in OUT_NORMS:
        raise ConfigError(f"fusion.out_norm={name!r} is not one of {sorted(OUT_NORMS)}; "
                          f"'none' is {reference}, 'layer' normalises the fused vector")
    return OUT_NORMS[name](d)


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
