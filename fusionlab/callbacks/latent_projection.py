"""2-D PCA projections of the test set's latent vectors, as PNG and W&B images.

- ``<prefix>/latent_fused``: the fused vectors z, coloured by label (classification: the emotion
  whose label is on; regression: the score; translation: one colour);
- ``<prefix>/latent_gan`` (fusions with a discriminator, whose test records carry REAL_LATENTS and
  FAKE_LATENTS, i.e. GAN-Fusion): per target modality, the complementary AutoFusion vectors ("real")
  and the generator outputs ("fake") projected together: well-trained generators overlap the real
  cloud.

Everything comes from the test records of :class:`~fusionlab.contracts.EvalResult` (``latents``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionlab.callbacks.evaluation import EvaluationCallback
from fusionlab.callbacks.figures import new_figure, save_and_log
from fusionlab.contracts import CLASS, FAKE_LATENTS, PER_LABEL, REAL_LATENTS, SCORE, EvalRecord, EvalResult


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, d) -> (N, 2) coordinates on the two leading principal axes (zeros where N or d < 2)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros((x.shape[0], 2))
    if x.shape[0] < 2:
        return out
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    out[:, :k] = centred @ vt[:k].T
    return out


def plot_label(record: EvalRecord, kind: str):
    """The colour of a record: PER_LABEL the first label that is on, CLASS the class, SCORE the
    value, else None."""
    target = np.asarray(record.target)
    if kind == PER_LABEL:
        return int(target.argmax(-1))
    if kind == CLASS:
        return int(target)
    if kind == SCORE:
        return float(target.reshape(-1)[0])
    return None


class LatentProjection(EvaluationCallback):
    """out_dir: folder for the PNGs (``<output_dir>/plots``); max_samples: test samples plotted (the
    first by index). ``projections`` keeps the last coordinates: {"fused": (N, 2), "labels": (N,),
    "gan_<modality>": (2N, 2) real rows then fake rows}."""

    def __init__(self, out_dir: str | Path, max_samples: int = 1000):
        self.out_dir = Path(out_dir)
        self.max_samples = int(max_samples)
        self.projections: dict[str, np.ndarray] = {}

    def on_evaluation(self, trainer, result: EvalResult) -> None:
        if result.stage != "test" or not trainer.is_global_zero:
            return
        records = result.records[: self.max_samples]
        prefix, stem = result.prefix, result.prefix.replace("/", "_")
        xy = pca_2d(np.stack([r.latents["z"] for r in records]))
        self.projections = {"fused": xy}
        fig, axes = new_figure(1, panel_size=4.2)
        self._scatter_labels(axes[0], xy, [plot_label(r, result.kind) for r in records], result)
        axes[0].set_title(f"{prefix}: fused z, PCA (n={len(records)})", fontsize=9)
        save_and_log(trainer, fig, self.out_dir, f"{stem}_latent_fused", f"{prefix}/latent_fused")
        if REAL_LATENTS in records[0].latents:
            self._plot_gan(trainer, records, result.modalities, prefix, stem)

    def _scatter_labels(self, ax, xy: np.ndarray, labels: list, result: EvalResult) -> None:
        if labels[0] is None:
            ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6)
            return
        values = np.asarray(labels)
        self.projections["labels"] = values
        if result.kind == SCORE:
            points = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap="coolwarm", s=6, alpha=0.7)
            ax.figure.colorbar(points, ax=ax, label="score")
            return
        names = result.label_names
        for c in np.unique(values):
            sel = values == c
            name = names[c] if c < len(names) else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, label=str(name))
        ax.legend(fontsize=7, markerscale=2)

    def _plot_gan(self, trainer, records: list[EvalRecord], modalities: list[str], prefix: str,
                  stem: str) -> None:
        real = np.stack([r.latents[REAL_LATENTS] for r in records])  # (N, M, d)
        fake = np.stack([r.latents[FAKE_LATENTS] for r in records])
        fig, axes = new_figure(real.shape[1])
        for m, ax in enumerate(axes):
            xy = pca_2d(np.concatenate([real[:, m], fake[:, m]]))
            self.projections[f"gan_{modalities[m]}"] = xy
            n = len(records)
            ax.scatter(xy[:n, 0], xy[:n, 1], s=6, alpha=0.6, label="real (AutoFusion of the others)")
            ax.scatter(xy[n:, 0], xy[n:, 1], s=6, alpha=0.6, label=f"fake G({modalities[m]})")
            ax.set_title(f"target {modalities[m]}", fontsize=9)
            ax.legend(fontsize=7, markerscale=2)
        save_and_log(trainer, fig, self.out_dir, f"{stem}_latent_gan", f"{prefix}/latent_gan")
