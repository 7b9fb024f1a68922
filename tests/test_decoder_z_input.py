"""How the RNN decoder reads the fused vector z: its initial state always, every step's input
(``z_input``) and a slot of its attention memory (``z_in_memory``); the paper's decoder reads it
through the initial state alone. Runs written before the two options evaluate as they were trained."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from fusionlab.heads import RNNDecoder
from fusionlab.run.old_runs import upgrade_run_config
from tests.conftest import compose_train

PAD, BOS, EOS = 0, 1, 2
V, D, B, S, T = 20, 16, 3, 5, 7


def make(**kw) -> RNNDecoder:
    torch.manual_seed(0)
    return RNNDecoder(V, D, PAD, BOS, EOS, embed_dim=8, dropout=0.0, **kw).eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(B, D, generator=g)
    memory = torch.randn(B, S, D, generator=g)
    tgt = torch.randint(3, V, (B, T), generator=g)
    return tgt, z, memory


def test_z_input_concatenates_z_to_every_step_input():
    dec = make(z_input=True, z_in_memory=False)
    tgt, z, memory = inputs()
    assert dec.rnn.input_size == 8 + D
    state = dec.start(z, memory, None)
    assert state["memory"].shape == (B, S, D) and torch.equal(state["memory"], memory)  # text alone
    # the LSTM over [embedding; z] written out with the decoder's own weights
    emb = dec.embed(tgt)
    x = torch.cat([emb, z.unsqueeze(1).expand(B, T, D)], dim=-1)
    h0 = torch.tanh(dec.init_h(z)).unsqueeze(0)
    c0 = torch.tanh(dec.init_c(z)).unsqueeze(0)
    with torch.no_grad():
        rnn_out, _ = dec.rnn(x, (h0, c0))
        expected = dec.attn(rnn_out, memory, dec.attn.key(memory), torch.ones(B, S, dtype=torch.bool))
        out, _ = dec._advance(emb, state)
    assert torch.allclose(out, expected, atol=1e-6)


def test_z_in_memory_puts_z_first_in_the_attention_memory():
    tgt, z, memory = inputs()
    both = make(z_input=True, z_in_memory=True).start(z, memory, None)
    assert both["memory"].shape == (B, S + 1, D) and torch.equal(both["memory"][:, 0], z)
    old = make(z_input=False, z_in_memory=True)
    assert old.rnn.input_size == 8 and "z" not in old.start(z, memory, None)


def test_without_memory_the_attention_covers_z():
    tgt, z, _ = inputs()
    state = make(z_input=True, z_in_memory=False).start(z, None, None)
    assert state["memory"].shape == (B, 1, D) and bool(state["mask"].all())


def test_z_changes_the_output_through_the_input_alone():
    """Initial state and attention memory equal, only the per-step z differs: the output moves."""
    dec = make(z_input=True, z_in_memory=False)
    tgt, z, memory = inputs()
    with torch.no_grad():
        state = dec.start(z, memory, None)
        other = dict(state, z=torch.randn(B, D))
        a, _ = dec._advance(dec.embed(tgt), state)
        b, _ = dec._advance(dec.embed(tgt), other)
    assert (a - b).abs().max() > 1e-3


def test_beam_search_keeps_z_with_its_hypotheses():
    """generate() reorders every state tensor (z included) with the beams: beam 1 = greedy."""
    dec = make(z_input=True, z_in_memory=True)
    _, z, memory = inputs()
    with torch.no_grad():
        greedy = dec.generate(z, memory, None, max_len=6)
        beam1 = dec.generate(z, memory, None, max_len=6, beam_size=1)
        beam3 = dec.generate(z, memory, None, max_len=6, beam_size=3)
    assert greedy == beam1 and len(beam3) == B


def test_defaults_and_the_paper_decoder(tmp_path):
    default = compose_train(["dataset=synthetic_mt", "fusion=concat"], tmp_path, tmp_path)
    assert default.task.decoder.z_input is True and default.task.decoder.z_in_memory is False
    paper = compose_train(["dataset=synthetic_mt", "fusion=concat", "experiment=paper/translation"],
                          tmp_path, tmp_path)
    assert paper.task.decoder.attention is False and paper.task.decoder.z_input is False


@pytest.mark.parametrize("attention", [True, False])
def test_a_run_from_before_z_input_evaluates_as_trained(attention):
    old = OmegaConf.create({"task": {"decoder": {"_target_": "fusionlab.heads.rnn_decoder.RNNDecoder",
                                                 "_partial_": True, "embed_dim": 256,
                                                 "attention": attention, "dropout": 0.2}}})
    decoder = upgrade_run_config(old).task.decoder
    assert decoder.z_input is False and decoder.z_in_memory is True and decoder.attention is attention
    stated = OmegaConf.create({"task": {"decoder": {"_target_": "fusionlab.heads.rnn_decoder.RNNDecoder",
                                                    "z_input": True, "z_in_memory": False}}})
    assert upgrade_run_config(stated).task.decoder.z_in_memory is False  # what the run stated stays


@pytest.mark.parametrize("option", ["z_input", "z_in_memory"])
def test_a_non_boolean_z_option_is_refused_by_name(option):
    """`task.decoder.z_input=maybe` reaches the decoder as the string 'maybe': it must not read as True."""
    from fusionlab.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"task\.decoder\.{option}.*true or false"):
        make(**{option: "maybe"})
