"""Writes tests/data/pre_refactor_checkpoints.pt with the code of commit 87a1e04 (before issue 11's
task refactor), for tests/test_tasks.py: two tiny models as checkpoints hold them (state_dict,
hyper_parameters, fusionlab metadata), a fixed batch each, and what the old code computed on it
(losses, z and its gradient, each parameter's gradient norm, generations or predictions).

Run from a checkout of that commit: ``PYTHONPATH=<checkout> python <checkout>/../this_file OUT``.
"""

from __future__ import annotations

import functools
import sys

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fusionlab.data.batch import Batch
from fusionlab.data.spec import DataSpec, ModalitySpec
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.heads.transformer_decoder import TransformerDecoder
from fusionlab.tasks.classification import ClassificationTask
from fusionlab.tasks.translation import TranslationTask
from tests.tiny import TinyEmotionDataModule

GAN = OmegaConf.create({"_target_": "fusionlab.fusion.gan.GANFusion", "_partial_": True})
CONCAT = OmegaConf.create({"_target_": "fusionlab.fusion.concat.ConcatFusion", "_partial_": True})
RNN = dict(embed_dim=16, attention=True, dropout=0.2)
DECODER = dict(num_layers=1, nhead=2, ff=32, dropout=0.1)
# conf/encoder/default.yaml with a smaller embedding (the file stays small)
ENCODER = {"text": {"kind": "rnn", "embed_dim": 16, "num_layers": 1, "cell": "lstm", "dropout": 0.2},
           "vector": {"dropout": 0.2, "activation": "tanh"}, "sequence": {"pooling": "rnn", "dropout": 0.2}}


def translation_batch() -> tuple[DataSpec, Batch]:
    g = torch.Generator().manual_seed(0)
    spec = DataSpec(task="translation", modalities={"text": ModalitySpec("tokens", 30, 0),
                                                    "image": ModalitySpec("vector", 6)},
                    tgt_vocab_size=25, pad_id=0, bos_id=1, eos_id=2, tokenizer_fingerprint="tiny")
    lengths = torch.tensor([5, 3, 4, 2])
    text = torch.randint(3, 30, (4, 5), generator=g)
    mask = torch.arange(5)[None] < lengths[:, None]
    target = torch.zeros(4, 7, dtype=torch.long)
    for i, n in enumerate([5, 2, 4, 3]):
        target[i, 0], target[i, n + 1] = 1, 2
        target[i, 1:n + 1] = torch.randint(3, 25, (n,), generator=g)
    batch = Batch(inputs={"text": text * mask, "image": torch.randn(4, 6, generator=g)},
                  masks={"text": mask}, index=torch.arange(4), target=target,
                  target_text=["a"] * 4, meta={})
    return spec, batch


def outputs(task, batch, generate: bool) -> dict:
    task.eval()
    terms, out, encoded = task.losses(batch)
    out.z.retain_grad()
    terms["total"].backward()  # gradient sums depend on the graph's order, not only on its values
    grad_norms = torch.stack([p.grad.norm() for p in task.parameters() if p.grad is not None])
    with torch.no_grad():
        result = {f"loss_{k}": v.detach() for k, v in terms.items()}
        result["z"], result["z_grad"], result["grad_norms"] = out.z.detach(), out.z.grad, grad_norms
        if generate:
            for beam in (1, 2):
                result[f"beam{beam}"] = task.translate(out, encoded, beam)
        else:
            result["pred"] = task.head(out.z).argmax(-1)
    return result


def main(out_path: str) -> None:
    torch.manual_seed(0)
    spec, batch = translation_batch()
    mt = TranslationTask(spec.to_dict(), fusion=instantiate(GAN), latent_dim=8, encoder=ENCODER,
                         decoder=functools.partial(TransformerDecoder, **DECODER),
                         optimizer={"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.98], "d_lr": None})
    dm = TinyEmotionDataModule()
    dm.setup()
    emo_batch = dm.train_dataloader().collate_fn([dm.splits["test"][i] for i in range(8)])
    rnn = TranslationTask(spec.to_dict(), fusion=instantiate(CONCAT), latent_dim=16, encoder=ENCODER,
                          decoder=functools.partial(RNNDecoder, **RNN),
                          optimizer={"lr": 1e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "d_lr": None})
    with torch.no_grad():  # an untrained decoder ends every sentence at once: make EOS unlikely
        mt.decoder.out.bias[spec.eos_id] -= 4.0
        rnn.decoder.out.bias[spec.eos_id] -= 4.0
    emo = ClassificationTask(dm.spec.to_dict(), fusion=instantiate(GAN), latent_dim=8, protocol="mult",
                             encoder=ENCODER,
                             optimizer={"lr": 2e-3, "weight_decay": 0.0, "betas": [0.9, 0.999], "d_lr": None})
    saved = {}
    for name, task, b, generate in (("translation_gan", mt, batch, True), ("translation_rnn", rnn, batch, True),
                                    ("emotion_gan", emo, emo_batch, False)):
        ckpt = {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)}
        task.on_save_checkpoint(ckpt)
        saved[name] = {"checkpoint": ckpt, "batch": b.__dict__, "outputs": outputs(task, b, generate)}
    torch.save(saved, out_path)


if __name__ == "__main__":
    main(sys.argv[1])
