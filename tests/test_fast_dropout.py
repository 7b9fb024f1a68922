"""FastDropout: the 16-bit keep mask keeps each element with probability 1 - p_eff, independently,
scales what it keeps by 1 / (1 - p_eff), and is the module every Transformer dropout uses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from fusionlab.encoders.transformer import TransformerTextEncoder
from fusionlab.heads.transformer_decoder import TransformerDecoder
from fusionlab.nn.dropout import FastDropout, dropped_fraction

N = 1 << 22  # 4.2M elements: the keep rate's standard error at p = 0.2 is 2e-4


def test_realised_rate_is_the_requested_one_rounded_to_2_to_the_minus_16():
    assert dropped_fraction(0.2) == 13107 / 65536
    assert dropped_fraction(0.25) == 0.25
    for p in (0.05, 0.1, 0.2, 0.3, 0.5, 0.9):
        assert abs(dropped_fraction(p) - p) <= 2 ** -17


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5])
def test_keep_rate_and_scale(p):
    torch.manual_seed(0)
    drop = FastDropout(p).train()
    y = drop(torch.ones(N))
    kept = y != 0
    q = 1 - dropped_fraction(p)
    assert abs(kept.float().mean().item() - q) < 5 * math.sqrt(q * (1 - q) / N)
    assert torch.equal(y[kept], torch.full_like(y[kept], 1 / q))  # exactly 1 / (1 - p_eff)


def test_neighbouring_elements_are_independent():
    """Four masks come from one 64-bit draw: each pair of its lanes must be kept together with
    probability q², and the 16 keep patterns of a draw must be equally likely up to q."""
    torch.manual_seed(1)
    p = 0.5
    keep = (FastDropout(p).train()(torch.ones(N)) != 0).view(-1, 4).float()
    se = 5 * math.sqrt(0.25 * 0.75 / (N // 4))
    for a in range(4):
        for b in range(a + 1, 4):
            assert abs((keep[:, a] * keep[:, b]).mean().item() - 0.25) < se
    patterns = torch.bincount((keep * torch.tensor([1.0, 2, 4, 8])).sum(1).long(), minlength=16)
    share = patterns.float() / patterns.sum()
    assert (share - 1 / 16).abs().max().item() < 5 * math.sqrt(1 / 16 * 15 / 16 / (N // 4))


def test_gradient_is_the_mask():
    torch.manual_seed(2)
    x = torch.randn(1000, requires_grad=True)
    y = FastDropout(0.3).train()(x)
    w = torch.randn(1000)
    (y * w).sum().backward()
    mask = torch.where(y != 0, 1 / (1 - dropped_fraction(0.3)), 0.0)
    torch.testing.assert_close(x.grad, w * mask)


def test_eval_mode_rate_zero_and_rate_one():
    x = torch.randn(50, 7)
    assert torch.equal(FastDropout(0.5).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)
    assert torch.equal(FastDropout(1.0).train()(x), torch.zeros_like(x))


def test_seeding_reproduces_the_masks():
    x = torch.ones(4096)
    drop = FastDropout(0.2).train()
    torch.manual_seed(5)
    a = drop(x)
    torch.manual_seed(5)
    b = drop(x)
    c = drop(x)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_the_transformer_encoder_and_decoder_use_it_at_their_rates():
    enc = TransformerTextEncoder(vocab_size=20, d=16, num_layers=2, nhead=2, ff=32, dropout=0.2,
                                 attention_dropout=0.0, activation_dropout=0.1)
    dec = TransformerDecoder(vocab_size=20, d=16, pad_id=0, bos_id=1, eos_id=2, num_layers=2,
                             nhead=2, ff=32, dropout=0.2, attention_dropout=0.0,
                             activation_dropout=0.1)
    drops = [m for m in (*enc.modules(), *dec.modules()) if isinstance(m, nn.Dropout)]
    assert drops and all(type(m) is FastDropout for m in drops)
    # residual + embedding dropouts at 0.2, the feed-forward ones at 0.1
    assert sorted({m.p for m in drops}) == [0.1, 0.2]
