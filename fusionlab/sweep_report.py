"""Hydra callback for multiruns (``hydra.callbacks.sweep_report`` in conf/hydra/default.yaml).

- ``on_multirun_start``: makes the composed Hydra config current before any launcher reads
  ``hydra.sweep.dir``. The default sweep folder is ``${paths.log_dir}/multirun/...`` and
  ``paths.log_dir`` comes from ``${hydra:runtime.cwd}``; Hydra sets its HydraConfig only per job,
  while every launcher (basic, joblib, submitit) resolves the sweep folder before the first job,
  which failed with "HydraConfig was not set / full_key: hydra.sweep.dir".
- ``on_multirun_end``: counts the sweep's job folders (finished: ``metrics.json``; failed:
  ``error.json`` or no ``metrics.json``), prints one summary line (and the error files), and exits
  with status 1 when any job failed.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def job_folders(sweep_dir: Path) -> list[Path]:
    """The job folders of a sweep (each holds Hydra's ``.hydra/``), in name order."""
    return sorted(p for p in sweep_dir.glob("*/") if (p / ".hydra").is_dir())


def summarize(sweep_dir: Path) -> tuple[list[Path], list[Path]]:
    """(finished job folders, failed job folders) of ``sweep_dir``."""
    jobs = job_folders(sweep_dir)
    finished = [j for j in jobs if (j / "metrics.json").is_file() and not (j / "error.json").is_file()]
    return finished, [j for j in jobs if j not in finished]


class SweepReport(Callback):
    """Resolve the sweep folder, then report the sweep's outcome (see module doc)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            HydraConfig.instance().set_config(copy.deepcopy(config))  # set_config makes it read-only

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        finished, failed = summarize(sweep_dir)
        print(f"fusionlab: sweep {sweep_dir}: {len(finished)} finished, {len(failed)} failed",
              file=sys.stderr if failed else sys.stdout)
        if failed:
            for job in failed:
                error = job / "error.json"
                print(f"  failed: {error if error.is_file() else job}", file=sys.stderr)
            raise SystemExit(1)
