"""<output_dir>/metrics.json (the scalar val/ and test/ metrics, parameter counts, metric notes) and
the value a sweeper optimizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig


def write_metrics(output_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Write ``metrics`` to <output_dir>/metrics.json (fusionlab.atomic: a reader never sees half a file)."""
    from fusionlab.atomic import write_text

    path = Path(output_dir) / "metrics.json"
    write_text(path, json.dumps(metrics, indent=2, sort_keys=True))
    return path


def scalar_metrics(callback_metrics: dict, prefixes: tuple[str, ...]) -> dict[str, float]:
    """The trainer's logged metrics whose names start with one of ``prefixes``, as floats, sorted."""
    return {k: float(v) for k, v in sorted(callback_metrics.items()) if k.startswith(prefixes)}


def optimized_value(cfg: DictConfig, trainer, metrics: dict[str, float]) -> float | None:
    """cfg.optimized_metric's value for sweepers: the best checkpoint's score when the checkpoint
    monitors it, else its last value; None when missing or not finite (a sweeper records None as
    a failed trial and goes on, while NaN stops hydra-optuna-sweeper 1.3.0)."""
    import math

    optimized = cfg.get("optimized_metric")
    if not optimized:
        return None
    ckpt = trainer.checkpoint_callback
    if ckpt is not None and ckpt.monitor == optimized and ckpt.best_model_score is not None:
        value = float(ckpt.best_model_score)
    else:
        value = metrics.get(optimized)
    return value if value is not None and math.isfinite(value) else None
