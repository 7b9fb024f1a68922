"""Runs written before a fusion option existed still evaluate as they were trained: eval.py fills the
option with the value those runs used (fusionlab/run/old_runs.py), not today's default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fusionlab.run.old_runs import ADDED_OPTIONS, upgrade_run_config

ROOT = Path(__file__).resolve().parents[1]
AUTO = "fusionlab.fusion.auto.AutoFusion"


def test_a_missing_option_takes_the_value_old_runs_were_trained_with():
    old = OmegaConf.create({"fusion": {"_target_": AUTO, "_partial_": True, "recon_weight": 1.0,
                                       "detach_target": True}})
    fusion = upgrade_run_config(old).fusion
    assert fusion.compressor_norm == ADDED_OPTIONS[AUTO]["compressor_norm"] == "none"
    assert fusion.recon_weight == 1.0  # what the run stated is kept (today's default is 3)


def test_a_tfn_run_from_before_out_norm_keeps_the_reference_output():
    # the LayerNorm has no weights, so a checkpoint would load either way and silently score differently
    tfn = "fusionlab.fusion.tfn.TensorFusion"
    old = OmegaConf.create({"fusion": {"_target_": tfn, "_partial_": True, "tfn_dim": 32, "hidden": 128,
                                       "dropout": 0.2, "max_product_size": 131072}})
    fusion = upgrade_run_config(old).fusion
    assert fusion.out_norm == "none" and fusion.tfn_dim == 32
    assert OmegaConf.load(ROOT / "conf" / "fusion" / "tfn.yaml").out_norm == "layer"  # today's default


def test_a_stated_option_and_other_fusions_are_left_alone():
    stated = OmegaConf.create({"fusion": {"_target_": AUTO, "compressor_norm": "layer"}})
    assert upgrade_run_config(stated).fusion.compressor_norm == "layer"
    no_fusion = OmegaConf.create({"seed": 1})
    assert upgrade_run_config(no_fusion) == OmegaConf.create({"seed": 1})


def cli(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_an_autofusion_run_from_before_compressor_norm_evaluates_to_its_own_numbers(tmp_path):
    trained = cli("train.py", "dataset=synthetic_emotion", "fusion=auto", "fusion.compressor_norm=none",
                  "max_epochs=1", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    (run,) = tmp_path.glob("outputs/runs/*/*")
    config = run / ".hydra" / "config.yaml"
    cfg = OmegaConf.load(config)
    del cfg.fusion["compressor_norm"]  # the run folder as the version before the option wrote it
    OmegaConf.save(cfg, config)
    evaluated = cli("eval.py", f"ckpt_path={run}/checkpoints/best.ckpt", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (eval_dir,) = tmp_path.glob("outputs/evals/*/*")
    before = json.loads((run / "metrics.json").read_text())
    after = json.loads((eval_dir / "metrics.json").read_text())
    assert after["test/f1_mean"] == before["test/f1_mean"]


def test_a_regression_run_from_before_regressiontask_gets_it():
    old = OmegaConf.create({"task": {"_target_": "fusionlab.tasks.classification.ClassificationTask",
                                     "protocol": "mult", "monitor": "val/mae", "monitor_mode": "min",
                                     "head": {"hidden": 128, "dropout": 0.2}}})
    task = upgrade_run_config(old).task
    assert task._target_ == "fusionlab.tasks.regression.RegressionTask" and "protocol" not in task
    assert task.head.hidden == 128 and task.monitor == "val/mae"
    classification = OmegaConf.create({"task": {"_target_": "fusionlab.tasks.classification.ClassificationTask",
                                                "protocol": "mult", "monitor": "val/f1_mean"}})
    assert upgrade_run_config(classification).task.protocol == "mult"  # left alone
