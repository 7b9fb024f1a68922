"""fusion=lmf's out_norm option: 'none' (default) is the reference LMF's output; 'layer' is that output
normalised per sample, (y - mean(y)) / sqrt(var(y) + 1e-5) over its d_out entries (biased variance,
no affine)."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

ORDER = ["audio", "video", "text"]


def _fused(x: dict, **options) -> torch.Tensor:
    torch.manual_seed(0)                     # same weights for every option value
    fusion = build_fusion("lmf", modalities=ORDER, d_in=5, d_out=6, rank=3, **options).double().eval()
    with torch.no_grad():
        fusion.bias.add_(torch.arange(6, dtype=torch.float64))      # starts at 0: move it
        return fusion({m: Encoded(vec=v) for m, v in x.items()}).z


def _inputs() -> dict:
    g = torch.Generator().manual_seed(1)
    return {m: 3.0 * torch.randn(4, 5, generator=g, dtype=torch.float64) for m in ORDER}


def test_layer_out_norm_is_the_reference_output_normalised_per_sample():
    x = _inputs()
    y = _fused(x, out_norm="none")
    z = _fused(x, out_norm="layer")
    rows = []
    for sample in y.tolist():                # hand-written mean and biased variance per sample
        mean = sum(sample) / len(sample)
        var = sum((v - mean) ** 2 for v in sample) / len(sample)
        rows.append([(v - mean) / (var + 1e-5) ** 0.5 for v in sample])
    assert float((z - torch.tensor(rows, dtype=torch.float64)).abs().max()) <= 1e-10
    assert float(y.std()) > 0.0 and not torch.allclose(y, z)


def test_default_is_the_reference_output_and_unknown_values_are_refused():
    x = _inputs()
    assert torch.equal(_fused(x), _fused(x, out_norm="none"))
    fusion = build_fusion("lmf")
    assert isinstance(fusion.out_norm, torch.nn.Identity)
    assert isinstance(build_fusion("lmf", out_norm="layer").out_norm, torch.nn.LayerNorm)
    assert not build_fusion("lmf", out_norm="layer").out_norm.elementwise_affine   # no parameters
    with pytest.raises(ConfigError, match=r"fusion.out_norm='batch' is not one of \['layer', 'none'\]"):
        build_fusion("lmf", out_norm="batch")
