"""fusion=tfn against the reference TFN fusion (Justin1904/TensorFusionNetworks, model.py: TFN.forward),
re-written here in float64 with the fusion's weights copied in.

Reference facts: each sub-network output h gets a 1 in FRONT ([1; h]); audio ⊗ video by a batched
outer product (bmm of (B, A, 1) and (B, 1, V)), reshaped to (B, A·V, 1) and multiplied with text
(B, 1, T), flattened to (B, A·V·T); post-fusion: dropout, Linear -> ReLU -> Linear -> ReLU ->
Linear (the last one the prediction; the reference then squashes it into [-3, 3] with a sigmoid, a
sentiment-regression head that fusionlab's task heads replace). An older commit of the reference
reshaped with ``audio_in + 1 * video_in + 1`` (an operator-precedence slip); the fixed
``(audio_hidden + 1) * (video_hidden + 1)`` is the published definition and is what we follow.
"""

from __future__ import annotations

import pytest
import torch

from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

ORDER = ["audio", "video", "text"]   # the reference's argument order


def ref_tfn(audio_h, video_h, text_h, layers):
    b = audio_h.shape[0]
    ones = torch.ones(b, 1, dtype=torch.float64)
    a, v, t = (torch.cat([ones, h], dim=1) for h in (audio_h, video_h, text_h))
    tensor = torch.bmm(a.unsqueeze(2), v.unsqueeze(1))                       # (B, A, V)
    tensor = tensor.view(b, a.shape[1] * v.shape[1], 1)
    tensor = torch.bmm(tensor, t.unsqueeze(1)).view(b, -1)                  # (B, A·V·T)
    (w1, b1), (w2, b2), (w3, b3) = layers
    y1 = torch.relu(tensor @ w1.T + b1)
    y2 = torch.relu(y1 @ w2.T + b2)
    return y2 @ w3.T + b3


@pytest.mark.parametrize("tfn_dim", [None, 4])
def test_tfn_equals_the_reference_fusion(tfn_dim):
    d_in, d_out = 5, 3
    torch.manual_seed(0)
    fusion = build_fusion("tfn", modalities=ORDER, d_in=d_in, d_out=d_out, tfn_dim=tfn_dim,
                          hidden=7, out_norm="none").double().eval()   # the reference's output
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in fusion.parameters():            # biases start at 0: move everything
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    x = {m: torch.randn(4, d_in, generator=g, dtype=torch.float64) for m in ORDER}
    with torch.no_grad():
        z = fusion({m: Encoded(vec=v) for m, v in x.items()}).z
    # the sub-network outputs the reference fuses: fusionlab's per-modality reduction (if any)
    h = {m: v if tfn_dim is None else fusion.reduce[m](v) for m, v in x.items()}
    linears = [m for m in fusion.post if isinstance(m, torch.nn.Linear)]
    layers = [(lin.weight.detach(), lin.bias.detach()) for lin in linears]
    assert len(layers) == 3
    with torch.no_grad():
        ref = ref_tfn(h["audio"], h["video"], h["text"], layers)
    assert float((z - ref).abs().max()) <= 1e-5
