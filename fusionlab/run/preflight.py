"""Checks before anything is built: each refuses a configuration that cannot run as asked with one
ConfigError naming the option and what to type instead."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fusionlab.errors import ConfigError
from fusionlab.run.launch import in_multirun

SPAWNING_DDP = ("spawn", "fork", "notebook")  # DDP strategies that start workers inside this process


def check_config_values(cfg: DictConfig) -> None:
    """Option values (types, ranges, required values, checkpoint files): fusionlab.config_checks."""
    from fusionlab.config_checks import check_config

    check_config(cfg)


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


def check_dataset_fusion(cfg: DictConfig) -> None:
    """conf/dataset_fusion/<dataset>_<fusion>.yaml applies itself when that pair runs (train.yaml's
    defaults). Chosen by hand for another pair, its settings would land on a fusion that lacks them
    (a TypeError deep in the build) or, worse, silently on a pair they were not chosen for."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    choices = HydraConfig.get().runtime.choices
    chosen = choices.get("dataset_fusion")
    dataset, fusion = choices.get("dataset"), choices.get("fusion")
    if chosen is None or chosen == f"{dataset}_{fusion}":  # ~dataset_fusion, or this pair's own file
        return
    from fusionlab.config_dir import CONF_DIR

    named = [d.stem for d in (Path(CONF_DIR) / "dataset").glob("*.yaml") if chosen.startswith(f"{d.stem}_")]
    owner = max(named, key=len, default=None)
    pair = f"dataset={owner} fusion={chosen[len(owner) + 1:]}" if owner else "its own dataset and fusion"
    raise ConfigError(
        f"dataset_fusion={chosen} is not chosen by hand: conf/dataset_fusion/{chosen}.yaml applies "
        f"itself when {pair} run, and this run is dataset={dataset} fusion={fusion}. Drop "
        f"dataset_fusion={chosen} and set the options you want on the command line instead")


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
