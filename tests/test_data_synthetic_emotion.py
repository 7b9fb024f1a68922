"""synthetic_emotion: deterministic IEMOCAP-layout file, read back through the IEMOCAP reader."""

import itertools
import logging

import numpy as np
import pytest

from fusionlab.data.cmu_pickle import IemocapDataModule
from fusionlab.data.safe_pickle import safe_load
from fusionlab.data.synthetic_emotion import SyntheticEmotionDataModule, emotion_from_signs

SMALL = dict(train_size=40, val_size=12, test_size=10)


def test_deterministic_and_seeded(tmp_path):
    files = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        dm = SyntheticEmotionDataModule(str(tmp_path / name), data_seed=seed, **SMALL)
        dm.prepare_data()
        files.append(dm.pickle_path.read_bytes())
    assert files[0] == files[1]
    assert files[0] != files[2]


def test_exact_iemocap_layout(tmp_path):
    dm = SyntheticEmotionDataModule(str(tmp_path), **SMALL)
    dm.prepare_data()
    raw = safe_load(tmp_path / "iemocap_data.pkl")
    assert sorted(raw) == ["test", "train", "valid"]
    split = raw["train"]
    assert split["text"].shape == (40, 20, 300) and split["audio"].shape == (40, 20, 74)
    assert split["vision"].shape == (40, 20, 35) and split["labels"].shape == (40, 4, 2)
    assert all(split[m].dtype == np.float32 for m in ("text", "audio", "vision", "labels"))
    assert (split["labels"].sum(2) == 1).all()             # one-hot pairs
    assert (split["labels"][:, :, 1].sum(1) == 1).all()    # exactly one positive emotion
    assert len(split["id"]) == 40


def test_read_back_through_iemocap_reader(tmp_path, caplog):
    SyntheticEmotionDataModule(str(tmp_path), train_size=600, val_size=10, test_size=10).prepare_data()
    raw = safe_load(tmp_path / "iemocap_data.pkl")["train"]
    # left padding: the real length is where the first nonzero step starts
    nonzero = np.stack([np.nan_to_num(raw[m], neginf=0).any(2) for m in ("text", "audio", "vision")])
    assert (nonzero.all(0) == nonzero.any(0)).all()        # modalities share the padding
    lengths = nonzero[0].sum(1)
    assert lengths.min() >= 8 and lengths.max() == 20 and len(set(lengths)) > 5
    assert (nonzero[0] == (np.arange(20) >= 20 - lengths[:, None])).all()
    n_inf = int(np.isneginf(raw["audio"]).sum())
    assert n_inf > 0 and np.isfinite(raw["text"]).all()

    dm = IemocapDataModule(str(tmp_path), batch_size=600)
    with caplog.at_level(logging.INFO, logger="fusionlab.data.cmu_pickle"):
        dm.setup()
    assert any(f"replaced {n_inf} non-finite" in r.getMessage() and "'train'" in r.getMessage()
               for r in caplog.records)
    batch = next(iter(dm._loader("train", False, 600)))
    for m in ("text", "audio", "vision"):
        assert batch.masks[m].sum(1).tolist() == lengths.tolist()
        assert batch.masks[m][:, 0].all() and np.isfinite(batch.inputs[m].numpy()).all()
    np.testing.assert_array_equal(batch.target.numpy(), raw["labels"].argmax(2))


def test_synthetic_module_reads_like_iemocap_and_regenerates_on_change(tmp_path):
    dm = SyntheticEmotionDataModule(str(tmp_path), modalities=["text", "audio"], **SMALL)
    dm.setup()  # generates on first use
    assert dm.spec.label_names == ["Neutral", "Happy", "Sad", "Angry"]
    assert list(dm.spec.modalities) == ["text", "audio"]
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [40, 12, 10]
    first = dm.pickle_path.stat().st_mtime_ns
    SyntheticEmotionDataModule(str(tmp_path), **SMALL).prepare_data()
    assert dm.pickle_path.stat().st_mtime_ns == first      # same options: kept
    bigger = SyntheticEmotionDataModule(str(tmp_path), **{**SMALL, "train_size": 50})
    bigger.setup()
    assert len(bigger.splits["train"]) == 50


def test_no_modality_or_pair_determines_the_emotion():
    signs = np.array(list(itertools.product((-1, 1), repeat=3)))   # all 8 (text, audio, vision)
    emotion = emotion_from_signs(signs[:, 0], signs[:, 1], signs[:, 2])
    assert sorted(set(emotion.tolist())) == [0, 1, 2, 3]
    for known in ((0,), (1,), (2,), (0, 1), (0, 2), (1, 2)):
        for value in itertools.product((-1, 1), repeat=len(known)):
            rows = (signs[:, list(known)] == value).all(1)
            assert len(set(emotion[rows].tolist())) >= 2, (known, value)
    for value in itertools.product((-1, 1), repeat=3):  # all three: unique
        assert len(set(emotion[(signs == value).all(1)].tolist())) == 1


@pytest.mark.slow
def test_default_sizes_fused_model_learns(tmp_path):
    """The default dataset is learnable by a small fused model and not by text alone."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench" / "synthetic_emotion_ceiling.py"
    spec = importlib.util.spec_from_file_location("ceiling", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    fused = bench.run_subset(str(tmp_path), ["text", "audio", "vision"], epochs=10, seed=0)
    text = bench.run_subset(str(tmp_path), ["text"], epochs=10, seed=0)
    assert fused["test_acc4"] > 0.75 and text["test_acc4"] < 0.35
