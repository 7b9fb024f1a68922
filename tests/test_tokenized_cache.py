"""The tokenized-split cache (fusionlab/data/cache.py): what is written is read back as written,
caches written by the HF ``datasets`` writer fusionlab used before still load, a damaged entry is
one DataError naming its folder, and starting a translation run does not import ``datasets``
(~1.2 s of every run's start-up on a 2-core machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from fusionlab.data.cache import load_tokenized_split, save_tokenized_split
from fusionlab.errors import DataError
from tests.conftest import ROOT

SRC = [[5, 6, 7], [], [9]]
TGT = [[1], [2, 3], [4, 5, 6, 7]]
SRC_TEXT = ["a b c", "", "é ü"]
TGT_TEXT = ["x", "y z", "ß q r s"]


def rows(flat_and_offsets) -> list[list[int]]:
    flat, off = flat_and_offsets
    return [flat[a:b].tolist() for a, b in zip(off[:-1], off[1:])]


def test_a_split_reads_back_as_written(tmp_path):
    save_tokenized_split(tmp_path, SRC, TGT, SRC_TEXT, TGT_TEXT, {"vocab": 10})
    got = load_tokenized_split(tmp_path)
    assert rows(got["src"]) == SRC and rows(got["tgt"]) == TGT
    assert got["src_text"] == SRC_TEXT and got["tgt_text"] == TGT_TEXT and got["meta"] == {"vocab": 10}
    assert got["src"][0].dtype == np.int32


def test_a_cache_in_the_layout_datasets_wrote_still_loads(tmp_path):
    """``datasets.Dataset.save_to_disk`` wrote arrow/data-00000-of-00001.arrow (an IPC stream whose
    schema carries a "huggingface" metadata entry) beside state.json and dataset_info.json."""
    schema = pa.schema([("src_ids", pa.list_(pa.int32())), ("tgt_ids", pa.list_(pa.int32())),
                        ("src_text", pa.string()), ("tgt_text", pa.string())],
                       metadata={"huggingface": json.dumps({"info": {"features": {}}})})
    arrow = tmp_path / "arrow"
    arrow.mkdir()
    table = pa.Table.from_pydict({"src_ids": SRC, "tgt_ids": TGT, "src_text": SRC_TEXT,
                                  "tgt_text": TGT_TEXT}, schema=schema)
    with pa.OSFile(str(arrow / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, schema) as writer:  # datasets writes record batches of 1000 rows
            for batch in table.to_batches(max_chunksize=2):
                writer.write_batch(batch)
    (arrow / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}))
    (arrow / "dataset_info.json").write_text("{}")
    (tmp_path / "meta.json").write_text(json.dumps({"old": True}))
    got = load_tokenized_split(tmp_path)
    assert rows(got["src"]) == SRC and rows(got["tgt"]) == TGT and got["tgt_text"] == TGT_TEXT


def test_a_damaged_entry_names_its_folder_and_the_fix(tmp_path):
    save_tokenized_split(tmp_path, SRC, TGT, SRC_TEXT, TGT_TEXT, {})
    data = tmp_path / "arrow" / "data-00000-of-00001.arrow"
    data.write_bytes(data.read_bytes()[:40])
    with pytest.raises(DataError, match=rf"tokenized cache {tmp_path} is unreadable .*delete that folder"):
        load_tokenized_split(tmp_path)
    data.unlink()
    with pytest.raises(DataError, match=rf"tokenized cache {tmp_path} is unreadable .*no data-\*.arrow"):
        load_tokenized_split(tmp_path)


LOAD_SYNTHETIC_MT = r"""
import sys
from fusionlab.data.synthetic_mt import SyntheticMTDataModule
dm = SyntheticMTDataModule(data_dir=sys.argv[1] + "/synthetic_mt", cache_dir=sys.argv[1] + "/.cache",
                           sizes={"train": 40, "val": 10, "test_2016_flickr": 10})
dm.prepare_data()   # generates the data and writes the cache
dm.setup("fit")
dm = SyntheticMTDataModule(data_dir=sys.argv[1] + "/synthetic_mt", cache_dir=sys.argv[1] + "/.cache",
                           sizes={"train": 40, "val": 10, "test_2016_flickr": 10})
dm.prepare_data()   # the next run: reads the cache
dm.setup("fit")
print(len(dm.splits["train"]), "datasets" in sys.modules)
"""


def test_a_translation_run_does_not_import_datasets(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", LOAD_SYNTHETIC_MT, str(tmp_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-2:] == ["40", "False"]
