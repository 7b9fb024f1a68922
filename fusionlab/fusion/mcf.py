"""Multimodal Circulant Fusion (Wu & Han, IJCAI 2018).

Each modality is projected to size k; for every ordered pair (i, j), the circulant matrix of v_i
(row r = v_i cyclically shifted by r) multiplies v_j: (circ(v_i) v_j)_r = Σ_n v_i[(n - r) mod k] v_j[n],
computed with FFTs in O(k log k). The per-pair interactions are averaged and scaled by 1/√k (the
paper's 1/k averaging shrinks them to O(1/√k); 1/√k keeps unit scale), and a linear layer maps them
to d_out. (The paper's second, row-wise ⊙-then-average operation reduces to mean(v_i)·v_j for a
circulant matrix, so only the matrix-vector product is used.)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import require_modalities


def circulant(v: Tensor) -> Tensor:
    """(..., k) -> (..., k, k) circulant matrix whose row r is v rolled right by r."""
    k = v.shape[-1]
    idx = (torch.arange(k).unsqueeze(1) * -1 + torch.arange(k).unsqueeze(0)) % k  # [r, n] = (n - r) mod k
    return v[..., idx.to(v.device)]


def circulant_product(a: Tensor, b: Tensor) -> Tensor:
    """circ(a) @ b for (..., k) vectors (circular cross-correlation), via FFT."""
    k = a.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(a).conj() * torch.fft.rfft(b), n=k)


class CirculantFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out) = W_o · mean_{i≠j} circ(P_i v_i) P_j v_j / √k."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, mcf_dim: int,
                 dropout: float):
        super().__init__(modalities, d_in, d_out)
        require_modalities(self.modalities, 2, "mcf")
        self.project = nn.ModuleDict({m: nn.Linear(d_in, mcf_dim) for m in self.modalities})
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(mcf_dim, d_out)
        self.mcf_dim = mcf_dim

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        v = {m: self.project[m](encoded[m].vec) for m in self.modalities}
        terms = [circulant_product(v[i], v[j]) for i in self.modalities for j in self.modalities if i != j]
        fused = torch.stack(terms).mean(0) / self.mcf_dim ** 0.5
        return FusionOutput(z=self.out(self.dropout(fused)))
