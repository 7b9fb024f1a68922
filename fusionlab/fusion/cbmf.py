"""Context-Based Multimodal Fusion (Nguyen et al., 2024).

Each modality m owns a learned context vector c_m. One fusion network g, shared by all modalities,
maps [v_m; c_m] to e_m, so the context tells g which modality it sees. A symmetric InfoNCE loss
(``contrastive``, averaged over modality pairs) aligns e_i and e_j of the same sample.
z = W_o [e_1; ...; e_M].

Optional (``pretrained_text: true``, default off): the first (text) modality also gets a frozen
all-MiniLM-L6-v2 sentence embedding of the raw source sentences, adapted to d_in and added to v_text.
Call ``fusion(encoded, texts=[...])`` then; ``wants_raw_text`` tells the task module to pass them.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.layers import mlp, pairs, require_modalities
from fusionlab.fusion.objectives import info_nce


class ContextBasedFusion(Fusion):
    """vec (B, d_in) per modality -> z (B, d_out); losses {"contrastive"}."""

    def __init__(self, modalities: Sequence[str], d_in: int, d_out: int, *, context_dim: int,
                 proj_dim: int, temperature: float, contrastive_weight: float, dropout: float,
                 pretrained_text: bool):
        super().__init__(modalities, d_in, d_out, loss_weights={"contrastive": contrastive_weight})
        require_modalities(self.modalities, 2, "cbmf")
        self.temperature = float(temperature)
        self.context = nn.ParameterDict({m: nn.Parameter(torch.randn(context_dim) * 0.1)
                                         for m in self.modalities})
        self.fuse = mlp([d_in + context_dim, proj_dim, proj_dim], dropout=dropout)
        self.out = nn.Linear(len(self.modalities) * proj_dim, d_out)
        self.wants_raw_text = bool(pretrained_text)
        self._sentence_encoder = None
        if pretrained_text:
            from fusionlab.fusion.pretrained_text import MINILM_DIM, FrozenSentenceEncoder

            self._sentence_encoder = FrozenSentenceEncoder()
            self.text_adapter = nn.Linear(MINILM_DIM, d_in)

    def _vectors(self, encoded: dict[str, Encoded], texts: list[str] | None) -> dict:
        vecs = {m: encoded[m].vec for m in self.modalities}
        if self._sentence_encoder is not None:
            if texts is None:
                raise ConfigError("fusion.pretrained_text=true needs the raw source sentences "
                                  "(fusion(encoded, texts=...)); this task does not pass them — "
                                  "set fusion.pretrained_text=false")
            first = self.modalities[0]
            emb = self._sentence_encoder.encode(texts, vecs[first].device)
            vecs[first] = vecs[first] + self.text_adapter(emb)
        return vecs

    def forward(self, encoded: dict[str, Encoded], texts: list[str] | None = None) -> FusionOutput:
        vecs = self._vectors(encoded, texts)
        emb = {m: self.fuse(torch.cat([v, self.context[m].expand(v.shape[0], -1)], dim=-1))
               for m, v in vecs.items()}
        loss = torch.stack([info_nce(emb[a], emb[b], self.temperature)
                            for a, b in pairs(self.modalities)]).mean()
        z = self.out(torch.cat([emb[m] for m in self.modalities], dim=-1))
        return FusionOutput(z=z, losses={"contrastive": loss})
