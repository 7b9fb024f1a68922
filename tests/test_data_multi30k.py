"""Multi30K reader and DataModule on tiny files written in each exact layout, every bad-input case,
length bucketing, and (when ../shared/data/multi30k exists) the real release's split sizes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DistributedSampler

from fusionlab.data.bucketing import (BucketBatchSampler, EpochShuffleSampler, bucketed_batches,
                                      padding_ratio, random_batches)
from fusionlab.data.multi30k import Multi30kDataModule, read_image_names, read_split
from fusionlab.data.spec import SEQUENCE, TOKENS, VECTOR
from fusionlab.errors import ConfigError, DataError

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"
WORDS = "a dog cat man woman runs sits on the grass street red blue big small near".split()
SIZES = {"train": 40, "val": 8, "test_2016_flickr": 6}


def sentences(n: int, seed: int, lang: str) -> list[str]:
    rng = np.random.default_rng([seed, len(lang), ord(lang[0])])
    out = []
    for _ in range(n):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), int(rng.integers(3, 12)))]
        out.append(" ".join(words).capitalize() + ("." if lang == "en" else " !"))
    return out


def write_lines(path: Path, lines: list[str], gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_release(root: Path, gz: bool = True, langs=("en", "de"), features: str | None = None,
                 sizes: dict | None = None) -> Path:
    """A tiny Multi30K release in the official layout (+ optional image features)."""
    task1 = root / "data" / "task1"
    for k, (split, n) in enumerate((sizes or SIZES).items()):
        for lang in langs:
            write_lines(task1 / "raw" / f"{split}.{lang}", sentences(n, k, lang), gz)
        write_lines(task1 / "image_splits" / f"{split}.txt", [f"{1000 + i}.jpg" for i in range(n)], False)
        rng = np.random.default_rng(k)
        if features == "avgpool":
            arr = rng.standard_normal((n, 2048)).astype(np.float16)
        elif features == "res4frelu":
            arr = rng.standard_normal((n, 1024, 14, 14)).astype(np.float16)
        else:
            continue
        (root / "features").mkdir(exist_ok=True)
        np.save(root / "features" / f"{split}-resnet50-{features}.npy", arr)
    return root


def module(root: Path, **kw) -> Multi30kDataModule:
    kw = {"features": "none", "tokenizer": "word", "min_count": 1, "batch_size": 4,
          "cache_dir": root / "cache", **kw}
    dm = Multi30kDataModule(str(root), **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("gz", [True, False])
def test_reads_official_layout_gz_and_plain(tmp_path, gz):
    root = make_release(tmp_path / "m30k", gz=gz)
    dm = module(root)
    assert {k: len(v) for k, v in dm.splits.items()} == SIZES
    assert dm.test_names == ["test_2016_flickr"]
    assert list(dm.spec.modalities) == ["text"] and dm.spec.modalities["text"].kind == TOKENS
    assert dm.spec.tgt_vocab_size == dm.tgt_tokenizer.vocab_size
    assert dm.spec.tokenizer_fingerprint == dm.tgt_tokenizer.fingerprint
    raw_de = sentences(SIZES["val"], 1, "de")
    sample = dm.splits["val"][3]
    assert sample["target_text"] == raw_de[3]
    assert sample["target"][0] == dm.spec.bos_id and sample["target"][-1] == dm.spec.eos_id
    assert dm.spec.bos_id not in sample["inputs"]["text"] and dm.spec.eos_id not in sample["inputs"]["text"]
    assert dm.src_tokenizer.decode(sample["inputs"]["text"]) == sentences(SIZES["val"], 1, "en")[3]
    assert dm.tgt_tokenizer.decode(sample["target"]) == raw_de[3].replace(" !", "!")
    batch = next(iter(dm.train_dataloader()))
    assert batch.inputs["text"].shape[0] == 4 and batch.target.shape[0] == 4
    assert len(batch.target_text) == 4


def test_mscoco_caption_suffix_is_stripped(tmp_path):
    task1 = tmp_path / "data" / "task1"
    write_lines(task1 / "image_splits" / "test_2017_mscoco.txt",
                ["COCO_val2014_000000000042.jpg#2", "COCO_val2014_000000000073.jpg#0"], False)
    assert read_image_names(task1, "test_2017_mscoco") == ["COCO_val2014_000000000042.jpg",
                                                           "COCO_val2014_000000000073.jpg"]


def test_hf_jsonl_export_autodetected_and_explicit(tmp_path):
    root = tmp_path / "hf"
    root.mkdir()
    for k, (split, n) in enumerate({"train": 30, "val": 5, "test": 4}.items()):
        rows = [{"en": e, "de": d} for e, d in zip(sentences(n, k, "en"), sentences(n, k, "de"))]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for fmt in ("auto", "jsonl"):
        dm = module(root, format=fmt, cache_dir=tmp_path / f"cache-{fmt}")
        assert {k: len(v) for k, v in dm.splits.items()} == {"train": 30, "val": 5, "test_2016_flickr": 4}
        assert dm.splits["test_2016_flickr"][1]["target_text"] == sentences(4, 2, "de")[1]
    (root / "val.jsonl").write_text('{"en": "a dog"}\n')
    with pytest.raises(DataError, match=r"val\.jsonl: line 1 has no 'en'/'de' keys"):
        read_split(root, "val")


def test_avgpool_features_are_a_vector_modality(tmp_path):
    root = make_release(tmp_path / "m30k", features="avgpool")
    dm = module(root, features="avgpool")
    assert dm.spec.modalities["image"].kind == VECTOR and dm.spec.modalities["image"].dim == 2048
    expected = np.load(root / "features" / "val-resnet50-avgpool.npy")[2]
    np.testing.assert_array_equal(dm.splits["val"][2]["inputs"]["image"], expected)
    batch = next(iter(dm.val_dataloader()))
    assert tuple(batch.inputs["image"].shape) == (4, 2048)


def test_res4frelu_features_are_196_steps_of_1024(tmp_path):
    root = make_release(tmp_path / "m30k", features="res4frelu",
                        sizes={"train": 6, "val": 3, "test_2016_flickr": 2})
    dm = module(root, features="res4frelu", batch_size=2)
    assert dm.spec.modalities["image"].kind == SEQUENCE and dm.spec.modalities["image"].dim == 1024
    arr = np.load(root / "features" / "val-resnet50-res4frelu.npy")
    seq = dm.splits["val"][1]["inputs"]["image"]
    assert seq.shape == (196, 1024)
    assert seq[3 * 14 + 5, 17] == arr[1, 17, 3, 5]
    batch = next(iter(dm.val_dataloader()))
    assert tuple(batch.inputs["image"].shape) == (2, 196, 1024) and batch.masks["image"].all()


def test_cache_is_reused_and_invalidated_when_a_file_changes(tmp_path):
    root = make_release(tmp_path / "m30k")
    cache = tmp_path / "cache"
    module(root, cache_dir=cache)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 4  # tokenizer + 3 splits
    module(root, cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == entries
    write_lines(root / "data/task1/raw/val.de", sentences(SIZES["val"], 9, "de"), True)
    dm = module(root, cache_dir=cache)
    assert len(list(cache.iterdir())) == 5
    assert dm.splits["val"][0]["target_text"] == sentences(SIZES["val"], 9, "de")[0]


def test_max_len_truncates_source_and_target(tmp_path):
    dm = module(make_release(tmp_path / "m30k"), max_len=3)
    for i in range(len(dm.splits["train"])):
        s = dm.splits["train"][i]
        assert len(s["inputs"]["text"]) <= 3 and len(s["target"]) <= 5


# --- bad input: every case names the file ---------------------------------------------------------
def test_missing_data_folder_says_where_to_get_multi30k(tmp_path):
    with pytest.raises(DataError) as e:
        module(tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "multi30k/dataset" in msg and "non-commercial" in msg


def test_missing_file(tmp_path):
    root = make_release(tmp_path / "m30k")
    (root / "data/task1/raw/val.de.gz").unlink()
    with pytest.raises(DataError, match=r"val\.de\.gz"):
        module(root)


def test_line_counts_disagree_between_languages_and_image_list(tmp_path):
    root = make_release(tmp_path / "m30k")
    write_lines(root / "data/task1/raw/val.de", sentences(SIZES["val"] - 1, 1, "de"), True)
    with pytest.raises(DataError, match=r"val\.en\.gz: 8.*val\.de\.gz: 7"):
        read_split(root, "val")
    root2 = make_release(tmp_path / "m30k2")
    write_lines(root2 / "data/task1/image_splits/val.txt", ["1.jpg"], False)
    with pytest.raises(DataError, match=r"image_splits/val\.txt: 1"):
        read_split(root2, "val")


def test_empty_lines_are_listed(tmp_path):
    root = make_release(tmp_path / "m30k")
    lines = sentences(SIZES["val"], 1, "en")
    lines[2] = lines[5] = " "
    write_lines(root / "data/task1/raw/val.en", lines, True)
    with pytest.raises(DataError, match=r"val\.en\.gz: 2 empty line\(s\) at line 3, 6"):
        read_split(root, "val")


def test_non_utf8_line_number(tmp_path):
    root = make_release(tmp_path / "m30k", gz=False)
    path = root / "data/task1/raw/val.de"
    lines = path.read_bytes().split(b"\n")
    lines[4] = b"Gr\xfc\xdfe"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError, match=r"val\.de: line 5 is not UTF-8"):
        read_split(root, "val")


def test_truncated_gzip(tmp_path):
    root = make_release(tmp_path / "m30k")
    path = root / "data/task1/raw/val.en.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match=r"val\.en\.gz is truncated"):
        read_split(root, "val")


@pytest.mark.parametrize("problem,match", [
    ("shape", r"shape \(8, 1024\), expected \(N, 2048\)"),
    ("dtype", r"dtype int32"),
    ("rows", r"has 7 rows but the split has 8"),
    ("truncated", r"truncated"),
    ("missing", r"are missing"),
])
def test_bad_feature_files(tmp_path, problem, match):
    root = make_release(tmp_path / "m30k", features="avgpool")
    path = root / "features" / "val-resnet50-avgpool.npy"
    if problem == "shape":
        np.save(path, np.zeros((8, 1024), np.float16))
    elif problem == "dtype":
        np.save(path, np.zeros((8, 2048), np.int32))
    elif problem == "rows":
        np.save(path, np.zeros((7, 2048), np.float16))
    elif problem == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.unlink()
    with pytest.raises(DataError, match=match) as e:
        module(root, features="avgpool")
    assert "val-resnet50-avgpool.npy" in str(e.value)


def test_option_errors(tmp_path):
    root = make_release(tmp_path / "m30k")
    with pytest.raises(ConfigError, match="test_2017_flickr has no 'cs' side"):
        Multi30kDataModule(str(root), tgt_lang="cs", test_sets=["test_2017_flickr"])
    with pytest.raises(ConfigError, match="dataset.features"):
        Multi30kDataModule(str(root), features="vgg")
    with pytest.raises(ConfigError, match="dataset.tgt_lang"):
        Multi30kDataModule(str(root), tgt_lang="xx")


# --- bucketing ------------------------------------------------------------------------------------
LENGTHS = np.random.default_rng(0).integers(1, 60, 1037)


def test_bucket_sampler_covers_each_index_once_and_cuts_padding():
    batches = bucketed_batches(LENGTHS, 32, seed=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(LENGTHS)))
    assert len(batches) == len(BucketBatchSampler(range(len(LENGTHS)), LENGTHS, 32)) == 33
    assert padding_ratio(batches, LENGTHS) < 0.5 * padding_ratio(random_batches(len(LENGTHS), 32, 3), LENGTHS)


def test_bucket_sampler_depends_on_seed_and_epoch_only():
    def epoch(seed, e):
        sampler = EpochShuffleSampler(len(LENGTHS), seed)
        sampler.set_epoch(e)
        return list(BucketBatchSampler(sampler, LENGTHS, 16, seed=seed))
    assert epoch(1, 0) == epoch(1, 0)
    assert epoch(1, 0) != epoch(1, 1)
    assert epoch(1, 0) != epoch(2, 0)


def test_bucket_sampler_shards_under_distributed_sampler():
    class Rows:
        def __len__(self):
            return len(LENGTHS)

    shards = [list(BucketBatchSampler(DistributedSampler(Rows(), num_replicas=2, rank=r, seed=0),
                                      LENGTHS, 16)) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    seen = [i for shard in shards for b in shard for i in b]
    assert set(seen) == set(range(len(LENGTHS)))


# --- the real release (text only) -----------------------------------------------------------------
@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/multi30k is absent")
@pytest.mark.parametrize("tgt", ["de", "fr", "cs"])
def test_real_multi30k_split_sizes(tgt):
    sizes = {split: len(read_split(REAL, split, "en", tgt).src)
             for split in ("train", "val", "test_2016_flickr")}
    assert sizes == {"train": 29000, "val": 1014, "test_2016_flickr": 1000}


@pytest.mark.skipif(not REAL.exists(), reason="../shared/data/multi30k is absent")
def test_real_multi30k_text_only_module(tmp_path):
    dm = module(REAL, cache_dir=tmp_path / "cache", min_count=3, batch_size=100)
    assert list(dm.spec.modalities) == ["text"]
    assert len(dm.splits["train"]) == 29000
    assert dm.splits["train"][0]["target_text"].startswith("Zwei junge weiße Männer")
    assert 5000 < dm.spec.tgt_vocab_size < 20000


# --- prepare once, then train: scripts/prepare_data.py fills the cache train.py reads --------------
@pytest.mark.slow
def test_prepare_data_fills_the_cache_train_py_reads_and_leaves_the_data_folder_alone(tmp_path, monkeypatch):
    """`scripts/prepare_data.py multi30k --data-dir ...` on a text-only release, from a working folder:
    the text is prepared (a note says the image features are absent and what to set), nothing is
    written into the release, and `dataset=multi30k fusion=text_only` composed in that folder (as
    `python train.py` would) uses the same cache: nothing is tokenized or trained again."""
    import subprocess
    import sys

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    import fusionlab.data.translation as shared
    from fusionlab.run.build import build_model
    from tests.conftest import CONF_DIR, ROOT

    release, work = make_release(tmp_path / "release"), tmp_path / "work"
    work.mkdir()
    before = sorted(p.relative_to(release) for p in release.rglob("*"))
    env = {k: v for k, v in os.environ.items() if k != "FUSIONLAB_DATA"}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "prepare_data.py"), "multi30k",
                           "--data-dir", str(release), "--set", "tokenizer=word", "min_count=1"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "image_features: absent" in proc.stdout and "dataset.features=none" in proc.stdout
    assert sorted(p.relative_to(release) for p in release.rglob("*")) == before
    assert (work / "data" / ".cache").is_dir()

    monkeypatch.chdir(work)
    monkeypatch.delenv("FUSIONLAB_DATA", raising=False)
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", return_hydra_config=True,
                      overrides=["dataset=multi30k", "fusion=text_only", f"dataset.data_dir={release}",
                                 "dataset.tokenizer=word", "dataset.min_count=1", "latent_dim=16"])
    HydraConfig().set_config(cfg)
    assert cfg.dataset.features == "none"
    assert Path(cfg.dataset.cache_dir) == work / "data" / ".cache"

    def rebuild(*args, **kwargs):
        raise AssertionError("train.py rebuilt what prepare_data.py had prepared")

    monkeypatch.setattr(shared, "train_tokenizer", rebuild)
    monkeypatch.setattr(shared, "save_tokenized_split", rebuild)
    dm = instantiate(cfg.dataset)
    dm.prepare_data()
    dm.setup("fit")
    assert list(dm.spec.modalities) == ["text"] and len(dm.splits["train"]) == SIZES["train"]
    model = build_model(cfg, dm.spec)
    assert not any("image" in name for name, _ in model.named_parameters())


def test_missing_image_features_say_how_to_go_text_only(tmp_path):
    root = make_release(tmp_path)
    with pytest.raises(DataError, match=r"train-resnet50-avgpool.npy \(and 2 more\) are missing .*"
                                        r"dataset.features=none \(or use fusion=text_only\)"):
        module(root, features="avgpool")


def test_unwritable_cache_folder_names_the_option(tmp_path):
    """A cache folder that cannot be created (here: under a regular file, which fails even as root)."""
    from fusionlab.errors import StorageError

    root = make_release(tmp_path / "release")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(StorageError, match=r"cannot write the data cache in .*a_file/cache .*dataset.cache_dir"):
        module(root, cache_dir=tmp_path / "a_file" / "cache")
