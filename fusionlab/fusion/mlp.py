"""Small MLP blocks shared by the paper's fusions (AutoFusion, GAN-Fusion) and baselines."""

from __future__ import annotations

from torch import nn

COMPRESSOR_NORMS = ("none", "layer")


def compressor(d_in: int, d_out: int, norm: str = "none") -> nn.Sequential:
    """AutoFusion's compression: Linear(F, F/2) -> tanh -> Linear(F/2, d) -> ReLU; (B, F) -> (B, d).

    norm="layer" puts a LayerNorm before the tanh and before the ReLU (the paper's text has none):
    the pre-activations then stay centred and unit-scale, so neither nonlinearity drops the input.
    """
    half = max(d_in // 2, 1)
    if norm == "layer":
        return nn.Sequential(nn.Linear(d_in, half), nn.LayerNorm(half), nn.Tanh(),
                             nn.Linear(half, d_out), nn.LayerNorm(d_out), nn.ReLU())
    return nn.Sequential(nn.Linear(d_in, half), nn.Tanh(), nn.Linear(half, d_out), nn.ReLU())


def reconstructor(d: int, d_out: int) -> nn.Sequential:
    """AutoFusion's reconstruction: Linear(d, F/2) -> ReLU -> Linear(F/2, F); (B, d) -> (B, F)."""
    half = max(d_out // 2, 1)
    return nn.Sequential(nn.Linear(d, half), nn.ReLU(), nn.Linear(half, d_out))


def bn_leaky_stack(dims: list[int], out_dim: int) -> nn.Sequential:
    """[Linear -> BatchNorm -> LeakyReLU(0.2)] for each consecutive pair in dims, then Linear(dims[-1], out_dim).

    GAN-Fusion's generator is bn_leaky_stack([d, 2d, 2d], d); its discriminator bn_leaky_stack([d, d, d], 1).
    """
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(0.2)]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)
