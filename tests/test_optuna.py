"""hparams_search=optuna: train() returns the optimized metric to the sweeper; a failing trial is
recorded (error.json, Optuna state FAIL) and the study goes on; the search configs compose."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import compose_train
from tests.scaleout_support import TINY, dataset_args, explain, run_train

# lr from {0.001, -1}: -1 makes torch.optim.Adam raise. With TPE seed 0 (optuna 2.x, pinned by
# hydra-optuna-sweeper 1.3.0) the first trial draws -1 and fails, the second 0.001 and finishes.
SEARCH = ["task.optimizer.lr=choice(0.001,-1.0)", "hydra.sweeper.sampler.seed=0",
          # the other searched options fixed
          "latent_dim=32", "fusion.adv_weight=1.0", "encoder.text.dropout=0.1"]


@pytest.mark.slow
def test_two_trial_study_survives_a_failing_trial(tmp_path):
    sweep_dir = tmp_path / "study"
    proc = run_train("-m", "hparams_search=optuna", *dataset_args("synthetic_emotion", tmp_path / "data"),
                     *TINY, "trainer.limit_val_batches=2", "logger=none", "hydra.sweeper.n_trials=2",
                     *SEARCH, f"hydra.sweep.dir={sweep_dir}")
    assert proc.returncode == 1, explain(proc)  # the study finished, one of its trials failed
    assert f"fusionlab: sweep {sweep_dir}: 1 finished, 1 failed" in proc.stderr
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir())
    assert len(jobs) == 2
    failed = [j for j in jobs if (j / "error.json").is_file()]
    finished = [j for j in jobs if (j / "metrics.json").is_file()]
    assert len(failed) == 1 and len(finished) == 1, explain(proc)
    assert "lr=-1.0" in (failed[0] / ".hydra" / "overrides.yaml").read_text()
    assert "task.optimizer.lr=-1.0" in json.loads((failed[0] / "error.json").read_text())["message"]

    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    metrics = json.loads((finished[0] / "metrics.json").read_text())
    assert results["best_params"]["task.optimizer.lr"] == 0.001
    # the value the study saw is what train() returned: the best checkpoint's val/f1_mean
    assert results["best_value"] == pytest.approx(metrics["val/f1_mean"], abs=1e-6)


@pytest.mark.parametrize("search,fusion", [("optuna", "GANFusion"), ("optuna_any", "TensorFusion")])
def test_search_configs(tmp_path, search, fusion):
    from hydra.core.hydra_config import HydraConfig

    overrides = [f"hparams_search={search}"] + (["fusion=tfn"] if search == "optuna_any" else [])
    cfg = compose_train(overrides, tmp_path, tmp_path)
    sweeper = HydraConfig.get().sweeper
    assert cfg.fusion._target_.endswith(fusion)
    assert sweeper.max_failure_rate == 1.0  # failed trials never stop the study
    assert sweeper.direction == "maximize"  # val/bleu on the default dataset
    assert ("fusion.adv_weight" in sweeper.params) == (search == "optuna")
    assert cfg.optimized_metric == cfg.task.monitor


def test_non_finite_metric_is_returned_as_none(tmp_path):
    """NaN would stop hydra-optuna-sweeper 1.3.0; None makes a FAILED trial and the study goes on."""
    from types import SimpleNamespace

    from fusionlab.run.metrics_file import optimized_value

    cfg = compose_train([], tmp_path, tmp_path)
    ckpt = SimpleNamespace(monitor=cfg.optimized_metric, best_model_score=None)
    trainer = SimpleNamespace(checkpoint_callback=ckpt)
    assert optimized_value(cfg, trainer, {cfg.optimized_metric: float("nan")}) is None
    assert optimized_value(cfg, trainer, {cfg.optimized_metric: 12.5}) == 12.5
    ckpt.best_model_score = 30.0
    assert optimized_value(cfg, trainer, {cfg.optimized_metric: 12.5}) == 30.0
