"""fusion=mult against the reference MulT computation (yaohungt/Multimodal-Transformer: src/models.py,
modules/transformer.py, modules/multihead_attention.py, modules/position_embedding.py), re-written
here from its definitions in float64 with plain tensor operations and the fusion's weights copied in.

Reference facts used: inputs projected by a kernel-1 Conv1d without bias; every encoder stack computes
x = √d·x_in + P(x_in) for the query and for the key/value input, with P the fairseq sinusoid (sin half,
cos half, frequencies 10000^(-k/(d/2-1)), position t+1 for step t, 0 where the first channel of x_in
is 0); pre-LayerNorm layers where the keys/values go through the query's LayerNorm; attention mask
-inf where j - i > |Tk - Tq|; feed-forward d-4d-d with ReLU; a final LayerNorm; the self-attention
stack over the concatenated cross-modal outputs; the last time step; residual block proj2(relu(proj1
(h))) + h; output layer.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fusionlab.fusion.base import Encoded
from tests.fusion_zoo_support import build_fusion, lengths_mask
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

MODS = ["text", "audio", "vision"]
D_IN, D_OUT = 8, 6


# ----- the reference, re-written ------------------------------------------------------------------
def ref_positions(x_in: torch.Tensor) -> torch.Tensor:
    """(B, T, d) -> (B, T, d) fairseq sinusoidal embedding, positions from 1, 0 where x[..., 0] == 0."""
    b, t, d = x_in.shape
    half = d // 2
    out = torch.zeros(b, t, d, dtype=torch.float64)
    for i in range(b):
        for s in range(t):
            if x_in[i, s, 0] == 0:
                continue
            p = s + 1
            for k in range(half):
                f = 10000.0 ** (-k / (half - 1))
                out[i, s, k] = math.sin(p * f)
                out[i, s, half + k] = math.cos(p * f)
    return out


def ref_attention(q_in, kv_in, p, heads, causal):
    """Multi-head attention with the reference's packed in-projection and additive -inf mask."""
    d = q_in.shape[-1]
    w, bias = p["attn.in_proj_weight"], p["attn.in_proj_bias"]
    q = (q_in @ w[:d].T + bias[:d]) * (d // heads) ** -0.5
    k = kv_in @ w[d:2 * d].T + bias[d:2 * d]
    v = kv_in @ w[2 * d:].T + bias[2 * d:]
    split = lambda x: x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
    scores = split(q) @ split(k).transpose(-1, -2)
    tq, tk = q.shape[1], k.shape[1]
    if causal:
        scores = scores + torch.triu(torch.full((tq, tk), float("-inf"), dtype=torch.float64),
                                     1 + abs(tk - tq))
    out = (torch.softmax(scores, -1) @ split(v)).transpose(1, 2).reshape(q.shape[0], tq, d)
    return out @ p["attn.out_proj.weight"].T + p["attn.out_proj.bias"]


def ref_layer(x, x_kv, p, heads, causal):
    ln = lambda t, n: F.layer_norm(t, t.shape[-1:], p[f"{n}.weight"], p[f"{n}.bias"])  # noqa: E731
    residual = x
    x = ln(x, "norm_attn")
    kv = x if x_kv is None else ln(x_kv, "norm_attn")
    x = residual + ref_attention(x, kv, p, heads, causal)
    residual = x
    h = torch.relu(ln(x, "norm_ff") @ p["fc1.weight"].T + p["fc1.bias"])
    return residual + h @ p["fc2.weight"].T + p["fc2.bias"]


def ref_stack(x_in, kv_in, params, heads, causal):
    d = x_in.shape[-1]
    x = math.sqrt(d) * x_in + ref_positions(x_in)
    kv = None if kv_in is None else math.sqrt(d) * kv_in + ref_positions(kv_in)
    n_layers = len({k.split(".")[1] for k in params if k.startswith("layers.")})
    for i in range(n_layers):
        layer = {k[len(f"layers.{i}."):]: v for k, v in params.items()
                 if k.startswith(f"layers.{i}.")}
        x = ref_layer(x, kv, layer, heads, causal)
    return F.layer_norm(x, (d,), params["norm.weight"], params["norm.bias"])


def ref_mult(inputs: dict[str, torch.Tensor], state: dict[str, torch.Tensor], heads: int,
             causal: bool = True) -> torch.Tensor:
    """inputs: modality -> (B, T_m, d_in) (zero rows = padding, as in the reference's data)."""
    sub = lambda prefix: {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}  # noqa: E731
    proj = {m: x @ state[f"proj.{m}.weight"].T for m, x in inputs.items()}
    last = []
    for t in inputs:
        h = torch.cat([ref_stack(proj[t], proj[s], sub(f"cross.{s}_to_{t}."), heads, causal)
                       for s in inputs if s != t], dim=-1)
        last.append(ref_stack(h, None, sub(f"self_attn.{t}."), heads, causal)[:, -1])
    h = torch.cat(last, dim=-1)
    block = torch.relu(h @ state["residual.0.weight"].T + state["residual.0.bias"])
    h = h + block @ state["residual.2.weight"].T + state["residual.2.bias"]
    return h @ state["out.weight"].T + state["out.bias"]


# ----- helpers ----------------------------------------------------------------------------------
def randomized(fusion):
    """Move every weight (LayerNorms and zero-initialized biases too) off its initial value."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in fusion.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return fusion.double().eval()   # float64 on both sides: differences are the math, not rounding


def state64(fusion):
    return {k: v.detach().double() for k, v in fusion.state_dict().items()}


def sequences(lengths: dict[str, int], batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, t, D_IN, generator=g, dtype=torch.float64)
            for m, t in lengths.items()}


def encoded_full(seqs):
    return {m: Encoded(s.mean(1), s, torch.ones(s.shape[:2], dtype=torch.bool)) for m, s in seqs.items()}


def max_diff(a, b):
    return float((a.double() - b.double()).abs().max())


# ----- tests ------------------------------------------------------------------------------------
def test_default_config_is_the_reference_mult():
    """conf/fusion/mult.yaml as shipped (d 30, 5 heads, 5+5 layers, causal mask) on unaligned inputs."""
    torch.manual_seed(0)
    fusion = randomized(build_fusion("mult", modalities=MODS, d_in=D_IN, d_out=D_OUT))
    assert fusion.proj["text"].bias is None and fusion.proj["text"].out_features == 30
    seqs = sequences({"text": 6, "audio": 9, "vision": 4})
    with torch.no_grad():
        z = fusion(encoded_full(seqs)).z
    ref = ref_mult({m: s.double() for m, s in seqs.items()}, state64(fusion), heads=5)
    assert max_diff(z, ref) <= 1e-5


@pytest.mark.parametrize("attn_mask", [True, False])
def test_small_mult_equals_reference_with_and_without_the_causal_mask(attn_mask):
    torch.manual_seed(0)
    fusion = randomized(build_fusion("mult", modalities=MODS, d_in=D_IN, d_out=D_OUT, d_model=12,
                                     heads=3, cross_layers=2, self_layers=3, attn_mask=attn_mask))
    seqs = sequences({"text": 5, "audio": 3, "vision": 7}, seed=2)
    with torch.no_grad():
        z = fusion(encoded_full(seqs)).z
    ref = ref_mult({m: s.double() for m, s in seqs.items()}, state64(fusion), heads=3,
                   causal=attn_mask)
    assert max_diff(z, ref) <= 1e-5
    # the causal mask changes the result (the test would notice a mask that does nothing)
    other = ref_mult({m: s.double() for m, s in seqs.items()}, state64(fusion), heads=3,
                     causal=not attn_mask)
    assert max_diff(z, other) > 1e-3


def test_left_zero_padded_batch_matches_the_reference_on_the_padded_arrays():
    """The CMU pickles are zero-padded on the LEFT; the reference sees the zeros (position 0)."""
    torch.manual_seed(0)
    fusion = randomized(build_fusion("mult", modalities=MODS, d_in=D_IN, d_out=D_OUT, d_model=12,
                                     heads=3, cross_layers=2, self_layers=2))
    seqs = sequences({"text": 6, "audio": 8, "vision": 5}, seed=3)
    real = {"text": [6, 4, 2], "audio": [8, 5, 3], "vision": [5, 5, 1]}
    encoded, padded = {}, {}
    for m, s in seqs.items():
        mask = lengths_mask(real[m], s.shape[1]).flip(1)           # real steps at the end
        garbage = s.masked_fill(mask.unsqueeze(-1), 0.0) * 100     # padded steps hold garbage
        encoded[m] = Encoded(s.mean(1), s * mask.unsqueeze(-1) + garbage, mask)
        padded[m] = (s * mask.unsqueeze(-1)).double()              # the reference's zero padding
    with torch.no_grad():
        z = fusion(encoded).z
    assert max_diff(z, ref_mult(padded, state64(fusion), heads=3)) <= 1e-5


def test_padding_mask_option_equals_the_reference_on_each_unpadded_sample():
    torch.manual_seed(0)
    fusion = randomized(build_fusion("mult", modalities=MODS, d_in=D_IN, d_out=D_OUT, d_model=12,
                                     heads=3, cross_layers=2, self_layers=2, padding_mask=True))
    seqs = sequences({"text": 6, "audio": 8, "vision": 5}, seed=4)
    real = {"text": [6, 4, 2], "audio": [3, 8, 5], "vision": [5, 1, 4]}
    encoded = {}
    for m, s in seqs.items():
        mask = lengths_mask(real[m], s.shape[1])                    # right padding
        encoded[m] = Encoded(s.mean(1), torch.where(mask.unsqueeze(-1), s, 1e3), mask)
    with torch.no_grad():
        z = fusion(encoded).z
    state = state64(fusion)
    for i in range(3):
        alone = {m: s[i:i + 1, :real[m][i]].double() for m, s in seqs.items()}
        assert max_diff(z[i:i + 1], ref_mult(alone, state, heads=3)) <= 1e-5


def test_mean_pooling_option_changes_the_output():
    torch.manual_seed(0)
    kw = dict(modalities=MODS, d_in=D_IN, d_out=D_OUT, d_model=12, heads=3, cross_layers=1,
              self_layers=1)
    last = randomized(build_fusion("mult", **kw))
    mean = build_fusion("mult", pooling="mean", **kw).double().eval()
    mean.load_state_dict(last.state_dict())
    enc = encoded_full(sequences({"text": 5, "audio": 3, "vision": 4}))
    with torch.no_grad():
        assert max_diff(last(enc).z, mean(enc).z) > 1e-3
