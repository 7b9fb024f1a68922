"""Report a collapsing GAN discriminator instead of silently training a useless generator.

When the discriminator wins outright its loss goes to ~0, the generator's adversarial gradient
vanishes and GAN-Fusion degenerates into AutoFusion with extra parameters. NaN/inf losses are
handled elsewhere (``task.nan_policy``, and :class:`~fusionlab.callbacks.checkpoint.AtomicModelCheckpoint`
refuses to write non-finite weights); this callback watches the one failure that stays finite.
"""

from __future__ import annotations

import logging
import math

import lightning as L

from fusionlab.contracts import D_ACC_FAKE, D_ACC_REAL, DISCRIMINATOR_TERM, FAKE_NORM, REAL_NORM
from fusionlab.errors import ConfigError, NumericalError

log = logging.getLogger(__name__)

ACTIONS = ("off", "warn", "stop")
#: what the adversarial training strategy logs per step (names declared in fusionlab/contracts.py)
D_LOSS_STEP = f"train/loss_{DISCRIMINATOR_TERM}_step"
ACC_REAL_STEP, ACC_FAKE_STEP = f"train/{D_ACC_REAL}_step", f"train/{D_ACC_FAKE}_step"
REAL_NORM_STEP, FAKE_NORM_STEP = f"train/{REAL_NORM}_step", f"train/{FAKE_NORM}_step"


class DiscriminatorCollapseMonitor(L.Callback):
    """Watch a GAN fusion's discriminator after every training batch, and its task loss per epoch.

    A step counts as saturated when ``metric`` (the per-step discriminator loss) is below
    ``threshold``, or when the discriminator's accuracy is at least ``acc_threshold`` on the real
    *and* on the generated latents (``train/d_acc_real_step``, ``train/d_acc_fake_step``).
    patience: consecutive saturated steps before acting.
    scale_ratio: also report generated latents whose mean norm stays more than this many times
    AutoFusion's z_tr (``train/z_fake_norm_step`` / ``train/z_real_norm_step``) for ``patience``
    steps (a BatchNorm discriminator cannot see scale; 0 turns this check off).
    task_patience: epochs without the epoch's mean task loss (``train/loss_task_epoch``) falling by
    ``min_delta`` (relative) before acting; 0 turns this check off.
    action: ``warn`` (one log line per run and problem), ``stop`` (raise NumericalError, the run
    exits non-zero and keeps its last checkpoint) or ``off``. Fusions without a discriminator never
    log ``metric``, so the callback is a no-op for them.
    """

    def __init__(self, metric: str = D_LOSS_STEP, threshold: float = 1e-3, patience: int = 200,
                 action: str = "warn", acc_threshold: float = 0.995, task_patience: int = 3,
                 min_delta: float = 1e-3, scale_ratio: float = 4.0):
        if action not in ACTIONS:
            raise ConfigError(f"callbacks.discriminator_collapse.action={action!r}: use one of {ACTIONS}")
        if int(patience) < 1:
            raise ConfigError(f"callbacks.discriminator_collapse.patience={patience}: use an integer >= 1")
        self.metric, self.threshold = metric, float(threshold)
        self.patience, self.action = int(patience), action
        self.acc_threshold = float(acc_threshold)
        self.task_patience, self.min_delta = int(task_patience), float(min_delta)
        self.scale_ratio = float(scale_ratio)
        self.streak, self.scale_streak = 0, 0
        self.reported: set[str] = set()
        self.best_task, self.flat_epochs = math.inf, 0

    def _saturated(self, metrics: dict) -> str | None:
        """Why this step counts as saturated, or None."""
        loss = metrics.get(self.metric)
        if loss is not None and math.isfinite(float(loss)) and float(loss) < self.threshold:
            return f"{self.metric} < {self.threshold:g}"
        real, fake = metrics.get(ACC_REAL_STEP), metrics.get(ACC_FAKE_STEP)
        if real is not None and fake is not None and min(float(real), float(fake)) >= self.acc_threshold:
            return f"discriminator accuracy >= {self.acc_threshold:g} on real and generated latents"
        return None

    def _act(self, trainer: L.Trainer, kind: str, message: str) -> None:
        if self.action == "stop":
            raise NumericalError(message)
        if kind in self.reported:
            return
        self.reported.add(kind)
        log.warning(message)
        for lg in trainer.loggers:
            lg.log_metrics({f"train/{kind}": 1.0}, step=trainer.global_step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if self.action == "off" or self.metric not in trainer.callback_metrics:
            return
        self._check_scale(trainer)
        why = self._saturated(trainer.callback_metrics)
        self.streak = self.streak + 1 if why else 0
        if self.streak < self.patience:
            return
        self._act(trainer, "discriminator_collapsed", (
            f"discriminator collapse: {why} for {self.streak} consecutive steps (global step "
            f"{trainer.global_step}); the generator gets no adversarial signal. Lower "
            "fusion.d_lr or fusion.adv_weight, or use fusion.discriminator_norm=spectral"))

    def _check_scale(self, trainer: L.Trainer) -> None:
        fake = trainer.callback_metrics.get(FAKE_NORM_STEP)
        real = trainer.callback_metrics.get(REAL_NORM_STEP)
        if self.scale_ratio <= 0 or fake is None or real is None:
            return
        ratio = float(fake) / max(float(real), 1e-12)
        self.scale_streak = self.scale_streak + 1 if ratio > self.scale_ratio else 0
        if self.scale_streak >= self.patience:
            self._act(trainer, "generator_scale_diverged", (
                f"GAN generator outputs diverge: their mean norm is {ratio:.1f}x AutoFusion's z_tr "
                f"for {self.scale_streak} consecutive steps (global step {trainer.global_step}); "
                "a BatchNorm discriminator cannot see scale. Try fusion.discriminator_norm=spectral"))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        value = metrics.get("train/loss_task_epoch")
        if self.action == "off" or self.task_patience < 1 or value is None \
                or self.metric.replace("_step", "_epoch") not in metrics:
            return
        value = float(value)
        if value < self.best_task * (1 - self.min_delta):
            self.best_task, self.flat_epochs = value, 0
            return
        self.flat_epochs += 1
        if self.flat_epochs >= self.task_patience:
            self._act(trainer, "task_loss_stalled", (
                f"GAN task loss stopped falling: train/loss_task_epoch {value:.4g} has not improved "
                f"on {self.best_task:.4g} for {self.flat_epochs} epochs (epoch "
                f"{trainer.current_epoch}); watch train/adv_share and train/d_acc_*"))
