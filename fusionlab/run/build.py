"""Objects from the config: the datamodule (prepared and set up), the task module holding encoders,
fusion and head, and the callbacks/logger groups."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


def instantiate_group(node: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a callbacks/logger group (null entries skipped)."""
    from hydra.utils import instantiate

    if not node:
        return []
    return [instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def build_datamodule(dataset_cfg: DictConfig, threads: int | None = None):
    """The datamodule (a fusionlab.data.base.FusionDataModule), prepared and set up; ``threads``: the
    run's thread budget, shared out among its DataLoader workers (fusionlab.run.threads.WorkerThreads)."""
    from hydra.utils import instantiate

    from fusionlab.run.threads import WorkerThreads

    dm = instantiate(dataset_cfg)
    if threads is not None:
        dm.worker_init_fn = WorkerThreads(threads, dm.num_workers)
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
