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

from fusionlab.errors import ConfigError, NumericalError

log = logging.getLogger(__name__)

ACTIONS = ("off", "warn", "stop")


class DiscriminatorCollapseMonitor(L.Callback):
    """Watch ``metric`` (the per-step discriminator loss) after every training batch.

    threshold: a step counts as collapsed when the loss is below it.
    patience: consecutive collapsed steps before acting.
    action: ``warn`` (log once per collapse episode), ``stop`` (raise NumericalError, the run exits
    non-zero and keeps its last checkpoint) or ``off``. Fusions without a discriminator never log
    ``metric``, so the callback is a no-op for them.
    """

    def __init__(self, metric: str = "train/loss_d_step", threshold: float = 1e-3, patience: int = 200,
                 action: str = "warn"):
        if action not in ACTIONS:
            raise ConfigError(f"callbacks.discriminator_collapse.action={action!r}: use one of {ACTIONS}")
        if int(patience) < 1:
            raise ConfigError(f"callbacks.discriminator_collapse.patience={patience}: use an integer >= 1")
        self.metric, self.threshold = metric, float(threshold)
        self.patience, self.action = int(patience), action
        self.streak = 0
        self.reported = False

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        value = trainer.callback_metrics.get(self.metric) if self.action != "off" else None
        if value is None:
            return
        value = float(value)
        if not (math.isfinite(value) and value < self.threshold):
            self.streak, self.reported = 0, False
            return
        self.streak += 1
        if self.streak < self.patience or self.reported:
            return
        message = (f"discriminator collapse: {self.metric} < {self.threshold:g} for {self.streak} "
                   f"consecutive steps (global step {trainer.global_step}); the generator gets no "
                   "adversarial signal. Lower task.optimizer.d_lr or raise fusion.adv_weight")
        if self.action == "stop":
            raise NumericalError(message)
        self.reported = True
        log.warning(message)
        for lg in trainer.loggers:
            lg.log_metrics({"train/discriminator_collapsed": 1.0}, step=trainer.global_step)
