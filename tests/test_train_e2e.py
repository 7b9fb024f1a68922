"""End to end through train(): a fast_dev_run of every fusion on every embedded dataset, metrics.json,
seeded reproducibility, and eval.py reproducing a run's test metrics from its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fusionlab.cli import train
from tests.conftest import CONF_DIR, ROOT

EMBEDDED = ["synthetic_mt", "synthetic_emotion"]
FUSIONS = sorted(p.stem for p in (CONF_DIR / "fusion").glob("*.yaml"))
SMALL = ["latent_dim=32", "logger=none", "callbacks.progress_bar=null", "dataset.batch_size=32"]


@pytest.mark.parametrize("dataset", EMBEDDED)
@pytest.mark.parametrize("fusion", FUSIONS)
def test_fast_dev_run_every_fusion_on_every_embedded_dataset(compose, tmp_path, dataset, fusion):
    cfg = compose(f"dataset={dataset}", f"fusion={fusion}", "debug=fdr", *SMALL)
    train(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    key = "test/bleu" if dataset == "synthetic_mt" else "test/f1_mean"
    assert key in metrics
    assert metrics["params/total"] > 0


LIMITED = ["trainer.max_epochs=2", "trainer.limit_train_batches=6", "trainer.limit_val_batches=2",
           "dataset.batch_size=32", "latent_dim=32", "logger=none", "callbacks.progress_bar=null"]


def test_same_seed_gives_identical_metrics(compose, tmp_path):
    results = []
    for run in range(2):
        cfg = compose("dataset=synthetic_mt", "fusion=gan", "seed=7", *LIMITED)
        cfg.paths.output_dir = str(tmp_path / f"run{run}")
        train(cfg)
        results.append(json.loads((tmp_path / f"run{run}" / "metrics.json").read_text()))
    tests = [{k: v for k, v in r.items() if k.startswith(("test/", "val/"))} for r in results]
    assert tests[0] and tests[0] == tests[1]


def run_cli(script: str, *args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_eval_reproduces_test_metrics_from_checkpoint(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    proc = run_cli("train.py", "dataset=synthetic_emotion", "fusion=auto", *LIMITED,
                   f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}", "logger=wandb")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert list((run_dir / "wandb").glob("offline-run-*")), "an offline W&B run is written"
    eval_dir = tmp_path / "eval"
    proc = run_cli("eval.py", f"ckpt_path={run_dir}/checkpoints/best.ckpt", f"hydra.run.dir={eval_dir}",
                   f"paths.data_dir={data_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    test_keys = [k for k in trained if k.startswith("test/")]
    assert test_keys
    for k in test_keys:
        assert evaluated[k] == pytest.approx(trained[k], abs=1e-6), k

    # robustness curve: level 0 is the clean result; noise on the audio changes the metric
    curve_dir = tmp_path / "curve"
    proc = run_cli("eval.py", f"ckpt_path={run_dir}/checkpoints/best.ckpt", f"hydra.run.dir={curve_dir}",
                   f"paths.data_dir={data_dir}",
                   "corrupt={modality: audio, mode: gaussian, levels: [0, 3]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    curve = json.loads((curve_dir / "robustness.json").read_text())
    assert [c["level"] for c in curve["curve"]] == [0.0, 3.0]
    assert curve["curve"][0]["f1_mean"] == pytest.approx(trained["test/f1_mean"], abs=1e-6)
    assert (curve_dir / "robustness.png").stat().st_size > 0


def test_checkpoint_loads_with_weights_only(compose, tmp_path):
    import torch

    cfg = compose("dataset=synthetic_emotion", "fusion=gan", *LIMITED)
    train(cfg)
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(tmp_path / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert "state_dict" in ckpt and ckpt["fusionlab"]["fusion"] == "GANFusion"


def test_help_is_fast_and_lists_groups():
    proc = run_cli("train.py", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "fusion:" in proc.stdout and "dataset:" in proc.stdout
    assert "torch" not in proc.stderr


@pytest.mark.gpu
@pytest.mark.parametrize("dataset", EMBEDDED)
def test_gpu_bf16_fast_dev_run(compose, tmp_path, dataset):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    cfg = compose(f"dataset={dataset}", "fusion=gan", "trainer=gpu", "trainer.fast_dev_run=true", *SMALL)
    train(cfg)
    assert (tmp_path / "metrics.json").is_file()
