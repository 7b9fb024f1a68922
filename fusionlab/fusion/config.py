"""A fusion built from its config, outside train.py: for tests, scripts and notebooks.

Each option's value is stated once, in ``conf/fusion/<name>.yaml``; the fusion's class names its
options as keyword-only parameters without defaults, so a value missing from the YAML fails loudly
instead of silently taking a second default. ``build_fusion`` composes the YAML as train.py does
(``fusion=<name> fusion.<option>=<value>``)::

    fusion = build_fusion("tfn", modalities=["text", "image"], d_in=32, d_out=16, hidden=64)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from fusionlab.errors import ConfigError


def fusion_config(name: str, conf_dir: str | Path | None = None) -> DictConfig:
    """conf/fusion/<name>.yaml (``conf_dir``: another config folder holding fusion/<name>.yaml)."""
    if conf_dir is None:
        from fusionlab.config_dir import CONF_DIR

        conf_dir = CONF_DIR
    folder = Path(conf_dir) / "fusion"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"fusion={name}: no {path}; the fusions are {known}")
    return OmegaConf.load(path)


def build_fusion(name: str, modalities: Sequence[str], d_in: int, d_out: int,
                 conf_dir: str | Path | None = None, **overrides: Any):
    """The fusion of conf/fusion/<name>.yaml with ``overrides`` applied (each must be an option the
    YAML names), for ``modalities`` with pooled latents of size ``d_in`` fused into ``d_out``."""
    from hydra.utils import instantiate

    cfg = fusion_config(name, conf_dir)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        options = sorted(k for k in cfg if not str(k).startswith("_"))
        raise ConfigError(f"fusion.{unknown[0]} is not an option of fusion={name} (its options: "
                          f"{options}); add it to conf/fusion/{name}.yaml first")
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)(modalities=list(modalities), d_in=d_in, d_out=d_out)
