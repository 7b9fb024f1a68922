"""The task's optimizer option (``task.optimizer``) as a factory of torch optimizers.

``conf/optimizer/<name>.yaml`` (``optimizer=adam|adamw`` on the command line) is a ``_partial_: true``
node of a ``torch.optim`` class, so Hydra hands the task ``functools.partial(torch.optim.Adam, lr=...,
...)``. Its ``d_lr`` key is fusionlab's own (the discriminator's learning rate, see
fusionlab/tasks/adversarial.py), taken off before the class is called.

A plain dict of Adam options ``{lr, weight_decay, betas, d_lr}`` is accepted as well: checkpoints and
run configs written before conf/optimizer existed hold one, and tests build tasks with one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.optim import Optimizer

#: fusionlab's Adam before conf/optimizer existed (the paper's lr)
ADAM_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.0, "betas": (0.9, 0.999)}


@dataclass
class OptimizerFactory:
    """make(params, **overrides) -> Optimizer; ``options`` are the keyword arguments given to the
    optimizer class (``overrides`` win); d_lr: the discriminator's lr option (None: not set)."""

    cls: Callable[..., Optimizer]
    options: dict[str, Any]
    d_lr: float | None = None

    def make(self, params: Iterable[nn.Parameter], **overrides) -> Optimizer:
        return self.cls(params, **{**self.options, **overrides})

    @classmethod
    def of(cls, option: Callable[..., Optimizer] | dict | None) -> "OptimizerFactory":
        """``task.optimizer`` as given: a partial optimizer class, a dict of Adam options, or None."""
        if option is None or isinstance(option, dict):
            options = {**ADAM_DEFAULTS, **(option or {})}
            d_lr = options.pop("d_lr", None)
            options["betas"] = tuple(options["betas"])
            return cls(torch.optim.Adam, options, d_lr)
        if isinstance(option, functools.partial):
            options = dict(option.keywords)
            d_lr = options.pop("d_lr", None)
            if "betas" in options:
                options["betas"] = tuple(options["betas"])
            return cls(functools.partial(option.func, *option.args), options, d_lr)
        return cls(option, {}, None)
