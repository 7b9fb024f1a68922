"""Batch helpers; the :class:`Batch` every DataModule yields is declared in fusionlab/contracts.py."""

from __future__ import annotations

import torch
from torch import Tensor

from fusionlab.contracts import Batch

__all__ = ["Batch", "pad_token_lists"]


def pad_token_lists(seqs: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad token id lists. Returns ids (B, T) long and mask (B, T) bool."""
    longest = max((len(s) for s in seqs), default=0)
    longest = max(longest, 1)
    ids = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.bool)
    for i, s in enumerate(seqs):
        if s:
            ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
            mask[i, : len(s)] = True
    return ids, mask
