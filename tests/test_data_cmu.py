"""CMU-style pickle reader and the IEMOCAP / MOSI / MOSEI DataModules, on generated files."""

import logging
import os
import pickle

import numpy as np
import pytest
import torch

from fusionlab.data.cmu_pickle import (IemocapDataModule, MoseiDataModule, MosiDataModule,
                                       real_spans)
from fusionlab.data.spec import CLASSIFICATION, REGRESSION, SEQUENCE
from fusionlab.errors import ConfigError, DataError, UnsafePickleError

DIMS = {"text": 6, "audio": 4, "vision": 3}


def make_split(lengths, steps=None, iemocap=True, seed=0):
    """Left-padded split; ``lengths`` (N,) real steps, or a dict modality -> (N,) (unaligned).

    steps: T (int) or modality -> T. Real entries are in [1, 2) so none is zero by accident.
    """
    rng = np.random.default_rng(seed)
    per_mod = lengths if isinstance(lengths, dict) else {m: lengths for m in DIMS}
    steps = steps if isinstance(steps, dict) else {m: steps or 5 for m in DIMS}
    out = {}
    for m, d in DIMS.items():
        n = len(per_mod[m])
        x = np.zeros((n, steps[m], d), dtype=np.float32)
        for i, length in enumerate(per_mod[m]):
            if length:
                x[i, steps[m] - length:] = rng.uniform(1, 2, size=(length, d))
        out[m] = x
    n = len(per_mod["text"])
    if iemocap:
        labels = np.zeros((n, 4, 2), dtype=np.float32)
        labels[:, :, 0] = 1
        labels[np.arange(n), np.arange(n) % 4] = (0, 1)
    else:
        labels = np.linspace(-3, 3, n, dtype=np.float32).reshape(n, 1, 1)
    out["labels"] = labels
    out["id"] = np.array([f"vid-x_{i}" for i in range(n)])
    return out


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(pickle.dumps(data, protocol=4))
    return folder / name


def layout(lengths=(5, 3, 1), iemocap=True, **kw):
    return {key: make_split(list(lengths), iemocap=iemocap, seed=i, **kw)
            for i, key in enumerate(("train", "valid", "test"))}


def test_aligned_left_padding_becomes_real_steps_first(tmp_path):
    data = layout(lengths=(5, 3, 2))
    # step 1 of sample 1 (a padded step for text/audio) has vision only: it still counts as real
    data["train"]["vision"][1, 1] = 0.5
    write(tmp_path, "iemocap_data.pkl", data)
    dm = IemocapDataModule(str(tmp_path), batch_size=3)
    dm.setup()
    assert set(dm.splits) == {"train", "val", "test"} and dm.test_names == ["test"]
    assert dm.spec.task == CLASSIFICATION
    assert dm.spec.label_names == ["Neutral", "Happy", "Sad", "Angry"]
    assert list(dm.spec.modalities) == ["text", "audio", "vision"]
    assert {m: (s.kind, s.dim) for m, s in dm.spec.modalities.items()} == \
        {m: (SEQUENCE, d) for m, d in DIMS.items()}
    batch = next(iter(dm._loader("train", False, 3)))
    expected_len = [5, 4, 2]
    for m in DIMS:
        assert batch.masks[m].sum(1).tolist() == expected_len
        assert batch.masks[m][:, 0].all()  # real steps first
        raw = data["train"][m]
        for i, length in enumerate(expected_len):
            np.testing.assert_array_equal(batch.inputs[m][i, :length].numpy(), raw[i, 5 - length:])
            assert not batch.inputs[m][i, length:].any()
    assert batch.target.dtype == torch.long and batch.target.shape == (3, 4)
    assert batch.target.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]


def test_nonfinite_values_are_zeroed_and_counted(tmp_path, caplog):
    data = layout(lengths=(5, 4, 3))
    data["train"]["audio"][0, 1, :2] = -np.inf
    data["train"]["audio"][2, 4, 0] = np.nan
    data["test"]["vision"][1, 2, 1] = np.inf
    write(tmp_path, "iemocap_data.pkl", data)
    dm = IemocapDataModule(str(tmp_path))
    with caplog.at_level(logging.INFO, logger="fusionlab.data.cmu_pickle"):
        dm.setup()
    messages = [r.getMessage() for r in caplog.records]
    assert any("replaced 3 non-finite" in s and "'train'" in s and "'audio'" in s for s in messages)
    assert any("replaced 1 non-finite" in s and "'test'" in s and "'vision'" in s for s in messages)
    assert len(messages) == 2
    sample = dm.splits["train"][0]
    assert np.isfinite(sample["inputs"]["audio"]).all()
    assert (sample["inputs"]["audio"][1, :2] == 0).all()  # sample 0 has all 5 steps real


def test_interior_zero_step_kept_and_empty_sample_keeps_one_step():
    nonzero = np.array([[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    start, stop = real_spans(nonzero)
    assert start.tolist() == [1, 4, 0] and stop.tolist() == [4, 5, 5]


def test_unaligned_masks_per_modality(tmp_path):
    lengths = {"text": [3, 1], "audio": [7, 2], "vision": [4, 9]}
    steps = {"text": 3, "audio": 8, "vision": 10}
    data = {k: make_split(lengths, steps=steps) for k in ("train", "valid", "test")}
    write(tmp_path, "iemocap_data_noalign.pkl", data)
    dm = IemocapDataModule(str(tmp_path), aligned=False)
    dm.setup()
    batch = next(iter(dm._loader("val", False, 2)))
    for m in DIMS:
        assert batch.masks[m].sum(1).tolist() == lengths[m]
        assert batch.inputs[m].shape[1] == max(lengths[m])
    # the same file read as aligned is refused with the fix
    write(tmp_path, "iemocap_data.pkl", data)
    with pytest.raises(DataError, match="aligned=false"):
        IemocapDataModule(str(tmp_path), aligned=True).setup()


def test_modality_subset_and_custom_file_name(tmp_path):
    write(tmp_path, "my_iemocap.pkl", layout())
    dm = IemocapDataModule(str(tmp_path), aligned_file="my_iemocap.pkl",
                           modalities=["vision", "text"])
    dm.setup()
    assert list(dm.spec.modalities) == ["text", "vision"]
    assert set(dm.splits["train"][0]["inputs"]) == {"text", "vision"}
    with pytest.raises(ConfigError, match="dataset.modalities"):
        IemocapDataModule(str(tmp_path), modalities=["text", "speech"])
    with pytest.raises(ConfigError, match="dataset.modalities"):
        IemocapDataModule(str(tmp_path), modalities=[])


@pytest.mark.parametrize("cls,aligned,unaligned", [
    (MosiDataModule, "mosi_data.pkl", "mosi_data_noalign.pkl"),
    (MoseiDataModule, "mosei_senti_data.pkl", "mosei_senti_data_noalign.pkl")])
def test_sentiment_regression_target(tmp_path, cls, aligned, unaligned):
    data = layout(lengths=(5, 2, 4, 1), iemocap=False)
    write(tmp_path, aligned, data)
    write(tmp_path, unaligned, data)
    for is_aligned in (True, False):
        dm = cls(str(tmp_path), aligned=is_aligned, batch_size=4)
        dm.setup()
        assert dm.spec.task == REGRESSION and dm.spec.label_names == []
        batch = next(iter(dm._loader("test", False, 4)))
        assert batch.target.dtype == torch.float32 and batch.target.shape == (4,)
        np.testing.assert_allclose(batch.target.numpy(), [-3, -1, 1, 3])
        assert batch.masks["text"].sum(1).tolist() == [5, 2, 4, 1]


def test_missing_folder_says_where_to_get_data(tmp_path):
    with pytest.raises(DataError) as err:
        IemocapDataModule(str(tmp_path / "nowhere")).setup()
    msg = str(err.value)
    assert "nowhere" in msg and "USC SAIL" in msg and "MultimodalSDK" in msg
    assert "Multimodal-Transformer" in msg and "redistribution" in msg
    with pytest.raises(DataError, match="MultimodalSDK"):
        MosiDataModule(str(tmp_path / "nowhere")).setup()


def test_missing_file_names_the_option(tmp_path):
    write(tmp_path, "iemocap_data.pkl", layout())
    with pytest.raises(DataError, match=r"iemocap_data_noalign\.pkl not found.*unaligned_file.*"
                                        r"iemocap_data\.pkl"):
        IemocapDataModule(str(tmp_path), aligned=False).setup()


def _broken(tmp_path, mutate, cls=IemocapDataModule, iemocap=True):
    data = layout(iemocap=iemocap)
    mutate(data)
    write(tmp_path, cls.default_aligned_file, data)
    return cls(str(tmp_path))


@pytest.mark.parametrize("mutate,pattern", [
    (lambda d: d.pop("valid"), r"no 'valid' split"),
    (lambda d: d["test"].pop("audio"), r"\['test'\]: split has no 'audio' array"),
    (lambda d: d["train"].pop("labels"), r"no 'labels' array"),
    (lambda d: d["train"].update(vision=d["train"]["vision"][:2]),
     r"'vision' has 2 samples but 'labels' has 3"),
    (lambda d: d["valid"].update(labels=d["valid"]["labels"][:2]),
     r"'text' has 3 samples but 'labels' has 2"),
    (lambda d: d["train"].update(labels=np.zeros((3, 1, 1))), r"labels have shape \(3, 1, 1\).*dataset=mosi"),
    (lambda d: d["train"].update(text=np.zeros((3, 5))), r"\['text'\]: shape \(3, 5\), expected \(N, T, D\)"),
    (lambda d: d["test"].update(audio=np.zeros((3, 5, 9))), r"'audio' has different feature sizes"),
    (lambda d: d["train"].update(id=np.array(["a"])), r"\['id'\]: 1 rows but 3 samples"),
    (lambda d: d["train"]["labels"].__setitem__((0, 0, 0), np.nan), r"labels must be finite"),
])
def test_bad_iemocap_files(tmp_path, mutate, pattern):
    dm = _broken(tmp_path, mutate)
    with pytest.raises(DataError, match=pattern) as err:
        dm.setup()
    assert "iemocap_data.pkl" in str(err.value)


def test_iemocap_labels_in_sentiment_reader(tmp_path):
    dm = _broken(tmp_path, lambda d: None, cls=MosiDataModule, iemocap=True)
    with pytest.raises(DataError, match=r"mosi_data\.pkl.*\(3, 4, 2\).*dataset=iemocap"):
        dm.setup()


def test_unsafe_pickle_through_datamodule(tmp_path):
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    write(tmp_path, "iemocap_data.pkl", {"train": {"text": Evil()}})
    with pytest.raises(UnsafePickleError, match="iemocap_data.pkl"):
        IemocapDataModule(str(tmp_path)).setup()
    assert not marker.exists()
