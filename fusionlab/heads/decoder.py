"""The decoder interface the translation task uses, with generation shared by every decoder.

A subclass implements:

- ``hidden(tgt_in (B, T), z (B, d), memory (B, S, d) | None, memory_mask (B, S) | None)``
  -> (B, T, d_out) final states under teacher forcing, ``tgt_in`` starts with BOS; ``memory`` are
  the source states (e.g. the text encoder's), ``memory_mask`` True where a step is real;
- ``logits(hidden (..., d_out))`` -> (..., V): the output projection, position by position, so a
  loss can project only the positions it scores (the translation loss skips padded targets);
- ``input_embedding``: the (V, e) token embedding the decoder reads its input with;
- ``start(z, memory, memory_mask)`` -> the initial decoding state (dict of batch-first tensors);
- ``step_logits(tokens (N, t), state)`` -> (next-token logits (N, V), new state).

and inherits ``forward`` = ``logits(hidden(...))`` (B, T, V) and :meth:`generate`, which runs
:mod:`fusionlab.heads.beam_search` over :meth:`step`.
A decoder that attends puts the fused vector z in front of the memory itself (:func:`prepend`),
so z stays visible at every decoding step, not only in the initial state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.heads.beam_search import State, beam_search, greedy_search


def prepend(vec: Tensor, memory: Tensor | None, memory_mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """(B, 1 + S, d) states to attend over: ``vec`` (B, d) as step 0 (always attended), then
    ``memory`` (B, S, d) if any; and the (B, 1 + S) bool mask (``memory_mask`` None: all real)."""
    head = vec.unsqueeze(1)
    if memory is None:
        return head, torch.ones(head.shape[:2], dtype=torch.bool, device=head.device)
    if memory_mask is None:
        memory_mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)
    memory_mask = memory_mask.bool()
    return torch.cat([head, memory], 1), torch.cat([torch.ones_like(memory_mask[:, :1]), memory_mask], 1)


class Decoder(nn.Module):
    """Base class: special ids, the log-probability step and batched generation."""

    def __init__(self, vocab_size: int, pad_id: int, bos_id: int, eos_id: int):
        super().__init__()
        for name, value in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            if not 0 <= value < vocab_size:
                raise ConfigError(
                    f"decoder {name}={value} is outside the target vocabulary of size "
                    f"{vocab_size}; check the dataset's tokenizer special ids")
        self.vocab_size = vocab_size
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id

    def hidden(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None,
               memory_mask: Tensor | None) -> Tensor:  # pragma: no cover - abstract
        """(B, T, d_out) final states of teacher forcing on ``tgt_in`` (B, T)."""
        raise NotImplementedError

    def output_layer(self, hidden: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:  # pragma: no cover - abstract
        """The output projection of final states ``hidden`` (..., d_out) as (features (..., e),
        weight (V, e), bias (V,) or None): logits = features @ weight.T + bias. The translation
        loss fuses this projection with its cross-entropy (fusionlab/nn/smoothed_cross_entropy.py)."""
        raise NotImplementedError

    def logits(self, hidden: Tensor) -> Tensor:
        """(..., V) next-token logits of final states ``hidden`` (..., d_out)."""
        return F.linear(*self.output_layer(hidden))

    @property
    def input_embedding(self) -> nn.Embedding:  # pragma: no cover - abstract
        """The (V, e) embedding of input tokens (an encoder may share it, see TranslationTask)."""
        raise NotImplementedError

    def forward(self, tgt_in: Tensor, z: Tensor, memory: Tensor | None = None,
                memory_mask: Tensor | None = None) -> Tensor:
        """(B, T, V) teacher-forcing logits: ``logits(hidden(...))``."""
        return self.logits(self.hidden(tgt_in, z, memory, memory_mask))

    def start(self, z: Tensor, memory: Tensor | None,
              memory_mask: Tensor | None) -> State:  # pragma: no cover - abstract
        raise NotImplementedError

    def step_logits(self, tokens: Tensor,
                    state: State) -> tuple[Tensor, State]:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """(N, V) next-token log-probabilities; PAD and BOS are never generated."""
        logits, state = self.step_logits(tokens, state)
        banned = torch.tensor([self.pad_id, self.bos_id], device=logits.device)
        logits = logits.float().index_fill(1, banned, float("-inf"))
        return torch.log_softmax(logits, dim=-1), state

    @torch.no_grad()
    def generate(self, z: Tensor, memory: Tensor | None, memory_mask: Tensor | None,
                 max_len: int, beam_size: int = 1,
                 length_penalty: float = 1.0) -> list[list[int]]:
        """Token ids per sample without BOS/EOS, at most ``max_len`` generated tokens.

        beam_size=1 is greedy decoding; beam_size>1 is batched beam search with GNMT length
        penalty alpha=``length_penalty``. Call ``eval()`` first to switch dropout off.
        """
        if beam_size < 1 or max_len < 1:
            raise ConfigError(f"generation needs beam_size >= 1 and max_len >= 1, got "
                              f"beam_size={beam_size}, max_len={max_len}")
        common = dict(batch_size=z.shape[0], bos_id=self.bos_id, eos_id=self.eos_id,
                      pad_id=self.pad_id, max_len=max_len, device=z.device)
        state = self.start(z, memory, memory_mask)
        if beam_size == 1:
            ids, _ = greedy_search(self.step, state, **common)
        else:
            ids, _ = beam_search(self.step, state, beam_size=beam_size,
                                 length_penalty=length_penalty, **common)
        return ids
