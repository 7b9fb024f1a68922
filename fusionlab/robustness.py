"""Robustness curves: test a trained model while one modality is dropped or corrupted.

``eval.py ckpt_path=... corrupt='{modality: image, mode: gaussian, levels: [0, 0.5, 1, 2]}'``
tests once per level and writes robustness.json (metric per level) and robustness.png.
``corrupt='{modality: image, mode: shuffle, levels: [1]}'`` is the incongruent evaluation (each
sample gets another sample's image); with mode shuffle, ``modality`` may be a list
(``[audio, vision]``): those modalities move together, from the same other sample.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fusionlab.errors import ConfigError


class ModalityCorruption:
    """Callable installed as ``task.input_corruption``: corrupts ``modality`` of every batch with a
    generator seeded per batch index, so a level's result is reproducible. With mode "shuffle" it
    also replaces ``batch.masks`` so the moved sequences keep their own masks."""

    def __init__(self, modality: str, mode: str, level: float, seed: int = 0):
        self.modality, self.mode, self.level, self.seed = modality, mode, float(level), int(seed)

    def __call__(self, batch) -> dict:
        from fusionlab.corruption import corrupt_modality, shuffle_samples

        gen = torch.Generator(device="cpu").manual_seed(self.seed + int(batch.index[0]))
        if self.mode == "shuffle":  # the masks of sequence modalities move with their features
            modalities = [self.modality] if isinstance(self.modality, str) else list(self.modality)
            inputs, batch.masks = shuffle_samples(batch.inputs, batch.masks, modalities, self.level, gen)
            return inputs
        return corrupt_modality(batch.inputs, self.modality, self.mode, self.level, gen)


def main_metric(task) -> str:
    return task.hparams.get("monitor", "val/loss").split("/", 1)[1]


def robustness_curve(trainer, task, dm, corrupt_cfg, out_dir) -> dict:
    """Test once per level; returns {"test/<metric>@<level>": value, ...} and writes json + png."""
    modality = corrupt_cfg.get("modality")
    mode = corrupt_cfg.get("mode", "gaussian")
    if not isinstance(modality, str) and modality is not None:
        modality = [str(m) for m in modality]
        if mode != "shuffle":
            raise ConfigError(f"corrupt.modality={modality}: a list of modalities needs mode: shuffle")
    for m in [modality] if isinstance(modality, str) or modality is None else modality:
        if m not in dm.spec.modalities:
            raise ConfigError(f"corrupt.modality={m!r} is not one of this run's modalities "
                              f"{list(dm.spec.modalities)}")
    default_levels = [0.0, 1.0] if mode == "shuffle" else [0.0, 0.5, 1.0, 2.0]
    levels = [float(x) for x in corrupt_cfg.get("levels", default_levels)]
    metric = main_metric(task)
    curve, results = [], {}
    for level in levels:
        task.input_corruption = ModalityCorruption(modality, mode, level, corrupt_cfg.get("seed", 0))
        trainer.test(task, datamodule=dm, verbose=False)
        value = float(trainer.callback_metrics[f"test/{metric}"])
        curve.append({"level": level, metric: value})
        results[f"test/{metric}@{level:g}"] = value
    task.input_corruption = None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness.json").write_text(json.dumps(
        {"modality": modality, "mode": mode, "metric": metric, "curve": curve}, indent=2))
    plot_curve(curve, metric, f"{modality} ({mode})", out / "robustness.png")
    return results


# natural ranges of the main metrics; others (mae, loss) start at 0
METRIC_RANGES = {"bleu": (0.0, 100.0), "f1_mean": (0.0, 1.0), "acc_mean": (0.0, 1.0), "acc": (0.0, 1.0),
                 "f1": (0.0, 1.0), "acc_2": (0.0, 1.0), "acc_7": (0.0, 1.0), "corr": (-1.0, 1.0)}


def y_range(metric: str, values: list[float]) -> tuple[float, float]:
    """The curve's y-axis: the metric's natural range (BLEU 0..100, F1/accuracy 0..1), else 0 up to
    the largest value + 10%, so that a small change looks small (an autoscaled axis made a 0.5
    BLEU dip span the whole plot)."""
    if metric in METRIC_RANGES:
        low, high = METRIC_RANGES[metric]
        return min(low, *values), max(high, *values)
    top = max([0.0, *values])
    return min(0.0, *values), (top * 1.1) or 1.0


def plot_curve(curve: list[dict], metric: str, label: str, path: Path) -> tuple[float, float]:
    """robustness.png: the metric per corruption level; returns the y-axis limits used."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot([c["level"] for c in curve], [c[metric] for c in curve], marker="o", label=label)
    ax.set_xlabel("corruption level")
    ax.set_ylabel(f"test {metric}")
    ax.set_ylim(*y_range(metric, [c[metric] for c in curve]))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    limits = tuple(float(v) for v in ax.get_ylim())
    plt.close(fig)
    return limits
