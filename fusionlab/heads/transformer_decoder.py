"""Pre-norm Transformer decoder attending over [z_proj(z); z; memory] ([z_proj(z)] without memory), with
cached incremental decoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionlab.encoders.positional import PositionalTokenEmbedding
from fusionlab.heads.beam_search import State
from fusionlab.heads.cached_attention import (attend, memory_cache, project,
                                                self_attention_step)
from fusionlab.heads.decoder import Decoder, prepend
from fusionlab.nn.dropout import FastDropout


class DecoderLayer(nn.Module):
    """Pre-norm block: x + SelfAttn(LN x), + CrossAttn(LN x, memory), + FF(LN x).

    forward(x (N, T, d), memory (N, S, d), memory_pad (N, S) True = padded, causal (T, T) bool)
    -> (N, T, d) for teacher forcing. ``dropout`` applies to each sub-block's output (residual
    branch), ``attention_dropout`` to the attention probabilities and ``activation_dropout`` after
    the feed-forward ReLU (fairseq's three rates); :meth:`step` is the same block for one new position, with
    the projected self-attention and memory keys/values cached (fusionlab/heads/cached_attention.py).
    """

    def __init__(self, d: int, nhead: int, ff: int, dropout: float, attention_dropout: float,
                 activation_dropout: float):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, nhead, dropout=attention_dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, nhead, dropout=attention_dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), FastDropout(activation_dropout),
                                nn.Linear(ff, d))
        self.dropout = FastDropout(dropout)

    def forward(self, x: Tensor, memory: Tensor, memory_pad: Tensor,
                causal: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, h, attn_mask=causal, need_weights=False)[0])
        h = self.norm2(x)
        x = x + self.dropout(self.cross_attn(h, memory, memory, key_padding_mask=memory_pad,
                                             need_weights=False)[0])
        return x + self.dropout(self.ff(self.norm3(x)))

    def step(self, x: Tensor, cache: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """x (N, 1, d) one new position; cache {"self_k", "self_v"} (N, H, P, d_h) (absent at the
        first step), {"mem_k", "mem_v"} (N, H, S, d_h), "mem_mask" (N, 1, 1, S) True = attend.
        Returns x (N, 1, d) and the cache grown by this position. Eval mode (no dropout)."""
        out, k, v = self_attention_step(self.self_attn, self.norm1(x), cache.get("self_k"),
                                        cache.get("self_v"))
        x = x + out
        q = project(self.cross_attn, self.norm2(x), 0)
        x = x + attend(self.cross_attn, q, cache["mem_k"], cache["mem_v"], cache["mem_mask"])
        return x + self.ff(self.norm3(x)), {**cache, "self_k": k, "self_v": v}


class TransformerDecoder(Decoder):
    """Causal self-attention + cross-attention over the fused vector and the memory.

    Memory token 0 (always attended) is the fused vector z (B, d) projected (``z_proj``); a given
    ``memory`` (B, S, d, mask True = real) follows, led by z itself as the RNN decoder's is (the
    layout every model since the first release was trained with). Generation is batched over samples
    and beams and caches each layer's projected keys/values (memory once, the prefix one position
    per step), so a step costs one position, not the whole prefix and memory.

    ``attention_dropout`` and ``activation_dropout`` default to ``dropout`` (None); fairseq's
    Transformer uses 0 for both (conf/experiment/multi30k_text.yaml does too).
    """

    def __init__(self, vocab_size: int, d: int, pad_id: int, bos_id: int, eos_id: int,
                 num_layers: int = 3, nhead: int = 4, ff: int = 1024, dropout: float = 0.1,
                 tie_embeddings: bool = True, attention_dropout: float | None = None,
                 activation_dropout: float | None = None):
        super().__init__(vocab_size, pad_id, bos_id, eos_id)
        self.embed = PositionalTokenEmbedding(vocab_size, d, pad_id, dropout)
        self.z_proj = nn.Linear(d, d)
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        activation_dropout = dropout if activation_dropout is None else activation_dropout
        self.layers = nn.ModuleList(DecoderLayer(d, nhead, ff, dropout, attention_dropout,
                                                 activation_dropout)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embed.weight

    def start(self, z: Tensor, memory: Tensor | None, memory_mask: Tensor | None) -> State:
        if memory is not None:
            memory, memory_mask = prepend(z, memory, memory_mask)
        memory, memory_mask = prepend(self.z_proj(z), memory, memory_mask)
        return {"memory": memory, "mask": memory_mask}

    @property
    def input_embedding(self) -> nn.Embedding:
        return self.embed.embed

    def hidden(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None = None,
               memory_mask: Tensor | None = None) -> Tensor:
        """(B, T, d): the last layer's states after the final LayerNorm."""
        state = self.start(z, memory, memory_mask)
        T = tgt_in.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device), 1)
        x = self.embed(tgt_in)
        for layer in self.layers:
            x = layer(x, state["memory"], ~state["mask"], causal=causal)
        return self.norm(x)

    def output_layer(self, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        return hidden, self.out.weight, self.out.bias

    def step_logits(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Logits (N, V) of the next token after ``tokens[:, -1]``; the state's memory is replaced
        by each layer's projected memory keys/values at the first step (``l<i>.<name>`` keys)."""
        if "memory" in state:  # first step: project the memory once per layer
            mask = state["mask"][:, None, None, :]
            state = {f"l{i}.{k}": v for i, layer in enumerate(self.layers)
                     for k, v in zip(("mem_k", "mem_v", "mem_mask"),
                                     (*memory_cache(layer.cross_attn, state["memory"]), mask))}
        x = self.embed(tokens[:, -1:], start=tokens.shape[1] - 1)
        new: State = {}
        for i, layer in enumerate(self.layers):
            prefix = f"l{i}."
            cache = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            x, cache = layer.step(x, cache)
            new.update({prefix + k: v for k, v in cache.items()})
        return self.logits(self.norm(x[:, -1])), new
