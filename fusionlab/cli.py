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


def build_datamodule(dataset_cfg: DictConfig, threads: int | None = None):
    """The datamodule, prepared and set up; ``threads``: the run's thread budget, shared out among
    its DataLoader workers (fusionlab.threads.WorkerThreads)."""
    from hydra.utils import instantiate

    from fusionlab.threads import WorkerThreads

    dm = instantiate(dataset_cfg)
    if threads is not None and hasattr(dm, "worker_init_fn"):
        dm.worker_init_fn = WorkerThreads(threads, getattr(dm, "num_workers", 1))
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
    """Close the W&B run of this job (a non-zero exit_code marks it failed) and wait until its files
    are complete. wandb.finish() returns before wandb-core has written the run's transaction log
    (offline-run-*/run-*.wandb is closed asynchronously; it can still hold only its header), so the
    service is torn down too: that waits for every stream to be flushed. The next run starts a new one."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=exit_code)
            wandb.teardown()


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


# --- checks before a run ----------------------------------------------------------------------
def trainer_choice(cfg: DictConfig) -> str:
    """How the user chose the trainer, for messages: ``trainer=<option>`` when Hydra knows it."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = OmegaConf.select(HydraConfig.get(), "runtime.choices.trainer", default=None)
        if choice:
            return f"trainer={choice}"
    return f"trainer.accelerator={OmegaConf.select(cfg, 'trainer.accelerator', default=None)}"


def check_accelerator(cfg: DictConfig) -> None:
    """A GPU trainer on a machine without a CUDA GPU: one ConfigError naming the CPU equivalent
    (Lightning's own error, 'No supported gpu backend found!', says nothing about what to type)."""
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu")).lower()
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if torch.cuda.is_available() or (accelerator == "gpu" and torch.backends.mps.is_available()):
        return
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="") or "").lower()
    if "ddp" in strategy:
        instead = "trainer=ddp_spawn_cpu" if "spawn" in strategy else "trainer=ddp_cpu"
        instead += " (DDP over CPU processes) or trainer=cpu"
    else:
        instead = "trainer=cpu (or trainer=ddp_cpu for DDP over CPU processes)"
    raise ConfigError(f"{trainer_choice(cfg)} needs a CUDA GPU, but no CUDA GPU was found on this "
                      f"machine (torch.cuda.is_available() is False): use {instead}")


def check_training_length(cfg: DictConfig) -> None:
    """Refuse a fit that trains nothing (max_epochs=0 or max_steps=0): the test would silently score
    an untrained model. Resuming from a checkpoint (ckpt_path) with such a limit is allowed."""
    if not cfg.get("train", True) or cfg.get("ckpt_path") or \
            OmegaConf.select(cfg, "trainer.fast_dev_run", default=False):
        return
    for key in ("trainer.max_epochs", "trainer.max_steps"):
        if OmegaConf.select(cfg, key, default=None) == 0:
            raise ConfigError(
                f"{key}=0 trains nothing, and the test would score an untrained model: set "
                f"{key.split('.')[-1]}=1 or more, or test a trained checkpoint with "
                "`python eval.py ckpt_path=<run>/checkpoints/best.ckpt`")


def check_config_values(cfg: DictConfig) -> None:
    """Option values (types, ranges, required values, checkpoint files): fusionlab.config_checks."""
    from fusionlab.config_checks import check_config

    check_config(cfg)


# --- train ------------------------------------------------------------------------------------
def train(cfg: DictConfig) -> float | None:
    """Fit and test one configuration; write metrics.json; return cfg.optimized_metric's value."""
    from fusionlab.threads import thread_limit

    check_config_values(cfg)
    with thread_limit(cfg.get("threads")) as threads:
        return fit_and_test(cfg, threads)


def fit_and_test(cfg: DictConfig, threads: int) -> float | None:
    """train()'s body, with the run's thread limit applied (``threads`` torch threads)."""
    quiet_environment(cfg)
    quiet_other_ranks()
    check_multirun_strategy(cfg)
    check_accelerator(cfg)
    check_training_length(cfg)
    import lightning as L
    from hydra.utils import instantiate

    log.info("threads: %d (torch.get_num_threads)", torch_threads())
    name_sweep_run(cfg)
    resume = resolve_ckpt_path(cfg) if cfg.get("train", True) else None
    L.seed_everything(cfg.seed, workers=True)
    dm = build_datamodule(cfg.dataset, threads)
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
    # what each metric is (sacreBLEU signature, tokenized-BLEU recipe, ...), set by the task
    metrics_meta = dict(getattr(model, "metric_notes", None) or {})
    result = {**metrics, **metrics_meta, **counts, "best_model_path": best}
    if trainer.is_global_zero:
        path = write_metrics(cfg.paths.output_dir, result)
        log.info("metrics written to %s", path)
        print(json.dumps({k: v for k, v in result.items() if k.startswith("test/")}, indent=2))
        print(describe_run_folder(cfg.paths.output_dir))
    return optimized_value(cfg, trainer, metrics)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def describe_run_folder(folder: str | Path) -> str:
    from fusionlab.run_folder import describe

    return describe(folder)


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
    if not Path(ckpt_path).is_file():
        raise CheckpointError(f"checkpoint not found: {ckpt_path}: pass ckpt_path=<run dir>/"
                              "checkpoints/best.ckpt (or last.ckpt) of a finished run")
    run_dir = Path(ckpt_path).resolve().parent.parent
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{path} not found: eval.py needs the run folder the checkpoint came "
                              "from (it reads the run's config). Keep <run>/.hydra next to "
                              "<run>/checkpoints")
    return OmegaConf.load(path)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint with its run's config; optional modality corruption (robustness curve)."""
    from fusionlab.threads import thread_limit

    check_config_values(cfg)
    with thread_limit(cfg.get("threads")) as threads:
        return evaluate_checkpoint(cfg, threads)


def dataset_overrides(cfg: DictConfig) -> dict:
    """eval.py's ``dataset.<key>=...`` options that were given (declared ones default to null)."""
    given = OmegaConf.to_container(cfg.get("dataset") or OmegaConf.create({}), resolve=True)
    return {k: v for k, v in given.items() if v is not None}


def evaluate_checkpoint(cfg: DictConfig, threads: int) -> dict[str, float]:
    """evaluate()'s body, with the run's thread limit applied (``threads`` torch threads)."""
    quiet_environment(cfg)
    import lightning as L
    from hydra.utils import instantiate

    L.seed_everything(cfg.seed, workers=True)
    run_cfg = run_config_of(cfg.ckpt_path)
    check_accelerator(cfg)
    if dataset_overrides(cfg):
        run_cfg.dataset = OmegaConf.merge(run_cfg.dataset, dataset_overrides(cfg))
    dm = build_datamodule(run_cfg.dataset, threads)
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
        # + what each metric is (sacreBLEU signature, tokenized-BLEU recipe), as train() writes
        write_metrics(cfg.paths.output_dir, {**results, **(getattr(model, "metric_notes", None) or {})})
        print(json.dumps(results, indent=2))
        print(describe_run_folder(cfg.paths.output_dir))
    return results


# --- Hydra mains ------------------------------------------------------------------------------
ERROR_FILE = "error.json"


def in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


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
            from fusionlab.run_folder import remove_if_empty

            remove_if_empty(folder, keep=OmegaConf.select(cfg, "paths.log_dir", default=None))
        if not is_user_error(e) or cfg.get("verbose") or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"fusionlab: error: {one_line(e)}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        finish_wandb(exit_code)


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def train_main(cfg: DictConfig) -> float | None:
    return run_guarded(train, cfg)


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def eval_main(cfg: DictConfig) -> dict:
    return run_guarded(evaluate, cfg)
