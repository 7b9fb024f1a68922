"""Checkpoints that survive kills and bad numbers, and resume exactly at epoch boundaries.

What Lightning 2.6 already does: ``lightning.fabric.utilities.cloud_io._atomic_save`` serialises the
checkpoint to memory, then writes it through an fsspec transaction. On a local disk that transaction
writes to a file from ``tempfile.mkstemp()`` (the *system* temp folder) and commits with
``shutil.move``: when /tmp is another file system (tmpfs, a container overlay, a cluster's node-local
disk) the move is a copy into the final name, so a SIGKILL or a full disk during that copy leaves a
truncated ``last.ckpt``; nothing is fsynced either, so a power loss can leave an empty file.

What :class:`AtomicModelCheckpoint` adds:

- saves go to ``.<name>.tmp-<pid>`` *in the checkpoint folder*, are flushed and fsynced, then
  ``os.replace``-d over the target (one atomic rename), and the folder is fsynced; leftovers of a
  killed save are deleted at the next start. A reader sees the old file or the new one, never half;
- ``last.ckpt`` is a real file (``save_last=True``; ``"link"``, a symlink to the best file, is refused
  because deleting or replacing its target breaks resuming) and is refreshed at *every* epoch end:
  Lightning 2.6 rewrites it only when a new top-k file was written at the same step, so after an
  epoch without a new best it is stale and a resumed run repeats epochs;
- a model whose parameters are NaN/inf is never written: :class:`~fusionlab.errors.NumericalError`
  is raised instead, so the last good checkpoint survives a diverging run;
- the checkpoint holds the RNG states (torch, CUDA, numpy, python) of the moment it was written and
  restores them on resume, so a run resumed from an end-of-epoch checkpoint draws the same shuffles,
  dropout masks and noise as one that was never interrupted. A mid-epoch checkpoint
  (``every_n_train_steps``) resumes the right step, weights and optimizer, but the rest of that
  epoch sees a fresh shuffle (Lightning cannot fast-forward a plain DataLoader), so it is close to,
  not bit-identical with, the uninterrupted run.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.pytorch.callbacks import ModelCheckpoint

from fusionlab import atomic
from fusionlab.atomic import TMP_MARK
from fusionlab.errors import ConfigError, NumericalError

# a full disk during a checkpoint write: what the StorageError tells the user to do
RESUME_ADVICE = ("Free disk space or write runs to a larger disk (paths.log_dir=...), then resume with "
                 "ckpt_path=last")


# --- durable file writes (fusionlab/atomic.py) ------------------------------------------------
def atomic_write(path: str | Path, write: Callable[[Any], None]) -> None:
    """:func:`fusionlab.atomic.atomic_write` whose disk-full error says how to resume the run."""
    atomic.atomic_write(path, write, RESUME_ADVICE)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete ``.<name>.tmp-<pid>`` files a killed save left in ``folder``; returns them."""
    folder = Path(folder)
    stale = [p for p in folder.glob(f".*{TMP_MARK}*") if p.is_file()] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO with :func:`atomic_write` for local paths."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_write(path, lambda f: torch.save(checkpoint, f))


# --- RNG state --------------------------------------------------------------------------------
def capture_rng_state() -> dict[str, Any]:
    """Global RNG states as tensors and plain containers (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(
                 lambda v: v.item() if isinstance(v, np.generic) else v, np_state[2:])]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- the callback -----------------------------------------------------------------------------
def first_non_finite(module: torch.nn.Module) -> str | None:
    """Name of the first parameter or floating buffer holding NaN/inf, else None."""
    tensors = list(module.named_parameters()) + [(n, b) for n, b in module.named_buffers()
                                                  if b.is_floating_point()]
    for name, t in tensors:
        if not torch.isfinite(t.detach()).all():
            return name
    return None


class AtomicModelCheckpoint(ModelCheckpoint):
    """ModelCheckpoint with atomic, fsynced writes, a real ``last.ckpt``, no NaN checkpoints and
    saved RNG states (see the module docstring). Takes every ModelCheckpoint option, e.g.
    ``every_n_train_steps=N`` to also save ``last.ckpt`` every N optimizer steps."""

    def __init__(self, *args, save_rng_state: bool = True, **kwargs):
        kwargs.setdefault("save_last", True)
        if kwargs["save_last"] == "link":
            raise ConfigError("callbacks.model_checkpoint.save_last=link makes last.ckpt a symlink to "
                              "the best file, which breaks resuming when that file is replaced: use "
                              "save_last=true")
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        with warnings.catch_warnings():
            if trainer.ckpt_path:  # resuming into the run's own folder is the point
                warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            super().setup(trainer, pl_module, stage)
        # every save of this trainer (ours, on_exception, trainer.save_checkpoint) becomes atomic;
        # a user-supplied CheckpointIO (remote storage, async) is left alone
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        if trainer.is_global_zero and stage == "fit" and self.dirpath:
            remove_stale_temporaries(self.dirpath)

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        bad = first_non_finite(trainer.lightning_module)
        if bad is not None:
            kept = self.last_model_path or self.best_model_path or "none yet"
            raise NumericalError(
                f"parameter {bad!r} is NaN/inf at global step {trainer.global_step}: not writing "
                f"{filepath}, the last good checkpoint ({kept}) is kept. Lower the learning rate or "
                "set task.grad_clip, then resume with ckpt_path=last")
        super()._save_checkpoint(trainer, filepath)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_missed(trainer)

    def _save_last_if_missed(self, trainer: L.Trainer) -> None:
        """Lightning 2.6 refreshes last.ckpt only when a top-k file was written at the same step, so
        after an epoch without a new best, last.ckpt is stale and resuming repeats epochs. Here
        last.ckpt is written at every checkpointing epoch end."""
        due = self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0
        if self.save_last and due and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Lightning warns at every step-based save of a manual-optimization module (GAN fusions)
        # that the weights are post-step; that is what we want, so the warning is noise.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*manual optimization and every_n_train_steps.*")
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.save_rng_state:
            state["rng_state"] = capture_rng_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self.save_rng_state and "rng_state" in state_dict:
            restore_rng_state(state_dict["rng_state"])
