"""fusion=tfn's out_norm option: 'layer' is the reference TFN's output (out_norm=none) normalised per
sample, (y - mean(y)) / sqrt(var(y) + 1e-5) over its d_out entries (biased variance, no affine)."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

ORDER = ["audio", "video", "text"]


def _fused(out_norm: str, x: dict) -> torch.Tensor:
    torch.manual_seed(0)                     # same weights for both options
    fusion = build_fusion("tfn", modalities=ORDER, d_in=5, d_out=6, tfn_dim=3, hidden=7,
                          out_norm=out_norm).double().eval()
    with torch.no_grad():
        return fusion({m: Encoded(vec=v) for m, v in x.items()}).z


def test_layer_out_norm_is_the_reference_output_normalised_per_sample():
    g = torch.Generator().manual_seed(1)
    x = {m: 3.0 * torch.randn(4, 5, generator=g, dtype=torch.float64) for m in ORDER}
    y = _fused("none", x)
    z = _fused("layer", x)
    rows = []
    for sample in y.tolist():                # hand-written mean and biased variance per sample
        mean = sum(sample) / len(sample)
        var = sum((v - mean) ** 2 for v in sample) / len(sample)
        rows.append([(v - mean) / (var + 1e-5) ** 0.5 for v in sample])
    assert float((z - torch.tensor(rows, dtype=torch.float64)).abs().max()) <= 1e-10
    assert float(y.std()) > 0.0 and not torch.allclose(y, z)


def test_default_is_the_layer_norm_and_unknown_values_are_refused():
    fusion = build_fusion("tfn")
    assert isinstance(fusion.out_norm, torch.nn.LayerNorm) and not fusion.out_norm.elementwise_affine
    with pytest.raises(ConfigError, match=r"fusion.out_norm='batch' is not one of \['layer', 'none'\]"):
        build_fusion("tfn", out_norm="batch")
