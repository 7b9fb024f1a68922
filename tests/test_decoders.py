"""Decoders (RNN with attention, Transformer) and the Transformer text encoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fusionlab.nn.positions import sinusoidal_positions
from fusionlab.encoders.transformer import TransformerTextEncoder
from fusionlab.errors import ConfigError
from fusionlab.heads import RNNDecoder, TransformerDecoder

PAD, BOS, EOS = 0, 1, 2
V, D, B, S, T = 20, 16, 3, 5, 7


def make(kind: str, **kw):
    torch.manual_seed(0)
    if kind == "rnn":
        dec = RNNDecoder(V, D, PAD, BOS, EOS, embed_dim=8, **kw)
    elif kind == "rnn_feed":
        dec = RNNDecoder(V, D, PAD, BOS, EOS, embed_dim=8, input_feeding=True,
                         tie_embeddings=True, num_layers=2, **kw)
    elif kind == "gru":
        dec = RNNDecoder(V, D, PAD, BOS, EOS, embed_dim=8, cell="gru", **kw)
    else:
        dec = TransformerDecoder(V, D, PAD, BOS, EOS, num_layers=2, nhead=2, ff=32, **kw)
    return dec.eval()


def inputs(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, D, generator=g)
    memory = torch.randn(B, S, D, generator=g)
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[0, 3:] = False
    mask[2, 1:] = False
    tgt = torch.randint(3, V, (B, T), generator=g)
    tgt[:, 0] = BOS
    return tgt, z, memory, mask


KINDS = ["rnn", "rnn_feed", "gru", "transformer"]


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_memory_optional(kind):
    dec = make(kind)
    tgt, z, memory, mask = inputs()
    assert dec(tgt, z, memory, mask).shape == (B, T, V)
    assert dec(tgt, z, None, None).shape == (B, T, V)
    out = dec.generate(z, memory, mask, max_len=4, beam_size=3)
    assert len(out) == B and all(len(o) <= 4 for o in out)


@pytest.mark.parametrize("kind", KINDS)
def test_padded_memory_steps_do_not_change_outputs(kind):
    dec = make(kind)
    tgt, z, memory, mask = inputs()
    ref = dec(tgt, z, memory, mask)
    junk = memory.clone()
    junk[~mask] = 100.0 * torch.randn(int((~mask).sum()), D)  # rewrite the padded steps
    extra = torch.cat([junk, torch.randn(B, 4, D)], dim=1)  # and append 4 more padded steps
    extra_mask = torch.cat([mask, torch.zeros(B, 4, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(dec(tgt, z, extra, extra_mask), ref, atol=1e-5, rtol=1e-5)
    # the real steps do matter
    changed = memory.clone()
    changed[1, 0] += 1.0
    assert not torch.allclose(dec(tgt, z, changed, mask), ref, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_teacher_forcing_matches_incremental_steps(kind):
    dec = make(kind)
    tgt, z, memory, mask = inputs()
    full = dec(tgt, z, memory, mask)
    state = dec.start(z, memory, mask)
    steps = []
    for t in range(T):
        logits, state = dec.step_logits(tgt[:, : t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_causality(kind):
    dec = make(kind)
    tgt, z, memory, mask = inputs()
    ref = dec(tgt, z, memory, mask)
    t = 3
    changed = tgt.clone()
    changed[:, t + 1:] = torch.randint(3, V, changed[:, t + 1:].shape)
    out = dec(changed, z, memory, mask)
    torch.testing.assert_close(out[:, : t + 1], ref[:, : t + 1])
    assert not torch.allclose(out[:, t + 1:], ref[:, t + 1:])


def test_paper_variant_ignores_memory_but_uses_z():
    dec = make("rnn", attention=False)
    tgt, z, memory, mask = inputs()
    ref = dec(tgt, z, memory, mask)
    torch.testing.assert_close(dec(tgt, z, torch.randn_like(memory), mask), ref)
    torch.testing.assert_close(dec(tgt, z, None, None), ref)
    assert not torch.allclose(dec(tgt, z + 1.0, memory, mask), ref)


def test_tied_embeddings_share_the_matrix():
    tr = make("transformer")
    assert tr.out.weight.data_ptr() == tr.embed.weight.data_ptr()
    rnn = make("rnn_feed")
    assert rnn.out.weight.data_ptr() == rnn.embed.weight.data_ptr()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beam", [1, 3])
def test_generate_stops_at_eos_and_respects_max_len(kind, beam):
    dec = make(kind)
    tgt, z, memory, mask = inputs()
    with torch.no_grad():
        dec.out.bias.fill_(0.0)
        dec.out.bias[EOS] = 1e4  # EOS dominates: empty outputs
    assert dec.generate(z, memory, mask, max_len=6, beam_size=beam) == [[]] * B
    with torch.no_grad():
        dec.out.bias[EOS] = -1e4
        dec.out.bias[7] = 1e4  # never EOS: exactly max_len tokens
    assert dec.generate(z, memory, mask, max_len=6, beam_size=beam) == [[7] * 6] * B


def test_generate_never_emits_pad_or_bos():
    dec = make("rnn")
    _, z, memory, mask = inputs()
    with torch.no_grad():
        dec.out.bias[PAD] = 1e4
        dec.out.bias[BOS] = 1e4
    for beam in (1, 4):
        for row in dec.generate(z, memory, mask, max_len=5, beam_size=beam):
            assert PAD not in row and BOS not in row


def test_invalid_options_raise_config_error():
    with pytest.raises(ConfigError, match="cell"):
        RNNDecoder(V, D, PAD, BOS, EOS, cell="transformer")
    with pytest.raises(ConfigError, match="eos_id"):
        TransformerDecoder(V, D, PAD, BOS, V + 3)
    with pytest.raises(ConfigError, match="beam_size"):
        make("rnn").generate(torch.zeros(1, D), None, None, max_len=5, beam_size=0)


@pytest.fixture
def one_thread():
    """Small training loops run several times faster on one intra-op thread on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_rnn_attention_decoder_learns_to_copy(one_thread):
    """Real learning: copy a 5-token memory (tokens embedded + positions) through attention."""
    torch.manual_seed(0)
    vocab, d, length = 12, 32, 5
    src_embed = nn.Embedding(vocab, d)
    dec = RNNDecoder(vocab, d, PAD, BOS, EOS, embed_dim=16, dropout=0.0)
    opt = torch.optim.Adam([*dec.parameters(), *src_embed.parameters()], lr=1e-2)
    pos = sinusoidal_positions(length, d)

    def sample(n, gen=None):
        src = torch.randint(3, vocab, (n, length), generator=gen)
        memory = src_embed(src) + pos
        return src, memory, memory.mean(1)

    for _ in range(200):
        src, memory, z = sample(32)
        tgt = torch.cat([torch.full((32, 1), BOS), src, torch.full((32, 1), EOS)], dim=1)
        logits = dec(tgt[:, :-1], z, memory, None)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    dec.eval()
    with torch.no_grad():
        src, memory, z = sample(200, torch.Generator().manual_seed(123))
        greedy = dec.generate(z, memory, None, max_len=8)
        beam = dec.generate(z, memory, None, max_len=8, beam_size=3)
    exact = sum(g == s for g, s in zip(greedy, src.tolist())) / 200
    assert exact >= 0.95, exact
    assert sum(b == s for b, s in zip(beam, src.tolist())) / 200 >= 0.95


# --- Transformer text encoder ------------------------------------------------------------
def test_transformer_encoder_masked_outputs():
    torch.manual_seed(0)
    enc = TransformerTextEncoder(V, D, pad_id=PAD, num_layers=2, nhead=2, ff=32).eval()
    ids = torch.randint(3, V, (B, 6))
    mask = torch.ones(B, 6, dtype=torch.bool)
    mask[0, 4:] = False
    mask[1, 1:] = False
    ids[~mask] = PAD
    out = enc(ids, mask)
    assert out.vec.shape == (B, D) and out.seq.shape == (B, 6, D)
    assert torch.equal(out.mask, mask)
    assert torch.all(out.seq[~mask] == 0)
    assert set(enc.state_dict()) == {k for k, _ in enc.named_parameters()}  # no position buffer
    torch.testing.assert_close(out.vec[0], out.seq[0, :4].mean(0))
    # more padding (with garbage ids) changes nothing for the real steps
    longer_ids = torch.cat([ids, torch.randint(3, V, (B, 3))], dim=1)
    longer_mask = torch.cat([mask, torch.zeros(B, 3, dtype=torch.bool)], dim=1)
    longer = enc(longer_ids, longer_mask)
    torch.testing.assert_close(longer.vec, out.vec, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(longer.seq[:, :6], out.seq, atol=1e-5, rtol=1e-5)


def test_transformer_encoder_empty_row_is_finite_and_zero():
    enc = TransformerTextEncoder(V, D, pad_id=PAD, num_layers=1, nhead=2, ff=32)
    ids = torch.tensor([[5, 6, 7], [PAD, PAD, PAD]])
    mask = ids != PAD
    out = enc(ids, mask)
    assert torch.isfinite(out.seq).all() and torch.all(out.vec[1] == 0)
    out.vec[0].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


def test_transformer_translation_model_size():
    """d=256, 3+3 layers, ff 1024, 8k shared-size vocabularies: the ~6M-parameter CPU model
    (embeddings included; tied decoder output)."""
    enc = TransformerTextEncoder(8000, 256, pad_id=PAD)
    dec = TransformerDecoder(8000, 256, PAD, BOS, EOS)
    n = sum(p.numel() for m in (enc, dec) for p in m.parameters())
    assert 8.0e6 < n < 10.5e6, n
    core = n - 2 * 8000 * 256
    assert 5.0e6 < core < 6.5e6, core
