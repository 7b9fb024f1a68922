"""Learning-rate schedules for the task modules (option ``task.scheduler``), stepped once per
optimizer step.

``{name: none}`` (default) keeps the optimizer's constant learning rate. The others multiply it by
a factor of the step s (0-based; w = ``warmup_steps``):

- ``inverse_sqrt``: linear warmup to the peak, then sqrt(w / s) decay (Vaswani et al. 2017 with
  the peak set by ``optimizer.lr``); needs no step count, so it suits wall-clock budgets;
- ``cosine``: linear warmup, then a half cosine from 1 down to ``min_lr_ratio`` at ``total_steps``
  (default: the Trainer's estimated number of optimizer steps), flat afterwards.

The factor functions are small objects holding plain numbers, so a scheduler's state_dict stays
loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import logging
import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from fusionlab.errors import ConfigError

log = logging.getLogger(__name__)

SCHEDULES = ("none", "inverse_sqrt", "cosine")


class InverseSqrtFactor:
    """factor(s) = (s + 1) / w during warmup, sqrt(w / (s + 1)) after (1 at the peak)."""

    def __init__(self, warmup_steps: int):
        self.warmup_steps = max(1, int(warmup_steps))

    def __call__(self, step: int) -> float:
        s = step + 1
        return s / self.warmup_steps if s < self.warmup_steps else math.sqrt(self.warmup_steps / s)


class CosineFactor:
    """Linear warmup over w steps, then cosine from 1 to ``min_ratio`` at ``total_steps``."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
        self.warmup_steps, self.total_steps = max(0, int(warmup_steps)), int(total_steps)
        self.min_ratio = float(min_ratio)

    def __call__(self, step: int) -> float:
        s = step + 1
        if s < self.warmup_steps:
            return s / self.warmup_steps
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (s - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def check_scheduler_options(options: dict | None) -> dict:
    """``task.scheduler`` with defaults filled in; ConfigError for an unknown name or bad number."""
    cfg = {"name": "none", "warmup_steps": 0, "total_steps": None, "min_lr_ratio": 0.0,
           **(options or {})}
    unknown = set(cfg) - {"name", "warmup_steps", "total_steps", "min_lr_ratio"}
    if unknown:
        raise ConfigError(f"task.scheduler has unknown option(s) {sorted(unknown)}: use name, "
                          "warmup_steps, total_steps, min_lr_ratio")
    name = str(cfg["name"] or "none")
    if name not in SCHEDULES:
        raise ConfigError(f"task.scheduler.name={name!r}: use one of {', '.join(SCHEDULES)}")
    if int(cfg["warmup_steps"]) < 0:
        raise ConfigError(f"task.scheduler.warmup_steps={cfg['warmup_steps']}: must be >= 0")
    if not 0.0 <= float(cfg["min_lr_ratio"]) <= 1.0:
        raise ConfigError(f"task.scheduler.min_lr_ratio={cfg['min_lr_ratio']}: must be in [0, 1]")
    return {**cfg, "name": name}


def build_scheduler(optimizer: Optimizer, options: dict, estimated_steps: int | None = None
                    ) -> LambdaLR | None:
    """The per-step scheduler for ``options`` (see :func:`check_scheduler_options`), or None for
    ``none``. ``estimated_steps``: the run's optimizer steps, used by cosine when total_steps is
    null."""
    cfg = check_scheduler_options(options)
    if cfg["name"] == "none":
        return None
    if cfg["name"] == "inverse_sqrt":
        return LambdaLR(optimizer, InverseSqrtFactor(cfg["warmup_steps"]))
    total = cfg["total_steps"] if cfg["total_steps"] is not None else estimated_steps
    warmup = int(cfg["warmup_steps"])
    if cfg["total_steps"] is None and total is not None and math.isfinite(float(total)) \
            and 0 < int(total) <= warmup:
        # a short run (fast_dev_run, limit_train_batches, debug=*) of an estimated length: keep the
        # schedule's shape by shrinking the warmup to a tenth of the run instead of failing
        warmup = int(total) // 10
        log.warning("task.scheduler: the run has only %d optimizer steps, fewer than warmup_steps=%d; "
                    "warming up over %d steps", int(total), int(cfg["warmup_steps"]), warmup)
        cfg = {**cfg, "warmup_steps": warmup}
    if total is None or not math.isfinite(float(total)) or int(total) <= int(cfg["warmup_steps"]):
        raise ConfigError(f"task.scheduler.name=cosine needs total_steps > warmup_steps "
                          f"(got total_steps={total}, warmup_steps={cfg['warmup_steps']}); set "
                          "task.scheduler.total_steps, or trainer.max_epochs/max_steps so it can be "
                          "estimated (with a max_time budget use inverse_sqrt)")
    return LambdaLR(optimizer, CosineFactor(cfg["warmup_steps"], int(total), cfg["min_lr_ratio"]))
