"""Resuming a killed run: same metrics as an uninterrupted run (end-of-epoch checkpoints), the same
W&B run, step checkpoints (every_n_train_steps), and checkpoints that survive a kill during a save."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from fusionlab.cli import train
from fusionlab.run.wandb_identity import WANDB_ID_FILE
from tests.conftest import ROOT, compose_train
from tests.fault_injection import tiny_dataset_dir

# tests/tiny.py data: 96 train samples, batch 16 -> 6 steps per epoch
STEPS_PER_EPOCH = 6
TINY = ["dataset=tiny", "latent_dim=16", "callbacks.progress_bar=null", "seed=5"]


@pytest.fixture(scope="module")
def searchpath(tmp_path_factory) -> str:
    return f"hydra.searchpath=[file://{tiny_dataset_dir(tmp_path_factory.mktemp('conf'))}]"


def eval_metrics(run_dir) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}


def run_train(fault: str, *overrides: str) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` with one fault from tests/fault_injection.py."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "tests.fault_injection", fault, *overrides], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def test_resume_from_epoch_checkpoint_matches_uninterrupted_run(tmp_path, searchpath):
    """GAN-Fusion (manual optimization, noise, dropout, shuffled batches): run 1 epoch, resume to 3."""
    base = [searchpath, *TINY, "fusion=gan", "logger=none"]
    train(compose_train(base + ["trainer.max_epochs=3"], tmp_path / "full", tmp_path))
    train(compose_train(base + ["trainer.max_epochs=1", "test=false"], tmp_path / "part", tmp_path))
    train(compose_train(base + ["trainer.max_epochs=3", "ckpt_path=last"], tmp_path / "part", tmp_path))
    full, resumed = eval_metrics(tmp_path / "full"), eval_metrics(tmp_path / "part")
    assert full and full == resumed


def test_resume_without_rng_state_differs(tmp_path, searchpath):
    """Guards the test above: without the saved RNG state the resumed run draws other shuffles."""
    base = [searchpath, *TINY, "fusion=gan", "logger=none", "callbacks.model_checkpoint.save_rng_state=false"]
    train(compose_train(base + ["trainer.max_epochs=2"], tmp_path / "full", tmp_path))
    train(compose_train(base + ["trainer.max_epochs=1", "test=false"], tmp_path / "part", tmp_path))
    train(compose_train(base + ["trainer.max_epochs=2", "ckpt_path=last"], tmp_path / "part", tmp_path))
    assert eval_metrics(tmp_path / "full") != eval_metrics(tmp_path / "part")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run_and_wandb_run(tmp_path, searchpath):
    common = [searchpath, *TINY, "fusion=auto", "trainer.max_epochs=3", "logger=wandb"]
    ref = run_train("none", *common, f"hydra.run.dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-3000:]

    run_dir = tmp_path / "killed"
    killed = run_train(f"kill-at-step={STEPS_PER_EPOCH + 3}", *common, f"hydra.run.dir={run_dir}")
    assert killed.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == STEPS_PER_EPOCH  # the end of epoch 1: what the kill cannot lose
    run_id = (run_dir / WANDB_ID_FILE).read_text().strip()

    resumed = run_train("none", *common, f"hydra.run.dir={run_dir}", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert eval_metrics(run_dir) == eval_metrics(tmp_path / "ref")
    assert (run_dir / WANDB_ID_FILE).read_text().strip() == run_id
    wandb_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and all(p.name.endswith(run_id) for p in wandb_runs)


@pytest.mark.slow
def test_step_checkpoints_lose_little_and_resume_the_step(tmp_path, searchpath):
    """every_n_train_steps=2: a kill at step 9 keeps step 8; the resumed run trains the remaining
    steps only (mid-epoch resumption is not bit-exact: the rest of the epoch is reshuffled)."""
    run_dir = tmp_path / "run"
    common = [searchpath, *TINY, "fusion=auto", "trainer.max_epochs=2", "logger=none",
              "callbacks.model_checkpoint.every_n_train_steps=2", f"hydra.run.dir={run_dir}"]
    killed = run_train("kill-at-step=9", *common)
    assert killed.returncode == -signal.SIGKILL
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 8
    resumed = run_train("none", *common, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert final["global_step"] == 2 * STEPS_PER_EPOCH
    assert "test/f1_mean" in eval_metrics(run_dir)


@pytest.mark.slow
def test_sigkill_during_checkpoint_save_keeps_previous_checkpoint(tmp_path, searchpath):
    """The 3rd file write (epoch 2's best.ckpt or last.ckpt) is cut in half by a SIGKILL: the
    checkpoints on disk stay whole, the half-written temporary is removed on resume."""
    run_dir = tmp_path / "run"
    common = [searchpath, *TINY, "fusion=auto", "trainer.max_epochs=3", "logger=none",
              f"hydra.run.dir={run_dir}"]
    killed = run_train("kill-in-save=3", *common)
    assert killed.returncode == -signal.SIGKILL
    ckpt_dir = run_dir / "checkpoints"
    leftovers = list(ckpt_dir.glob(".*.tmp-*"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    for name in ("best.ckpt", "last.ckpt"):
        ckpt = torch.load(ckpt_dir / name, map_location="cpu", weights_only=True)
        assert ckpt["global_step"] == STEPS_PER_EPOCH
    resumed = run_train("none", *common, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not list(ckpt_dir.glob(".*.tmp-*"))
    assert torch.load(ckpt_dir / "last.ckpt", weights_only=True)["global_step"] == 3 * STEPS_PER_EPOCH


def test_last_checkpoint_is_fresh_real_file_and_link_is_refused(tmp_path, searchpath):
    """A monitor that never improves after epoch 1 (val/num_samples is constant): best.ckpt stays at
    epoch 1, last.ckpt must still follow every epoch (Lightning 2.6 alone leaves it at epoch 1)."""
    from fusionlab.callbacks.checkpoint import AtomicModelCheckpoint
    from fusionlab.errors import ConfigError

    train(compose_train([searchpath, *TINY, "fusion=concat", "logger=none", "trainer.max_epochs=3",
                         "task.monitor=val/num_samples", "task.monitor_mode=max", "test=false"],
                        tmp_path, tmp_path))
    last, best = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "checkpoints" / "best.ckpt"
    assert last.is_file() and not last.is_symlink()
    assert torch.load(best, weights_only=True)["global_step"] == STEPS_PER_EPOCH
    assert torch.load(last, weights_only=True)["global_step"] == 3 * STEPS_PER_EPOCH
    with pytest.raises(ConfigError, match="save_last=true"):
        AtomicModelCheckpoint(dirpath=str(tmp_path), save_last="link")
