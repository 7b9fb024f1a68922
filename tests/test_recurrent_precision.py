"""LSTMs under trainer.precision=bf16-mixed on CPUs without native bf16 (fusionlab/nn/recurrent_precision.py).

On an AVX2-only CPU (this machine's AMD EPYC) an nn.LSTM under CPU bf16 autocast failed with oneDNN's
"could not create a primitive descriptor for the LSTM forward propagation primitive", so every
bf16-mixed run with an RNN encoder or decoder died in its first step."""

from __future__ import annotations

import torch

from fusionlab.encoders.rnn import MaskedBiRNN
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.nn import recurrent_precision
from fusionlab.nn.recurrent_precision import run_recurrent


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def test_rnn_encoder_and_decoder_run_under_cpu_bf16_autocast():
    torch.manual_seed(0)
    encoder = MaskedBiRNN(6, 5, cell="lstm")
    decoder = RNNDecoder(vocab_size=11, d=5, pad_id=0, bos_id=1, eos_id=2, embed_dim=4, cell="lstm")
    x = torch.randn(3, 7, 6)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 5, 2])[:, None]
    with bf16():
        states, final = encoder(x, mask)
        hidden = decoder.hidden(torch.randint(3, 11, (3, 4)), final, states, mask)
    assert states.shape == (3, 7, 5) and hidden.shape == (3, 4, 5)
    assert torch.isfinite(states).all() and torch.isfinite(hidden).all()


def test_without_native_bf16_the_lstm_runs_in_float32(monkeypatch):
    monkeypatch.setattr(recurrent_precision, "cpu_has_bf16", lambda: False)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(4, 3, batch_first=True)
    x, h0, c0 = torch.randn(2, 5, 4), torch.randn(1, 2, 3), torch.randn(1, 2, 3)
    expected, (h, c) = lstm(x, (h0, c0))                       # float32, no autocast
    with bf16():
        got, (gh, gc) = run_recurrent(lstm, x.bfloat16(), (h0.bfloat16(), c0.bfloat16()))
    assert got.dtype == torch.float32
    # the inputs were rounded to bf16 by the caller; the recurrence itself ran in float32
    ref, _ = lstm(x.bfloat16().float(), (h0.bfloat16().float(), c0.bfloat16().float()))
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    torch.testing.assert_close(got, expected, rtol=0, atol=0.05)


def test_outside_autocast_it_is_the_plain_call():
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 3, batch_first=True)
    x = torch.randn(2, 5, 4)
    out, h = run_recurrent(gru, x)
    assert torch.equal(out, gru(x)[0]) and torch.equal(h, gru(x)[1])
