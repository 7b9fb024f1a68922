"""The translation loss projects only the real (non-pad) target positions and equals the
label-smoothed cross-entropy over the full logits, written out here from its definition."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from fusionlab.contracts import Batch, DataSpec, ModalitySpec
from fusionlab.fusion.text_only import TextOnlyFusion
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.heads.transformer_decoder import TransformerDecoder
from fusionlab.tasks.translation import TranslationTask

PAD, BOS, EOS, V, D = 0, 1, 2, 23, 16
EPS = 0.1
DECODERS = {
    "transformer": functools.partial(TransformerDecoder, num_layers=2, nhead=2, ff=32, dropout=0.1),
    "rnn": functools.partial(RNNDecoder, embed_dim=8, dropout=0.2),
    "rnn_tied_feed": functools.partial(RNNDecoder, embed_dim=8, dropout=0.2, tie_embeddings=True,
                                       input_feeding=True),
}


def make_task(kind: str) -> TranslationTask:
    torch.manual_seed(0)
    spec = DataSpec(task="translation", modalities={"text": ModalitySpec("tokens", V, PAD)},
                    tgt_vocab_size=V, pad_id=PAD, bos_id=BOS, eos_id=EOS)
    encoder = {"text": {"kind": "transformer", "num_layers": 1, "nhead": 2, "ff": 32}}
    return TranslationTask(spec.to_dict(), fusion=functools.partial(TextOnlyFusion, modality=None),
                           latent_dim=D, encoder=encoder, decoder=DECODERS[kind], label_smoothing=EPS)


def padded_batch() -> Batch:
    """4 sentences of 5, 1, 3 and 0 target words: BOS w.. EOS then PAD, up to 8 positions."""
    g = torch.Generator().manual_seed(3)
    target = torch.full((4, 8), PAD)
    for i, n in enumerate([5, 1, 3, 0]):
        target[i, 0], target[i, n + 1] = BOS, EOS
        target[i, 1:n + 1] = torch.randint(3, V, (n,), generator=g)
    lengths = torch.tensor([4, 2, 5, 1])
    mask = torch.arange(5)[None] < lengths[:, None]
    text = torch.randint(3, V, (4, 5), generator=g) * mask
    return Batch(inputs={"text": text}, masks={"text": mask}, index=torch.arange(4), target=target,
                 target_text=["x"] * 4)


def reference_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """logits (B, T, V), target (B, T): per token (1-ε)·(-log p_target) + ε·mean_v(-log p_v),
    averaged over the tokens whose target is not PAD."""
    logp = torch.log_softmax(logits.double(), dim=-1)
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    uniform = -logp.mean(dim=-1)
    per_token = (1 - EPS) * nll + EPS * uniform
    real = target != PAD
    return per_token[real].sum() / real.sum()


def loss_and_grads(task: TranslationTask, batch: Batch, full_logits: bool, seed: int):
    """The task's loss (or the reference over the full (B, T, V) logits) and every parameter's
    gradient, from the same dropout draws (``seed``)."""
    task.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    encoded, out = task.fuse(batch)
    if full_logits:
        memory, memory_mask = task.memory(encoded)
        logits = task.decoder(batch.target[:, :-1], out.z, memory, memory_mask)
        loss = reference_loss(logits, batch.target[:, 1:]).float()
    else:
        loss = task.task_loss(out, encoded, batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in task.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", list(DECODERS))
@pytest.mark.parametrize("train", [False, True])
def test_loss_equals_label_smoothed_cross_entropy_over_the_full_logits(kind, train):
    """Eval and train mode (dropout: both paths draw the same masks from the same seed)."""
    task = make_task(kind).train(train)
    batch = padded_batch()
    assert (batch.target[:, 1:] == PAD).sum() == 15  # 1 + 5 + 3 + 6 pads of 28 positions
    loss, grads = loss_and_grads(task, batch, full_logits=False, seed=7)
    ref, ref_grads = loss_and_grads(task, batch, full_logits=True, seed=7)
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)
    assert grads.keys() == ref_grads.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, ref_grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_reference_formula_is_pytorchs_cross_entropy_with_ignore_index():
    """The test's formula is what F.cross_entropy(ignore_index=PAD, label_smoothing=ε) computes."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, V, generator=g)
    target = torch.randint(3, V, (3, 6), generator=g)
    target[0, 4:], target[2, 1:] = PAD, PAD
    torch_loss = F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=PAD,
                                 label_smoothing=EPS)
    torch.testing.assert_close(torch_loss, reference_loss(logits, target).float())


@pytest.mark.parametrize("kind", list(DECODERS))
def test_the_output_projection_sees_only_the_real_target_positions(kind):
    task = make_task(kind).eval()
    batch = padded_batch()
    rows = []
    output_layer = task.decoder.output_layer
    task.decoder.output_layer = lambda hidden: rows.append(hidden.shape) or output_layer(hidden)
    encoded, out = task.fuse(batch)
    task.task_loss(out, encoded, batch)
    n_real = int((batch.target[:, 1:] != PAD).sum())
    assert len(rows) == 1 and rows[0][0] == n_real and len(rows[0]) == 2


@pytest.mark.parametrize("kind", list(DECODERS))
def test_forward_is_logits_of_hidden(kind):
    task = make_task(kind).eval()
    batch = padded_batch()
    z, tgt_in = torch.randn(4, D), batch.target[:, :-1]
    hidden = task.decoder.hidden(tgt_in, z, None, None)
    assert hidden.shape[:2] == tgt_in.shape
    full = task.decoder(tgt_in, z, None, None)
    assert full.shape == (4, 7, V)
    torch.testing.assert_close(task.decoder.logits(hidden[1, 2]), full[1, 2])
