"""Check a composed config's values before anything is built, so a typo fails in the first second.

:func:`check_config` walks :data:`RULES`, a table of ``option pattern -> rule``. A pattern is a
dotted key where ``*`` matches any part of a key (``encoder.*.dropout``, ``fusion.*_weight``); an
option absent from the config is skipped (each dataset, task and fusion has its own keys). Values
that must be given (``???``, e.g. eval.py's ``ckpt_path``) are reported first, a ``ckpt_path`` that
is not a file last. Every failure is a :class:`~fusionlab.errors.ConfigError` (CheckpointError for
``ckpt_path``) naming the option, the value and what to type instead.
Only omegaconf is imported: no torch, no Lightning.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fusionlab.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class Rule:
    """``accepts(value) -> bool``; ``expected`` completes "expected ..."; ``example`` is a valid value."""

    accepts: Callable[[Any], bool]
    expected: str
    example: str


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def int_at_least(low: int, example: str) -> Rule:
    return Rule(lambda v: is_int(v) and v >= low,
                "a positive integer" if low == 1 else f"an integer >= {low}", example)


def number_in(low: float, high: float | None, example: str, low_open: bool = False,
              high_open: bool = True) -> Rule:
    def accepts(v: Any) -> bool:
        if not is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    if high is None:
        text = "a positive number" if low == 0 and low_open else f"a number >= {low:g}"
    else:
        text = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return Rule(accepts, text, example)


def optional(rule: Rule) -> Rule:
    """``rule`` or null."""
    return Rule(lambda v: v is None or rule.accepts(v), f"{rule.expected} or null", rule.example)


def choice(*options: str) -> Rule:
    return Rule(lambda v: v in options, "one of " + ", ".join(options), options[0])


def devices_ok(v: Any) -> bool:
    """Lightning's ``devices``: a positive count, -1 (all), "auto", a list of ids or "0,1"."""
    if is_int(v):
        return v >= 1 or v == -1
    if isinstance(v, (list, ListConfig)):
        return len(v) > 0 and all(is_int(i) and i >= 0 for i in v)
    if isinstance(v, str):
        if v == "auto":
            return True
        parts = [p.strip() for p in v.split(",") if p.strip()]
        return bool(parts) and all(p.lstrip("-").isdigit() for p in parts)
    return False


def batches_limit_ok(v: Any) -> bool:
    """``limit_*_batches``: a fraction in [0, 1] or a whole number of batches."""
    return v is None or (is_int(v) and v >= 0) or (is_number(v) and 0.0 <= v <= 1.0)


def seed_ok(v: Any) -> bool:
    return is_int(v) and 0 <= v < 2**32


# Lightning 2.x precision values (ints are compared as strings)
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "64-true", "16-true", "bf16-true", "32", "16",
              "64", "bf16", "transformer-engine", "transformer-engine-float16")

POSITIVE_INT = int_at_least(1, "1")
NON_NEGATIVE_INT = int_at_least(0, "0")
PROBABILITY = number_in(0.0, 1.0, "0.1")
NON_NEGATIVE = number_in(0.0, None, "1.0")
POSITIVE = number_in(0.0, None, "0.001", low_open=True)

# option pattern -> rule, checked in this order (the first failure is reported)
RULES: tuple[tuple[str, Rule], ...] = (
    ("seed", Rule(seed_ok, "an integer in [0, 2**32)", "42")),
    ("latent_dim", int_at_least(1, "256")),
    ("max_epochs", int_at_least(-1, "10")),
    ("threads", optional(POSITIVE_INT)),
    ("dataset.batch_size", int_at_least(1, "32")),
    ("dataset.eval_batch_size", optional(int_at_least(1, "100"))),
    ("dataset.num_workers", optional(NON_NEGATIVE_INT)),  # null in eval.yaml: the run's value
    ("dataset.max_len", int_at_least(1, "100")),
    ("dataset.vocab_size", int_at_least(1, "8000")),
    ("dataset.max_frames", optional(int_at_least(1, "1000"))),
    *((f"dataset.{split}_size", int_at_least(1, "300")) for split in ("train", "val", "test")),
    ("dataset.features", choice("none", "avgpool", "res4frelu")),
    ("dataset.format", choice("auto", "raw", "jsonl")),
    ("dataset.tokenizer", choice("sentencepiece", "word")),
    ("dataset.sp_model_type", choice("bpe", "unigram")),
    ("dataset.cmvn", choice("mean_var", "mean", "none")),
    ("task.optimizer.lr", POSITIVE),
    ("task.optimizer.d_lr", optional(POSITIVE)),
    ("task.optimizer.weight_decay", NON_NEGATIVE),
    ("task.grad_clip", optional(NON_NEGATIVE)),
    ("task.label_smoothing", PROBABILITY),
    ("task.generation.beam_size", int_at_least(1, "4")),
    ("task.generation.val_beam_size", int_at_least(1, "1")),
    ("task.generation.max_len", int_at_least(1, "50")),
    ("task.scheduler.name", choice("none", "inverse_sqrt", "cosine", "linear")),
    ("task.scheduler.warmup_steps", NON_NEGATIVE_INT),
    ("task.scheduler.total_steps", optional(POSITIVE_INT)),
    ("task.scheduler.total_minutes", Rule(lambda v: v is None or v == "max_time" or POSITIVE.accepts(v),
                                          "a positive number, max_time or null", "max_time")),
    ("task.*dropout", PROBABILITY),
    ("encoder.*dropout", PROBABILITY),
    ("encoder.*num_layers", int_at_least(1, "1")),
    ("encoder.text.kind", choice("rnn", "transformer")),
    ("encoder.text.cell", choice("lstm", "gru")),
    ("encoder.*.activation", choice("tanh", "relu")),
    ("encoder.sequence.pooling", choice("rnn", "mean")),
    ("fusion.*dropout", PROBABILITY),
    ("fusion.*_weight", NON_NEGATIVE),
    ("trainer.devices", Rule(devices_ok, 'a positive count, -1 (all), "auto" or a list of ids', "1")),
    ("trainer.num_nodes", int_at_least(1, "1")),
    ("trainer.precision", Rule(lambda v: str(v) in PRECISIONS, "one of " + ", ".join(PRECISIONS[:6]),
                               "32-true")),
    ("trainer.max_steps", int_at_least(-1, "1000")),
    ("trainer.accumulate_grad_batches", int_at_least(1, "1")),
    ("trainer.gradient_clip_val", optional(NON_NEGATIVE)),
    ("trainer.log_every_n_steps", int_at_least(1, "10")),
    ("trainer.check_val_every_n_epoch", optional(int_at_least(1, "1"))),
    ("trainer.limit_*_batches", Rule(batches_limit_ok, "a fraction in [0, 1] or a whole number of "
                                     "batches", "1.0")),
    ("callbacks.model_checkpoint.save_top_k", int_at_least(-1, "1")),
    ("callbacks.model_checkpoint.every_n_train_steps", optional(NON_NEGATIVE_INT)),
)

# what to type for a value that must be given (``???``)
REQUIRED_HINTS = {"ckpt_path": "the checkpoint to test, e.g. "
                               "ckpt_path=outputs/runs/<date>/<time>/checkpoints/best.ckpt"}


def leaf_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Dotted keys of every leaf under ``node`` (interpolations are not resolved; ``hydra`` skipped)."""
    for key in node.keys():
        full = f"{prefix}{key}"
        if full == "hydra":
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none() \
                and not child._is_interpolation():
            yield from leaf_keys(child, full + ".")
        else:
            yield full


def check_required(cfg: DictConfig, keys: list[str]) -> None:
    for key in keys:
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if OmegaConf.is_missing(node, name):
            hint = REQUIRED_HINTS.get(key, f"e.g. {key}=<value>")
            raise ConfigError(f"{key} is required: give {hint}")


def value_of(cfg: DictConfig, key: str) -> tuple[bool, Any]:
    """(True, resolved value) or (False, None) when it cannot be resolved here (e.g. ${hydra:...})."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except OmegaConfBaseException:
        return False, None
    return True, value


def shown(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        return str(OmegaConf.to_container(value))
    return repr(value) if isinstance(value, str) else str(value)


def check_rules(cfg: DictConfig, keys: list[str]) -> None:
    for pattern, rule in RULES:
        for key in (k for k in keys if fnmatch.fnmatchcase(k, pattern)):
            known, value = value_of(cfg, key)
            if known and not rule.accepts(value):
                raise ConfigError(f"{key}={shown(value)}: expected {rule.expected}; "
                                  f"set e.g. {key}={rule.example}")


def check_ckpt_path(cfg: DictConfig) -> None:
    """``ckpt_path`` (when given, other than train.py's ``last``) must be an existing file."""
    known, value = value_of(cfg, "ckpt_path")
    if not known or value in (None, "", "last"):
        return
    path = Path(str(value))
    if path.is_file():
        return
    folder = next((p for p in (path.parent, *path.parent.parents) if p.is_dir()), None)
    near = sorted(p.name for p in folder.glob("*.ckpt"))[:5] if folder is not None else []
    there = (f"; {folder} holds {', '.join(near)}" if near else
             f"; the nearest existing folder is {folder}" if folder is not None else "")
    raise CheckpointError(f"ckpt_path={value}: no such file{there}. Give the .ckpt of a finished run, "
                      "e.g. ckpt_path=<run>/checkpoints/best.ckpt")


#: config nodes filled from a config group -> how a user switches that group on the command line
GROUP_NODES = {"task.optimizer": ("optimizer", "optimizer"), "task.decoder": ("decoder", "decoder@task.decoder")}


def check_group_nodes(cfg: DictConfig) -> None:
    """``task.optimizer=adamw`` replaces the optimizer's options by a string (and fails deep inside
    training): name the group switch instead."""
    for key, (group, switch) in GROUP_NODES.items():
        known, value = value_of(cfg, key)
        if known and isinstance(value, str):
            raise ConfigError(f"{key}={value}: {key} holds the {group}'s options; choose the {group} "
                              f"with {switch}={value} (conf/{group}/{value}.yaml) and set an option "
                              f"with {key}.<option>=...")


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value of ``cfg`` that breaks :data:`RULES` (see module doc),
    CheckpointError for a ``ckpt_path`` that is not a file."""
    keys = list(leaf_keys(cfg))
    check_group_nodes(cfg)
    check_required(cfg, keys)
    check_rules(cfg, keys)
    check_ckpt_path(cfg)
