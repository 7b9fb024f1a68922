"""scripts/reproduce.py: one command per paper table (real CLI, subprocess), and the table configs."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, compose_train

ROWS = ["text_only", "concat", "tfn", "lmf", "mult", "auto", "gan"]
# one epoch of two batches on a tiny synthetic_emotion: the cheapest table
TINY = ["latent_dim=16", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "dataset.batch_size=32",
        "++dataset.train_size=128", "++dataset.val_size=40", "++dataset.test_size=40", "logger=none",
        "callbacks.progress_bar=null"]


@pytest.mark.parametrize("table, dataset", [("how2", "SyntheticHow2DataModule"),
                                            ("multi30k", "SyntheticMTDataModule"),
                                            ("iemocap", "SyntheticEmotionDataModule")])
def test_table_configs_sweep_every_row_over_five_seeds(tmp_path, table, dataset):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    cfg = compose_train([f"experiment=paper/table_{table}"], tmp_path, tmp_path)
    hydra_cfg = HydraConfig.get()
    assert cfg.dataset._target_.endswith(dataset)
    assert hydra_cfg.mode == RunMode.MULTIRUN
    assert hydra_cfg.sweeper.params.fusion.split(",") == ROWS
    assert hydra_cfg.sweeper.params.seed == "1,2,3,4,5"


def test_paper_configuration_with_a_download_sweeps_the_paper_row(tmp_path):
    sys.path.insert(0, str(ROOT))
    from scripts.reproduce import parse_args, train_command

    args = parse_args(["multi30k", "--seeds", "1,2", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"),
                       "trainer.max_epochs=3"])
    cmd = train_command(args)
    assert cmd[1:4] == ["train.py", "-m", "experiment=paper/multi30k_gan"]
    assert f"dataset.data_dir={tmp_path}" in cmd and "fusion=" + ",".join(ROWS) in cmd and "seed=1,2" in cmd
    assert "trainer.max_epochs=3" in cmd and f"hydra.sweep.dir={tmp_path / 'o' / 'train'}" in cmd
    assert not any(c.startswith("hydra/launcher") for c in cmd)
    parallel = train_command(parse_args(["how2", "--jobs", "2", "--out", str(tmp_path / "p")]))
    assert parallel[3:5] == ["experiment=paper/table_how2", "seed=1,2,3,4,5"]
    assert {"hydra/launcher=joblib_local", "hydra.launcher.n_jobs=2", "threads=1"} <= set(parallel)


def test_default_jobs_one_per_usable_cpu_on_embedded_data_one_with_a_download(tmp_path, monkeypatch):
    import fusionlab.run.threads as threads
    from scripts.reproduce import parse_args, train_command

    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    embedded = parse_args(["how2", "--out", str(tmp_path / "e")])
    assert embedded.jobs == 3 and "hydra.launcher.n_jobs=3" in train_command(embedded)
    download = parse_args(["how2", "--data-dir", str(tmp_path), "--out", str(tmp_path / "d")])
    assert download.jobs == 1 and not any(c.startswith("hydra/launcher") for c in train_command(download))
    with pytest.raises(SystemExit):
        parse_args(["how2", "--jobs", "0"])


@pytest.mark.slow
def test_one_seed_one_epoch_table_has_every_row(tmp_path):
    out = tmp_path / "table"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "scripts/reproduce.py", "iemocap", "--seeds", "1", "--out", str(out),
                           f"paths.data_dir={tmp_path / 'data'}", *TINY],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    md = (out / "results.md").read_text()
    with open(out / "results.csv") as f:
        rows = {r["fusion"]: r for r in csv.DictReader(f)}
    assert sorted(rows) == sorted(ROWS)
    for fusion, r in rows.items():
        assert r["n"] == "1"
        assert 0.0 <= float(r["test/f1_mean_mean"]) <= 1.0
        assert r["drop_mean"] != "", fusion                 # every row was evaluated incongruently
        assert float(r["seconds_total"]) > 0
        assert f"| {fusion} | 1 |" in md
    assert "Majority-class baseline" in md
    assert "python train.py -m experiment=paper/table_iemocap seed=1" in md
    assert "python eval.py -m" in md and "mode: shuffle" in md
    assert (out / "results.png").stat().st_size > 0
    # the text_only row ignores audio and vision: shuffling them cannot change its score
    assert float(rows["text_only"]["drop_mean"]) == pytest.approx(0.0, abs=1e-9)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["rows"]) == set(ROWS) and summary["failed"] == []
    # majority baseline, recomputed from the test labels of the pickle: predicting the majority
    # class p of a binary label for everyone has weighted F1 p * 2p / (1 + p) (the minority's F1 is 0)
    import numpy as np

    from fusionlab.data.safe_pickle import safe_load

    labels = np.asarray(safe_load(tmp_path / "data" / "synthetic_emotion" / "iemocap_data.pkl")["test"]["labels"])
    positive = labels.argmax(-1).mean(0)                        # (4,) share of positives per emotion
    p = np.maximum(positive, 1 - positive)
    assert summary["baseline"]["f1_mean"] == pytest.approx(float(np.mean(p * 2 * p / (1 + p))), abs=1e-6)
    assert summary["baseline"]["acc_mean"] == pytest.approx(float(p.mean()), abs=1e-6)


def test_a_table_whose_jobs_all_fail_ends_with_one_error_line(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "scripts/reproduce.py", "iemocap", "--seeds", "1", "--rows", "concat",
                           "--out", str(tmp_path / "t"), f"paths.data_dir={tmp_path / 'data'}", *TINY,
                           "task.optimizer.lr=-1.0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("fusionlab: error:") and "no finished job" in last, proc.stderr[-2000:]
