"""synthetic_mt: deterministic generation in the Multi30K layout, read back through the Multi30K
loader; the image carries the facts the source omits; the text-only BLEU ceiling."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fusionlab.data import synthetic_mt as smt
from fusionlab.data.bucketing import BucketBatchSampler
from fusionlab.data.multi30k import read_split
from fusionlab.data.spec import VECTOR
from fusionlab.errors import DataError

SMALL = {"train": 400, "val": 40, "test_2016_flickr": 300}


def layout_files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_generation_is_deterministic_and_in_multi30k_layout(tmp_path):
    a = smt.generate(tmp_path / "a", SMALL, seed=5)
    b = smt.generate(tmp_path / "b", SMALL, seed=5)
    c = smt.generate(tmp_path / "c", SMALL, seed=6)
    files = layout_files(a)
    for split in SMALL:
        for rel in (f"data/task1/raw/{split}.en.gz", f"data/task1/raw/{split}.de.gz",
                    f"data/task1/image_splits/{split}.txt", f"features/{split}-resnet50-avgpool.npy"):
            assert rel in files
    assert files == layout_files(b)
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "data/task1/raw/train.de.gz").read_bytes() != (c / "data/task1/raw/train.de.gz").read_bytes()
    feats = np.load(a / "features/val-resnet50-avgpool.npy")
    assert feats.shape == (40, 2048) and feats.dtype == np.float16


def test_sentences_are_short_and_source_never_states_count_or_colour(tmp_path):
    root = smt.generate(tmp_path / "d", SMALL, seed=1)
    data = read_split(root, "train")
    assert len(data.src) == 400 and len(data.images) == 400
    assert all(5 <= len(s.split()) <= 12 for s in data.src + data.tgt)
    hidden = set(smt.COUNTS) | set(smt.COLOURS)
    assert not any(hidden & set(s.split()) for s in data.src)
    vocab = {w for s in data.src + data.tgt for w in s.split()}
    assert 150 <= len(vocab) <= 240
    first = smt.parse_source(data.src[0])
    assert smt.render_source(**first) == data.src[0]


def test_image_features_carry_count_and_colour(tmp_path):
    """A linear probe on train features recovers the count and colour of held-out test rows."""
    root = smt.generate(tmp_path / "e", SMALL, seed=2)
    count_of = {smt.LEXICON[c]: i for i, c in enumerate(smt.COUNTS)}
    colour_of = {smt.LEXICON[c]: i for i, c in enumerate(smt.COLOURS)}

    def facts(split):
        tgt = read_split(root, split).tgt
        x = np.load(root / f"features/{split}-resnet50-avgpool.npy").astype(np.float64)
        counts = np.array([count_of[t.split()[0]] for t in tgt])
        return x, counts, np.array([colour_of[t.split()[1]] for t in tgt])

    x, counts, colours = facts("train")
    xt, counts_t, colours_t = facts("test_2016_flickr")
    for y, yt, k in ((counts, counts_t, 4), (colours, colours_t, 6)):
        dual = np.linalg.solve(x @ x.T + 10.0 * np.eye(len(x)), np.eye(k)[y])  # ridge, kernel form
        assert ((xt @ x.T @ dual).argmax(1) == yt).mean() > 0.95


def test_datamodule_generates_then_reads_back_through_multi30k_loader(tmp_path):
    root = tmp_path / "synthetic_mt"
    dm = smt.SyntheticMTDataModule(str(root), sizes={"train": 200, "val": 20, "test_2016_flickr": 10},
                                   batch_size=8, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 200, "val": 20, "test_2016_flickr": 10}
    assert dm.spec.modalities["image"].kind == VECTOR and dm.spec.modalities["image"].dim == 2048
    assert dm.tokenizer_kind == "word" and dm.spec.tgt_vocab_size < 250
    with gzip.open(root / "data/task1/raw/val.de.gz", "rt") as f:
        refs = f.read().splitlines()
    sample = dm.splits["val"][4]
    assert sample["target_text"] == refs[4]
    assert dm.tgt_tokenizer.decode(sample["target"]) == refs[4]
    loader = dm.train_dataloader()
    assert isinstance(loader.batch_sampler, BucketBatchSampler)  # bucketing: true (the default)
    batch = next(iter(loader))
    assert tuple(batch.inputs["image"].shape) == (8, 2048)
    assert not isinstance(dm.val_dataloader().batch_sampler, BucketBatchSampler)


def test_existing_data_is_kept_regenerated_on_new_settings_and_foreign_folders_refused(tmp_path):
    root = tmp_path / "s"
    smt.ensure_generated(root, SMALL, seed=3, noise=1.0)
    stamp = (root / "data/task1/raw/train.en.gz").stat().st_mtime_ns
    smt.ensure_generated(root, SMALL, seed=3, noise=1.0)
    assert (root / "data/task1/raw/train.en.gz").stat().st_mtime_ns == stamp
    smt.ensure_generated(root, {**SMALL, "train": 50}, seed=3, noise=1.0)
    assert len(read_split(root, "train").src) == 50
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="foreign.*synthetic_mt.json"):
        smt.ensure_generated(foreign, SMALL, seed=3, noise=1.0)


def test_text_only_bleu_ceiling_is_far_below_the_fused_oracle(tmp_path):
    root = smt.generate(tmp_path / "f", SMALL, seed=1234)
    result = smt.text_only_bleu_ceiling(root)
    assert result["oracle"] == 100.0
    assert 40.0 <= result["text_only"] <= 60.0
    assert result["signature"].startswith("nrefs:1")
