"""Run configs written by earlier fusionlab versions, brought up to today's options and tasks.

eval.py rebuilds a model from its run's ``.hydra/config.yaml``, which names every fusion option the
run's version had. An option added later is missing there: it takes the value that reproduces how
the run was trained (:data:`ADDED_OPTIONS`, where that differs from today's default), else today's
value from ``conf/fusion/<name>.yaml`` (the class has no second default). An RNN decoder written
before ``z_input`` existed did not feed z to every step (``z_input: false``) and had z in its
attention memory (``z_in_memory: true``). A MOSI/MOSEI run written
before RegressionTask existed names ClassificationTask with the regression monitor ``val/mae`` (the
only task config that had it) and an ignored ``protocol``: it gets RegressionTask. A line is logged
for each change.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger("fusionlab")

#: fusion class -> {option added later: the value every run written before it was trained with}
ADDED_OPTIONS: dict[str, dict[str, object]] = {
    # LayerNorms in AutoFusion's compressor (issue 9): older runs have none, and their checkpoints
    # hold no LayerNorm weights
    "fusionlab.fusion.auto.AutoFusion": {"compressor_norm": "none"},
    # GAN-Fusion's fused AutoFusion block and residual generators (issue 9): older runs have neither
    "fusionlab.fusion.gan.GANFusion": {"compressor_norm": "none", "fused": "compressor",
                                       "generator_residual": False, "adv_warmup_steps": 0},
    # TFN's LayerNorm on the fused vector (issue 9, synthetic_how2): older runs output the reference MLP
    "fusionlab.fusion.tfn.TensorFusion": {"out_norm": "none"},
}


def current_options(target: str, conf_dir: str | Path | None = None) -> DictConfig:
    """Today's options of the fusion class ``target``: the first conf/fusion/*.yaml building it."""
    if conf_dir is None:
        from fusionlab.config_dir import CONF_DIR

        conf_dir = CONF_DIR
    for path in sorted((Path(conf_dir) / "fusion").glob("*.yaml")):
        node = OmegaConf.load(path)
        if node.get("_target_") == target:
            return node
    return OmegaConf.create({})


CLASSIFICATION = "fusionlab.tasks.classification.ClassificationTask"
REGRESSION = "fusionlab.tasks.regression.RegressionTask"


def upgrade_task(cfg: DictConfig) -> None:
    """An old regression run's task node (ClassificationTask + monitor val/mae) -> RegressionTask."""
    task = cfg.get("task")
    if not isinstance(task, DictConfig) or task.get("_target_") != CLASSIFICATION \
            or task.get("monitor") != "val/mae":
        return
    with open_dict(task):
        task["_target_"] = REGRESSION
        task.pop("protocol", None)
    log.info("the run's config predates RegressionTask: its ClassificationTask with monitor val/mae "
             "is built as %s", REGRESSION)


RNN_DECODER = "fusionlab.heads.rnn_decoder.RNNDecoder"
#: RNN decoder options added later -> the value every run written before them was trained with
DECODER_ADDED_OPTIONS: dict[str, object] = {"z_input": False, "z_in_memory": True}


def upgrade_decoder(cfg: DictConfig) -> None:
    """An RNN decoder node without ``z_input`` / ``z_in_memory`` (issue 9) gets the values its run
    was trained with."""
    task = cfg.get("task")
    decoder = task.get("decoder") if isinstance(task, DictConfig) else None
    if not isinstance(decoder, DictConfig) or decoder.get("_target_") != RNN_DECODER:
        return
    with open_dict(decoder):
        for key, value in DECODER_ADDED_OPTIONS.items():
            if key not in decoder:
                decoder[key] = value
                log.info("the run's config predates task.decoder.%s: using %s (the value it was "
                         "trained with)", key, value)


def upgrade_run_config(cfg: DictConfig, conf_dir: str | Path | None = None) -> DictConfig:
    """``cfg`` (a run's config) with its task, its decoder and every fusion option it lacks brought
    up to date, in place."""
    upgrade_task(cfg)
    upgrade_decoder(cfg)
    fusion = cfg.get("fusion")
    if not isinstance(fusion, DictConfig) or "_target_" not in fusion:
        return cfg
    target = str(fusion["_target_"])
    legacy = ADDED_OPTIONS.get(target, {})
    with open_dict(fusion):
        for key, value in current_options(target, conf_dir).items():
            if key in fusion:
                continue
            filled = legacy.get(str(key), value)
            fusion[key] = filled
            why = "the value it was trained with" if str(key) in legacy else "today's default"
            log.info("the run's config predates fusion.%s: using %s (%s)", key, filled, why)
    return cfg
