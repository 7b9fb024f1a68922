"""One W&B run per job: its id kept in <output_dir>/wandb_run_id.txt so a resumed job stays one run,
sweep jobs grouped under the sweep folder's name, and the run closed (and flushed) at the end."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from fusionlab.run.launch import in_multirun, launch_rank

WANDB_ID_FILE = "wandb_run_id.txt"


def attach_wandb_run_id(cfg: DictConfig, resuming: bool) -> str | None:
    """Give the W&B logger a run id kept in <output_dir>/wandb_run_id.txt: a resumed run reuses it
    (``resume="allow"``), so a killed-and-resumed job stays one W&B run. Returns the id."""
    node = OmegaConf.select(cfg, "logger.wandb")
    if not isinstance(node, DictConfig) or "_target_" not in node:
        return None
    path = Path(cfg.paths.output_dir) / WANDB_ID_FILE
    run_id = node.get("id") or (path.read_text().strip() if resuming and path.is_file() else "")
    if not run_id:
        import secrets

        run_id = secrets.token_hex(4)
    if launch_rank() == 0:  # DDP workers re-run train() but never open the W&B run
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id + "\n")
    with open_dict(node):
        node.id = run_id
        node.resume = "allow"
    return run_id


def name_sweep_run(cfg: DictConfig) -> None:
    """In a multirun, the jobs' W&B runs share a group named after the sweep folder (unless
    logger.wandb.group is set on the command line) and their names end with the job number."""
    node = OmegaConf.select(cfg, "logger.wandb")
    if not in_multirun() or not isinstance(node, DictConfig) or "_target_" not in node:
        return
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    explicit = any(o.lstrip("+~").startswith("logger.wandb.group=") for o in hc.overrides.task)
    with open_dict(node):
        if not explicit:
            node.group = Path(hc.sweep.dir).name
        node.name = f"{node.name}-job{hc.job.num}"


def finish_wandb(exit_code: int = 0) -> None:
    """Close the W&B run of this job (a non-zero exit_code marks it failed) and wait until its files
    are complete. wandb.finish() returns before wandb-core has written the run's transaction log
    (offline-run-*/run-*.wandb is closed asynchronously; it can still hold only its header), so the
    service is torn down too: that waits for every stream to be flushed. The next run starts a new one."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
            wandb.teardown()
