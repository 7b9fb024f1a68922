"""Batched beam search: greedy equivalence, optimality on toy models, EOS and length penalty."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fusionlab.heads import RNNDecoder, TransformerDecoder
from fusionlab.heads.beam_search import (
    beam_search,
    gnmt_length_penalty,
    greedy_search,
    select_state,
)

PAD, BOS, EOS = 0, 1, 2


def markov_step(table: torch.Tensor):
    """step() of a toy bigram model: log p(next | last token) = table[last]. Stateless."""
    def step(tokens, state):
        return table[tokens[:, -1]], state
    return step


def toy_table(rows: dict[int, dict[int, float]], vocab: int) -> torch.Tensor:
    """(V, V) log-probability table from {prev: {next: prob}}; missing entries are impossible."""
    table = torch.full((vocab, vocab), float("-inf"))
    for prev, nexts in rows.items():
        for tok, p in nexts.items():
            table[prev, tok] = math.log(p)
    return table


def run(search, step, batch_size=1, max_len=5, state=None, **kw):
    return search(step, state or {}, batch_size=batch_size, bos_id=BOS, eos_id=EOS, pad_id=PAD,
                  max_len=max_len, **kw)


def test_beam_finds_better_sequence_than_myopic_greedy():
    A, Bt = 3, 4
    # BOS -> A (0.6) or B (0.4); after A everything is nearly flat; after B, EOS is almost sure.
    table = toy_table({BOS: {A: 0.6, Bt: 0.4},
                       A: {EOS: 0.34, A: 0.33, Bt: 0.33},
                       Bt: {EOS: 0.9, A: 0.05, Bt: 0.05}}, vocab=5)
    step = markov_step(table)
    g_ids, g_score = run(greedy_search, step, max_len=2)
    b_ids, b_score = run(beam_search, step, max_len=2, beam_size=2, length_penalty=0.0)
    assert g_ids == [[A]] and b_ids == [[Bt]]
    assert g_score.item() == pytest.approx(math.log(0.6 * 0.34), abs=1e-6)
    assert b_score.item() == pytest.approx(math.log(0.4 * 0.9), abs=1e-6)
    assert b_score.item() > g_score.item()


def enumerate_hypotheses(table: torch.Tensor, max_len: int):
    """Every hypothesis the search can produce: (ids without EOS, log-prob, length with EOS)."""
    V = table.shape[0]
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(3, V), repeat=n - 1):
            for last in [EOS] + ([*range(3, V)] if n == max_len else []):
                full = [*seq, last]
                prev, score = BOS, 0.0
                for tok in full:
                    score += table[prev, tok].item()
                    prev = tok
                ids = full if last != EOS else full[:-1]
                yield ids, score, n


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_wide_beam_is_exact_on_a_random_toy_model(alpha):
    torch.manual_seed(0)
    V, max_len = 5, 4
    logits = torch.randn(V, V) * 2
    logits[:, [PAD, BOS]] = float("-inf")
    table = torch.log_softmax(logits, dim=-1)
    hyps = list(enumerate_hypotheses(table, max_len))
    best_ids, best_score, _ = max(hyps, key=lambda h: h[1] / gnmt_length_penalty(
        torch.tensor(float(h[2])), alpha).item())
    ids, score = run(beam_search, markov_step(table), max_len=max_len, beam_size=len(hyps),
                     length_penalty=alpha)
    assert ids == [best_ids]
    assert score.item() == pytest.approx(best_score, abs=1e-5)


def test_length_penalty_prefers_longer_hypotheses():
    A = 3
    # raw: "" (log .4 = -0.92) beats "A A A" cut at max_len (log .216 = -1.53); GNMT alpha=2
    # divides by lp(1)=1 and lp(3)=16/9: -0.92 < -0.86, so the longer one wins.
    table = toy_table({BOS: {EOS: 0.4, A: 0.6}, A: {A: 0.6, EOS: 0.4}}, vocab=4)
    short, _ = run(beam_search, markov_step(table), max_len=3, beam_size=4, length_penalty=0.0)
    long, _ = run(beam_search, markov_step(table), max_len=3, beam_size=4, length_penalty=2.0)
    assert short == [[]]
    assert long == [[A, A, A]]


def test_gnmt_length_penalty_values():
    lengths = torch.tensor([1.0, 7.0])
    torch.testing.assert_close(gnmt_length_penalty(lengths, 1.0), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(gnmt_length_penalty(lengths, 0.0), torch.ones(2))


def test_finished_hypotheses_keep_their_score_and_stop():
    A = 3
    table = toy_table({BOS: {EOS: 0.5, A: 0.5}, A: {A: 1.0}}, vocab=4)
    calls = []

    def step(tokens, state):
        calls.append(tokens.clone())
        return table[tokens[:, -1]], state

    ids, score = run(beam_search, step, max_len=6, beam_size=2, length_penalty=0.0)
    # "EOS" (log .5) and "A A A A A A" (log .5, never finishes) tie on raw score; the finished
    # one keeps log .5 through every later step, not expanded further (only PAD after EOS).
    assert score.item() == pytest.approx(math.log(0.5))
    assert len(calls) == 6
    assert any(row[-1].item() == PAD for row in calls[-1])


def test_select_state_reorders_batch_first_tensors():
    state = {"h": torch.arange(6).view(3, 2), "mask": torch.tensor([True, False, True])}
    out = select_state(state, torch.tensor([2, 2, 0]))
    assert out["h"].tolist() == [[4, 5], [4, 5], [0, 1]]
    assert out["mask"].tolist() == [True, True, True]


def memory_inputs(batch=4):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(batch, 16, generator=g)
    memory = torch.randn(batch, 6, 16, generator=g)
    mask = torch.arange(6).expand(batch, 6) < torch.tensor([6, 2, 4, 1]).unsqueeze(1)
    return z, memory, mask


def finish_some(dec):
    """Raise the EOS bias of an untrained decoder until EOS is the first token of some sequences (the
    ones whose best other token leads EOS by at most the median lead) and not of the others."""
    z, memory, mask = memory_inputs()
    with torch.no_grad():
        logp, _ = dec.step(torch.full((z.shape[0], 1), BOS), dec.start(z, memory, mask))
        lead = logp.clone().index_fill_(1, torch.tensor([EOS]), float("-inf")).amax(1) - logp[:, EOS]
        dec.out.bias[EOS] += lead.median() + 1e-3
    return dec


def decoders():
    torch.manual_seed(0)
    rnn = RNNDecoder(30, 16, PAD, BOS, EOS, embed_dim=8, num_layers=2, input_feeding=True)
    trf = TransformerDecoder(30, 16, PAD, BOS, EOS, num_layers=2, nhead=2, ff=32)
    return [finish_some(rnn.eval()), finish_some(trf.eval())]


@pytest.mark.parametrize("dec", decoders(), ids=["rnn", "transformer"])
def test_beam_one_equals_greedy_on_decoders(dec):
    z, memory, mask = memory_inputs()
    with torch.no_grad():
        common = dict(batch_size=4, bos_id=BOS, eos_id=EOS, pad_id=PAD, max_len=10)
        g_ids, g_scores = greedy_search(dec.step, dec.start(z, memory, mask), **common)
        b_ids, b_scores = beam_search(dec.step, dec.start(z, memory, mask), beam_size=1,
                                      length_penalty=1.0, **common)
    assert g_ids == b_ids
    torch.testing.assert_close(g_scores, b_scores)
    assert dec.generate(z, memory, mask, max_len=10, beam_size=1) == g_ids
    assert any(len(ids) < 10 for ids in g_ids)  # EOS reached somewhere


@pytest.mark.parametrize("dec", decoders(), ids=["rnn", "transformer"])
def test_batched_beam_equals_per_sample_beam(dec):
    z, memory, mask = memory_inputs()
    batched = dec.generate(z, memory, mask, max_len=8, beam_size=4, length_penalty=0.6)
    single = [dec.generate(z[i: i + 1], memory[i: i + 1], mask[i: i + 1], max_len=8,
                           beam_size=4, length_penalty=0.6)[0] for i in range(4)]
    assert batched == single


@pytest.mark.parametrize("dec", decoders(), ids=["rnn", "transformer"])
def test_beam_never_scores_below_greedy_without_penalty(dec):
    """With alpha=0 and K >= 2 the greedy path stays reachable; on these models beam >= greedy."""
    z, memory, mask = memory_inputs()
    common = dict(batch_size=4, bos_id=BOS, eos_id=EOS, pad_id=PAD, max_len=6)
    with torch.no_grad():
        _, g = greedy_search(dec.step, dec.start(z, memory, mask), **common)
        _, b = beam_search(dec.step, dec.start(z, memory, mask), beam_size=5,
                           length_penalty=0.0, **common)
    assert torch.all(b >= g - 1e-5)
