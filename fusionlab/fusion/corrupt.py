"""Corrupt one modality of a batch, for robustness curves (eval.py sweeps ``level``).

Modes:
  "zeros":    drop the modality in a ``level`` fraction of the samples (level=1: every sample).
              Features become 0; a TOKENS modality has every real token replaced by ``unk_id``.
  "gaussian": features get additive noise of std = level × (std of the modality's real values);
              a TOKENS modality (integer ids) has a ``level`` fraction of each sample's real tokens
              (rounded) replaced by ``unk_id``.
Real tokens are those with mask True (or, without a mask, ids != pad_id). Padded steps are never
touched. The input dict is not modified; a new dict is returned.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.errors import ConfigError

MODES = ("zeros", "gaussian")
UNK_ID = 3


def corrupt_modality(batch_inputs: dict[str, Tensor], modality: str, mode: str, level: float,
                     generator: torch.Generator | None = None, mask: Tensor | None = None,
                     unk_id: int = UNK_ID, pad_id: int = 0) -> dict[str, Tensor]:
    """Return a copy of ``batch_inputs`` with ``modality`` corrupted (see module docstring).

    batch_inputs: Batch.inputs (TOKENS (B, T) long, VECTOR (B, D), SEQUENCE (B, T, D) float).
    mask: (B, T) bool for TOKENS/SEQUENCE modalities (Batch.masks[modality]), optional.
    generator: a CPU torch.Generator, so a curve is reproducible.
    """
    if modality not in batch_inputs:
        raise ConfigError(f"corruption modality {modality!r} is not in the batch; "
                          f"choose one of {sorted(batch_inputs)}")
    if mode not in MODES:
        raise ConfigError(f"corruption mode {mode!r} is unknown; choose one of {list(MODES)}")
    level = float(level)
    is_tokens = not torch.is_floating_point(batch_inputs[modality])
    if level < 0 or ((mode == "zeros" or is_tokens) and level > 1):
        raise ConfigError(f"corruption level {level} is out of range for mode {mode!r}: use a fraction "
                          f"in [0, 1]" + ("" if is_tokens or mode == "zeros" else " (or any std >= 0)"))
    x = batch_inputs[modality]
    if mode == "zeros":
        new = _drop_samples(x, level, generator, _real(x, mask, pad_id) if is_tokens else None, unk_id)
    elif is_tokens:
        new = _replace_tokens(x, level, generator, _real(x, mask, pad_id), unk_id)
    else:
        new = _add_noise(x, level, generator, mask)
    out = dict(batch_inputs)
    out[modality] = new
    return out


def _real(ids: Tensor, mask: Tensor | None, pad_id: int) -> Tensor:
    return mask.bool() if mask is not None else ids != pad_id


def _rand(shape, generator, like: Tensor) -> Tensor:
    return torch.rand(shape, generator=generator).to(like.device)


def _drop_samples(x: Tensor, level: float, generator, real_tokens: Tensor | None, unk_id: int) -> Tensor:
    batch = x.shape[0]
    n_drop = round(level * batch)
    chosen = torch.zeros(batch, dtype=torch.bool, device=x.device)
    chosen[_rand((batch,), generator, x).argsort()[:n_drop]] = True
    if real_tokens is not None:
        return x.masked_fill(chosen.unsqueeze(1) & real_tokens, unk_id)
    return x.masked_fill(chosen.view(-1, *([1] * (x.dim() - 1))), 0.0)


def _replace_tokens(ids: Tensor, level: float, generator, real: Tensor, unk_id: int) -> Tensor:
    """Replace round(level · n_real) real tokens of each row, chosen uniformly, by unk_id."""
    scores = _rand(ids.shape, generator, ids).masked_fill(~real, 2.0)  # padded steps sort last
    rank = scores.argsort(dim=1).argsort(dim=1)
    n_replace = torch.round(level * real.sum(dim=1, keepdim=True).float())
    return ids.masked_fill(rank < n_replace, unk_id)


def _add_noise(x: Tensor, level: float, generator, mask: Tensor | None) -> Tensor:
    values = x[mask.bool()] if (mask is not None and x.dim() == 3) else x
    std = values.float().std() if values.numel() > 1 else x.new_tensor(0.0)
    noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype) * level * std
    if mask is not None and x.dim() == 3:
        noise = noise * mask.unsqueeze(-1).to(x.dtype)
    return x + noise
