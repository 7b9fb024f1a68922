"""Pre-norm Transformer decoder attending over [z; memory]."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionlab.encoders.positional import PositionalTokenEmbedding
from fusionlab.heads.beam_search import State
from fusionlab.heads.decoder import Decoder, full_memory


class TransformerDecoder(Decoder):
    """Causal self-attention + cross-attention over the fused vector and the memory.

    The fused vector z (B, d) is projected and prepended as memory token 0 (always attended);
    ``memory`` (B, S, d) follows with its mask (True = real). Generation recomputes the whole
    prefix at each step (no key/value cache) but is batched over samples and beams.
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int, bos_id: int, eos_id: int,
                 num_layers: int = 3, nhead: int = 4, ff: int = 1024, dropout: float = 0.1,
                 tie_embeddings: bool = True):
        super().__init__(vocab_size, pad_id, bos_id, eos_id)
        self.embed = PositionalTokenEmbedding(vocab_size, d, pad_id, dropout)
        self.z_proj = nn.Linear(d, d)
        layer = nn.TransformerDecoderLayer(d, nhead, ff, dropout, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(d))
        self.out = nn.Linear(d, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    def start(self, z: Tensor, memory: Tensor | None, memory_mask: Tensor | None) -> State:
        memory, memory_mask = full_memory(z, memory, memory_mask)
        head = self.z_proj(z).unsqueeze(1)
        head_mask = torch.ones(z.shape[0], 1, dtype=torch.bool, device=z.device)
        if memory is None:
            return {"memory": head, "mask": head_mask}
        return {"memory": torch.cat([head, memory], dim=1),
                "mask": torch.cat([head_mask, memory_mask], dim=1)}

    def _decode(self, tokens: Tensor, state: State) -> Tensor:
        """tokens (N, T) -> logits (N, T, V), position t seeing tokens <= t only."""
        T = tokens.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=tokens.device), 1)
        h = self.layers(self.embed(tokens), state["memory"], tgt_mask=causal,
                        memory_key_padding_mask=~state["mask"], tgt_is_causal=True)
        return self.out(h)

    def forward(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None = None,
                memory_mask: Tensor | None = None) -> Tensor:
        return self._decode(tgt_in, self.start(z, memory, memory_mask))

    def step_logits(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        return self._decode(tokens, state)[:, -1], state
