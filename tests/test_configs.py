"""The config tree: every option of every group composes and resolves; dataset configs pick their
task; wrong option names give Hydra's list of the available options."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR

GROUPS = ["dataset", "fusion", "encoder", "task", "trainer", "logger", "callbacks", "debug",
          "experiment", "hparams_search"]


def options(group: str) -> list[str]:
    root = CONF_DIR / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in options(g)]


@pytest.mark.parametrize("group,option", CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes_and_resolves(compose, group, option):
    overrides = [f"{group}={option}"]
    cfg = compose(*overrides)
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["dataset"]["_target_"].startswith("fusionlab.data.")
    assert "data_dir" in container["dataset"]
    assert container["task"]["_target_"].startswith("fusionlab.tasks.")
    assert container["fusion"]["_partial_"] is True


@pytest.mark.parametrize("dataset,task", [("synthetic_mt", "translation"), ("multi30k", "translation"),
                                          ("how2", "translation"), ("synthetic_emotion", "classification"),
                                          ("iemocap", "classification"), ("mosi", "regression"),
                                          ("mosei", "regression")])
def test_dataset_selects_its_task(compose, dataset, task):
    cfg = compose(f"dataset={dataset}")
    assert cfg.task._target_.endswith({"translation": "TranslationTask",
                                       "regression": "RegressionTask"}.get(task, "ClassificationTask"))
    assert cfg.task.monitor == {"translation": "val/bleu", "classification": "val/f1_mean",
                                "regression": "val/mae"}[task]


def test_default_is_gan_on_synthetic_mt(compose):
    cfg = compose()
    assert cfg.fusion._target_ == "fusionlab.fusion.gan.GANFusion"
    assert cfg.dataset._target_.endswith("SyntheticMTDataModule")


def test_explicit_task_wins_over_dataset_choice(compose):
    cfg = compose("dataset=synthetic_emotion", "task=classification", "task.protocol=fourway")
    assert cfg.task.protocol == "fourway"


def test_wrong_option_name_lists_available_options(compose):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException) as e:
        compose("fusion=does_not_exist")
    message = str(e.value)
    assert "fusion/does_not_exist" in message
    assert "gan" in message and "auto" in message
