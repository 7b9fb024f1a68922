"""Input corruption: drop, add noise to or shuffle one modality of a batch, for robustness curves
(``fusionlab/robustness.py``; eval.py sweeps ``level``).

Modes:
  "zeros":    drop the modality in a ``level`` fraction of the samples (level=1: every sample).
              Features become 0; a TOKENS modality has every real token replaced by ``unk_id``.
  "gaussian": features get additive noise of std = level × (std of the modality's real values);
              a TOKENS modality (integer ids) has a ``level`` fraction of each sample's real tokens
              (rounded) replaced by ``unk_id``.
  "shuffle":  incongruent evaluation (Elliott 2018): a ``level`` fraction of the samples (level=1:
              every sample) gets ANOTHER sample's features of the modality, through a random
              derangement within the batch (no chosen sample keeps its own features). Use
              :func:`shuffle_samples` to move the modality's mask along with the features (sequence
              modalities). A batch of one sample cannot be deranged and is returned unchanged.
Real tokens are those with mask True (or, without a mask, ids != pad_id). Padded steps are never
touched. The input dict is not modified; a new dict is returned.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.errors import ConfigError

MODES = ("zeros", "gaussian", "shuffle")
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
    fraction_only = mode in ("zeros", "shuffle") or is_tokens
    if level < 0 or (fraction_only and level > 1):
        raise ConfigError(f"corruption level {level} is out of range for mode {mode!r}: use a fraction "
                          f"in [0, 1]" + ("" if fraction_only else " (or any std >= 0)"))
    x = batch_inputs[modality]
    if mode == "shuffle":
        return shuffle_samples(batch_inputs, {}, [modality], level, generator)[0]
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


def derangement(n: int, generator: torch.Generator | None = None) -> Tensor:
    """A uniformly random permutation of range(n) without fixed points ((n,) long); n >= 2.

    Rejection sampling: about e = 2.72 draws of torch.randperm on average.
    """
    if n < 2:
        raise ValueError(f"a derangement needs at least 2 elements, got {n}")
    while True:
        perm = torch.randperm(n, generator=generator)
        if not (perm == torch.arange(n)).any():
            return perm


def shuffle_permutation(batch: int, level: float, generator: torch.Generator | None = None) -> Tensor:
    """(batch,) source row of each sample: round(level · batch) randomly chosen samples (at least 2
    when level > 0) are deranged among themselves, the others keep their own row."""
    perm = torch.arange(batch)
    n = min(batch, max(2, round(level * batch))) if level > 0 else 0
    if batch < 2 or n < 2:
        return perm
    chosen = torch.randperm(batch, generator=generator)[:n]
    perm[chosen] = chosen[derangement(n, generator)]
    return perm


def shuffle_samples(inputs: dict[str, Tensor], masks: dict[str, Tensor], modalities: list[str],
                    level: float = 1.0, generator: torch.Generator | None = None
                    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Incongruent inputs: the ``modalities`` of sample i come from sample perm[i] (one permutation
    shared by all listed modalities, see :func:`shuffle_permutation`), their masks move with them.

    inputs: modality -> (B, ...) tensor; masks: modality -> (B, T) bool (may lack some modalities).
    Returns new (inputs, masks) dicts; the arguments are not modified.
    """
    missing = [m for m in modalities if m not in inputs]
    if missing:
        raise ConfigError(f"corruption modality {missing[0]!r} is not in the batch; "
                          f"choose among {sorted(inputs)}")
    batch = next(iter(inputs.values())).shape[0]
    perm = shuffle_permutation(batch, float(level), generator)
    new_inputs, new_masks = dict(inputs), dict(masks)
    for m in modalities:
        new_inputs[m] = inputs[m][perm.to(inputs[m].device)]
        if m in masks:
            new_masks[m] = masks[m][perm.to(masks[m].device)]
    return new_inputs, new_masks
