"""Batched greedy and beam search over a generic incremental step function.

The contract both decoders implement::

    step(tokens, state) -> (log_probs, state)
        tokens:    (N, t) long, every token so far, BOS first
        state:     dict[str, Tensor], every tensor batch-first (N, ...)
        log_probs: (N, V) log-probabilities of the next token

A decoder that carries recurrent state (the RNN) reads only ``tokens[:, -1]`` and returns its
updated state; one that recomputes (the Transformer) reads all of ``tokens`` and returns the state
unchanged. Because every state tensor is batch-first, reordering beams is one generic
``index_select`` (:func:`select_state`), so the search never knows which decoder it drives.

Finished hypotheses (those that emitted EOS) keep their score: their only continuation is
``pad_id`` at log-probability 0, so they are carried along without further expansion and compete
with the open ones for the K slots. Search stops when every kept hypothesis has finished or after
``max_len`` generated tokens (EOS included).

Length penalty: GNMT's lp(L) = ((5 + L) / 6) ** alpha (Wu et al. 2016), with L the number of
generated tokens including EOS and alpha = ``length_penalty``. Hypotheses are ranked by
score / lp(L), both when choosing the K survivors and when picking the final best; alpha = 0
ranks by the raw sum of log-probabilities. Greedy search is the K = 1 case (identical results).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

State = dict[str, Tensor]
StepFn = Callable[[Tensor, State], "tuple[Tensor, State]"]


def select_state(state: State, index: Tensor) -> State:
    """Rows ``index`` (N',) of every batch-first tensor in ``state``."""
    return {k: v.index_select(0, index) for k, v in state.items()}


def gnmt_length_penalty(length: Tensor, alpha: float) -> Tensor:
    """((5 + length) / 6) ** alpha, elementwise; 1 everywhere when alpha == 0."""
    return ((5.0 + length.float()) / 6.0) ** alpha


def strip_special(row: list[int], eos_id: int) -> list[int]:
    """Generated ids up to (not including) the first EOS."""
    return row[: row.index(eos_id)] if eos_id in row else row


def greedy_search(step: StepFn, state: State, *, batch_size: int, bos_id: int, eos_id: int,
                  pad_id: int, max_len: int, device=None) -> tuple[list[list[int]], Tensor]:
    """Argmax decoding. Returns ids per sample (no BOS/EOS) and (B,) summed log-probabilities."""
    tokens = torch.full((batch_size, 1), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    scores = torch.zeros(batch_size, device=device)
    for _ in range(max_len):
        log_probs, state = step(tokens, state)
        best_lp, best = log_probs.float().max(dim=-1)
        scores = scores + torch.where(finished, torch.zeros_like(best_lp), best_lp)
        best = best.masked_fill(finished, pad_id)
        finished = finished | (best == eos_id)
        tokens = torch.cat([tokens, best.unsqueeze(1)], dim=1)
        if bool(finished.all()):
            break
    return [strip_special(r, eos_id) for r in tokens[:, 1:].tolist()], scores


def beam_search(step: StepFn, state: State, *, batch_size: int, bos_id: int, eos_id: int,
                pad_id: int, max_len: int, beam_size: int, length_penalty: float = 1.0,
                device=None) -> tuple[list[list[int]], Tensor]:
    """Batched beam search (see the module docstring for EOS and length-penalty rules).

    ``state`` holds B rows; it is expanded to B*K rows here. Returns the best hypothesis per sample
    (ids without BOS/EOS) and its (B,) summed log-probability (before the length penalty).
    """
    B, K = batch_size, beam_size
    rows = torch.arange(B, device=device)
    state = select_state(state, rows.repeat_interleave(K))
    tokens = torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first one at step 1
    lengths = torch.zeros((B, K), dtype=torch.long, device=device)
    finished = torch.zeros((B, K), dtype=torch.bool, device=device)
    for t in range(1, max_len + 1):
        log_probs, state = step(tokens, state)
        V = log_probs.shape[-1]
        log_probs = log_probs.float().view(B, K, V)
        carry = torch.full((V,), float("-inf"), device=log_probs.device)
        carry[pad_id] = 0.0
        log_probs = torch.where(finished.unsqueeze(-1), carry, log_probs)
        cand = (scores.unsqueeze(-1) + log_probs).view(B, K * V)
        cand_len = torch.where(finished, lengths, torch.full_like(lengths, t))
        rank = cand / gnmt_length_penalty(cand_len, length_penalty).repeat_interleave(V, dim=1)
        idx = rank.topk(K, dim=1).indices                      # (B, K)
        beam, tok = idx // V, idx % V
        scores = cand.gather(1, idx)
        was_finished = finished.gather(1, beam)
        lengths = torch.where(was_finished, lengths.gather(1, beam), torch.full_like(lengths, t))
        finished = was_finished | (tok == eos_id)
        flat = (beam + rows.unsqueeze(1) * K).view(-1)
        tokens = torch.cat([tokens.index_select(0, flat), tok.view(-1, 1)], dim=1)
        state = select_state(state, flat)
        if bool(finished.all()):
            break
    final = scores / gnmt_length_penalty(lengths, length_penalty)
    best = final.argmax(dim=1)
    chosen = tokens.view(B, K, -1)[rows, best, 1:]
    return [strip_special(r, eos_id) for r in chosen.tolist()], scores[rows, best]
