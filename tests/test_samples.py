"""Sample translations on disk: `python train.py dataset=synthetic_mt ...` writes
<run>/samples_val.tsv and <run>/samples_test.tsv with the source, reference and hypothesis of the
first sentences, checked against the dataset's own raw files."""

from __future__ import annotations

import gzip

import pytest

from fusionlab.callbacks.samples import COLUMNS, one_line
from tests.scaleout_support import TINY, dataset_args, explain, run_train


def raw_lines(path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def read_tsv(path) -> tuple[list[str], list[list[str]]]:
    header, *rows = [line.split("\t") for line in path.read_text().splitlines()]
    return header, rows


@pytest.mark.slow
def test_translation_run_writes_sample_tsvs_with_source_reference_and_hypothesis(tmp_path):
    run_dir, data = tmp_path / "run", tmp_path / "data"
    proc = run_train(*dataset_args("synthetic_mt", data), *TINY, "trainer.limit_val_batches=1",
                     "logger=none", "fusion=concat", "task.scheduler.name=none", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, explain(proc)
    raw = data / "synthetic_mt" / "data" / "task1" / "raw"  # the Multi30K layout
    for stage, split in (("val", "val"), ("test", "test_2016_flickr")):
        header, rows = read_tsv(run_dir / f"samples_{stage}.tsv")
        assert header == COLUMNS == ["index", "source", "reference", "hypothesis"]
        src, ref = raw_lines(raw / f"{split}.en.gz"), raw_lines(raw / f"{split}.de.gz")
        # the first 20 sentences of the split (every sentence was evaluated: one batch of 100)
        assert [int(r[0]) for r in rows] == list(range(20))
        for index, source, reference, _ in rows:
            assert source == one_line(src[int(index)]) and reference == one_line(ref[int(index)])
        assert any(r[3].strip() for r in rows), "every hypothesis is empty"


def test_tsv_cells_stay_on_one_line(tmp_path):
    from fusionlab.callbacks.samples import write_tsv

    path = write_tsv(tmp_path / "s.tsv", [[3, "a\tb", "c\nd", " e  f "]])
    assert path.read_text() == "index\tsource\treference\thypothesis\n3\ta b\tc d\te f\n"
