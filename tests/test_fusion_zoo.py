"""Contract tests run on every conf/fusion/*.yaml (instantiated through Hydra, as train.py does)."""

from __future__ import annotations

import inspect

import pytest
import torch
from hydra.utils import get_class

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded, Fusion
from tests.fusion_zoo_support import (FUSION_NAMES, MODALITIES, build_fusion, fusion_config,
                                      make_encoded, pad_with_garbage, permute)
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)

D_IN, D_OUT = 8, 6


def _run(fusion: Fusion, encoded):
    fusion.eval()
    with torch.no_grad():
        return fusion(encoded)


def test_zoo_holds_every_method():
    expected = {"tfn", "lmf", "mult", "mfn", "attention", "adversarial", "ptp", "mcf",
                "shared_private", "bottleneck", "cbmf", "late", "gated"}
    assert expected <= set(FUSION_NAMES)


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_output_shape_and_losses(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT)
    assert isinstance(fusion, Fusion)
    fusion.train()
    out = fusion(make_encoded(d=D_IN))
    assert out.z.shape == (5, D_OUT)
    assert torch.isfinite(out.z).all()
    for term, value in out.losses.items():
        assert value.dim() == 0 and torch.isfinite(value), term
    # every aux weight is a config option named <term>_weight
    cfg = fusion_config(name)
    for term in out.losses:
        if f"{term}_weight" in cfg:
            assert fusion.loss_weights[term] == cfg[f"{term}_weight"]


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_gradients_reach_every_modality(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT)
    fusion.train()
    encoded = make_encoded(d=D_IN, requires_grad=True)
    out = fusion(encoded)
    loss = out.z.pow(2).sum()
    aux = fusion.weighted_loss(out.losses)
    if aux is not None:
        loss = loss + aux
    loss.backward()

    def reached(e: Encoded) -> bool:
        grads = [t.grad for t in (e.vec, e.seq) if t is not None and t.grad is not None]
        return any(g.abs().sum() > 0 for g in grads)

    if name == "text_only":
        assert reached(encoded["text"])
        assert not any(reached(encoded[m]) for m in MODALITIES[1:])
        # and the output does not move when the other modalities change
        other = make_encoded(d=D_IN, seed=7)
        changed = dict(encoded, audio=other["audio"], image=other["image"])
        assert torch.equal(_run(fusion, encoded).z, _run(fusion, changed).z)
    else:
        for m in MODALITIES:
            assert reached(encoded[m]), f"no gradient reaches modality {m!r}"


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_permuting_the_batch_permutes_the_output(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT)
    encoded = make_encoded(d=D_IN)
    perm = torch.tensor([3, 0, 4, 1, 2])
    z = _run(fusion, encoded).z
    z_perm = _run(fusion, permute(encoded, perm)).z
    torch.testing.assert_close(z_perm, z[perm], rtol=1e-5, atol=1e-5)


# Fusions whose default is a published reference that sees padded steps (MulT attends the zero
# padding like yaohungt/Multimodal-Transformer does); their padding-aware option is checked here.
PADDING_AWARE = {"mult": {"padding_mask": True}}


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_padded_steps_do_not_change_the_output(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT, **PADDING_AWARE.get(name, {}))
    encoded = make_encoded(d=D_IN)
    z = _run(fusion, encoded).z
    torch.testing.assert_close(_run(fusion, pad_with_garbage(encoded, extra=3)).z, z,
                               rtol=1e-5, atol=1e-5)
    # real steps matter exactly for the fusions that declare they read sequences
    moved = {m: Encoded(e.vec, None if e.seq is None else e.seq + e.mask.unsqueeze(-1), e.mask)
             for m, e in encoded.items()}
    changed = not torch.allclose(_run(fusion, moved).z, z, atol=1e-6)
    assert changed == fusion.uses_sequences


def test_reference_mult_sees_padded_steps():
    """The reference MulT has no padding masks: the amount of (zero) padding changes its output."""
    torch.manual_seed(0)
    fusion = build_fusion("mult", d_in=D_IN, d_out=D_OUT)
    encoded = make_encoded(d=D_IN)
    z = _run(fusion, encoded).z
    assert not torch.allclose(_run(fusion, pad_with_garbage(encoded, extra=3)).z, z, atol=1e-4)


# ----- forward passes against the formulas, re-written here with the module's weights copied -------
# Each reference below computes z (and the auxiliary losses) from the paper-level formula with plain
# tensor algebra on a copy of the fusion's parameters (matmuls, explicit softmax/sigmoid/CE, rolls
# instead of FFTs); it never calls the fusion's submodules. Float64, eval mode (no dropout), every
# parameter perturbed first so that zero-initialised biases and uniform weights cannot hide a term.
def _affine(P: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    """x Wᵀ + b with W, b = P[name.weight], P[name.bias] (no bias when the layer has none)."""
    out = x @ P[f"{name}.weight"].T
    return out + P[f"{name}.bias"] if f"{name}.bias" in P else out


def _layer_norm(P: dict, name: str, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(x - mean) / sqrt(biased variance + eps) over the last dim, times weight, plus bias."""
    centred = x - x.mean(-1, keepdim=True)
    return centred / torch.sqrt((centred ** 2).mean(-1, keepdim=True) + eps) * P[f"{name}.weight"] + P[f"{name}.bias"]


def _relu(x):
    return torch.where(x > 0, x, torch.zeros_like(x))


def _sigmoid(x):
    return 1 / (1 + torch.exp(-x))


def _softmax(x, dim):
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


def _cross_entropy(logits, labels):
    """mean over rows of -log softmax(logits)[label]."""
    return -torch.log(_softmax(logits, 1)[torch.arange(len(labels)), labels]).mean()


def _pairs(names):
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def _ref_concat(P, v, c):
    return _relu(_affine(P, "proj.0", torch.cat([v[m] for m in MODALITIES], -1))), {}


def _ref_text_only(P, v, c):        # d_in != d_out: a projection of the text vector
    return _affine(P, "proj", v["text"]), {}


def _ref_attention(P, v, c):
    x = torch.stack([v[m] for m in MODALITIES], 1)                            # (B, M, D)
    scores = _affine(P, "score.2", torch.tanh(_affine(P, "score.0", x)))[..., 0]
    alpha = _softmax(scores, 1)
    return _affine(P, "out", (alpha.unsqueeze(-1) * x).sum(1)), {}


def _ref_gated(P, v, c):
    text, other = v["text"], torch.cat([v["audio"], v["image"]], -1)
    gate = _sigmoid(_affine(P, "gate", torch.cat([text, other], -1)))
    return _affine(P, "out", text + gate * _affine(P, "project", other)), {}


def _ref_late(P, v, c):             # hidden: 0 -> one Linear per modality, predictions averaged
    return sum(_affine(P, f"predictors.{m}.0", v[m]) for m in MODALITIES) / len(MODALITIES), {}


def _ref_mcf(P, v, c):
    """circ(a) b with circ(a)'s row r = a rolled right by r: (circ(a) b)_r = Σ_n a[(n - r) mod k] b[n]."""
    p = {m: _affine(P, f"project.{m}", v[m]) for m in MODALITIES}
    k = c.mcf_dim

    def circ_times(a, b):
        return torch.stack([(torch.roll(a, r, dims=-1) * b).sum(-1) for r in range(k)], -1)

    terms = [circ_times(p[i], p[j]) for i in MODALITIES for j in MODALITIES if i != j]
    return _affine(P, "out", sum(terms) / len(terms) / k ** 0.5), {}


def _ref_adversarial(P, v, c):
    shared = [torch.tanh(_affine(P, "shared.0", v[m])) for m in MODALITIES]
    logits = torch.cat([_affine(P, "discriminator.1.2", _relu(_affine(P, "discriminator.1.0", s)))
                        for s in shared])                                     # (M*B, M), modality-major
    labels = torch.arange(len(MODALITIES)).repeat_interleave(shared[0].shape[0])
    return _affine(P, "out", torch.cat(shared, -1)), {"adv": _cross_entropy(logits, labels)}


def _ref_shared_private(P, v, c):
    shared = {m: _sigmoid(_affine(P, "shared.0", v[m])) for m in MODALITIES}
    private = {m: _sigmoid(_affine(P, f"private.{m}.0", v[m])) for m in MODALITIES}

    def cmd(x, y):                  # Zellinger et al. 2017: Σ_k ||Δ k-th (central) moment||_2
        total = torch.linalg.vector_norm(x.mean(0) - y.mean(0))
        for k in range(2, c.cmd_moments + 1):
            total = total + torch.linalg.vector_norm(((x - x.mean(0)) ** k).mean(0) - ((y - y.mean(0)) ** k).mean(0))
        return total

    def mean_squared_correlation(s, p):
        s, p = s - s.mean(0), p - p.mean(0)
        corr = (s.T @ p) / torch.outer(torch.linalg.vector_norm(s, dim=0), torch.linalg.vector_norm(p, dim=0))
        return (corr ** 2).mean()

    sim = sum(cmd(shared[a], shared[b]) for a, b in _pairs(MODALITIES)) / 3
    orth = sum(mean_squared_correlation(shared[m], private[m]) for m in MODALITIES) / len(MODALITIES)
    z = _affine(P, "out", torch.cat([t for m in MODALITIES for t in (shared[m], private[m])], -1))
    return z, {"sim": sim, "orth": orth}


def _ref_cbmf(P, v, c):
    emb = {}
    for m in MODALITIES:
        x = torch.cat([v[m], P[f"context.{m}"].expand(v[m].shape[0], -1)], -1)
        emb[m] = _affine(P, "fuse.2", _relu(_affine(P, "fuse.0", x)))

    def info_nce(a, b):             # symmetric InfoNCE over cosine similarities / temperature
        a = a / torch.linalg.vector_norm(a, dim=1, keepdim=True)
        b = b / torch.linalg.vector_norm(b, dim=1, keepdim=True)
        logits, target = a @ b.T / c.temperature, torch.arange(a.shape[0])
        return (_cross_entropy(logits, target) + _cross_entropy(logits.T, target)) / 2

    loss = sum(info_nce(emb[a], emb[b]) for a, b in _pairs(MODALITIES)) / 3
    return _affine(P, "out", torch.cat([emb[m] for m in MODALITIES], -1)), {"contrastive": loss}


def _ref_ptp(P, v, c):
    """z_o = Σ_r w_r Π_p <f, W[p, r, :, o]> + b_o with f = [v_1; ...; v_M; 1] (order p, rank r)."""
    f = torch.cat([*(v[m] for m in MODALITIES), torch.ones(v["text"].shape[0], 1, dtype=v["text"].dtype)], -1)
    W = P["factors"]
    z = torch.zeros(f.shape[0], W.shape[-1], dtype=f.dtype)
    for r in range(c.rank):
        term = torch.ones_like(z)
        for p in range(c.order):
            term = term * (f @ W[p, r])
        z = z + P["rank_weights"][r] * term
    return z + P["bias"], {}


def _compress(P, name, x, norm):
    """AutoFusion's compressor: ReLU(N2(L2 tanh(N1(L1 x)))); N1, N2 LayerNorms with norm="layer",
    the identity with "none" (the paper's text)."""
    if norm == "layer":
        h = torch.tanh(_layer_norm(P, f"{name}.1", _affine(P, f"{name}.0", x)))
        return _relu(_layer_norm(P, f"{name}.4", _affine(P, f"{name}.3", h)))
    return _relu(_affine(P, f"{name}.2", torch.tanh(_affine(P, f"{name}.0", x))))


def _autoencode(P, name, x, norm):
    """(z, J_tr): z = compressor(x), x̂ = L4 ReLU(L3 z), J_tr = mean (x̂ - x)²."""
    z = _compress(P, f"{name}.compress", x, norm)
    x_hat = _affine(P, f"{name}.reconstruct.2", _relu(_affine(P, f"{name}.reconstruct.0", z)))
    return z, ((x_hat - x) ** 2).mean()


def _ref_auto(P, v, c):
    """AutoFusion (Sahu & Vechtomova 2021) on the concatenated vectors."""
    z, recon = _autoencode(P, "block", torch.cat([v[m] for m in MODALITIES], -1), c.compressor_norm)
    return z, {"recon": recon}


def _sine_table(length: int, d: int) -> torch.Tensor:
    """Vaswani et al. 2017: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(same); float32, as
    fusionlab.nn.positions computes it before casting."""
    t = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    angle = t / 10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    return torch.stack([torch.sin(angle), torch.cos(angle)], -1).flatten(1).double()


def _attention(P, name, q, kv, key_mask, heads):
    """nn.MultiheadAttention (batch_first): in_proj split into Q, K, V; per head softmax(Q Kᵀ / √d_h)
    over the keys whose mask is True; heads concatenated, then out_proj."""
    d = q.shape[-1]
    W, b = P[f"{name}.in_proj_weight"], P[f"{name}.in_proj_bias"]
    Q, K, V = (x @ W[i * d:(i + 1) * d].T + b[i * d:(i + 1) * d] for i, x in enumerate((q, kv, kv)))

    def split(t):                   # (B, T, d) -> (B, H, T, d / H)
        return t.view(t.shape[0], t.shape[1], heads, d // heads).transpose(1, 2)

    scores = split(Q) @ split(K).transpose(-1, -2) / (d // heads) ** 0.5
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return _affine(P, f"{name}.out_proj", (_softmax(scores, -1) @ split(V)).transpose(1, 2).reshape(q.shape))


def _ref_bottleneck(P, v, c, steps):
    """Attention bottlenecks (Nagrani et al. 2021): each modality's pre-LN transformer layer runs over
    [its steps; the shared bottleneck tokens]; the updated bottlenecks are averaged over modalities.
    z = out(mean_m masked-mean(LN(h_m)))."""
    def layer(name, x, key_mask):
        q = _layer_norm(P, f"{name}.norm_q", x)
        x = x + _attention(P, f"{name}.attn", q, q, key_mask, c.heads)
        return x + _affine(P, f"{name}.ff.3", _relu(_affine(P, f"{name}.ff.0", _layer_norm(P, f"{name}.norm_ff", x))))

    h = {}
    for m, (seq, mask) in steps.items():
        x = _affine(P, f"embed.{m}.proj", seq * mask.unsqueeze(-1)) * c.d_model ** 0.5
        h[m] = x + _sine_table(x.shape[1], c.d_model)
    batch = h["text"].shape[0]
    b = P["bottleneck"].expand(batch, -1, -1)
    for i in range(c.layers):
        if i < c.fusion_start:
            h = {m: layer(f"blocks.{m}.{i}", h[m], steps[m][1]) for m in MODALITIES}
            continue
        updated = []
        for m in MODALITIES:
            mask = torch.cat([steps[m][1], torch.ones(batch, b.shape[1], dtype=torch.bool)], 1)
            y = layer(f"blocks.{m}.{i}", torch.cat([h[m], b], 1), mask)
            h[m], _ = y[:, :h[m].shape[1]], updated.append(y[:, h[m].shape[1]:])
        b = sum(updated) / len(updated)
    pooled = [(_layer_norm(P, "norm", h[m]) * steps[m][1].unsqueeze(-1)).sum(1)
              / steps[m][1].sum(1, keepdim=True) for m in MODALITIES]
    return _affine(P, "out", sum(pooled) / len(pooled)), {}


def _two_layer(P, name, x):
    """Linear -> ReLU -> [Dropout] -> Linear (fusion.layers.mlp of three sizes), by parameter names."""
    first, last = sorted({int(k.split(".")[-2]) for k in P if k.startswith(f"{name}.") and k.endswith(".weight")})
    return _affine(P, f"{name}.{last}", _relu(_affine(P, f"{name}.{first}", x)))


def _ref_mfn(P, v, c, steps):
    """Memory Fusion Network (Zadeh et al. 2018). Per step t and modality m an LSTHM:
    [i, f, o, g] = W x + U h + V u, c_m = σ(f) c_m + σ(i) tanh(g), h_m = σ(o) tanh(c_m) (padded steps keep
    the state); delta-memory attention over c* = [c_{t-1}; c_t]: a = softmax(D_a(c*)) ⊙ c*; multi-view
    gated memory: û = tanh(D_u(a)), u = σ(D_γ1([a; u])) ⊙ u + σ(D_γ2([a; u])) ⊙ û; z = D_out([h; u])."""
    batch, length = steps["text"][0].shape[:2]
    real = {m: mask.expand(batch, length) if mask.shape[1] == 1 else mask for m, (_, mask) in steps.items()}
    any_real = real["text"] | real["audio"]
    real["image"] = any_real                                   # a vector modality is read at every step
    h = {m: torch.zeros(batch, c.hidden, dtype=torch.float64) for m in MODALITIES}
    cell = {m: torch.zeros(batch, c.hidden, dtype=torch.float64) for m in MODALITIES}
    u = torch.zeros(batch, c.mem_dim, dtype=torch.float64)
    for t in range(length):
        c_prev = torch.cat([cell[m] for m in MODALITIES], -1)
        for m in MODALITIES:
            x = v[m] if m == "image" else steps[m][0][:, t]
            gates = _affine(P, f"cells.{m}.W", x) + h[m] @ P[f"cells.{m}.U.weight"].T + u @ P[f"cells.{m}.V.weight"].T
            i, f, o, g = gates.split(c.hidden, -1)
            new_c = _sigmoid(f) * cell[m] + _sigmoid(i) * torch.tanh(g)
            new_h = _sigmoid(o) * torch.tanh(new_c)
            keep = real[m][:, t].unsqueeze(-1)
            h[m], cell[m] = torch.where(keep, new_h, h[m]), torch.where(keep, new_c, cell[m])
        c_star = torch.cat([c_prev] + [cell[m] for m in MODALITIES], -1)
        a = _softmax(_two_layer(P, "attention", c_star), -1) * c_star
        proposal = torch.tanh(_two_layer(P, "candidate", a))
        new_u = (_sigmoid(_two_layer(P, "retain_gate", torch.cat([a, u], -1))) * u
                 + _sigmoid(_two_layer(P, "update_gate", torch.cat([a, u], -1))) * proposal)
        u = torch.where(any_real[:, t].unsqueeze(-1), new_u, u)
    return _two_layer(P, "out", torch.cat([h[m] for m in MODALITIES] + [u], -1)), {}


def _leaky_relu(x, slope=0.2):
    return torch.where(x > 0, x, slope * x)


def _batch_norm_eval(P, name, x, eps=1e-5):
    """BatchNorm1d in eval mode: (x - running mean) / sqrt(running var + eps) · weight + bias."""
    return ((x - P[f"{name}.running_mean"]) / torch.sqrt(P[f"{name}.running_var"] + eps)
            * P[f"{name}.weight"] + P[f"{name}.bias"])


def _spectral_affine(P, name, x):
    """Spectrally normalised Linear in eval mode (Miyato et al. 2018): W = W_orig / σ with the stored
    power-iteration vectors, σ = uᵀ W_orig v."""
    W = P[f"{name}.weight_orig"]
    sigma = P[f"{name}.weight_u"] @ W @ P[f"{name}.weight_v"]
    return x @ (W / sigma).T + P[f"{name}.bias"]


def _ref_gan(P, v, c):
    """GAN-Fusion (Sahu & Vechtomova 2021) in eval mode (no noise), default options (fusionlab variant:
    spectral-norm discriminators; BatchNorm generators; residual generators; an AutoFusion block as
    the fused vector). Per target t: z_g = z_t + G_t(z_t) (G: Linear-BN-LeakyReLU x 2, Linear),
    z_tr = AutoFusion of the other modalities (J_tr = its reconstruction MSE), adversarial term
    BCE(D_t(z_g), real) = softplus(-D_t(z_g)); z = compressor([z_g for each t]) and recon_fused = MSE
    of its reconstruction against [z_t for each t]; losses averaged over targets."""
    assert c.variant == "fusionlab" and c.generator_norm == "batch"
    assert c.fused is None and c.generator_residual is None  # the variant's: autofusion, residual
    fakes, recons, advs = [], [], []
    for t in MODALITIES:
        g = f"heads.{t}.generator"
        x = _leaky_relu(_batch_norm_eval(P, f"{g}.1", _affine(P, f"{g}.0", v[t])))
        x = _leaky_relu(_batch_norm_eval(P, f"{g}.4", _affine(P, f"{g}.3", x)))
        z_g = v[t] + _affine(P, f"{g}.6", x)
        other = torch.cat([v[m] for m in MODALITIES if m != t], -1)
        recons.append(_autoencode(P, f"heads.{t}.complementary", other, c.compressor_norm)[1])
        d = f"heads.{t}.discriminator"
        logit = _spectral_affine(P, f"{d}.4", _leaky_relu(_spectral_affine(
            P, f"{d}.2", _leaky_relu(_spectral_affine(P, f"{d}.0", z_g)))))
        advs.append(torch.log1p(torch.exp(-logit)).mean())
        fakes.append(z_g)
    z = _compress(P, "fuse.compress", torch.cat(fakes, -1), c.compressor_norm)
    z_hat = _affine(P, "fuse.reconstruct.2", _relu(_affine(P, "fuse.reconstruct.0", z)))
    recon_fused = ((z_hat - torch.cat([v[m] for m in MODALITIES], -1)) ** 2).mean()
    return z, {"recon": sum(recons) / len(recons), "adv_g": sum(advs) / len(advs),
               "recon_fused": recon_fused}


REFERENCES = {"concat": _ref_concat, "text_only": _ref_text_only, "attention": _ref_attention,
              "gated": _ref_gated, "late": _ref_late, "mcf": _ref_mcf, "adversarial": _ref_adversarial,
              "shared_private": _ref_shared_private, "cbmf": _ref_cbmf, "ptp": _ref_ptp, "auto": _ref_auto,
              "gan": _ref_gan}
# references that read the sequences: called with (params, vectors, config, {m: (seq, mask)})
SEQUENCE_REFERENCES = {"bottleneck": _ref_bottleneck, "mfn": _ref_mfn}
# the sine table is float32 by contract (fusionlab.nn.positions), so these agree to float32 precision
TOLERANCE = {"bottleneck": {"rtol": 1e-5, "atol": 1e-6}}
# re-written published implementations with copied weights, in their own files
REFERENCE_FILES = {"tfn": "test_reference_tfn.py", "lmf": "test_reference_lmf.py",
                   "mult": "test_reference_mult.py"}


@pytest.mark.parametrize("name", sorted(REFERENCES) + sorted(SEQUENCE_REFERENCES))
def test_forward_equals_the_formula_rewritten_with_copied_weights(name):
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT).double().eval()
    with torch.no_grad():
        for p in fusion.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for key, buffer in fusion.named_buffers():     # BatchNorm running statistics
            if key.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn_like(buffer))
            elif key.endswith("running_var"):
                buffer.copy_(torch.rand_like(buffer) + 0.5)
    copied = {k: t.detach().clone() for k, t in fusion.state_dict().items()}
    encoded = {m: Encoded(e.vec.double(), None if e.seq is None else e.seq.double(), e.mask)
               for m, e in make_encoded(d=D_IN).items()}
    out = _run(fusion, encoded)
    vectors = {m: e.vec for m, e in encoded.items()}
    if name in SEQUENCE_REFERENCES:
        steps = {m: (e.vec.unsqueeze(1), torch.ones(len(e.vec), 1, dtype=torch.bool)) if e.seq is None
                 else (e.seq, e.mask) for m, e in encoded.items()}
        z, losses = SEQUENCE_REFERENCES[name](copied, vectors, fusion_config(name), steps)
    else:
        z, losses = REFERENCES[name](copied, vectors, fusion_config(name))
    tolerance = TOLERANCE.get(name, {"rtol": 1e-9, "atol": 1e-10})
    torch.testing.assert_close(out.z, z, **tolerance)
    assert set(out.losses) == set(losses)
    for term, value in losses.items():
        torch.testing.assert_close(out.losses[term], value, **tolerance)


def test_hand_computed_concat_and_circulant_values():
    """Two cases small enough to check on paper."""
    concat = build_fusion("concat", modalities=["text", "image"], d_in=1, d_out=2).eval()
    with torch.no_grad():
        concat.proj[0].weight.copy_(torch.tensor([[2.0, -1.0], [-1.0, 1.0]]))
        concat.proj[0].bias.copy_(torch.tensor([0.5, 0.0]))
    out = _run(concat, {"text": Encoded(torch.tensor([[3.0]])), "image": Encoded(torch.tensor([[4.0]]))})
    assert out.z.tolist() == [[2.5, 1.0]]      # ReLU(2·3 - 4 + 0.5), ReLU(-3 + 4)
    from fusionlab.fusion.mcf import circulant_product

    # circ([1, 2, 3]) = [[1, 2, 3], [3, 1, 2], [2, 3, 1]]; times [1, 0, -1] = [-2, 1, 1]
    got = circulant_product(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, -1.0]))
    torch.testing.assert_close(got, torch.tensor([-2.0, 1.0, 1.0]))


def test_every_fusion_has_an_independent_reference():
    for name in FUSION_NAMES:
        assert name in {**REFERENCES, **SEQUENCE_REFERENCES, **REFERENCE_FILES}, (
            f"fusion {name!r}: re-write its forward as a formula in REFERENCES (tests/test_fusion_zoo.py)")


# ----- each option's value stated once: in conf/fusion/<name>.yaml ---------------------------------
def option_problems(cfg) -> list[str]:
    """What breaks "values in the YAML, names in the signature" for a fusion config: the class takes
    (modalities, d_in, d_out, *, <options>) with no Python defaults, and the YAML gives every option
    a value and nothing else."""
    cls = get_class(cfg._target_)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if [p.name for p in params[:3]] != ["modalities", "d_in", "d_out"]:
        return [f"{cls.__name__}.__init__ must start with (modalities, d_in, d_out)"]
    options = params[3:]
    problems = [f"{p.name}: not keyword-only (list the options after `*`)"
                for p in options if p.kind is not p.KEYWORD_ONLY]
    problems += [f"{p.name}: has a default in Python; state its value only in the YAML"
                 for p in options if p.default is not p.empty]
    named, given = {p.name for p in options}, {k for k in cfg if not str(k).startswith("_")}
    problems += [f"{k}: in the YAML but not an option of {cls.__name__}" for k in sorted(given - named)]
    problems += [f"{k}: an option of {cls.__name__} without a value in the YAML" for k in sorted(named - given)]
    return problems


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_option_values_are_stated_once_in_the_yaml(name):
    assert option_problems(fusion_config(name)) == [], f"conf/fusion/{name}.yaml"


def test_build_fusion_refuses_an_option_the_yaml_does_not_name():
    with pytest.raises(ConfigError, match=r"fusion.hidden_size is not an option of fusion=tfn .*'hidden'"):
        build_fusion("tfn", hidden_size=3)
    with pytest.raises(ConfigError, match=r"fusion=tfm: no .*tfm.yaml; the fusions are \[.*'tfn'"):
        build_fusion("tfm")


# ----- parameter counts: M modalities, D = d_in, O = d_out, options from the config ------------
def _linear(a, b, bias=True):
    return a * b + (b if bias else 0)


def _block(d, ff_mult):
    """AttentionBlock: 3 LayerNorms + MultiheadAttention (in/out projections) + feed-forward."""
    return 3 * 2 * d + (3 * d * d + 3 * d) + _linear(d, d) + _linear(d, ff_mult * d) + _linear(ff_mult * d, d)


def _mult_layer(d, ff_mult):
    """CrossmodalLayer: 2 LayerNorms (keys share the query's) + attention + feed-forward."""
    return 2 * 2 * d + (3 * d * d + 3 * d) + _linear(d, d) + _linear(d, ff_mult * d) + _linear(ff_mult * d, d)


def _mult_stack(d, ff_mult, layers):
    return layers * _mult_layer(d, ff_mult) + 2 * d     # + the final LayerNorm


def _compressor(f, d, norm="none"):
    """Linear(f, f/2) -> [LayerNorm] -> tanh -> Linear(f/2, d) -> [LayerNorm] -> ReLU."""
    h = f // 2
    return _linear(f, h) + _linear(h, d) + (2 * h + 2 * d if norm == "layer" else 0)


def _autofusion(f, d, norm="none"):
    h = f // 2
    return _compressor(f, d, norm) + _linear(d, h) + _linear(h, f)


def _bn_stack(dims, out):
    return sum(_linear(a, b) + 2 * b for a, b in zip(dims[:-1], dims[1:])) + _linear(dims[-1], out)


def _gan_discriminator(D, c):
    """Linear(D, D) x 2 -> Linear(D, 1), with BatchNorms only for discriminator_norm=batch (the
    paper variant's default; spectral normalisation re-parametrizes weights without adding any)."""
    norm = c.discriminator_norm or ("batch" if c.variant == "paper" else "spectral")
    return _bn_stack([D, D, D], 1) if norm == "batch" else 2 * _linear(D, D) + _linear(D, 1)


def _mfn(M, D, O, c):
    h, mem, a, g, oh = c.hidden, c.mem_dim, c.attn_hidden, c.gate_hidden, c.out_hidden
    H = M * h
    cells = M * (_linear(D, 4 * h) + h * 4 * h + mem * 4 * h)
    return (cells + _linear(2 * H, a) + _linear(a, 2 * H) + _linear(2 * H, a) + _linear(a, mem)
            + 2 * (_linear(2 * H + mem, g) + _linear(g, mem)) + _linear(H + mem, oh) + _linear(oh, O))


def _mult(M, D, O, c):
    d, f = c.d_model, c.ff_mult
    A = M * (M - 1) * d
    return (M * _linear(D, d, bias=False) + M * (M - 1) * _mult_stack(d, f, c.cross_layers)
            + M * _mult_stack((M - 1) * d, f, c.self_layers) + 2 * _linear(A, A) + _linear(A, O))


PARAM_FORMULAS = {
    "concat": lambda M, D, O, c: _linear(M * D, O),
    "text_only": lambda M, D, O, c: 0 if D == O else _linear(D, O),
    "auto": lambda M, D, O, c: _autofusion(M * D, O, c.compressor_norm),
    "gan": lambda M, D, O, c: M * (_bn_stack([D, 2 * D, 2 * D], D)
                                   + _autofusion((M - 1) * D, D, c.compressor_norm)
                                   + _gan_discriminator(D, c)) + _autofusion(M * D, O, c.compressor_norm),
    "tfn": lambda M, D, O, c: M * _linear(D, c.tfn_dim) + _linear((c.tfn_dim + 1) ** M, c.hidden)
    + _linear(c.hidden, c.hidden) + _linear(c.hidden, O),
    "lmf": lambda M, D, O, c: M * c.rank * (D + 1) * O + c.rank + O,
    "ptp": lambda M, D, O, c: c.order * c.rank * (M * D + 1) * O + c.rank + O,
    "mcf": lambda M, D, O, c: M * _linear(D, c.mcf_dim) + _linear(c.mcf_dim, O),
    "attention": lambda M, D, O, c: _linear(D, c.hidden) + c.hidden + _linear(D, O),
    "adversarial": lambda M, D, O, c: _linear(D, c.shared_dim) + _linear(c.shared_dim, c.disc_hidden)
    + _linear(c.disc_hidden, M) + _linear(M * c.shared_dim, O),
    "shared_private": lambda M, D, O, c: (M + 1) * _linear(D, c.hidden) + _linear(2 * M * c.hidden, O),
    "late": lambda M, D, O, c: M * (_linear(D, c.hidden) + _linear(c.hidden, O) if c.hidden
                                    else _linear(D, O)),
    "gated": lambda M, D, O, c: _linear((M - 1) * D, D) + _linear(M * D, D)
    + (0 if D == O else _linear(D, O)),
    "cbmf": lambda M, D, O, c: M * c.context_dim + _linear(D + c.context_dim, c.proj_dim)
    + _linear(c.proj_dim, c.proj_dim) + _linear(M * c.proj_dim, O),
    "mult": _mult,
    "mfn": _mfn,
    "bottleneck": lambda M, D, O, c: M * _linear(D, c.d_model) + c.n_bottleneck * c.d_model
    + M * c.layers * _block(c.d_model, c.ff_mult) + 2 * c.d_model + _linear(c.d_model, O),
}


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_parameter_count_matches_formula(name):
    assert name in PARAM_FORMULAS, f"write the parameter formula of fusion {name!r}"
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT)
    count = sum(p.numel() for p in fusion.parameters())
    assert count == PARAM_FORMULAS[name](len(MODALITIES), D_IN, D_OUT, fusion_config(name))
