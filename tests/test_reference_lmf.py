"""fusion=lmf against the reference LMF (Justin1904/Low-rank-Multimodal-Fusion, model.py: LMF.forward),
re-written here in float64 with the fusion's weights copied in.

Reference facts: [1; h] per modality (the 1 in FRONT); fusion_m = [1; h_m] @ factor_m with factors
(rank, d_m + 1, out), giving (rank, B, out); element-wise product over modalities; output =
fusion_weights (1, rank) @ product.permute(1, 0, 2), squeezed, + fusion_bias (1, out).
"""

from __future__ import annotations

import torch

from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

ORDER = ["audio", "video", "text"]   # the reference's argument order


def ref_lmf(hs, factors, fusion_weights, fusion_bias):
    b = hs[0].shape[0]
    ones = torch.ones(b, 1, dtype=torch.float64)
    product = None
    for h, factor in zip(hs, factors):
        f = torch.matmul(torch.cat([ones, h], dim=1), factor)                 # (rank, B, out)
        product = f if product is None else product * f
    out = torch.matmul(fusion_weights, product.permute(1, 0, 2)).squeeze() + fusion_bias
    return out.view(-1, fusion_bias.shape[-1])


def test_lmf_equals_the_reference():
    d_in, d_out, rank = 5, 3, 4
    torch.manual_seed(0)
    fusion = build_fusion("lmf", modalities=ORDER, d_in=d_in, d_out=d_out, rank=rank).double().eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        fusion.bias.add_(torch.randn(d_out, generator=g, dtype=torch.float64))   # starts at 0
    x = {m: torch.randn(6, d_in, generator=g, dtype=torch.float64) for m in ORDER}
    with torch.no_grad():
        z = fusion({m: Encoded(vec=v) for m, v in x.items()}).z
        ref = ref_lmf([x[m] for m in ORDER], [fusion.factors[m] for m in ORDER],
                      fusion.rank_weights.view(1, rank), fusion.bias.view(1, d_out))
    assert float((z - ref).abs().max()) <= 1e-5
