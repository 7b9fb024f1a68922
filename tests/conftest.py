"""Shared fixtures: offline environment, Hydra composition of the real config tree, and one
session-wide folder where the embedded datasets are generated once."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"


def compose_train(overrides: list[str], out_dir: Path, data_dir: Path, config_name: str = "train"):
    """Compose conf/<config_name>.yaml like `python train.py <overrides>` would, with output and
    data folders redirected; HydraConfig is set so `${hydra:...}` interpolations resolve."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(config_name=config_name, return_hydra_config=True, overrides=overrides)
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.root_dir = str(ROOT)
        cfg.paths.output_dir = str(out_dir)
        cfg.paths.log_dir = str(out_dir)
        cfg.paths.data_dir = str(data_dir)
        del cfg.hydra
    return cfg


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Small tensors run far faster on one thread, and a busy 2-core machine never stalls."""
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Embedded datasets are generated here once per test session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def compose(tmp_path, data_dir):
    def _compose(*overrides: str, config_name: str = "train"):
        return compose_train(list(overrides), tmp_path, data_dir, config_name)
    return _compose
