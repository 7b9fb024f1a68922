"""Trainer options: the Lightning options users reach for are declared with Lightning's own defaults
(no `+` needed); debug configs keep the chosen accelerator; a GPU trainer without a GPU is one line."""

from __future__ import annotations

import inspect
import json

import pytest
import torch

from tests.cli_support import EMOTION, error_lines, run_cli, run_folders
from tests.conftest import CONF_DIR
from tests.scaleout_support import explain

DECLARED = ["max_steps", "max_time", "limit_train_batches", "limit_val_batches", "limit_test_batches",
            "fast_dev_run", "val_check_interval", "accumulate_grad_batches", "gradient_clip_val",
            "num_nodes", "overfit_batches", "strategy", "detect_anomaly", "gradient_clip_algorithm"]
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # as on a machine without one


def test_declared_trainer_options_have_lightnings_defaults(compose):
    import lightning as L

    defaults = inspect.signature(L.Trainer.__init__).parameters
    cfg = compose()
    for key in DECLARED:
        assert cfg.trainer[key] == defaults[key].default, key
    assert cfg.trainer.precision == "32-true"  # what Lightning's precision=None means on CPU


@pytest.mark.parametrize("debug", sorted(p.stem for p in (CONF_DIR / "debug").glob("*.yaml")))
@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp", "ddp_cpu"])
def test_debug_configs_keep_the_chosen_accelerator_and_precision(compose, trainer, debug):
    plain, debugged = compose(f"trainer={trainer}"), compose(f"trainer={trainer}", f"debug={debug}")
    for key in ("accelerator", "devices", "precision", "strategy"):
        assert debugged.trainer[key] == plain.trainer[key], key


@pytest.mark.parametrize("args,names", [(["trainer=gpu", "debug=fdr"], "trainer=cpu"),
                                        (["trainer=ddp"], "trainer=ddp_cpu")], ids=["gpu-debug", "ddp"])
def test_gpu_trainer_without_a_gpu_is_one_line_naming_the_cpu_trainer(tmp_path, args, names):
    proc = run_cli("train.py", *EMOTION, *args, "logger=none", cwd=tmp_path, env=NO_GPU)
    assert proc.returncode == 1, explain(proc)
    (line,) = error_lines(proc)
    assert "no CUDA GPU was found" in line and names in line and args[0] in line, line
    assert "Traceback" not in proc.stderr and "No supported gpu backend" not in proc.stderr
    assert not run_folders(tmp_path)  # the failed start left no empty run folder


@pytest.mark.slow
def test_trainer_options_from_the_docs_work_without_plus(tmp_path):
    """`trainer.max_time=00:00:20:00` as typed in the README, `trainer.max_steps=3`, the limits."""
    proc = run_cli("train.py", *EMOTION, "fusion=concat", "logger=none", "trainer.max_time=00:00:20:00",
                   "trainer.max_steps=3", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                   "trainer.val_check_interval=1.0", "trainer.accumulate_grad_batches=1",
                   "trainer.gradient_clip_val=1.0", "trainer.num_nodes=1", cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    (run,) = run_folders(tmp_path)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3  # max_steps stopped the 2-batch epochs after the 3rd step
    assert json.loads((run / "metrics.json").read_text())["test/num_samples"] == 32
