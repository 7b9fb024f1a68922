"""The entry points' error guard: a failed run leaves error.json and a log record; a single run
prints user errors as one ``fusionlab: error: ...`` line and exits 1; a sweep job reports one line
and the sweep goes on; the W&B run is always closed."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fusionlab.errors import FusionlabError
from fusionlab.run.launch import in_multirun, launch_rank
from fusionlab.run.wandb_identity import finish_wandb

log = logging.getLogger("fusionlab")

ERROR_FILE = "error.json"


def original_error(error: BaseException) -> BaseException:
    """The exception a user should see: the one inside Hydra's InstantiationException wrappers
    ('Error in call to target ...'), else ``error`` itself."""
    from hydra.errors import InstantiationException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error


def one_line(error: BaseException) -> str:
    """``<Type>: <message>`` on one line; for an error raised while Hydra instantiated an object,
    the original error and the config node that was being built."""
    import re

    shown = original_error(error)
    text = f"{type(shown).__name__}: {' '.join(str(shown).split())}"
    if shown is not error:
        where = re.search(r"full_key: (\S+)", str(error))
        target = re.search(r"target '([^']+)'", str(error))
        built = " = ".join(m.group(1) for m in (where, target) if m)
        text += f" (raised while building {built})" if built else ""
    return text


def is_user_error(error: BaseException) -> bool:
    """Printed as one line without a traceback: FusionlabError, and any error raised inside an
    object Hydra instantiates from the config (a bad option value reaching a constructor)."""
    from hydra.errors import InstantiationException

    return isinstance(original_error(error), FusionlabError) or isinstance(error, InstantiationException)


def log_to_files(message: str) -> None:
    """Write an ERROR record to the log files only: the console gets the one ``fusionlab:`` line."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def created_run_folder(cfg: DictConfig) -> Path | None:
    """The output folder when Hydra created it for this single run at its default place (a
    timestamped folder, not one given with hydra.run.dir): the only kind removed when empty."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or in_multirun() or launch_rank() > 0:
        return None
    hc = HydraConfig.get()
    if any(o.startswith("hydra.run.dir=") for o in hc.overrides.hydra):
        return None
    folder = Path(str(cfg.paths.output_dir)).resolve()
    runtime = OmegaConf.select(hc, "runtime.output_dir", default=None)
    return folder if runtime and Path(str(runtime)).resolve() == folder else None


def record_error(cfg: DictConfig, error: BaseException) -> Path | None:
    """Write {"error_type", "message", "traceback"} to <output_dir>/error.json (None if impossible).
    Type and message are those of :func:`original_error`; the traceback is the whole chain."""
    import traceback

    try:
        path = Path(cfg.paths.output_dir) / ERROR_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        shown = original_error(error)
        path.write_text(json.dumps({"error_type": type(shown).__name__, "message": str(shown),
                                    "traceback": "".join(traceback.format_exception(error))}, indent=2))
        return path
    except Exception:  # the output folder itself may be the problem; the error is still printed
        return None


def failed_job_value(cfg: DictConfig) -> None:
    """What a failed sweep job returns: None. hydra-optuna-sweeper 1.3.0 records a None trial as
    FAILED and the study goes on (conf/hparams_search sets max_failure_rate: 1.0); NaN would stop
    the whole sweep (optuna 2.x refuses a NaN value, then the sweeper's retry as FAILED with that
    value raises)."""
    return None


def run_guarded(fn, cfg: DictConfig):
    """Run ``fn(cfg)``. Any failure is written to <output_dir>/error.json and the log file. In a
    multirun the job is reported in one line and the sweep goes on (fusionlab.sweep_report sums up);
    a single run exits non-zero, user errors (:func:`is_user_error`) as one ``fusionlab: error:``
    line (the traceback with verbose=true or HYDRA_FULL_ERROR=1), and a run folder that Hydra
    created for it but that holds nothing yet is removed."""
    import traceback

    exit_code = 0
    try:
        return fn(cfg)
    except Exception as e:
        exit_code = 1
        where = record_error(cfg, e)
        log_to_files("".join(traceback.format_exception(e)))
        if in_multirun():
            print(f"fusionlab: job failed: {one_line(e)} (details in {where})", file=sys.stderr)
            return failed_job_value(cfg)
        folder = created_run_folder(cfg)
        if folder is not None:
            from fusionlab.run.folder import remove_if_empty

            remove_if_empty(folder, keep=OmegaConf.select(cfg, "paths.log_dir", default=None))
        if not is_user_error(e) or cfg.get("verbose") or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"fusionlab: error: {one_line(e)}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        finish_wandb(exit_code)
