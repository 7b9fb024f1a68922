"""AutoFusion (Sahu & Vechtomova, 2021): compress the concatenated latents, learn to reconstruct them.

z = [z_1; ...; z_M] (B, F) with F = M*d_in;  fused = ReLU(L2(tanh(L1 z)))  (B, d_out);
ẑ = L4(ReLU(L3 fused))  (B, F);  J_tr = MSE(ẑ, z), added to the task loss with ``recon_weight``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.mlp import compressor, reconstructor


class AutoEncoderFusion(nn.Module):
    """The AutoFusion block on a ready (B, F) vector: returns fused (B, d) and the reconstruction loss."""

    def __init__(self, f: int, d: int):
        super().__init__()
        self.compress = compressor(f, d)
        self.reconstruct = reconstructor(d, f)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        fused = self.compress(z)
        return fused, F.mse_loss(self.reconstruct(fused), z)


class AutoFusion(Fusion):
    """dict of Encoded (vec (B, d_in) each) -> FusionOutput(z (B, d_out), losses={"recon"})."""

    def __init__(self, modalities, d_in: int, d_out: int, recon_weight: float = 1.0):
        super().__init__(modalities, d_in, d_out, loss_weights={"recon": recon_weight})
        self.block = AutoEncoderFusion(len(self.modalities) * d_in, d_out)

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        z, recon = self.block(self.concatenated(encoded))
        return FusionOutput(z=z, losses={"recon": recon})
