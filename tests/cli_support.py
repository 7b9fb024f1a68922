"""`python train.py|eval.py ...` as a user types it: from a fresh working directory, default output
folders (``./outputs``), default data folder (``./data``), W&B offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# a small synthetic_emotion run: 2 train batches, tiny model
EMOTION = ["dataset=synthetic_emotion", "dataset.train_size=64", "dataset.val_size=32",
           "dataset.test_size=32", "dataset.batch_size=32", "latent_dim=16", "callbacks.progress_bar=null"]
TRANSLATION = ["dataset=synthetic_mt", "dataset.sizes={train:64,val:16,test_2016_flickr:16}",
               "dataset.batch_size=32", "latent_dim=16", "task.generation.max_len=8",
               "task.generation.beam_size=2", "callbacks.progress_bar=null"]


def run_cli(script: str, *args: str, cwd: Path, env: dict | None = None, timeout: int = 300,
            preexec_fn=None) -> subprocess.CompletedProcess:
    """Run ``python <ROOT>/<script> <args>`` in ``cwd``; ``env`` entries set (None: removed)."""
    full = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore",
            "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "RANK", "FUSIONLAB_DATA", "HYDRA_FULL_ERROR"):
        full.pop(key, None)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec_fn)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """The ``fusionlab: error:`` lines of stdout and stderr."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("fusionlab: error:")]


def run_folders(cwd: Path) -> list[Path]:
    """Single-run folders under ``cwd/outputs/runs/<date>/``."""
    return sorted(p for p in (cwd / "outputs" / "runs").glob("*/*") if p.is_dir())
