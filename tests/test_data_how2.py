"""How2 reader on a tiny generated how2-300h-v1 layout (Kaldi arks written with kaldiio)."""

import pickle
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from fusionlab.data.how2 import How2DataModule
from fusionlab.data.kaldi import cmvn_from_stats, resolve_rxfile
from fusionlab.data.spec import SEQUENCE, TOKENS, TRANSLATION, VECTOR
from fusionlab.errors import ConfigError, DataError

# 11-character video ids with '-' and '_' (never split on '_'); two speakers (videos) per split
VIDEOS = ["-aB_cd-E_fg", "Zz_9-abc_de"]
EN = ["put the pan on the stove", "now cut the onion", "add some salt", "stir it well",
      "the dog runs", "a small cup"]
PT = ["coloque a panela no fogão", "agora corte a cebola", "adicione um pouco de sal",
      "mexa bem", "o cão corre", "uma xícara pequena"]
DIM = 43


def kaldi_stats(frames: np.ndarray) -> np.ndarray:
    """compute-cmvn-stats layout: row 0 sums + count, row 1 sums of squares + 0."""
    stats = np.zeros((2, frames.shape[1] + 1))
    stats[0, :-1], stats[0, -1] = frames.sum(0), frames.shape[0]
    stats[1, :-1] = (frames ** 2).sum(0)
    return stats


def make_how2(root: Path, splits=("train", "val", "dev5"), n=6, seed=0) -> dict:
    """Write the layout; returns split -> {"ids", "feats" (id -> raw matrix), "video"}."""
    rng = np.random.default_rng(seed)
    ark_dir = root / "fbank"
    ark_dir.mkdir(parents=True)
    truth = {}
    for split in splits:
        folder = root / "data" / split
        folder.mkdir(parents=True)
        ids = [f"{VIDEOS[i % 2]}_{i}" for i in range(n)]
        spk = {u: u[:11] for u in ids}
        feats = {u: (rng.normal(3.0, 2.0, size=(5 + i, DIM))).astype(np.float32)
                 for i, u in enumerate(ids)}
        (folder / "id").write_text("".join(f"{u}\n" for u in ids))
        order = rng.permutation(n)  # text.id files need not follow the id order
        for lang, sents in (("en", EN), ("pt", PT)):
            (folder / f"text.id.{lang}").write_text(
                "".join(f"{ids[i]} {split} {sents[i % len(sents)]}\n" for i in order), encoding="utf-8")
        (folder / "utt2spk").write_text("".join(f"{u} {spk[u]}\n" for u in ids))
        with kaldiio.WriteHelper(f"ark,scp:{ark_dir}/feats_{split}.ark,{folder}/feats.scp") as w:
            for u in ids:
                w[u] = feats[u]
        stats = {s: kaldi_stats(np.concatenate([feats[u] for u in ids if spk[u] == s])) for s in VIDEOS}
        with kaldiio.WriteHelper(f"ark,scp:{ark_dir}/cmvn_{split}.ark,{folder}/cmvn.scp") as w:
            for s in VIDEOS:
                w[s] = stats[s]
        for scp in ("feats.scp", "cmvn.scp"):  # the release writes a placeholder for the ark folder
            path = folder / scp
            path.write_text(path.read_text().replace(str(ark_dir), "ARK_PATH"))
        video = rng.normal(size=(n, 2048)).astype(np.float32)
        vdir = root / "features" / "resnext101-action-avgpool-300h"
        vdir.mkdir(parents=True, exist_ok=True)
        np.save(vdir / f"{split}.npy", video)
        truth[split] = {"ids": ids, "feats": feats, "video": video, "spk": spk}
    return truth


def module(root: Path, **kw) -> How2DataModule:
    opts = dict(ark_dir=str(root / "fbank"), tokenizer="word", min_count=1, batch_size=3,
                cache_dir=str(root / "cache"))
    return How2DataModule(str(root), **{**opts, **kw})


@pytest.fixture
def how2(tmp_path):
    return tmp_path, make_how2(tmp_path)


def test_reads_all_modalities_in_id_order(how2):
    root, truth = how2
    dm = module(root)
    dm.prepare_data()
    dm.setup()
    assert dm.test_names == ["dev5"] and list(dm.splits) == ["train", "val", "dev5"]
    assert dm.spec.task == TRANSLATION
    assert {m: (s.kind, s.dim) for m, s in dm.spec.modalities.items()} == {
        "text": (TOKENS, dm.src_tokenizer.vocab_size), "video": (VECTOR, 2048), "speech": (SEQUENCE, DIM)}
    assert dm.spec.tgt_vocab_size == dm.tgt_tokenizer.vocab_size
    for split in ("train", "dev5"):
        ds, t = dm.splits[split], truth[split]
        for i, u in enumerate(t["ids"]):
            s = ds[i]
            assert s["target_text"] == f"{split} {PT[i % len(PT)]}"
            assert s["source_text"] == f"{split} {EN[i % len(EN)]}"
            assert dm.src_tokenizer.decode(s["inputs"]["text"]).endswith(EN[i % len(EN)])
            assert s["target"][0] == dm.spec.bos_id and s["target"][-1] == dm.spec.eos_id
            np.testing.assert_array_equal(s["inputs"]["video"], t["video"][i])
            assert s["inputs"]["speech"].shape == (5 + i, DIM)
    # per-speaker CMVN (mean and variance): each speaker's frames become mean 0, std 1
    ds, t = dm.splits["train"], truth["train"]
    for video in VIDEOS:
        frames = np.concatenate([ds[i]["inputs"]["speech"] for i, u in enumerate(t["ids"])
                                 if t["spk"][u] == video])
        np.testing.assert_allclose(frames.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(frames.std(0), 1, atol=1e-3)
    batch = next(iter(dm.val_dataloader()))
    assert batch.masks["speech"].sum(1).tolist() == [5, 6, 7]
    assert batch.inputs["video"].shape == (3, 2048) and batch.target_text[0].startswith("val ")
    pickle.loads(pickle.dumps(dm.splits["train"]))  # DataLoader workers / ddp_spawn


def test_modality_subset_and_cmvn_modes(how2):
    root, truth = how2
    dm = module(root, modalities=["speech"], cmvn="mean", max_frames=6)
    dm.setup()
    assert list(dm.spec.modalities) == ["speech"]
    sample = dm.splits["train"][3]
    assert set(sample["inputs"]) == {"speech"} and sample["inputs"]["speech"].shape == (6, DIM)
    raw = truth["train"]["feats"][truth["train"]["ids"][3]]
    assert not np.allclose(sample["inputs"]["speech"].std(0), 1, atol=0.2)  # variance kept
    none = module(root, modalities=["video", "speech"], cmvn="none")
    none.setup()
    np.testing.assert_array_equal(none.splits["train"][3]["inputs"]["speech"], raw)
    assert list(none.spec.modalities) == ["video", "speech"]
    with pytest.raises(ConfigError, match="dataset.modalities"):
        module(root, modalities=["audio"])
    with pytest.raises(ConfigError, match="dataset.cmvn"):
        module(root, cmvn="global")


def test_cmvn_math_matches_kaldi():
    frames = np.random.default_rng(1).normal(2, 3, size=(50, 4))
    shift, scale = cmvn_from_stats(kaldi_stats(frames), "mean_var", "x")
    np.testing.assert_allclose(shift, frames.mean(0), rtol=1e-5)
    np.testing.assert_allclose(scale, 1 / frames.std(0), rtol=1e-4)
    shift, scale = cmvn_from_stats(kaldi_stats(frames), "mean", "x")
    assert (scale == 1).all()
    with pytest.raises(DataError, match="frame count"):
        cmvn_from_stats(np.zeros((2, 5)), "mean_var", "cmvn.scp")


def test_rxfile_resolution(tmp_path):
    assert resolve_rxfile("ARK_PATH/a.ark:12", Path("/feats"), tmp_path) == "/feats/a.ark:12"
    assert resolve_rxfile("sub/a.ark:7[0:3]", None, tmp_path) == f"{tmp_path}/sub/a.ark:7[0:3]"
    with pytest.raises(ConfigError, match="dataset.ark_dir"):
        resolve_rxfile("ARK_PATH/a.ark:12", None, tmp_path)


def _edit(path: Path, fn):
    path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")


@pytest.mark.parametrize("breakage,pattern", [
    (lambda r: (r / "data" / "val" / "text.id.pt").unlink(), r"val/text.id.pt is missing.*srvk/how2-dataset"),
    (lambda r: _edit(r / "data" / "train" / "text.id.en",
                     lambda s: "\n".join(l for l in s.splitlines() if not l.startswith("Zz_9-abc_de_3 "))),
     r"train/text.id.en: 1 segment id\(s\) of the id file have no sentence, e.g. \['Zz_9-abc_de_3'\]"),
    (lambda r: _edit(r / "data" / "dev5" / "text.id.pt", lambda s: s + "other_seg_x hello\n"),
     r"dev5/text.id.pt has 7 entries but the id file has 6"),
    (lambda r: _edit(r / "data" / "train" / "id", lambda s: s + "-aB_cd-E_fg_0\n"),
     r"train/id: segment id\(s\) \['-aB_cd-E_fg_0'\] appear more than once"),
    (lambda r: np.save(r / "features" / "resnext101-action-avgpool-300h" / "val.npy", np.zeros((5, 2048))),
     r"val.npy has 5 rows but .*val/id lists 6 segments"),
    (lambda r: (r / "features" / "resnext101-action-avgpool-300h" / "dev5.npy").unlink(),
     r"video features .*dev5.npy are missing"),
    (lambda r: _edit(r / "data" / "val" / "feats.scp", lambda s: "\n".join(s.splitlines()[1:]) + "\n"),
     r"val/feats.scp: 1 segment id\(s\) of the id file have no speech features"),
    (lambda r: _edit(r / "data" / "train" / "cmvn.scp", lambda s: s.splitlines()[0] + "\n"),
     r"train/cmvn.scp has no statistics for 1 speaker"),
    (lambda r: (r / "fbank" / "feats_dev5.ark").unlink(),
     r"dev5/feats.scp refers to 1 .ark file\(s\) that do not exist.*dataset.ark_dir"),
    (lambda r: _edit(r / "data" / "train" / "utt2spk",
                     lambda s: s.replace("Zz_9-abc_de_5 Zz_9-abc_de", "Zz_9-abc_de_5")),
     r"utt2spk: line 6 has no value"),
])
def test_bad_layouts(how2, breakage, pattern):
    root, _ = how2
    breakage(root)
    with pytest.raises(DataError, match=pattern):
        module(root).setup()


def test_missing_folders(tmp_path):
    with pytest.raises(DataError, match=r"How2 folder .*nowhere does not exist.*srvk/how2-dataset"):
        module(tmp_path / "nowhere").setup()
    (tmp_path / "data" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train/id is missing"):
        module(tmp_path).setup()
    with pytest.raises(DataError, match=r"data/val is missing.*how2-300h-v1"):
        module(tmp_path).split_dir("val")


def test_wrong_ark_dir_names_the_option(how2):
    root, _ = how2
    with pytest.raises(DataError, match=r"dataset.ark_dir.*fbank_pitch_181506"):
        module(root, ark_dir=str(root / "elsewhere")).setup()


@pytest.mark.parametrize("where", ["features/fbank_pitch_181506", "fbank_pitch_181506"])
def test_arks_found_where_the_release_unpacks_them_and_in_the_old_place(how2, where):
    """Without dataset.ark_dir: <data_dir>/features/fbank_pitch_181506 (the How2 release), else the
    older <data_dir>/fbank_pitch_181506."""
    root, truth = how2
    (root / where).parent.mkdir(parents=True, exist_ok=True)
    (root / "fbank").rename(root / where)
    dm = module(root, ark_dir=None, modalities=["text", "speech"], cmvn="none")
    dm.setup()
    u = truth["val"]["ids"][2]
    np.testing.assert_allclose(dm.splits["val"][2]["inputs"]["speech"], truth["val"]["feats"][u])
    assert dm.ark_dir == root / where


def test_missing_arks_name_both_places(how2):
    root, _ = how2
    (root / "fbank").rename(root / "somewhere_else")
    with pytest.raises(DataError, match=r"neither .*features/fbank_pitch_181506 nor .*/fbank_pitch_181506: "
                                        r"unpack .* dataset.ark_dir"):
        module(root, ark_dir=None, modalities=["text", "speech"]).setup()


def test_text_only_fusion_loads_no_speech_or_video(how2, tmp_path):
    """`dataset=how2 fusion=text_only`: the config selects modalities [text], so a download without
    the feature archives trains."""
    import shutil

    from hydra.utils import instantiate

    from tests.conftest import compose_train

    root, _ = how2
    shutil.rmtree(root / "fbank")
    shutil.rmtree(root / "features")
    cfg = compose_train(["dataset=how2", "fusion=text_only", f"dataset.data_dir={root}",
                         "dataset.tokenizer=word", "dataset.min_count=1"], tmp_path / "out", tmp_path)
    assert list(cfg.dataset.modalities) == ["text"]
    dm = instantiate(cfg.dataset)
    dm.setup()
    assert list(dm.spec.modalities) == ["text"] and len(dm.splits["train"]) == 6
