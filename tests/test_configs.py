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


def dataset_fusion_pairs() -> list[tuple[str, str]]:
    """conf/dataset_fusion/<dataset>_<fusion>.yaml as (dataset, fusion); every name must split so."""
    datasets, fusions = options("dataset"), options("fusion")
    pairs = []
    for name in options("dataset_fusion"):
        split = [(d, name[len(d) + 1:]) for d in datasets if name.startswith(d + "_")]
        split = [(d, f) for d, f in split if f in fusions]
        assert len(split) == 1, f"conf/dataset_fusion/{name}.yaml is not <dataset>_<fusion>"
        pairs.append(split[0])
    return pairs


@pytest.mark.parametrize("dataset,fusion", dataset_fusion_pairs())
def test_dataset_fusion_file_applies_to_its_pair_only(compose, dataset, fusion):
    """Its settings win over the dataset's and the fusion's own; another fusion does not get them."""
    settings = OmegaConf.load(CONF_DIR / "dataset_fusion" / f"{dataset}_{fusion}.yaml")
    cfg = compose(f"dataset={dataset}", f"fusion={fusion}")
    for key, value in OmegaConf.to_container(settings).items():
        assert OmegaConf.to_container(cfg[key]) | value == OmegaConf.to_container(cfg[key]), key
    other = compose(f"dataset={dataset}", "fusion=gan" if fusion != "gan" else "fusion=concat")
    for key, value in OmegaConf.to_container(settings).items():
        assert OmegaConf.to_container(other[key]) | value != OmegaConf.to_container(other[key]), key


def test_mult_on_synthetic_mt_drops_no_embedding_and_the_reference_value_is_one_option_away(compose):
    assert compose("dataset=synthetic_mt", "fusion=mult").fusion.embed_dropout == 0.0
    assert compose("dataset=multi30k", "fusion=mult").fusion.embed_dropout == 0.25  # the reference
    assert compose("dataset=synthetic_mt", "fusion=mult",
                   "fusion.embed_dropout=0.25").fusion.embed_dropout == 0.25
    # the paper table on the embedded dataset runs the same MulT a single run gets
    assert compose("experiment=paper/table_multi30k", "fusion=mult").fusion.embed_dropout == 0.0
