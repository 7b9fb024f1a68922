"""fusion=mult's out_norm option: 'none' (default) is the reference MulT's output; 'layer' is that
output normalised per sample, (y - mean(y)) / sqrt(var(y) + 1e-5) over its d_out entries (biased
variance, no affine)."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from tests.fusion_zoo_support import build_fusion, make_encoded
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

SMALL = dict(d_in=8, d_out=6, d_model=12, heads=3, cross_layers=1, self_layers=1)


def _fused(**options) -> torch.Tensor:
    torch.manual_seed(0)                     # same weights for every option value
    fusion = build_fusion("mult", **SMALL, **options).double().eval()
    encoded = make_encoded(d=8)
    with torch.no_grad():
        for e in encoded.values():
            e.vec = e.vec.double()
            e.seq = None if e.seq is None else e.seq.double()
        return fusion(encoded).z


def test_layer_out_norm_is_the_reference_output_normalised_per_sample():
    y = _fused(out_norm="none")
    z = _fused(out_norm="layer")
    rows = []
    for sample in y.tolist():                # hand-written mean and biased variance per sample
        mean = sum(sample) / len(sample)
        var = sum((v - mean) ** 2 for v in sample) / len(sample)
        rows.append([(v - mean) / (var + 1e-5) ** 0.5 for v in sample])
    assert float((z - torch.tensor(rows, dtype=torch.float64)).abs().max()) <= 1e-10
    assert float(y.std()) > 0.0 and not torch.allclose(y, z)


def test_default_is_the_reference_output_and_unknown_values_are_refused():
    assert torch.equal(_fused(), _fused(out_norm="none"))
    assert isinstance(build_fusion("mult").out_norm, torch.nn.Identity)
    layer = build_fusion("mult", out_norm="layer").out_norm
    assert isinstance(layer, torch.nn.LayerNorm) and not layer.elementwise_affine   # no parameters
    with pytest.raises(ConfigError, match=r"fusion.out_norm='batch' is not one of \['layer', 'none'\]"):
        build_fusion("mult", out_norm="batch")
