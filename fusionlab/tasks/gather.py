"""Collect per-sample evaluation records across DDP ranks, exactly once per sample.

Lightning's DistributedSampler pads the evaluation set so every rank gets the same number of
batches, which repeats a few samples. Every record carries the sample's row index
(:class:`~fusionlab.contracts.EvalRecord`); after gathering, duplicates are dropped so metrics are
computed over exactly the evaluation set.
"""

from __future__ import annotations

import torch.distributed as dist

from fusionlab.contracts import EvalRecord


def gather_unique(records: list[EvalRecord]) -> list[EvalRecord]:
    """This rank's records -> all ranks' records, one per sample index, sorted by index."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        parts: list = [None] * dist.get_world_size()
        dist.all_gather_object(parts, records)
        records = [r for part in parts for r in part]
    unique = {}
    for r in records:
        unique.setdefault(int(r.index), r)
    return [unique[i] for i in sorted(unique)]
