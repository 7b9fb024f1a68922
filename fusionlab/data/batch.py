"""The batch every DataModule yields and every task module consumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Batch:
    """A collated mini-batch.

    inputs:  modality -> tensor. TOKENS (B, T) long; VECTOR (B, D) float; SEQUENCE (B, T, D) float.
    masks:   modality -> (B, T) bool, True where the step is real (TOKENS and SEQUENCE modalities).
             Real steps always come first (right padding); loaders of left-padded releases shift them.
    index:   (B,) long, row of each sample in its split; lets distributed evaluation drop duplicates.
    target:  translation: (B, T_tgt) long, BOS w_1 .. w_n EOS then pad_id;
             classification: (B, n_labels) long class per label (IEMOCAP: 0/1 per emotion);
             regression: (B,) float.
    target_text: raw reference sentences (translation only), for sacreBLEU.
    """

    inputs: dict[str, Tensor]
    masks: dict[str, Tensor]
    index: Tensor
    target: Tensor | None = None
    target_text: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "Batch":
        return Batch(
            inputs={k: v.to(device, non_blocking=True) for k, v in self.inputs.items()},
            masks={k: v.to(device, non_blocking=True) for k, v in self.masks.items()},
            index=self.index.to(device),
            target=None if self.target is None else self.target.to(device, non_blocking=True),
            target_text=self.target_text,
            meta=self.meta,
        )


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
