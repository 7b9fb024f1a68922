"""synthetic_how2: the official How2 layout, read back through the real How2 loader."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest

from fusionlab.data.how2 import How2DataModule
from fusionlab.data.spec import SEQUENCE, TOKENS, VECTOR
from fusionlab.data.synthetic_how2 import (ARK_DIR, COLOURS, COUNTS, LEXICON, SyntheticHow2DataModule,
                                          bleu_ceilings, count_directions, generate, generate_split)
from fusionlab.errors import DataError
from tests.conftest import compose_train

SIZES = {"train": 40, "val": 12, "dev5": 12}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic_how2")
    generate(root, SIZES)
    return root


def test_files_are_the_official_layout_with_ark_path_placeholders(data_dir):
    for split, n in SIZES.items():
        folder = data_dir / "data" / split
        ids = folder.joinpath("id").read_text().split()
        assert len(ids) == n
        for name in ("text.en", "text.pt", "text.id.en", "text.id.pt", "segments", "utt2spk", "spk2utt"):
            assert folder.joinpath(name).is_file(), name
        for scp in ("feats.scp", "cmvn.scp"):
            lines = folder.joinpath(scp).read_text().splitlines()
            assert lines and all(line.split()[1].startswith("ARK_PATH/") for line in lines)
        video = np.load(data_dir / "features/resnext101-action-avgpool-300h" / f"{split}.npy")
        assert video.shape == (n, 2048)
        # 11-character video ids with '-' and '_', segment ids <video id>_<n>, speaker = video
        for seg, spk in (line.split() for line in folder.joinpath("utt2spk").read_text().splitlines()):
            assert len(spk) == 11 and "-" in spk and "_" in spk and seg.startswith(spk + "_")
    arks = sorted(p.name for p in (data_dir / ARK_DIR).iterdir())
    assert arks == ["cmvn_all_181506.ark"] + [f"raw_fbank_pitch_all_181506.{i}.ark" for i in (1, 2, 3)]


def test_real_how2_loader_reads_it_with_ark_path_substituted_and_cmvn_applied(data_dir, tmp_path):
    dm = How2DataModule(str(data_dir), ark_dir=str(data_dir / ARK_DIR), tokenizer="word", min_count=1,
                        batch_size=5, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    assert dm.spec.modalities["text"].kind == TOKENS
    assert (dm.spec.modalities["video"].kind, dm.spec.modalities["video"].dim) == (VECTOR, 2048)
    assert (dm.spec.modalities["speech"].kind, dm.spec.modalities["speech"].dim) == (SEQUENCE, 43)
    split = dm.splits["dev5"]
    folder = data_dir / "data" / "dev5"
    ids = folder.joinpath("id").read_text().split()
    spk = dict(line.split() for line in folder.joinpath("utt2spk").read_text().splitlines())
    cmvn = dict(line.split() for line in folder.joinpath("cmvn.scp").read_text().splitlines())
    feats = dict(line.split() for line in folder.joinpath("feats.scp").read_text().splitlines())
    video = np.load(data_dir / "features/resnext101-action-avgpool-300h/dev5.npy")
    for i in (0, 5, len(ids) - 1):
        sample = split[i]
        # independent reading: substitute the placeholder ourselves and apply Kaldi's CMVN formula
        raw = kaldiio.load_mat(feats[ids[i]].replace("ARK_PATH", str(data_dir / ARK_DIR)))
        stats = kaldiio.load_mat(cmvn[spk[ids[i]]].replace("ARK_PATH", str(data_dir / ARK_DIR)))
        mean = stats[0, :-1] / stats[0, -1]
        std = np.sqrt(stats[1, :-1] / stats[0, -1] - mean ** 2)
        np.testing.assert_allclose(sample["inputs"]["speech"], (raw - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sample["inputs"]["video"], video[i], rtol=0, atol=0)
        ref = folder.joinpath("text.id.pt").read_text().splitlines()[i].split(" ", 1)[1]
        assert sample["target_text"] == ref


def test_each_fact_lives_in_exactly_one_feature_modality():
    data = generate_split(400, seed=3)
    colour_of = {LEXICON[c]: COLOURS.index(c) for c in COLOURS}
    count_of = {LEXICON[c]: i for i, c in enumerate(COUNTS)}
    colour = np.array([colour_of[t.split()[1]] for t in data["tgt"]])
    count = np.array([count_of[t.split()[0]] for t in data["tgt"]])
    for sentence in data["src"]:           # the source never states either fact
        assert not set(sentence.split()) & (set(COLOURS) | set(COUNTS))
    # video: the colour is decodable by nearest class mean; the count is not (chance 25 %)
    from fusionlab.data.synthetic_how2 import video_projection

    proj = video_projection()[: len(COLOURS)]
    guess_colour = (data["video"] @ proj.T).argmax(1)
    assert (guess_colour == colour).mean() > 0.95
    # speech (after per-segment standardization): first-half minus second-half mean along u_count
    u = count_directions()
    contrast = np.stack([m[: len(m) // 2].mean(0) - m[len(m) // 2:].mean(0) for m in data["speech"]])
    assert ((contrast @ u.T).argmax(1) == count).mean() > 0.9


def test_ceilings_need_both_modalities(data_dir):
    c = bleu_ceilings(data_dir)
    assert c["oracle"] == 100.0
    assert c["text_only"] < c["text_video"] < 100 and c["text_only"] < c["text_speech"] < 100


def test_dataset_option_generates_on_first_use_and_refuses_foreign_folders(tmp_path):
    cfg = compose_train(["dataset=synthetic_how2"], tmp_path / "out", tmp_path / "data")
    assert cfg.dataset._target_.endswith("SyntheticHow2DataModule")
    assert cfg.task.monitor == "val/bleu"
    dm = SyntheticHow2DataModule(str(tmp_path / "gen"), sizes=SIZES, batch_size=4,
                                 cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.inputs["speech"].shape[-1] == 43 and batch.inputs["video"].shape[-1] == 2048
    assert set(batch.inputs) == {"text", "video", "speech"}
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("x")
    with pytest.raises(DataError, match="synthetic_how2"):
        SyntheticHow2DataModule(str(foreign), sizes=SIZES).prepare_data()


def test_generation_is_deterministic(tmp_path):
    a, b = generate(tmp_path / "a", SIZES), generate(tmp_path / "b", SIZES)
    for rel in ("data/train/feats.scp", "data/dev5/text.id.pt", ARK_DIR + "/raw_fbank_pitch_all_181506.1.ark",
                "features/resnext101-action-avgpool-300h/val.npy"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
