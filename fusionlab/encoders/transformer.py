"""Transformer text encoder (pre-norm), the encoder half of the small CPU Transformer MT model."""

from __future__ import annotations

from torch import Tensor, nn

from fusionlab.encoders.positional import PositionalTokenEmbedding
from fusionlab.encoders.text import TokenEncoder
from fusionlab.fusion.base import Encoded
from fusionlab.nn.dropout import FastDropout
from fusionlab.nn.masking import masked_mean, with_a_real_step, zero_padded


class TransformerTextEncoder(TokenEncoder):
    """ids (B, T) long, mask (B, T) bool -> Encoded(vec (B, d), seq (B, T, d), mask).

    Pre-norm self-attention layers over sinusoidal-position embeddings; ``seq`` is zero at padded
    steps and ``vec`` is the masked mean of ``seq`` (padded steps never count).

    ``dropout`` applies to the embeddings and each sub-block's output, ``attention_dropout`` to the
    attention probabilities, ``activation_dropout`` after the feed-forward ReLU; the last two
    default to ``dropout`` (None), as in ``nn.TransformerEncoderLayer``.
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int = 0, num_layers: int = 3,
                 nhead: int = 4, ff: int = 1024, dropout: float = 0.1,
                 attention_dropout: float | None = None, activation_dropout: float | None = None):
        super().__init__()
        self.embed = PositionalTokenEmbedding(vocab_size, d, pad_id, dropout)
        layer = nn.TransformerEncoderLayer(d, nhead, ff, dropout, batch_first=True,
                                           norm_first=True)
        # nn.TransformerEncoderLayer takes one rate; its attention keeps the rate as a float and
        # the feed-forward dropout is layer.dropout (dropout1/dropout2 are the residual branches)
        if attention_dropout is not None:
            layer.self_attn.dropout = attention_dropout
        # the residual and feed-forward dropouts draw their masks from 16-bit integers
        # (fusionlab/nn/dropout.py: same distribution, several times faster on CPU)
        layer.dropout1, layer.dropout2 = FastDropout(dropout), FastDropout(dropout)
        layer.dropout = FastDropout(dropout if activation_dropout is None else activation_dropout)
        self.layers = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d),
                                            enable_nested_tensor=False)

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.embed.embed

    def forward(self, ids: Tensor, mask: Tensor) -> Encoded:
        mask = mask.bool()
        states = self.layers(self.embed(ids), src_key_padding_mask=~with_a_real_step(mask))
        states = zero_padded(states, mask)
        vec = masked_mean(states, mask)
        return Encoded(vec=vec, seq=states, mask=mask)
