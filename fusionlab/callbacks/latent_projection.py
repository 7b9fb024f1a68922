"""2-D PCA projections of the test set's latent vectors, as PNG and W&B images.

- ``<prefix>/latent_fused``: the fused vectors z, coloured by label (classification: the emotion
  whose label is on; regression: the score; translation: one colour);
- ``<prefix>/latent_gan`` (fusions that return ``extras["z_real"]``/``extras["z_fake"]``, i.e.
  GAN-Fusion): per target modality, the complementary AutoFusion vectors ("real") and the generator
  outputs ("fake") projected together: well-trained generators overlap the real cloud.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fusionlab.callbacks.figures import new_figure, save_and_log
from fusionlab.callbacks.test_records import TestRecordsCallback
from fusionlab.data.spec import REGRESSION


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


class LatentProjection(TestRecordsCallback):
    """out_dir: folder for the PNGs (``<output_dir>/plots``); max_samples: test samples plotted.
    ``projections`` keeps the last coordinates: {"fused": (N, 2), "labels": (N,), "gan_<modality>":
    (2N, 2) real rows then fake rows}."""

    def __init__(self, out_dir: str | Path, max_samples: int = 1000):
        super().__init__(max_samples=max_samples)
        self.out_dir = Path(out_dir)
        self.projections: dict[str, np.ndarray] = {}

    def records_of(self, pl_module, out, batch) -> list[tuple]:
        z = out.z.detach().float().cpu().numpy()
        labels = self._labels(pl_module, batch)
        real, fake = out.extras.get("z_real"), out.extras.get("z_fake")
        if real is not None and fake is not None:
            real, fake = real.detach().float().cpu().numpy(), fake.detach().float().cpu().numpy()
        else:
            real = fake = [None] * len(z)
        return [(int(i), z[k], labels[k], real[k], fake[k]) for k, i in enumerate(batch.index.tolist())]

    @staticmethod
    def _labels(pl_module, batch) -> list:
        protocol = getattr(pl_module, "protocol", None)
        if protocol is None or batch.target is None:
            return [None] * len(batch)
        target = batch.target.detach().float().cpu()
        if pl_module.spec.task == REGRESSION:
            return target.reshape(len(batch), -1)[:, 0].tolist()
        return (target.argmax(-1) if target.dim() == 2 else target).long().tolist()

    def report(self, trainer, pl_module, records, prefix) -> None:
        stem = prefix.replace("/", "_")
        z = np.stack([r[1] for r in records])
        labels = [r[2] for r in records]
        xy = pca_2d(z)
        self.projections = {"fused": xy}
        fig, axes = new_figure(1, panel_size=4.2)
        self._scatter_labels(axes[0], xy, labels, pl_module)
        axes[0].set_title(f"{prefix}: fused z, PCA (n={len(records)})", fontsize=9)
        save_and_log(trainer, fig, self.out_dir, f"{stem}_latent_fused", f"{prefix}/latent_fused")
        if records[0][3] is not None:
            self._plot_gan(trainer, pl_module, records, prefix, stem)

    def _scatter_labels(self, ax, xy: np.ndarray, labels: list, pl_module) -> None:
        if labels[0] is None:
            ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.6)
            return
        values = np.asarray(labels)
        self.projections["labels"] = values
        if pl_module.spec.task == REGRESSION:
            points = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap="coolwarm", s=6, alpha=0.7)
            ax.figure.colorbar(points, ax=ax, label="score")
            return
        names = list(pl_module.spec.label_names)
        for c in np.unique(values):
            sel = values == c
            name = names[c] if c < len(names) else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.7, label=str(name))
        ax.legend(fontsize=7, markerscale=2)

    def _plot_gan(self, trainer, pl_module, records, prefix, stem) -> None:
        real = np.stack([r[3] for r in records])  # (N, M, d)
        fake = np.stack([r[4] for r in records])
        modalities = list(getattr(pl_module.fusion, "modalities", range(real.shape[1])))
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
