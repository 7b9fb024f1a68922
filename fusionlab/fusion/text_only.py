"""Unimodal baseline: z is the primary (text) modality's vector; every other modality is ignored."""

from __future__ import annotations

from torch import nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput


class TextOnlyFusion(Fusion):
    """z = vec of ``modality`` (null: the first, text) (B, d_in), projected when d_out != d_in."""

    def __init__(self, modalities, d_in: int, d_out: int, *, modality: str | None):
        super().__init__(modalities, d_in, d_out)
        self.modality = modality or self.modalities[0]
        if self.modality not in self.modalities:
            from fusionlab.errors import ConfigError
            raise ConfigError(f"fusion.modality={self.modality!r} is not one of the dataset's "
                              f"modalities {self.modalities}")
        self.proj = nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        return FusionOutput(z=self.proj(encoded[self.modality].vec))
