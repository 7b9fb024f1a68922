"""Run ``train.py`` with one injected fault (test helper, not a test).

    python -m tests.fault_injection <fault> [train.py overrides ...]

Faults (N counts from 0 for steps, from 1 for saves):
- ``kill-at-step=N``: SIGKILL the process when training step N starts (mid-epoch, nothing flushed);
- ``kill-in-save=N``: at the N-th checkpoint file write, write half of the bytes, fsync, SIGKILL;
- ``disk-full-in-save=N``: from the N-th checkpoint file write on, the disk fills up halfway
  through (``OSError(ENOSPC)``);
- ``nan-at-step=N``: the task loss is NaN from global step N on;
- ``none``: no fault (the uninterrupted reference run, in an identical process).

Also provides :func:`tiny_dataset_dir`, a config folder with ``dataset=tiny`` (tests/tiny.py data),
to put on Hydra's search path.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from pathlib import Path

TINY_DATASET = """\
# @package _global_
defaults:
  - override /task: classification
dataset:
  _target_: tests.tiny.TinyEmotionDataModule
  n: 96
  batch_size: 16
  seed: ${seed}
"""


def tiny_dataset_dir(folder: Path) -> Path:
    """Write <folder>/dataset/tiny.yaml and return <folder> (for hydra.searchpath=[file://...])."""
    (folder / "dataset").mkdir(parents=True, exist_ok=True)
    (folder / "dataset" / "tiny.yaml").write_text(TINY_DATASET)
    return folder


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class FullDisk:
    """A file whose disk has ``room`` bytes left: a write past them raises OSError(ENOSPC)."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.f.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


def install(fault: str) -> None:
    import torch

    from fusionlab.tasks.base import FusionTask

    name, _, arg = fault.partition("=")
    if name == "none":
        return
    n = int(arg)
    if name == "kill-at-step":
        original = FusionTask.training_step

        def training_step(self, batch, batch_idx):
            if self.global_step == n:
                _die()
            return original(self, batch, batch_idx)

        FusionTask.training_step = training_step
    elif name == "nan-at-step":
        original_losses = FusionTask.losses

        def losses(self, batch):
            terms, out, encoded = original_losses(self, batch)
            if self.training and self.global_step >= n:
                terms = {**terms, "task": terms["task"] * float("nan")}
                terms["total"] = terms["task"]
            return terms, out, encoded

        FusionTask.losses = losses
    elif name == "kill-in-save":
        real_save = torch.save
        calls = {"n": 0}

        def save(obj, f, *args, **kwargs):
            if not hasattr(f, "write") or isinstance(f, io.BytesIO):
                return real_save(obj, f, *args, **kwargs)
            calls["n"] += 1
            if calls["n"] < n:
                return real_save(obj, f, *args, **kwargs)
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            _die()

        torch.save = save
    elif name == "disk-full-in-save":
        real_save = torch.save
        saves = {"n": 0}

        def save(obj, f, *args, **kwargs):
            if hasattr(f, "write") and not isinstance(f, io.BytesIO):
                saves["n"] += 1
                if saves["n"] >= n:
                    size = io.BytesIO()
                    real_save(obj, size, *args, **kwargs)
                    f = FullDisk(f, len(size.getvalue()) // 2)
            return real_save(obj, f, *args, **kwargs)

        torch.save = save
    else:
        raise SystemExit(f"unknown fault {fault!r}")


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = ["train.py", *sys.argv[2:]]
    from fusionlab.cli import train_main

    train_main()
