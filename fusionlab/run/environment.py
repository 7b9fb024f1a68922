"""The process environment of a run: offline W&B and hub unless asked otherwise, quiet warnings."""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf


def quiet_environment(cfg: DictConfig) -> None:
    """Offline W&B unless asked otherwise; never prompt; no hub downloads at run time."""
    wandb_cfg = OmegaConf.select(cfg, "logger.wandb")
    if wandb_cfg is not None and wandb_cfg.get("offline", True):
        os.environ["WANDB_MODE"] = "offline"
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import warnings

    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def torch_threads() -> int:
    """torch's intra-op thread count in this process (for the run's log)."""
    import torch

    return torch.get_num_threads()
