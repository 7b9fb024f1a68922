"""Task modules: checkpoints of the code before the task refactor still load and compute the same
numbers; the optimizer group is a switch; task.protocol's old name; regression is its own task."""

from __future__ import annotations

import functools
import io
import logging
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fusionlab.contracts import Batch
from fusionlab.errors import ConfigError
from fusionlab.heads.rnn_decoder import RNNDecoder
from fusionlab.heads.transformer_decoder import TransformerDecoder
from fusionlab.tasks.classification import ClassificationTask
from fusionlab.tasks.translation import TranslationTask
from tests.tiny import TinyEmotionDataModule

OLD = Path(__file__).parent / "data" / "pre_refactor_checkpoints.pt"
CONF = Path(__file__).parents[1] / "conf"
# the GAN-Fusion choices of commit 87a1e04, made options (issue 9) whose defaults changed since
GAN = OmegaConf.create({"_target_": "fusionlab.fusion.gan.GANFusion", "_partial_": True,
                        "fused": "compressor", "generator_residual": False, "adv_warmup_steps": 0})


def gan_factory():
    """conf/fusion/gan.yaml's GANFusion with the choices the old checkpoints were built with."""
    node = OmegaConf.merge(OmegaConf.load(CONF / "fusion" / "gan.yaml"), GAN)
    return instantiate(node)


@pytest.fixture(scope="module")
def old():
    return torch.load(OLD, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("name", ["translation_gan", "translation_rnn", "emotion_gan"])
def test_checkpoints_written_before_the_refactor_load_and_compute_the_same(old, name):
    """tests/data/make_pre_refactor_checkpoints.py ran on commit 87a1e04: the model rebuilt from the
    checkpoint's hyper-parameters (a dict optimizer, protocol "mult") loads its state_dict strictly
    and gives the losses, parameter gradients, fused vectors and predictions the old code gave (the
    old TransformerDecoder attended over [z_proj(z); z; text], now built in one place). Values
    recorded from our own code: a change detector. Floats agree to float32 round-off, not bit for
    bit: the last bits depend on the CPU's kernels (the recorded values were bit-equal on the machine
    that wrote them and differ in the last bits on another), and the translation loss now projects
    only the non-pad positions, a different summation order."""
    entry = old[name]
    hparams = dict(entry["checkpoint"]["hyper_parameters"])
    if name == "translation_gan":
        task = TranslationTask(**hparams, fusion=gan_factory(),
                               decoder=functools.partial(TransformerDecoder, num_layers=1, nhead=2, ff=32,
                                                         dropout=0.1))
    elif name == "translation_rnn":
        task = TranslationTask(**hparams, fusion=instantiate(OmegaConf.load(CONF / "fusion" / "concat.yaml")),
                               decoder=functools.partial(RNNDecoder, embed_dim=16, attention=True, dropout=0.2,
                                                         z_input=False, z_in_memory=True))  # the decoder of then
    else:
        task = ClassificationTask(**hparams, fusion=gan_factory())
        assert task.protocol == "binary"
    task.load_state_dict(entry["checkpoint"]["state_dict"], strict=True)
    task.eval()
    batch = Batch(**entry["batch"])
    expected = entry["outputs"]
    terms, out, encoded = task.losses(batch)
    out.z.retain_grad()
    terms["total"].backward()
    grad_norms = torch.stack([p.grad.norm() for p in task.parameters() if p.grad is not None])
    close = functools.partial(torch.testing.assert_close, rtol=1e-5, atol=1e-7)
    close(out.z.grad, expected["z_grad"])
    close(grad_norms, expected["grad_norms"])
    with torch.no_grad():
        for k, v in terms.items():
            close(v, expected[f"loss_{k}"], msg=k)
        close(out.z, expected["z"])
        if name.startswith("translation"):
            for beam in (1, 2):
                assert task.translate(out, encoded, beam) == expected[f"beam{beam}"]
        else:
            assert torch.equal(task.head.predict(task.head(out.z)), expected["pred"])
    if name.endswith("gan"):  # the adversarial strategy builds its optimizers from the old dict options
        opt_g, opt_d = task.configure_optimizers()
        assert type(opt_g) is torch.optim.Adam and opt_d.param_groups[0]["lr"] == hparams["optimizer"]["lr"]


def tiny_task(compose, *overrides):
    """The task of `dataset=synthetic_emotion <overrides>` built on tests/tiny.py's data."""
    cfg = compose("dataset=synthetic_emotion", *overrides)
    dm = TinyEmotionDataModule()
    dm.setup()
    return instantiate(cfg.task, data_spec=dm.spec.to_dict(), fusion=instantiate(cfg.fusion),
                       encoder=OmegaConf.to_container(cfg.encoder, resolve=True), _convert_="all")


def test_optimizer_group_switches_the_optimizer_and_keeps_the_dataset_lr(compose):
    adam = tiny_task(compose, "fusion=concat").configure_optimizers()
    assert type(adam) is torch.optim.Adam
    assert adam.defaults["lr"] == 2e-3 and adam.defaults["betas"] == (0.9, 0.999)  # synthetic_emotion's lr
    assert adam.defaults["weight_decay"] == 0.0
    adamw = tiny_task(compose, "fusion=concat", "optimizer=adamw").configure_optimizers()
    assert type(adamw) is torch.optim.AdamW
    assert adamw.defaults["lr"] == 2e-3 and adamw.defaults["weight_decay"] == 0.01
    lr = tiny_task(compose, "fusion=concat", "task.optimizer.lr=0.0123").configure_optimizers()
    assert lr.defaults["lr"] == 0.0123


def test_discriminator_lr_option_and_weights_only_hyper_parameters(compose):
    task = tiny_task(compose, "fusion=gan", "optimizer=adamw", "task.optimizer.d_lr=5e-4")
    opt_g, opt_d = task.configure_optimizers()
    assert type(opt_g) is type(opt_d) is torch.optim.AdamW
    assert opt_g.defaults["lr"] == 2e-3 and opt_d.defaults["lr"] == 5e-4
    assert opt_d.defaults["weight_decay"] == 0.01
    buffer = io.BytesIO()
    torch.save({"hyper_parameters": dict(task.hparams)}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)  # no partial optimizer in the checkpoint
    assert "optimizer" not in loaded["hyper_parameters"]


def test_protocol_old_name_is_accepted_with_a_log_line_and_unknown_ones_are_refused(caplog):
    dm = TinyEmotionDataModule()
    dm.setup()
    concat = instantiate(OmegaConf.load(CONF / "fusion" / "concat.yaml"))
    with caplog.at_level(logging.WARNING, logger="fusionlab.tasks.classification"):
        task = ClassificationTask(dm.spec.to_dict(), fusion=concat, latent_dim=8, protocol="mult")
    assert task.protocol == "binary" and "task.protocol=mult is the old name of task.protocol=binary" in caplog.text
    with pytest.raises(ConfigError, match="task.protocol must be 'binary' or 'fourway', got 'multi'"):
        ClassificationTask(dm.spec.to_dict(), fusion=concat, latent_dim=8, protocol="multi")
    spec = dm.spec.to_dict()
    spec["task"] = "regression"
    with pytest.raises(ConfigError, match="use task=regression"):
        ClassificationTask(spec, fusion=concat, latent_dim=8)


@pytest.mark.parametrize("protocol", ["binary", "mult", "fourway"])
def test_the_checkpoint_monitor_follows_the_protocol(compose, protocol):
    """task.protocol=fourway used to keep monitoring val/f1_mean, which 4-way never logs: the run
    stopped at its first validation. The default monitor is now a metric the protocol reports."""
    cfg = compose("dataset=synthetic_emotion", "fusion=concat", f"task.protocol={protocol}")
    assert cfg.callbacks.model_checkpoint.monitor == cfg.task.monitor
    task = tiny_task(compose, "fusion=concat", f"task.protocol={protocol}")
    dm = TinyEmotionDataModule()
    dm.setup()
    batch = dm.train_dataloader().collate_fn([dm.splits["val"][i] for i in range(16)])
    with torch.no_grad():
        _, out, encoded = task.losses(batch)
        metrics, _ = task.eval_metrics(task.eval_step(batch, out, encoded, "val"), "val")
    assert cfg.task.monitor.removeprefix("val/") in metrics
