"""Entry points: ``train(cfg)`` and ``evaluate(cfg)`` plus their Hydra mains.

Heavy libraries (torch, lightning, wandb) are imported inside functions so that
``python train.py --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from fusionlab.errors import CheckpointError, ConfigError, FusionlabError

log = logging.getLogger("fusionlab")

CONF_DIR = os.environ.get("FUSIONLAB_CONF", str(Path(__file__).resolve().parents[1] / "conf"))


# --- shared helpers ---------------------------------------------------------------------------
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


def instantiate_group(node: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a callbacks/logger group (null entries skipped)."""
    from hydra.utils import instantiate

    if not node:
        return []
    return [instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def build_datamodule(dataset_cfg: DictConfig):
    from hydra.utils import instantiate

    dm = instantiate(dataset_cfg)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def build_model(cfg: DictConfig, spec):
    """The task module for this config and the datamodule's DataSpec."""
    from hydra.utils import instantiate

    fusion = instantiate(cfg.fusion)
    choices = OmegaConf.select(cfg, "hydra.runtime.choices.fusion", default=None)
    fusion_name = choices or OmegaConf.select(cfg, "fusion._target_", default="").rsplit(".", 1)[-1]
    return instantiate(cfg.task, data_spec=spec.to_dict(), fusion=fusion,
                       encoder=OmegaConf.to_container(cfg.encoder, resolve=True),
                       fusion_name=fusion_name, _convert_="all")


def read_checkpoint(ckpt_path: str | Path) -> dict:
    """A Lightning checkpoint read with torch's safe loader (weights_only=True); CheckpointError when
    it is missing, truncated, a foreign pickle or has no state_dict."""
    import torch

    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise CheckpointError(f"checkpoint {ckpt_path} does not exist: pass ckpt_path=<run dir>/"
                              "checkpoints/best.ckpt (or last.ckpt) of a finished run")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, foreign pickle, ...
        raise CheckpointError(f"checkpoint {ckpt_path} cannot be read safely ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}); it is corrupt or not a fusionlab "
                              "checkpoint: use another checkpoint of the run") from e
    if not isinstance(ckpt, dict) or ckpt.get("state_dict") is None:
        raise CheckpointError(f"{ckpt_path} has no state_dict: not a Lightning checkpoint")
    return ckpt


def load_weights(model, ckpt_path: str | Path) -> dict:
    """Load a fusionlab checkpoint with torch's safe loader (weights_only=True) into ``model``."""
    ckpt = read_checkpoint(ckpt_path)
    check_compatible(model, ckpt["state_dict"], ckpt, Path(ckpt_path))
    model.load_state_dict(ckpt["state_dict"])
    return ckpt


def check_compatible(model, state: dict, ckpt: dict, ckpt_path: Path) -> None:
    """Refuse a checkpoint of another fusion/vocabulary with a message naming what differs."""
    own = model.state_dict()
    meta = ckpt.get("fusionlab", {})
    problems = []
    fp = meta.get("tokenizer_fingerprint", "")
    if fp and model.spec.tokenizer_fingerprint and fp != model.spec.tokenizer_fingerprint:
        problems.append(f"tokenizer fingerprint {fp} != data's {model.spec.tokenizer_fingerprint} "
                        "(the vocabulary differs)")
    if meta.get("fusion") and meta["fusion"] != type(model.fusion).__name__:
        problems.append(f"fusion {meta['fusion']} != configured {type(model.fusion).__name__}")
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
    if missing:
        problems.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:3]}")
    if shapes:
        problems.append(f"{len(shapes)} size mismatches, e.g. {shapes[:3]}")
    if problems:
        raise CheckpointError(f"checkpoint {ckpt_path} does not match the configured model: "
                              + "; ".join(problems)
                              + ". Evaluate it with the config of the run that wrote it.")


def write_metrics(output_dir: str | Path, metrics: dict[str, Any]) -> Path:
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def scalar_metrics(callback_metrics: dict, prefixes: tuple[str, ...]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(callback_metrics.items()) if k.startswith(prefixes)}


def finish_wandb(exit_code: int = 0) -> None:
    """Close the W&B run of this job (a non-zero exit_code marks it failed)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)


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


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    ckpt = cfg.get("ckpt_path")
    if ckpt in (None, ""):
        return None
    if ckpt == "last":
        path = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise CheckpointError(f"ckpt_path=last but {path} does not exist: resume inside the "
                                  "run's folder with hydra.run.dir=<that run's folder>")
        return str(path)
    if not Path(ckpt).is_file():
        raise CheckpointError(f"ckpt_path={ckpt} does not exist")
    return str(ckpt)


def check_resume_checkpoint(model, ckpt_path: str) -> None:
    """Before Lightning resumes from ``ckpt_path``: readable safely and made by this model."""
    ckpt = read_checkpoint(ckpt_path)
    check_compatible(model, ckpt["state_dict"], ckpt, Path(ckpt_path))


# --- scale-out: DDP ranks and Hydra sweeps ----------------------------------------------------
SPAWNING_DDP = ("spawn", "fork", "notebook")  # DDP strategies that start workers inside this process


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


def check_multirun_strategy(cfg: DictConfig) -> None:
    """Refuse Lightning's subprocess DDP (strategy=ddp) inside a Hydra multirun: it re-executes the
    command line in every worker, which would re-run the whole sweep there."""
    if not in_multirun():
        return
    from hydra.core.hydra_config import HydraConfig

    node = OmegaConf.select(cfg, "trainer.strategy", default=None)
    if isinstance(node, DictConfig):  # a DDPStrategy node: popen launcher unless start_method says so
        name = str(node.get("_target_", "")).rsplit(".", 1)[-1].lower()
        name = f"{name}_{node.get('start_method') or 'popen'}"
    else:
        name = str(node or "").lower()
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    nodes = OmegaConf.select(cfg, "trainer.num_nodes", default=1)
    one_process = str(devices) in ("1", "[0]") and str(nodes) == "1"
    launcher = str(OmegaConf.select(HydraConfig.get(), "launcher._target_", default="") or "")
    if not name.startswith("ddp") or any(k in name for k in SPAWNING_DDP) or one_process \
            or "SlurmLauncher" in launcher:
        return
    raise ConfigError(
        f"trainer.strategy={node} cannot run inside a Hydra multirun (-m): Lightning's ddp "
        "re-executes the command line in every worker process, which would re-run the whole sweep "
        "there. Use trainer=ddp_spawn (processes spawned inside each job), run the jobs without -m, "
        "or give each job its own processes with hydra/launcher=slurm (one SLURM task per GPU)")


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


# --- train ------------------------------------------------------------------------------------
def train(cfg: DictConfig) -> float | None:
    """Fit and test one configuration; write metrics.json; return cfg.optimized_metric's value."""
    quiet_environment(cfg)
    quiet_other_ranks()
    check_multirun_strategy(cfg)
    import lightning as L
    from hydra.utils import instantiate

    name_sweep_run(cfg)
    resume = resolve_ckpt_path(cfg) if cfg.get("train", True) else None
    L.seed_everything(cfg.seed, workers=True)
    dm = build_datamodule(cfg.dataset)
    model = build_model(cfg, dm.spec)
    if resume:
        check_resume_checkpoint(model, resume)
    attach_wandb_run_id(cfg, resuming=resume is not None)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    counts = model.parameter_counts()
    for lg in loggers:
        lg.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), **counts})
    log.info("parameters: %s", counts)

    if cfg.get("train", True):
        trainer.fit(model, datamodule=dm, ckpt_path=resume, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics, ("val/",))
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if cfg.get("test", True):
        if best:
            load_weights(model, best)
        trainer.test(model, datamodule=dm)
        metrics.update(scalar_metrics(trainer.callback_metrics, ("test/",)))
    if getattr(model, "bleu_signature", None):
        metrics_meta = {"bleu_signature": model.bleu_signature}
    else:
        metrics_meta = {}
    result = {**metrics, **metrics_meta, **counts, "best_model_path": best}
    if trainer.is_global_zero:
        path = write_metrics(cfg.paths.output_dir, result)
        log.info("metrics written to %s", path)
        print(json.dumps({k: v for k, v in result.items() if k.startswith("test/")}, indent=2))
    return optimized_value(cfg, trainer, metrics)


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


# --- evaluate ---------------------------------------------------------------------------------
def run_config_of(ckpt_path: str | Path) -> DictConfig:
    """The .hydra/config.yaml of the run that wrote ``ckpt_path`` (<run>/checkpoints/x.ckpt)."""
    run_dir = Path(ckpt_path).resolve().parent.parent
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{path} not found: eval.py needs the run folder the checkpoint came "
                              "from (it reads the run's config). Keep <run>/.hydra next to "
                              "<run>/checkpoints")
    return OmegaConf.load(path)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint with its run's config; optional modality corruption (robustness curve)."""
    quiet_environment(cfg)
    import lightning as L
    from hydra.utils import instantiate

    L.seed_everything(cfg.seed, workers=True)
    run_cfg = run_config_of(cfg.ckpt_path)
    if cfg.get("dataset"):
        run_cfg.dataset = OmegaConf.merge(run_cfg.dataset, cfg.dataset)
    dm = build_datamodule(run_cfg.dataset)
    model = build_model(run_cfg, dm.spec)
    load_weights(model, cfg.ckpt_path)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=instantiate_group(cfg.get("logger")) or False,
                                     callbacks=[])
    if cfg.get("corrupt"):
        from fusionlab.robustness import robustness_curve

        results = robustness_curve(trainer, model, dm, cfg.corrupt, cfg.paths.output_dir)
    else:
        trainer.test(model, datamodule=dm)
        results = scalar_metrics(trainer.callback_metrics, ("test/",))
    if trainer.is_global_zero:
        write_metrics(cfg.paths.output_dir, results)
        print(json.dumps(results, indent=2))
    return results


# --- Hydra mains ------------------------------------------------------------------------------
ERROR_FILE = "error.json"


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def record_error(cfg: DictConfig, error: BaseException) -> Path | None:
    """Write {"error_type", "message", "traceback"} to <output_dir>/error.json (None if impossible)."""
    import traceback

    try:
        path = Path(cfg.paths.output_dir) / ERROR_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"error_type": type(error).__name__, "message": str(error),
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
    """Run ``fn(cfg)``. Any failure is written to <output_dir>/error.json. In a multirun the job is
    reported as failed and the sweep goes on; a single run exits non-zero, user-facing errors
    (FusionlabError) as one clear message (the traceback with verbose=true or HYDRA_FULL_ERROR=1)."""
    exit_code = 0
    try:
        return fn(cfg)
    except Exception as e:
        exit_code = 1
        where = record_error(cfg, e)
        log.error("%s: %s", type(e).__name__, e, exc_info=in_multirun())
        if in_multirun():
            print(f"fusionlab: job failed: {type(e).__name__}: {e} (details in {where}); "
                  "the other jobs go on", file=sys.stderr)
            return failed_job_value(cfg)
        if not isinstance(e, FusionlabError) or cfg.get("verbose") \
                or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"fusionlab: error: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        finish_wandb(exit_code)


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def train_main(cfg: DictConfig) -> float | None:
    return run_guarded(train, cfg)


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def eval_main(cfg: DictConfig) -> dict:
    return run_guarded(evaluate, cfg)
