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
from omegaconf import DictConfig, OmegaConf

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


def load_weights(model, ckpt_path: str | Path) -> dict:
    """Load a fusionlab checkpoint with torch's safe loader (weights_only=True) into ``model``."""
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
    state = ckpt.get("state_dict")
    if state is None:
        raise CheckpointError(f"{ckpt_path} has no state_dict: not a Lightning checkpoint")
    check_compatible(model, state, ckpt, ckpt_path)
    model.load_state_dict(state)
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


def finish_wandb() -> None:
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


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


# --- train ------------------------------------------------------------------------------------
def train(cfg: DictConfig) -> float | None:
    """Fit and test one configuration; write metrics.json; return cfg.optimized_metric's value."""
    quiet_environment(cfg)
    import lightning as L
    from hydra.utils import instantiate

    L.seed_everything(cfg.seed, workers=True)
    dm = build_datamodule(cfg.dataset)
    model = build_model(cfg, dm.spec)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    counts = model.parameter_counts()
    for lg in loggers:
        lg.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), **counts})
    log.info("parameters: %s", counts)

    if cfg.get("train", True):
        trainer.fit(model, datamodule=dm, ckpt_path=resolve_ckpt_path(cfg))
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
    optimized = cfg.get("optimized_metric")
    if optimized and trainer.checkpoint_callback and trainer.checkpoint_callback.monitor == optimized \
            and trainer.checkpoint_callback.best_model_score is not None:
        return float(trainer.checkpoint_callback.best_model_score)
    return metrics.get(optimized) if optimized else None


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
def run_guarded(fn, cfg: DictConfig):
    """Run ``fn(cfg)``; user-facing errors become one clear message and a non-zero exit."""
    try:
        return fn(cfg)
    except FusionlabError as e:
        if cfg.get("verbose") or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"fusionlab: error: {e}", file=sys.stderr)
        log.error("%s: %s", type(e).__name__, e)
        raise SystemExit(1) from None
    finally:
        finish_wandb()


@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def train_main(cfg: DictConfig) -> float | None:
    return run_guarded(train, cfg)


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def eval_main(cfg: DictConfig) -> dict:
    return run_guarded(evaluate, cfg)
