"""The README's "Adding a dataset", followed as written: its Python block saved as
fusionlab/data/tsv_mt.py and its YAML block as conf/dataset/tsv_mt.yaml (both in a temporary folder),
then `dataset=tsv_mt fusion=concat` trained for one epoch through train()."""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

import fusionlab.data
from fusionlab.cli import train
from fusionlab.errors import DataError
from tests.conftest import ROOT, compose_train

SIZES = {"train": 48, "val": 12, "test": 12}
WORDS = ["red", "dog", "runs", "small", "cat", "sits", "big", "bird", "flies", "home"]


def readme_blocks(section: str = "### Adding a dataset") -> dict[str, str]:
    """The first ```python and ```yaml blocks of the README section."""
    text = (ROOT / "README.md").read_text()
    body = text.split(section, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return {lang: re.search(rf"```{lang}\n(.*?)```", body, re.S).group(1) for lang in ("python", "yaml")}


def write_corpus(folder, rng) -> None:
    """``{split}.tsv`` lines "source<TAB>target" (the target reverses and capitalises the source)
    and ``{split}.npy`` (N, 16) float32 rows."""
    folder.mkdir(parents=True)
    for split, n in SIZES.items():
        lines = []
        for _ in range(n):
            src = [WORDS[i] for i in rng.integers(len(WORDS), size=int(rng.integers(3, 7)))]
            lines.append(" ".join(src) + "\t" + " ".join(w.upper() for w in reversed(src)))
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        np.save(folder / f"{split}.npy", rng.standard_normal((n, 16)).astype(np.float32))


@pytest.fixture
def tsv_mt(tmp_path, monkeypatch):
    """The README's two files in place: the module on fusionlab.data's path, the YAML on Hydra's."""
    blocks = readme_blocks()
    package = tmp_path / "fusionlab_data"
    package.mkdir()
    (package / "tsv_mt.py").write_text(blocks["python"])
    monkeypatch.setattr(fusionlab.data, "__path__", [*fusionlab.data.__path__, str(package)])
    monkeypatch.delitem(sys.modules, "fusionlab.data.tsv_mt", raising=False)
    conf = tmp_path / "conf"
    (conf / "dataset").mkdir(parents=True)
    (conf / "dataset" / "tsv_mt.yaml").write_text(blocks["yaml"])
    data = tmp_path / "data"
    write_corpus(data / "tsv_mt", np.random.default_rng(0))
    yield [f"hydra.searchpath=[file://{conf}]", "dataset=tsv_mt"], data
    sys.modules.pop("fusionlab.data.tsv_mt", None)


def test_the_readme_example_dataset_trains_one_epoch(tsv_mt, tmp_path):
    selection, data = tsv_mt
    out = tmp_path / "run"
    cfg = compose_train([*selection, "fusion=concat", "trainer.max_epochs=1", "latent_dim=16",
                         "logger=none", "callbacks.progress_bar=null"], out, data)
    assert cfg.dataset._target_ == "fusionlab.data.tsv_mt.TsvMTDataModule"
    assert cfg.task._target_.endswith("TranslationTask")
    train(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test/bleu"] <= 100.0
    assert metrics["params/total"] > 0
    # the base built the tokenizer and the three tokenized splits once, in paths.cache_dir
    cache = sorted(p.name.rsplit("-", 1)[0] for p in (data / ".cache").iterdir())
    assert cache == ["tsv_mt-test-ende", "tsv_mt-tokenizer-ende", "tsv_mt-train-ende", "tsv_mt-val-ende"]

    from hydra.utils import instantiate

    dm = instantiate(cfg.dataset)
    dm.setup()
    assert {name: (m.kind, m.dim) for name, m in dm.spec.modalities.items() if name != "text"} == {
        "sketch": ("vector", 16)}
    sample = dm.splits["val"][3]
    np.testing.assert_array_equal(sample["inputs"]["sketch"], np.load(data / "tsv_mt" / "val.npy")[3])
    src, tgt = (data / "tsv_mt" / "val.tsv").read_text().splitlines()[3].split("\t")
    assert (sample["source_text"], sample["target_text"]) == (src, tgt)


def test_a_missing_feature_file_is_a_data_error_naming_it(tsv_mt, tmp_path):
    selection, data = tsv_mt
    (data / "tsv_mt" / "test.npy").unlink()
    cfg = compose_train([*selection, "logger=none"], tmp_path / "run", data)
    with pytest.raises(DataError, match=r"sketch features .*tsv_mt/test\.npy are missing: put one row"):
        train(cfg)
