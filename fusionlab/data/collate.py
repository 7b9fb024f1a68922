"""Turn a list of samples into a :class:`Batch`, driven by the DataSpec.

A sample is a plain dict::

    {"index": int,
     "inputs": {modality: list[int] (TOKENS) | np.ndarray (D,) (VECTOR) | np.ndarray (T_i, D) (SEQUENCE,
                real steps only)},
     "target": list[int] with BOS/EOS (translation) | np.ndarray (n_labels,) int (classification)
               | float (regression),
     "target_text": str (translation only, the raw reference),
     "source_text": str (optional, the raw source sentence; collated into Batch.meta["source_text"])}
"""

from __future__ import annotations

import numpy as np
import torch

from fusionlab.data.batch import Batch, pad_token_lists
from fusionlab.data.spec import CLASSIFICATION, REGRESSION, SEQUENCE, TOKENS, TRANSLATION, VECTOR, DataSpec


def pad_feature_sequences(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T_i, D) arrays -> (B, T_max, D) float32 with real steps first, and (B, T_max) bool mask."""
    longest = max(max((s.shape[0] for s in seqs), default=1), 1)
    dim = seqs[0].shape[1]
    out = np.zeros((len(seqs), longest, dim), dtype=np.float32)
    mask = np.zeros((len(seqs), longest), dtype=bool)
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return torch.from_numpy(out), torch.from_numpy(mask)


class Collator:
    """Picklable collate_fn (works with DataLoader workers and ddp_spawn)."""

    def __init__(self, spec: DataSpec):
        self.spec = spec

    def __call__(self, samples: list[dict]) -> Batch:
        inputs, masks = {}, {}
        for name, m in self.spec.modalities.items():
            values = [s["inputs"][name] for s in samples]
            if m.kind == TOKENS:
                inputs[name], masks[name] = pad_token_lists(values, m.pad_id)
            elif m.kind == VECTOR:
                inputs[name] = torch.from_numpy(np.stack(values).astype(np.float32, copy=False))
            elif m.kind == SEQUENCE:
                inputs[name], masks[name] = pad_feature_sequences(values)
        index = torch.tensor([s["index"] for s in samples], dtype=torch.long)
        target, target_text = None, None
        if "target" in samples[0]:
            if self.spec.task == TRANSLATION:
                target, _ = pad_token_lists([s["target"] for s in samples], self.spec.pad_id)
                target_text = [s["target_text"] for s in samples]
            elif self.spec.task == CLASSIFICATION:
                target = torch.from_numpy(np.stack([np.asarray(s["target"]) for s in samples])).long()
            elif self.spec.task == REGRESSION:
                target = torch.tensor([float(s["target"]) for s in samples], dtype=torch.float32)
        meta = {}
        if "source_text" in samples[0]:
            meta["source_text"] = [s["source_text"] for s in samples]
        return Batch(inputs=inputs, masks=masks, index=index, target=target, target_text=target_text,
                     meta=meta)
