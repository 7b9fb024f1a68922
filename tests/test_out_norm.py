"""fusion.out_norm of tfn, lmf and mult (fusionlab/fusion/layers.py: output_norm): 'none' is the
reference's output; 'layer' is that output normalised per sample, (y - mean(y)) / sqrt(var(y) + 1e-5)
over its d_out entries (biased variance, no affine), written out here by hand. Defaults: 'layer' for
tfn, 'none' (the reference) for lmf and mult."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion, make_encoded
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

ORDER = ["audio", "video", "text"]
DEFAULTS = {"tfn": "layer", "lmf": "none", "mult": "none"}


def vector_inputs() -> dict[str, Encoded]:
    g = torch.Generator().manual_seed(1)
    return {m: Encoded(vec=3.0 * torch.randn(4, 5, generator=g, dtype=torch.float64)) for m in ORDER}


def sequence_inputs() -> dict[str, Encoded]:
    encoded = make_encoded(d=8)
    for e in encoded.values():
        e.vec = e.vec.double()
        e.seq = None if e.seq is None else e.seq.double()
    return encoded


def fused(name: str, **options) -> torch.Tensor:
    """(4, 6) fused vectors of a small ``name`` fusion; the same weights for every option value."""
    torch.manual_seed(0)
    if name == "tfn":
        fusion, x = build_fusion("tfn", modalities=ORDER, d_in=5, d_out=6, tfn_dim=3, hidden=7,
                                 **options), vector_inputs()
    elif name == "lmf":
        fusion, x = build_fusion("lmf", modalities=ORDER, d_in=5, d_out=6, rank=3, **options), vector_inputs()
    else:
        fusion, x = build_fusion("mult", d_in=8, d_out=6, d_model=12, heads=3, cross_layers=1,
                                 self_layers=1, **options), sequence_inputs()
    fusion = fusion.double().eval()
    with torch.no_grad():
        if name == "lmf":
            fusion.bias.add_(torch.arange(6, dtype=torch.float64))  # starts at 0: move it
        return fusion(x).z


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_layer_out_norm_is_the_reference_output_normalised_per_sample(name):
    y = fused(name, out_norm="none")
    z = fused(name, out_norm="layer")
    rows = []
    for sample in y.tolist():                # hand-written mean and biased variance per sample
        mean = sum(sample) / len(sample)
        var = sum((v - mean) ** 2 for v in sample) / len(sample)
        rows.append([(v - mean) / (var + 1e-5) ** 0.5 for v in sample])
    assert float((z - torch.tensor(rows, dtype=torch.float64)).abs().max()) <= 1e-10
    assert float(y.std()) > 0.0 and not torch.allclose(y, z)


@pytest.mark.parametrize("name", list(DEFAULTS))
def test_default_and_refusal_of_unknown_values(name):
    assert torch.equal(fused(name), fused(name, out_norm=DEFAULTS[name]))
    default = build_fusion(name).out_norm
    if DEFAULTS[name] == "none":
        assert isinstance(default, torch.nn.Identity)
    layer = build_fusion(name, out_norm="layer").out_norm
    assert isinstance(layer, torch.nn.LayerNorm) and not layer.elementwise_affine   # no parameters
    with pytest.raises(ConfigError, match=r"fusion.out_norm='batch' is not one of \['layer', 'none'\]"):
        build_fusion(name, out_norm="batch")
