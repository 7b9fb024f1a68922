"""scripts/replay_best.py on a fabricated Optuna sweep folder."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import ROOT

BEST = {"task.optimizer.lr": 0.0021, "latent_dim": 24}


def fabricate_study(sweep, data_dir):
    """What `train.py -m hparams_search=optuna_any fusion=concat dataset=synthetic_emotion ...` leaves:
    optimization_results.yaml and trial folders with .hydra/{overrides,hydra}.yaml."""
    sweep.mkdir(parents=True)
    (sweep / "optimization_results.yaml").write_text(yaml.safe_dump(
        {"name": "optuna", "best_params": BEST, "best_value": 0.71}))
    for n, (lr, dim) in enumerate([(0.0005, 64), (0.0021, 24)]):
        hydra_dir = sweep / str(n) / ".hydra"
        hydra_dir.mkdir(parents=True)
        overrides = ["hparams_search=optuna_any", "dataset=synthetic_emotion", f"paths.data_dir={data_dir}",
                     "++dataset.train_size=96", "++dataset.val_size=32", "++dataset.test_size=32",
                     "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "logger=none",
                     "callbacks.progress_bar=null", f"task.optimizer.lr={lr}", f"latent_dim={dim}", "seed=42"]
        (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        # the search config had selected fusion=concat through its defaults, not the command line
        choices = {"dataset": "synthetic_emotion", "fusion": "concat", "task": "classification",
                   "encoder": "default", "hparams_search": "optuna_any", "experiment": None}
        OmegaConf.save(OmegaConf.create({"hydra": {"runtime": {"choices": choices}}}), hydra_dir / "hydra.yaml")


def replay(*args, timeout=300):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "scripts/replay_best.py", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_command_replays_the_best_parameters_without_the_search(tmp_path):
    fabricate_study(tmp_path / "study", tmp_path / "data")
    proc = replay(tmp_path / "study", "--seeds", "1,2", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[:3] == ["python", "train.py", "-m"]
    assert "task.optimizer.lr=0.0021" in words and "latent_dim=24" in words and "seed=1,2" in words
    assert "fusion=concat" in words and "dataset=synthetic_emotion" in words
    assert not any(w.startswith(("hparams_search", "task.optimizer.lr=0.0005", "latent_dim=64", "seed=42"))
                   for w in words)


def test_missing_results_file_is_one_clear_error(tmp_path):
    proc = replay(tmp_path, "--dry-run")
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith("fusionlab: error:") and "optimization_results.yaml" in proc.stderr


@pytest.mark.slow
def test_replay_runs_every_seed_and_writes_the_table(tmp_path):
    fabricate_study(tmp_path / "study", tmp_path / "data")
    out = tmp_path / "replay"
    proc = replay(tmp_path / "study", "--seeds", "1,2", "--out", out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    jobs = sorted(p for p in (out / "train").iterdir() if (p / "metrics.json").is_file())
    assert len(jobs) == 2
    configs = [OmegaConf.load(j / ".hydra" / "config.yaml") for j in jobs]
    assert sorted(c.seed for c in configs) == [1, 2]
    assert all(c.task.optimizer.lr == 0.0021 and c.latent_dim == 24 for c in configs)
    assert all(c.fusion._target_.endswith("ConcatFusion") for c in configs)
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["fusion"], r["n"]) for r in rows] == [("concat", "2")]
    md = (out / "results.md").read_text()
    assert "± " in md and "task.optimizer.lr" in md and "python train.py -m" in md
