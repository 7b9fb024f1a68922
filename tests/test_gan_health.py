"""What a GAN-Fusion user watches: discriminator accuracy, latent scales and the adversarial share are
logged, and a discriminator that saturates is reported once (or stops the run when asked).

The saturating discriminator is injected: it calls a latent "real" exactly when none of its entries
is negative. AutoFusion's z_tr ends in a ReLU (never negative) while the generator's last layer is
linear, so this discriminator wins outright: accuracy 1 on both, loss ~0, no signal for G.
"""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import fusionlab.fusion.gan as gan
from fusionlab.cli import train
from fusionlab.errors import NumericalError
from fusionlab.fusion import build_fusion
from tests.test_faults import tiny_cfg
from tests.test_resume import searchpath  # noqa: F401 (fixture)

WARNING = "discriminator collapse: discriminator accuracy >= 0.995 on real and generated latents"


class SignDiscriminator(nn.Module):
    """(B, d) -> (B, 1) logits: +scale where min(x) >= 0, -scale elsewhere (one trainable scale;
    3 keeps the loss at ~0.1, above the loss threshold, so the accuracy rule must catch it)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x):
        return self.scale * ((x.min(-1, keepdim=True).values >= 0).float() * 2 - 1)


@pytest.fixture
def saturating_discriminator(monkeypatch):
    monkeypatch.setattr(gan, "discriminator", lambda d, norm: SignDiscriminator())


def collapse_warnings(caplog):
    return [r.message for r in caplog.records if "discriminator collapse" in r.message]


def test_saturating_discriminator_is_reported_once(tmp_path, searchpath, caplog,
                                                   saturating_discriminator):
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=2", "test=false",
                   "callbacks.discriminator_collapse.patience=4")
    with caplog.at_level(logging.WARNING, logger="fusionlab.callbacks.numeric_guard"):
        train(cfg)
    messages = collapse_warnings(caplog)
    assert len(messages) == 1 and messages[0].startswith(WARNING), messages


def test_saturating_discriminator_stops_the_run_when_asked(tmp_path, searchpath,
                                                           saturating_discriminator):
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=2",
                   "callbacks.discriminator_collapse.patience=4",
                   "callbacks.discriminator_collapse.action=stop")
    with pytest.raises(NumericalError, match=WARNING + " for 4 consecutive steps"):
        train(cfg)


def test_gan_health_metrics_are_logged(tmp_path, searchpath, saturating_discriminator):
    """The injected discriminator's accuracies are known exactly (1 and 1); the adversarial share
    is |adv_weight * ramp * adv_g| / |total| (ramp: the warm-up's step / adv_warmup_steps)."""
    from fusionlab.run.build import build_datamodule, build_model

    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "fusion.adv_weight=0.5", "fusion.adv_warmup_steps=4")
    dm = build_datamodule(cfg.dataset)
    model = build_model(cfg, dm.spec)
    batch = next(iter(dm.train_dataloader()))
    terms, out, encoded = model.losses(batch)
    model.fusion.discriminator_loss(encoded, out)
    stats = model.fusion.last_discriminator_stats
    assert stats["d_acc_real"].item() == 1.0 and stats["d_acc_fake"].item() == 1.0
    reals, fakes = out.extras["z_real"], out.extras["z_fake"]
    assert torch.allclose(stats["z_fake_std"], fakes.std(0).mean())
    assert torch.allclose(stats["z_real_norm"], reals.norm(dim=-1).mean())
    logged = {}
    model.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    model.adversarial.log_health(terms, len(batch))
    expected = 0.5 * (1 / 4) * terms["adv_g"].item() / terms["total"].item()  # step 1 of a 4-step warm-up
    assert logged["train/adv_share"] == pytest.approx(expected, rel=1e-5)
    assert {"train/d_acc_real", "train/d_acc_fake", "train/z_fake_norm"} <= set(logged)


def test_paper_variant_restores_every_literal_choice_and_explicit_options_win():
    from fusionlab.errors import ConfigError

    kinds = lambda f: {type(m) for m in f.heads["text"].discriminator.modules()}  # noqa: E731
    paper = build_fusion("gan", ["text", "image"], 8, 8, variant="paper")
    assert nn.BatchNorm1d in kinds(paper)
    assert not paper.relative_noise and not paper.heads["text"].complementary.detach_target
    assert paper.discriminator_optimizer == {"lr": None, "betas": None}
    ours = build_fusion("gan", ["text", "image"], 8, 8)
    assert nn.BatchNorm1d not in kinds(ours) and ours.relative_noise
    assert hasattr(ours.heads["text"].discriminator[0], "weight_orig")  # spectral norm (hook-based)
    mixed = build_fusion("gan", ["text", "image"], 8, 8, variant="paper", discriminator_norm="spectral",
                         d_lr=2e-4, d_betas=[0.5, 0.999])
    assert nn.BatchNorm1d not in kinds(mixed) and not mixed.relative_noise
    assert mixed.discriminator_optimizer == {"lr": 2e-4, "betas": (0.5, 0.999)}
    # the fused vector, the generators and the adversarial weight: the paper's MLP on G(z_t + ε) at
    # a constant weight; fusionlab's AutoFusion block on z_t + G(z_t + ε), weight ramped over 600 steps
    assert (paper.fused, paper.generator_residual, paper.adv_warmup_steps) == ("compressor", False, 0)
    assert (ours.fused, ours.generator_residual, ours.adv_warmup_steps) == ("autofusion", True, 600)
    assert paper.loss_weights["adv_g"] == 1.0 and ours.loss_weights["adv_g"] == 0.0
    with pytest.raises(ConfigError, match="fusion.variant='literal'"):
        build_fusion("gan", ["text", "image"], 8, 8, variant="literal")


def test_discriminator_adam_options_reach_the_optimizer():
    from fusionlab.tasks.classification import ClassificationTask
    from tests.tiny import TinyEmotionDataModule

    dm = TinyEmotionDataModule()
    dm.setup()
    task = ClassificationTask(dm.spec.to_dict(), latent_dim=8, optimizer={"lr": 1e-3},
                              fusion=lambda **kw: build_fusion("gan", **kw, d_lr=2e-4, d_betas=(0.5, 0.9)))
    opt_g, opt_d = task.configure_optimizers()
    assert opt_g.param_groups[0]["lr"] == 1e-3 and opt_g.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt_d.param_groups[0]["lr"] == 2e-4 and opt_d.param_groups[0]["betas"] == (0.5, 0.9)


def test_generator_scale_divergence_is_reported(tmp_path, searchpath, caplog):
    """scale_ratio=0.5: generated latents larger than half of z_tr's norm count as diverging, which a
    fresh generator's are (norm ~ sqrt(d) after its BatchNorm'd layers, z_tr ~ ReLU outputs)."""
    cfg = tiny_cfg(searchpath, tmp_path, "fusion=gan", "trainer.max_epochs=1", "test=false",
                   "callbacks.discriminator_collapse.patience=3",
                   "callbacks.discriminator_collapse.scale_ratio=0.5")
    with caplog.at_level(logging.WARNING, logger="fusionlab.callbacks.numeric_guard"):
        train(cfg)
    messages = [r.message for r in caplog.records if "generator outputs diverge" in r.message]
    assert len(messages) == 1 and "for 3 consecutive steps" in messages[0], messages


def test_issue9_options_residual_generator_autofusion_fused_vector_and_scale_free_discriminator():
    """The options measured in README "Reproducing the paper" (issue 9), checked against their formulas."""
    from fusionlab.errors import ConfigError
    from fusionlab.fusion.base import Encoded

    torch.manual_seed(0)
    f = build_fusion("gan", ["text", "image"], 8, 6, fused="autofusion", generator_residual=True,
                     discriminator_input_norm="layer", compressor_norm="layer", complementary_norm="none")
    enc = {"text": Encoded(torch.randn(5, 8)), "image": Encoded(torch.randn(5, 8))}
    f.eval()
    out = f(enc)
    # z_g = z_t + G(z_t): G's last layer starts at zero, so the generated latent starts as z_t
    assert torch.equal(out.extras["z_fake"][:, 0], enc["text"].vec)
    # fused vector: an AutoFusion block on [z_g], reconstructing the modality latents [z_text; z_image]
    latents = torch.cat([enc["text"].vec, enc["image"].vec], -1)
    fakes = out.extras["z_fake"].flatten(1)
    expected = ((f.fuse.reconstruct(f.fuse.compress(fakes)) - latents) ** 2).mean()
    assert torch.allclose(out.losses["recon_fused"], expected)
    assert nn.LayerNorm in {type(m) for m in f.fuse.modules()}
    assert nn.LayerNorm not in {type(m) for m in f.heads["text"].complementary.modules()}
    # the discriminator sees layer-normalised latents (z - mean) / std per row: scale cannot show
    z = torch.randn(5, 8)
    expected = (z - z.mean(-1, keepdim=True)) / z.var(-1, unbiased=False, keepdim=True).add(1e-5).sqrt()
    assert torch.allclose(f._d_input(z), expected, atol=1e-5)
    assert torch.allclose(f._d_input(10 * z + 3), f._d_input(z), atol=1e-3)
    with pytest.raises(ConfigError, match="fusion.fused='mlp'"):
        build_fusion("gan", ["text", "image"], 8, 6, fused="mlp")


def test_adversarial_warmup_ramps_the_weight_linearly_and_resumes_from_a_checkpoint():
    """adv_warmup_steps=N: the adversarial term's weight at training step k is adv_weight·min(1, k/N);
    evaluation does not advance it; a checkpoint carries the step count (one without it: warm-up over)."""
    from fusionlab.fusion.base import Encoded

    torch.manual_seed(0)
    make = lambda: build_fusion("gan", ["text", "image"], 8, 6, adv_weight=2.0, recon_weight=1.0,  # noqa: E731
                                fused_recon_weight=10.0, adv_warmup_steps=4)
    f = make()
    enc = {"text": Encoded(torch.randn(5, 8)), "image": Encoded(torch.randn(5, 8))}
    for k in range(1, 7):
        out = f(enc)
        ls = out.losses
        expected = ls["recon"] + 2.0 * min(1.0, k / 4) * ls["adv_g"] + 10.0 * ls["recon_fused"]
        assert torch.allclose(f.weighted_loss(ls), expected), k
        if k == 2:
            mid = {key: v.clone() for key, v in f.state_dict().items()}
    f.eval()
    f(enc)
    assert int(f.train_steps) == 6 and f.loss_weights["adv_g"] == 2.0
    resumed = make()
    resumed.load_state_dict(mid)
    assert resumed.loss_weights["adv_g"] == 2.0 * 2 / 4
    resumed.train()
    resumed(enc)
    assert resumed.loss_weights["adv_g"] == 2.0 * 3 / 4
    old = make()
    old.load_state_dict({key: v for key, v in mid.items() if key != "train_steps"})
    assert old.loss_weights["adv_g"] == 2.0
