"""Contract tests run on every conf/fusion/*.yaml (instantiated through Hydra, as train.py does)."""

from __future__ import annotations

import pytest
import torch

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


# CHANGE DETECTORS, not correctness claims: torch.manual_seed(0) before construction,
# make_encoded(d=8, seed=0), eval mode, d_in=8, d_out=6, the batch sums z.sum(0)[:4] (single rows
# of ReLU outputs can be all zero), recorded from this implementation. They only flag that a
# fusion's numbers moved; an intended change updates them. Correctness rests on the formula and
# property tests (test_fusion_properties.py) and on the re-written published references with
# copied weights (test_reference_mult.py, test_reference_tfn.py, test_reference_lmf.py).
CHANGE_DETECTORS = {
    "adversarial": [0.526671, -0.110521, -0.549815, 0.421932],
    "attention": [0.949053, 0.747210, -0.282890, -2.023222],
    "auto": [0.079254, 0.120311, 0.506241, 1.149579],
    "bottleneck": [0.628021, 1.399620, 0.091036, 0.360289],
    "cbmf": [0.108742, -0.114965, 0.613480, -0.081835],
    "concat": [1.499316, 1.569432, 2.218267, 1.813423],
    "gan": [0.0, 1.710178, 1.586687, 0.490718],
    "gated": [0.120961, 1.583795, 0.680940, 2.843986],
    "late": [-0.918268, -0.322073, -1.351111, 0.462003],
    "lmf": [0.000072, 0.077553, 0.471511, 0.059815],
    "mcf": [-0.102518, 0.646774, -0.414314, 0.013193],
    "mfn": [-0.230276, -0.239375, -0.185117, 0.503734],
    "mult": [2.016522, 1.513801, 1.122858, 4.364857],
    "ptp": [0.225976, -0.962496, 0.212261, -0.172115],
    "shared_private": [-0.338473, 1.646419, -0.277881, 0.185577],
    "text_only": [-1.637099, -0.644338, 0.198953, 1.752280],
    "tfn": [0.035749, -0.348532, -0.036817, 0.013384],
}


@pytest.mark.parametrize("name", FUSION_NAMES)
def test_change_detectors(name):
    assert name in CHANGE_DETECTORS, f"record change-detector values for fusion {name!r}"
    torch.manual_seed(0)
    fusion = build_fusion(name, d_in=D_IN, d_out=D_OUT)
    z = _run(fusion, make_encoded(d=D_IN)).z
    torch.testing.assert_close(z.sum(0)[:4], torch.tensor(CHANGE_DETECTORS[name]), rtol=1e-4, atol=1e-5)


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


def _autofusion(f, d):
    h = f // 2
    return _linear(f, h) + _linear(h, d) + _linear(d, h) + _linear(h, f)


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
    "auto": lambda M, D, O, c: _autofusion(M * D, O),
    "gan": lambda M, D, O, c: M * (_bn_stack([D, 2 * D, 2 * D], D) + _autofusion((M - 1) * D, D)
                                   + _gan_discriminator(D, c)) + _linear(M * D, M * D // 2)
    + _linear(M * D // 2, O),
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
