"""Text encoders' contract (:class:`TokenEncoder`: tokens read through an embedding matrix) and the
default text encoder: token embeddings + bidirectional RNN."""

from __future__ import annotations

from torch import Tensor, nn

from fusionlab.encoders.rnn import MaskedBiRNN
from fusionlab.fusion.base import Encoded


class TokenEncoder(nn.Module):
    """An encoder of token ids (B, T) that reads them through one (V, e) embedding matrix.

    ``token_embedding`` is that nn.Embedding; the translation task can make its weight the
    decoder's (``task.share_embeddings``), so a subclass must read every token through it.
    """

    @property
    def token_embedding(self) -> nn.Embedding:  # pragma: no cover - abstract
        raise NotImplementedError


class TextEncoder(TokenEncoder):
    """ids (B, T) long, mask (B, T) bool -> Encoded(vec (B, d), seq (B, T, d), mask).

    vec is the sum of the final forward and backward states (the paper's BiLSTM summary).
    """

    def __init__(self, vocab_size: int, d: int, embed_dim: int = 300, num_layers: int = 1,
                 cell: str = "lstm", dropout: float = 0.2, pad_id: int = 0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.rnn = MaskedBiRNN(embed_dim, d, num_layers=num_layers, cell=cell, dropout=dropout)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.embed

    def forward(self, ids: Tensor, mask: Tensor) -> Encoded:
        states, final = self.rnn(self.dropout(self.embed(ids)), mask)
        return Encoded(vec=final, seq=states, mask=mask)
