"""Auxiliary objectives used by several fusions (returned unweighted in FusionOutput.losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE between (B, d) views; row i of a and b is the positive pair."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.t() / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def central_moment_discrepancy(x: Tensor, y: Tensor, moments: int = 5) -> Tensor:
    """CMD (Zellinger et al., 2017) between (B, d) samples:
    ||Δ mean|| + Σ_{k=2..K} ||Δ k-th central moment||."""
    mx, my = x.mean(0), y.mean(0)
    cx, cy = x - mx, y - my
    total = (mx - my).norm()
    for k in range(2, moments + 1):
        total = total + (cx.pow(k).mean(0) - cy.pow(k).mean(0)).norm()
    return total


def orthogonality(shared: Tensor, private: Tensor) -> Tensor:
    """||Ŝᵀ P̂||_F² / (h_s·h_p) for (B, h) batches whose feature columns are centred and L2-normalised
    over the batch: the mean squared correlation between shared and private features (0 = orthogonal)."""
    s = F.normalize(shared - shared.mean(0), dim=0)
    p = F.normalize(private - private.mean(0), dim=0)
    return (s.t() @ p).pow(2).mean()
