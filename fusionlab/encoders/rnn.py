"""Masked bidirectional RNN shared by the text and feature-sequence encoders."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from fusionlab.nn.recurrent_precision import run_recurrent


class MaskedBiRNN(nn.Module):
    """Bidirectional LSTM/GRU over right-padded steps; directions are summed (the paper's choice).

    forward(x (B, T, d_in), mask (B, T) bool) -> states (B, T, hidden), final (B, hidden).
    Padded steps of ``states`` are zero.
    """

    def __init__(self, d_in: int, hidden: int, num_layers: int = 1, cell: str = "lstm",
                 dropout: float = 0.0):
        super().__init__()
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(d_in, hidden, num_layers=num_layers, batch_first=True,
                           bidirectional=True, dropout=dropout if num_layers > 1 else 0.0)
        self.hidden = hidden

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = run_recurrent(self.rnn, packed)
        if isinstance(h, tuple):  # LSTM: (h_n, c_n)
            h = h[0]
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        states = out[..., : self.hidden] + out[..., self.hidden:]
        final = h[-2] + h[-1]  # last layer, forward + backward
        return states, final
