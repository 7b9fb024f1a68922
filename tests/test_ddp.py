"""DDP on CPU (gloo, 2 processes): metrics over exactly the evaluation set, GAN-Fusion's manual
optimization, rank-0-only files, loadable checkpoints; `strategy=ddp` through a subprocess (it
re-executes the command line), `ddp_spawn` in-process."""

from __future__ import annotations

import json

import pytest

from tests.conftest import compose_train
from tests.scaleout_support import SIZES, TINY, dataset_args, explain, offline_runs, read_offline_run, run_train

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def ddp_data(tmp_path_factory):
    return tmp_path_factory.mktemp("ddp_data")


def assert_checkpoint_loads(run_dir, run_cfg=None):
    """best.ckpt reads with weights_only=True and loads into the model the run's config builds."""
    import torch

    from fusionlab.run.build import build_datamodule, build_model
    from fusionlab.run.checkpoints import load_weights, run_config_of

    best = run_dir / "checkpoints" / "best.ckpt"
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    assert ckpt["fusionlab"]["fusion"] == "GANFusion"
    run_cfg = run_cfg if run_cfg is not None else run_config_of(best)
    model = build_model(run_cfg, build_datamodule(run_cfg.dataset).spec)
    load_weights(model, best)
    key = next(iter(ckpt["state_dict"]))
    assert torch.equal(model.state_dict()[key], ckpt["state_dict"][key])


def test_ddp_subprocess_translation_gan(tmp_path, ddp_data):
    """trainer=ddp_cpu: Lightning re-executes `python train.py ...` for rank 1."""
    run_dir = tmp_path / "run"
    proc = run_train("trainer=ddp_cpu", "fusion=gan", *dataset_args("synthetic_mt", ddp_data), *TINY,
                     f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, explain(proc)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # gathered across both ranks and de-duplicated: exactly the split, though 75 and 91 are odd
    assert metrics["test/num_samples"] == SIZES["synthetic_mt"]["test"]
    assert metrics["val/num_samples"] == SIZES["synthetic_mt"]["val"]
    assert "test/bleu" in metrics and "test/loss_adv_g" in metrics
    # rank 0 alone writes: one W&B run, one set of plots, a log without rank-1 lines
    (wandb_run,) = offline_runs(run_dir)
    assert "test/latent_gan/_type" in read_offline_run(wandb_run).history_keys
    assert (run_dir / "plots" / "test_latent_gan.png").is_file()
    assert "rank: 1" not in (run_dir / "train.log").read_text()
    assert_checkpoint_loads(run_dir)


def test_ddp_spawn_in_process_classification_gan(tmp_path, ddp_data):
    """trainer=ddp_spawn_cpu: workers spawned inside this (pytest) process, fit and test."""
    from fusionlab.cli import train

    cfg = compose_train(["trainer=ddp_spawn_cpu", "fusion=gan", "logger=none",
                         *dataset_args("synthetic_emotion", ddp_data), *TINY], tmp_path, ddp_data)
    value = train(cfg)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test/num_samples"] == SIZES["synthetic_emotion"]["test"]
    assert metrics["val/num_samples"] == SIZES["synthetic_emotion"]["val"]
    assert "test/f1_mean" in metrics and "test/loss_adv_g" in metrics
    assert value is not None and 0.0 <= value <= 1.0  # the optimized metric (val/f1_mean)
    assert (tmp_path / "plots" / "test_confusion.png").is_file()
    assert_checkpoint_loads(tmp_path, cfg)
