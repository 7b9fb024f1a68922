"""task.share_embeddings: the text encoder reads the source through the decoder's embedding matrix
(one parameter, V·d fewer), the shared gradient is the sum of both uses, checkpoints keep it, and
every combination that cannot share is refused with a ConfigError naming the option."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from fusionlab.contracts import SEQUENCE, TOKENS, Batch, DataSpec, ModalitySpec
from fusionlab.errors import ConfigError
from fusionlab.fusion.text_only import TextOnlyFusion
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.heads.transformer_decoder import TransformerDecoder
from fusionlab.run.checkpoints import load_weights
from fusionlab.tasks.translation import TranslationTask

PAD, BOS, EOS, V, D = 0, 1, 2, 23, 16
TRANSFORMER = functools.partial(TransformerDecoder, num_layers=1, nhead=2, ff=32)
ENCODER = {"text": {"kind": "transformer", "num_layers": 1, "nhead": 2, "ff": 32}}


def spec(src_vocab: int = V, joint: bool = True, kind: str = TOKENS) -> dict:
    return DataSpec(task="translation", modalities={"text": ModalitySpec(kind, src_vocab, PAD)},
                    tgt_vocab_size=V, pad_id=PAD, bos_id=BOS, eos_id=EOS,
                    tokenizer_fingerprint="0123456789abcdef", joint_vocab=joint).to_dict()


def make_task(share: bool, data_spec: dict | None = None, encoder=ENCODER, decoder=TRANSFORMER):
    torch.manual_seed(0)
    return TranslationTask(data_spec or spec(), fusion=functools.partial(TextOnlyFusion, modality=None),
                           latent_dim=D, encoder=encoder, decoder=decoder, share_embeddings=share)


def batch() -> Batch:
    g = torch.Generator().manual_seed(1)
    mask = torch.arange(6)[None] < torch.tensor([6, 3, 4])[:, None]
    target = torch.randint(3, V, (3, 7), generator=g)
    target[:, 0], target[1, 4], target[1, 5:] = BOS, EOS, PAD
    return Batch(inputs={"text": torch.randint(3, V, (3, 6), generator=g) * mask}, masks={"text": mask},
                 index=torch.arange(3), target=target, target_text=["x"] * 3)


def n_params(task) -> int:
    return sum(p.numel() for p in task.parameters())  # parameters() lists a shared one once


def test_one_parameter_and_v_times_d_fewer():
    own, shared = make_task(False), make_task(True)
    enc, dec = shared.encoders["text"].token_embedding, shared.decoder.input_embedding
    assert enc.weight is dec.weight is shared.decoder.out.weight  # tied output projection too
    assert own.encoders["text"].token_embedding.weight is not own.decoder.input_embedding.weight
    assert n_params(own) - n_params(shared) == V * D


def test_the_shared_gradient_is_the_sum_of_the_encoder_and_decoder_gradients():
    """Reference: the unshared model with the decoder's matrix copied into the encoder; its two
    matrices' gradients add up to the shared one's, and the losses are equal."""
    own, shared = make_task(False), make_task(True)
    with torch.no_grad():
        own.encoders["text"].token_embedding.weight.copy_(own.decoder.input_embedding.weight)
    losses = []
    for task in (own, shared):
        task.eval()
        encoded, out = task.fuse(batch())
        loss = task.task_loss(out, encoded, batch())
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    expected = own.encoders["text"].token_embedding.weight.grad + own.decoder.input_embedding.weight.grad
    torch.testing.assert_close(shared.decoder.input_embedding.weight.grad, expected)


def test_a_checkpoint_saves_and_loads_the_shared_matrix(tmp_path):
    task = make_task(True)
    with torch.no_grad():
        task.decoder.input_embedding.weight.add_(1.0)  # not the initial values a rebuild has
    ckpt = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
    task.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "shared.ckpt")
    assert ckpt["hyper_parameters"]["share_embeddings"] is True

    saved = torch.load(tmp_path / "shared.ckpt", weights_only=True)["hyper_parameters"]
    loaded = TranslationTask(**saved, fusion=functools.partial(TextOnlyFusion, modality=None),
                             decoder=TRANSFORMER)
    load_weights(loaded, tmp_path / "shared.ckpt")
    enc, dec = loaded.encoders["text"].token_embedding, loaded.decoder.input_embedding
    assert enc.weight is dec.weight
    torch.testing.assert_close(dec.weight, task.decoder.input_embedding.weight, rtol=0, atol=0)


class NoTokens(nn.Module):
    """A text encoder that is no TokenEncoder."""


@pytest.mark.parametrize("case", ["source_vocab_size", "two_tokenizers", "no_token_modality",
                                  "embedding_sizes", "encoder_without_embedding"])
def test_every_impossible_sharing_is_one_config_error_naming_the_option(case, monkeypatch):
    kwargs = {"source_vocab_size": dict(data_spec=spec(src_vocab=V + 5)),
              "two_tokenizers": dict(data_spec=spec(joint=False)),
              "no_token_modality": dict(data_spec=spec(src_vocab=8, kind=SEQUENCE), encoder={}),
              "embedding_sizes": dict(encoder={"text": {"kind": "rnn", "embed_dim": 12}},
                                      decoder=functools.partial(RNNDecoder, embed_dim=8)),
              "encoder_without_embedding": {}}[case]
    if case == "encoder_without_embedding":
        monkeypatch.setattr("fusionlab.tasks.base.build_encoders",
                            lambda spec, d, **options: nn.ModuleDict({"text": NoTokens()}))
    with pytest.raises(ConfigError, match="task.share_embeddings"):
        make_task(True, **kwargs)
    if case != "encoder_without_embedding":  # the same setup without sharing builds
        make_task(False, **kwargs)
