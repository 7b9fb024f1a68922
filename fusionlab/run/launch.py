"""How this process was started: its DDP rank (set by the launcher) and whether it is a Hydra
multirun job."""

from __future__ import annotations

import logging
import os


def launch_rank() -> int:
    """Global rank of this process as set by the launcher (Lightning's ddp children, SLURM); 0 when
    not yet known (the launching process)."""
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def quiet_other_ranks() -> None:
    """In DDP worker processes (rank > 0), drop log-file handlers: only rank 0 writes <task_name>.log."""
    if launch_rank() > 0:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
            root.removeHandler(handler)
            handler.close()


def in_multirun() -> bool:
    """True inside a job of a Hydra multirun (``-m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
