"""Entry points: ``train(cfg)`` and ``evaluate(cfg)`` plus their Hydra mains (train.py, eval.py).

Each reads top to bottom as what a run does; the pieces live in :mod:`fusionlab.run` (one concern a
module). Heavy libraries (torch, lightning, wandb) are imported inside functions so that
``python train.py --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fusionlab.config_dir import CONF_DIR
from fusionlab.run.build import build_datamodule, build_model, instantiate_group
from fusionlab.run.checkpoints import check_resume_checkpoint, load_weights, resolve_ckpt_path, run_config_of
from fusionlab.run.environment import quiet_environment, torch_threads
from fusionlab.run.guard import run_guarded
from fusionlab.run.launch import quiet_other_ranks
from fusionlab.run.metrics_file import optimized_value, scalar_metrics, write_metrics
from fusionlab.run.preflight import (check_accelerator, check_config_values, check_dataset_fusion,
                                     check_multirun_strategy, check_training_length)
from fusionlab.run.wandb_identity import attach_wandb_run_id, name_sweep_run

log = logging.getLogger("fusionlab")


# --- train ------------------------------------------------------------------------------------
def train(cfg: DictConfig) -> float | None:
    """Fit and test one configuration; write metrics.json; return cfg.optimized_metric's value."""
    from fusionlab.run.threads import thread_limit

    check_config_values(cfg)
    with thread_limit(cfg.get("threads")) as threads:
        return fit_and_test(cfg, threads)


def fit_and_test(cfg: DictConfig, threads: int) -> float | None:
    """train()'s body, with the run's thread limit applied (``threads`` torch threads)."""
    quiet_environment(cfg)
    quiet_other_ranks()
    check_dataset_fusion(cfg)
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
    metrics_meta = dict(model.metric_notes)
    result = {**metrics, **metrics_meta, **counts, "best_model_path": best}
    if trainer.is_global_zero:
        path = write_metrics(cfg.paths.output_dir, result)
        log.info("metrics written to %s", path)
        print(json.dumps({k: v for k, v in result.items() if k.startswith("test/")}, indent=2))
        print(describe_run_folder(cfg.paths.output_dir))
    return optimized_value(cfg, trainer, metrics)


def describe_run_folder(folder: str | Path) -> str:
    """The list of what the run wrote, printed at its end (fusionlab.run.folder)."""
    from fusionlab.run.folder import describe

    return describe(folder)


# --- evaluate ---------------------------------------------------------------------------------
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test a checkpoint with its run's config; optional modality corruption (robustness curve)."""
    from fusionlab.run.threads import thread_limit

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
        write_metrics(cfg.paths.output_dir, {**results, **model.metric_notes})
        print(json.dumps(results, indent=2))
        print(describe_run_folder(cfg.paths.output_dir))
    return results


# --- Hydra mains ------------------------------------------------------------------------------
@hydra.main(config_path=CONF_DIR, config_name="train", version_base="1.3")
def train_main(cfg: DictConfig) -> float | None:
    return run_guarded(train, cfg)


@hydra.main(config_path=CONF_DIR, config_name="eval", version_base="1.3")
def eval_main(cfg: DictConfig) -> dict:
    return run_guarded(evaluate, cfg)
