"""Shared-private fusion (in the style of MISA, Hazarika et al. 2020).

One shared encoder (same weights for every modality) and one private encoder per modality.
Losses: ``sim`` pulls the shared representations of different modalities together (CMD or MSE,
averaged over modality pairs); ``orth`` keeps each modality's shared and private parts orthogonal
(||Sᵀ P||_F² on centred, normalised rows). z = W_o [s_1; p_1; ...; s_M; p_M].
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import pairs, require_modalities
from fusionlab.fusion.objectives import central_moment_discrepancy, orthogonality


class SharedPrivateFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out); losses {"sim", "orth"}."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, hidden: int,
                 similarity: str, cmd_moments: int, sim_weight: float, orth_weight: float,
                 dropout: float):
        super().__init__(modalities, d_in, d_out, loss_weights={"sim": sim_weight, "orth": orth_weight})
        require_modalities(self.modalities, 2, "shared_private")
        if similarity not in ("cmd", "mse"):
            raise ConfigError(f"fusion.similarity must be 'cmd' or 'mse', got {similarity!r}")
        self.similarity, self.cmd_moments = similarity, cmd_moments
        self.shared = nn.Sequential(nn.Linear(d_in, hidden), nn.Sigmoid())
        self.private = nn.ModuleDict({m: nn.Sequential(nn.Linear(d_in, hidden), nn.Sigmoid())
                                      for m in self.modalities})
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(2 * len(self.modalities) * hidden, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        shared = {m: self.shared(encoded[m].vec) for m in self.modalities}
        private = {m: self.private[m](encoded[m].vec) for m in self.modalities}
        if self.similarity == "cmd":
            sims = [central_moment_discrepancy(shared[a], shared[b], self.cmd_moments)
                    for a, b in pairs(self.modalities)]
        else:
            sims = [F.mse_loss(shared[a], shared[b]) for a, b in pairs(self.modalities)]
        orth = torch.stack([orthogonality(shared[m], private[m]) for m in self.modalities]).mean()
        parts = [t for m in self.modalities for t in (shared[m], private[m])]
        z = self.out(self.dropout(torch.cat(parts, dim=-1)))
        return FusionOutput(z=z, losses={"sim": torch.stack(sims).mean(), "orth": orth})
