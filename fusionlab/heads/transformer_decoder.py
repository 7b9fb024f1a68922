"""Pre-norm Transformer decoder attending over [z; memory], with cached incremental decoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionlab.encoders.positional import PositionalTokenEmbedding
from fusionlab.heads.beam_search import State
from fusionlab.heads.decoder import Decoder, full_memory


class DecoderLayer(nn.Module):
    """Pre-norm block: x + SelfAttn(LN x), + CrossAttn(LN x, memory), + FF(LN x).

    forward(x (N, T, d) new positions, memory (N, S, d), memory_pad (N, S) True = padded,
    past (N, P, d) | None, causal (T, T) bool | None) -> (x, keys).
    ``keys`` (N, P + T, d) are the normalized inputs of every position so far: the self-attention
    keys/values, which incremental decoding feeds back as ``past`` instead of recomputing them.
    """

    def __init__(self, d: int, nhead: int, ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, nhead, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, nhead, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_pad: Tensor, past: Tensor | None = None,
                causal: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.norm1(x)
        keys = h if past is None else torch.cat([past, h], dim=1)
        x = x + self.dropout(self.self_attn(h, keys, keys, attn_mask=causal,
                                            need_weights=False)[0])
        h = self.norm2(x)
        x = x + self.dropout(self.cross_attn(h, memory, memory, key_padding_mask=memory_pad,
                                             need_weights=False)[0])
        return x + self.dropout(self.ff(self.norm3(x))), keys


class TransformerDecoder(Decoder):
    """Causal self-attention + cross-attention over the fused vector and the memory.

    The fused vector z (B, d) is projected and prepended as memory token 0 (always attended);
    ``memory`` (B, S, d) follows with its mask (True = real). Generation is batched over samples
    and beams and caches each layer's self-attention inputs (state keys ``past_<layer>``), so a
    step costs one position, not the whole prefix.
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int, bos_id: int, eos_id: int,
                 num_layers: int = 3, nhead: int = 4, ff: int = 1024, dropout: float = 0.1,
                 tie_embeddings: bool = True):
        super().__init__(vocab_size, pad_id, bos_id, eos_id)
        self.embed = PositionalTokenEmbedding(vocab_size, d, pad_id, dropout)
        self.z_proj = nn.Linear(d, d)
        self.layers = nn.ModuleList(DecoderLayer(d, nhead, ff, dropout)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    def start(self, z: Tensor, memory: Tensor | None, memory_mask: Tensor | None) -> State:
        memory, memory_mask = full_memory(memory, memory_mask)
        head = self.z_proj(z).unsqueeze(1)
        head_mask = torch.ones(z.shape[0], 1, dtype=torch.bool, device=z.device)
        if memory is None:
            return {"memory": head, "mask": head_mask}
        return {"memory": torch.cat([head, memory], dim=1),
                "mask": torch.cat([head_mask, memory_mask], dim=1)}

    def forward(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None = None,
                memory_mask: Tensor | None = None) -> Tensor:
        state = self.start(z, memory, memory_mask)
        T = tgt_in.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device), 1)
        x = self.embed(tgt_in)
        for layer in self.layers:
            x, _ = layer(x, state["memory"], ~state["mask"], causal=causal)
        return self.out(self.norm(x))

    def step_logits(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        x = self.embed(tokens[:, -1:], start=tokens.shape[1] - 1)
        new = dict(state)
        for i, layer in enumerate(self.layers):
            x, new[f"past_{i}"] = layer(x, state["memory"], ~state["mask"],
                                        past=state.get(f"past_{i}"))
        return self.out(self.norm(x[:, -1])), new
