"""scripts/collect_results.py: Markdown/CSV tables (mean ± std over seeds) and a bar chart from a
multirun folder's job outputs, failed and unfinished jobs listed."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from scripts.collect_results import collect, mean_std
from tests.conftest import ROOT
from tests.scaleout_support import MULTIRUN_FUSIONS, MULTIRUN_SEEDS, explain, small_multirun

__all__ = ["small_multirun"]


def fake_job(sweep, num, fusion, seed, metrics=None, error=None, extra=()):
    """A job folder as Hydra and train() leave it."""
    job = sweep / f"{num}_synthetic_emotion_{fusion}"
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"seed": seed, "fusion": {"_target_": f"x.{fusion.title()}Fusion"},
                                     "dataset": {"_target_": "x.SyntheticEmotionDataModule"}}),
                   job / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"fusion={fusion}", f"seed={seed}", "dataset=synthetic_emotion", *extra]),
                   job / ".hydra" / "overrides.yaml")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if error is not None:
        (job / "error.json").write_text(json.dumps({"error_type": error[0], "message": error[1]}))
    return job


def read_rows(path):
    with path.open() as f:
        return {r["fusion"]: r for r in csv.DictReader(f)}


def test_mean_and_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([0.5]) == (0.5, None)  # one seed has no spread


def test_a_single_seed_shows_its_value_alone(tmp_path):
    """n = 1: `0.6000`, not `0.6000 ± 0.0000` (which reads as a measured zero spread)."""
    sweep = tmp_path / "sweep"
    fake_job(sweep, 0, "gan", 1, {"test/f1_mean": 0.6, "test/bleu": 31.25})
    fake_job(sweep, 1, "auto", 1, {"test/f1_mean": 0.5})
    fake_job(sweep, 2, "auto", 2, {"test/f1_mean": 0.7})
    paths = collect(sweep)
    md = paths["md"].read_text()
    assert "| gan | 1 | 31.25 | 0.6000 |" in md
    assert "| auto | 2 | – | 0.6000 ± 0.1414 |" in md
    rows = read_rows(paths["csv"])
    assert rows["gan"]["test/f1_mean_mean"] == "0.6" and rows["gan"]["test/f1_mean_std"] == ""
    assert paths["png"].is_file()


def test_tables_from_job_folders(tmp_path):
    sweep = tmp_path / "sweep"
    values = {("auto", 1): 0.5, ("auto", 2): 0.7, ("gan", 1): 0.6, ("gan", 2): 0.9}
    for num, ((fusion, seed), f1) in enumerate(values.items()):
        fake_job(sweep, num, fusion, seed, {"test/f1_mean": f1, "test/acc_mean": f1 + 0.1, "test/loss": 1.0,
                                            "test/num_samples": 75.0, "val/f1_mean": 0.1})
    fake_job(sweep, 4, "tfn", 1, error=("NumericalError", "loss term(s) ['task'] became non-finite"))
    fake_job(sweep, 5, "tfn", 2)  # killed: neither metrics.json nor error.json
    paths = collect(sweep, tmp_path / "out")
    rows = read_rows(paths["csv"])
    assert set(rows) == {"auto", "gan"}  # failed jobs make no row
    assert float(rows["gan"]["test/f1_mean_mean"]) == pytest.approx(0.75)
    assert float(rows["gan"]["test/f1_mean_std"]) == pytest.approx(statistics.stdev([0.6, 0.9]))
    assert rows["auto"]["n"] == "2"
    assert "test/loss_mean" not in rows["auto"] and "val/f1_mean_mean" not in rows["auto"]
    md = paths["md"].read_text()
    assert "| gan | 2 | 0.8500 ± 0.2121 | 0.7500 ± 0.2121 |" in md  # columns sorted: acc_mean, f1_mean
    failed = md.split("## Failed jobs")[1]
    assert "4_synthetic_emotion_tfn" in failed and "NumericalError" in failed
    assert "5_synthetic_emotion_tfn" in failed and "unfinished" in failed
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_swept_options_split_rows(tmp_path):
    sweep = tmp_path / "sweep"
    for num, (w, seed) in enumerate([(0.5, 1), (0.5, 2), (2.0, 1)]):
        fake_job(sweep, num, "gan", seed, {"test/f1_mean": w}, extra=[f"fusion.adv_weight={w}"])
    rows = read_rows(collect(sweep)["csv"])
    assert set(rows) == {"gan fusion.adv_weight=0.5", "gan fusion.adv_weight=2.0"}
    assert rows["gan fusion.adv_weight=0.5"]["n"] == "2"


def test_empty_folder_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/collect_results.py", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "no job folders" in proc.stderr


@pytest.mark.slow
def test_collect_a_real_multirun(small_multirun, tmp_path):
    sweep_dir, proc = small_multirun
    assert proc.returncode == 0, explain(proc)
    sweep = tmp_path / sweep_dir.name
    shutil.copytree(sweep_dir, sweep, ignore=shutil.ignore_patterns("wandb", "checkpoints"))
    # one job that failed after writing its error (as run_guarded leaves it)
    broken = sweep / "9_synthetic_mt_gan"
    shutil.copytree(sorted(sweep.glob("*_gan"))[0], broken)
    (broken / "metrics.json").unlink()
    (broken / "error.json").write_text(json.dumps({"error_type": "CheckpointError", "message": "disk full"}))

    out = tmp_path / "tables"
    cli = subprocess.run([sys.executable, "scripts/collect_results.py", str(sweep), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    rows = read_rows(out / "results.csv")
    assert set(rows) == set(MULTIRUN_FUSIONS)
    for fusion in MULTIRUN_FUSIONS:
        bleu = [json.loads((job / "metrics.json").read_text())["test/bleu"]
                for job in sorted(sweep.glob(f"*_{fusion}")) if (job / "metrics.json").is_file()]
        assert len(bleu) == len(MULTIRUN_SEEDS)
        assert rows[fusion]["n"] == str(len(MULTIRUN_SEEDS))
        assert float(rows[fusion]["test/bleu_mean"]) == pytest.approx(statistics.mean(bleu))
        assert float(rows[fusion]["test/bleu_std"]) == pytest.approx(statistics.stdev(bleu))
    md = (out / "results.md").read_text()
    assert "## synthetic_mt" in md and "test/bleu" in md
    assert "9_synthetic_mt_gan" in md.split("## Failed jobs")[1] and "disk full" in md
    assert (out / "results.png").stat().st_size > 1000
