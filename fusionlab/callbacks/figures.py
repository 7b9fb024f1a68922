"""Save a matplotlib figure as PNG into the run folder and log it to W&B as an image.

Images (not interactive charts) so that they exist in offline W&B runs and in ``<output_dir>/plots``
alike. Call only on global rank 0.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from fusionlab.callbacks.samples import wandb_loggers


def new_figure(n_panels: int, panel_size: float = 3.2):
    """A (figure, axes list) with ``n_panels`` square panels side by side (Agg backend, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(panel_size * n_panels + 0.6, panel_size + 0.4),
                             squeeze=False)
    return fig, list(axes[0])


def save_and_log(trainer: L.Trainer, fig, out_dir: str | Path, name: str, key: str) -> Path:
    """Write ``<out_dir>/<name>.png``, log it under ``key`` to every W&B logger, close ``fig``."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    for lg in wandb_loggers(trainer):
        lg.log_image(key=key, images=[str(path)], step=trainer.global_step)
    return path
