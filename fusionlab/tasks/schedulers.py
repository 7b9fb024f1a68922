"""Learning-rate schedules for the task modules (option ``task.scheduler``), stepped once per
optimizer step.

``{name: none}`` (default) keeps the optimizer's constant learning rate. The others multiply it by
a factor of the step s (0-based; w = ``warmup_steps``):

- ``inverse_sqrt``: linear warmup to the peak, then sqrt(w / s) decay (Vaswani et al. 2017 with
  the peak set by ``optimizer.lr``); needs no step count;
- ``cosine``: linear warmup, then a half cosine from 1 down to ``min_lr_ratio`` at the end of the
  run, flat afterwards;
- ``linear``: linear warmup, then a straight line from 1 down to ``min_lr_ratio`` at the end of the
  run (the schedule budgeted training favours: Li et al. 2020, "Budgeted Training").

The end of the run for cosine and linear is ``total_steps`` optimizer steps (default: the
Trainer's estimate), or, with ``total_minutes`` set, that much wall-clock time after the scheduler
is built (the time between steps counts, validation included, as it does for max_time).
``total_minutes: max_time`` takes the Trainer's ``max_time`` budget when one is set (and the step
count otherwise): a run under ``trainer.max_time`` then anneals to the end of its budget whatever
the machine's speed.
A time-based schedule depends on the machine's speed, so such a run does not replay step for step.

The factor functions are small objects holding plain numbers, so a scheduler's state_dict stays
loadable with ``torch.load(weights_only=True)``; a resumed time-based schedule continues from the
wall-clock time it had used.
"""

from __future__ import annotations

import logging
import math
import time

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from fusionlab.errors import ConfigError

log = logging.getLogger(__name__)

SCHEDULES = ("none", "inverse_sqrt", "cosine", "linear")
DECAYS = ("cosine", "linear")
MAX_TIME = "max_time"  # total_minutes: the Trainer's max_time budget
OPTIONS = ("name", "warmup_steps", "total_steps", "total_minutes", "min_lr_ratio")


def clock() -> float:
    """Seconds of a monotonic clock (a function of its own so tests can move time)."""
    return time.monotonic()


class InverseSqrtFactor:
    """factor(s) = (s + 1) / w during warmup, sqrt(w / (s + 1)) after (1 at the peak)."""

    def __init__(self, warmup_steps: int):
        self.warmup_steps = max(1, int(warmup_steps))

    def __call__(self, step: int) -> float:
        s = step + 1
        return s / self.warmup_steps if s < self.warmup_steps else math.sqrt(self.warmup_steps / s)


class DecayFactor:
    """Linear warmup over w steps, then ``shape`` (cosine | linear) from 1 to ``min_ratio`` at the
    end: ``total_steps`` steps, or ``total_seconds`` of wall clock (when not None) counted from the
    first call. Progress p in [0, 1] after warmup: (s - w) / (total_steps - w), or the elapsed time
    since warmup ended over the time left then; factor = min + (1 - min)·(1 + cos πp)/2 (cosine)
    or min + (1 - min)·(1 - p) (linear)."""

    def __init__(self, warmup_steps: int, total_steps: int | None, min_ratio: float = 0.0,
                 shape: str = "cosine", total_seconds: float | None = None):
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = None if total_steps is None else int(total_steps)
        self.min_ratio, self.shape = float(min_ratio), str(shape)
        self.total_seconds = None if total_seconds is None else float(total_seconds)
        self.elapsed_seconds = 0.0          # wall clock used so far (saved with the scheduler)
        self.decay_start_seconds = None     # elapsed_seconds when warmup ended
        self._mark = None                   # this process's clock at the last call (never saved)

    def _tick(self) -> float:
        now = clock()
        if self._mark is not None:
            self.elapsed_seconds += max(0.0, now - self._mark)
        self._mark = now
        return self.elapsed_seconds

    def progress(self, step: int) -> float:
        """p in [0, 1] of the decay at 0-based ``step`` (past warmup)."""
        if self.total_seconds is None:
            span = max(1, self.total_steps - self.warmup_steps)
            return min(1.0, (step + 1 - self.warmup_steps) / span)
        if self.decay_start_seconds is None:
            self.decay_start_seconds = self.elapsed_seconds
        span = self.total_seconds - self.decay_start_seconds
        return 1.0 if span <= 0 else min(1.0, (self.elapsed_seconds - self.decay_start_seconds) / span)

    def __call__(self, step: int) -> float:
        if self.total_seconds is not None:
            self._tick()
        s = step + 1
        if s < self.warmup_steps:
            return s / self.warmup_steps
        p = self.progress(step)
        left = 0.5 * (1.0 + math.cos(math.pi * p)) if self.shape == "cosine" else 1.0 - p
        return self.min_ratio + (1.0 - self.min_ratio) * left


class BudgetLR(LambdaLR):
    """LambdaLR whose state_dict leaves out the process-local clock mark of a DecayFactor (a
    resumed run must not count the time it was stopped)."""

    def state_dict(self) -> dict:
        state = super().state_dict()
        for entry in state["lr_lambdas"]:
            if entry:
                entry.pop("_mark", None)
        return state


def check_scheduler_options(options: dict | None) -> dict:
    """``task.scheduler`` with defaults filled in; ConfigError for an unknown name or bad number."""
    cfg = {"name": "none", "warmup_steps": 0, "total_steps": None, "total_minutes": None,
           "min_lr_ratio": 0.0, **(options or {})}
    unknown = set(cfg) - set(OPTIONS)
    if unknown:
        raise ConfigError(f"task.scheduler has unknown option(s) {sorted(unknown)}: use "
                          f"{', '.join(OPTIONS)}")
    name = str(cfg["name"] or "none")
    if name not in SCHEDULES:
        raise ConfigError(f"task.scheduler.name={name!r}: use one of {', '.join(SCHEDULES)}")
    if int(cfg["warmup_steps"]) < 0:
        raise ConfigError(f"task.scheduler.warmup_steps={cfg['warmup_steps']}: must be >= 0")
    if not 0.0 <= float(cfg["min_lr_ratio"]) <= 1.0:
        raise ConfigError(f"task.scheduler.min_lr_ratio={cfg['min_lr_ratio']}: must be in [0, 1]")
    if cfg["total_minutes"] is not None:
        if name not in DECAYS:
            raise ConfigError(f"task.scheduler.total_minutes={cfg['total_minutes']} applies to the "
                              f"{' and '.join(DECAYS)} schedules, not {name!r}: set task.scheduler.name "
                              "or remove total_minutes")
        if cfg["total_minutes"] != MAX_TIME and not float(cfg["total_minutes"]) > 0:
            raise ConfigError(f"task.scheduler.total_minutes={cfg['total_minutes']}: must be > 0 "
                              "(the wall-clock minutes over which the learning rate decays)")
    return {**cfg, "name": name}


def build_scheduler(optimizer: Optimizer, options: dict, estimated_steps: int | None = None
                    ) -> LambdaLR | None:
    """The per-step scheduler for ``options`` (see :func:`check_scheduler_options`), or None for
    ``none``. ``estimated_steps``: the run's optimizer steps, the default length of cosine and
    linear when neither total_steps nor total_minutes is set."""
    cfg = check_scheduler_options(options)
    if cfg["name"] == "none":
        return None
    if cfg["name"] == "inverse_sqrt":
        return LambdaLR(optimizer, InverseSqrtFactor(cfg["warmup_steps"]))
    name, warmup = cfg["name"], int(cfg["warmup_steps"])
    if cfg["total_minutes"] == MAX_TIME:
        raise ConfigError("task.scheduler.total_minutes=max_time is resolved by the task from its "
                          "Trainer; pass the minutes to build_scheduler")
    if cfg["total_minutes"] is not None:
        return BudgetLR(optimizer, DecayFactor(warmup, None, cfg["min_lr_ratio"], name,
                                               total_seconds=60.0 * float(cfg["total_minutes"])))
    total = cfg["total_steps"] if cfg["total_steps"] is not None else estimated_steps
    if cfg["total_steps"] is None and total is not None and math.isfinite(float(total)) \
            and 0 < int(total) <= warmup:
        # a short run (fast_dev_run, limit_train_batches, debug=*) of an estimated length: keep the
        # schedule's shape by shrinking the warmup to a tenth of the run instead of failing
        warmup = int(total) // 10
        log.warning("task.scheduler: the run has only %d optimizer steps, fewer than warmup_steps=%d; "
                    "warming up over %d steps", int(total), int(cfg["warmup_steps"]), warmup)
    if total is None or not math.isfinite(float(total)) or int(total) <= warmup:
        raise ConfigError(f"task.scheduler.name={name} needs total_steps > warmup_steps "
                          f"(got total_steps={total}, warmup_steps={cfg['warmup_steps']}); set "
                          "task.scheduler.total_steps, or trainer.max_epochs/max_steps so it can be "
                          "estimated, or task.scheduler.total_minutes with a max_time budget")
    return LambdaLR(optimizer, DecayFactor(warmup, int(total), cfg["min_lr_ratio"], name))
