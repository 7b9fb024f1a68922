"""GAN-Fusion (Sahu & Vechtomova, 2021), implemented without the published code's bugs.

For every target modality t (one head each):
  z_g  = G_t(z_t + ε), ε ~ N(0, noise_std²) during training        generator, (B, d)
         (``relative_noise``, default: ε scaled by z_t's per-feature batch std. With a fixed 0.01,
         the adversarial game drove the image encoder's output below the noise floor on
         synthetic_mt (batch std 0.005), the generator's BatchNorm hid the shrinking from the task
         loss, and the image was ignored.)
  z_tr = AutoFusion over the other modalities (with its recon loss)  "real" sample, (B, d)
         (``detach_target``: see fusionlab/fusion/auto.py)
  D_t learns to call z_tr real and z_g fake; G_t learns to fool D_t.
  fusionlab: z_g = z_t + G_t(z_t + ε), G_t's last layer zero-initialised (``generator_residual``).
Fused vector: ReLU(L2(tanh(L1 [z_g^1; ...; z_g^M]))) (B, d_out); fusionlab (``fused=autofusion``): the
same block as an AutoFusion whose reconstruction target is the detached [z_1; ...; z_M] (loss
"recon_fused", weight ``fused_recon_weight``).

Training choices that differ from the paper's text are options grouped by ``variant``
("fusionlab" default, "paper" = the literal text; see VARIANTS): the discriminator's normalisation
(``discriminator_norm``: spectral by default, because a BatchNorm discriminator cannot see the
generator outputs' scale and let them grow ~5x past z_tr on synthetic_mt), its Adam (``d_lr``,
``d_betas``), ``relative_noise``, ``detach_target``, ``fused``, ``generator_residual`` and
``adv_warmup_steps`` (adv_weight ramps linearly from 0 over that many steps). ``compressor_norm``
(default "none", the paper's) puts AutoFusion's LayerNorms into the fused block and the complementary
AutoFusions (``complementary_norm`` sets the latter apart); ``discriminator_input_norm=layer`` makes
D see layer-normalised latents. Neither helped (README, "Reproducing the paper").

Why (synthetic_mt, issue 9; per validation epoch: the count/colour words of the hypotheses, linear
probes of count and colour from each latent, D's accuracy, latent norms):
- The paper's fused vector (an MLP over the generator outputs) loses the colour in the image
  generator: probes read it from z_image on 100 % of samples but from G's output on 34-60 % and
  from z on 39-48 %, the decoder's colour word stays at chance (seed 2: 46.8 BLEU; seeds 1-5 42.8-54.0).
  z_tr barely varies (per-feature std 0.02-0.14 against 0.46-1.4 for z_g), so fooling D means
  flattening z_g. The residual generators and the AutoFusion block keep the colour in z (probe
  0.96-0.99), yet seed 1 scored 58.6:
- with the adversarial term on from step 0, D wins outright for ~150 steps (accuracy 1.0 / 1.0), the
  generator outputs grow from norm 5 to 36-43 (z_tr: 1-5), the fused block's tanh saturates (83 %)
  and the first epoch is lost (validation BLEU 1.3; 13 with adv_weight=0); the decoder then learns
  the colour word slowly (42 % right at the end). adv_weight=0 learns it by epoch 3 (75.7). Ramping
  the weight over 600 generator steps (training batches; Lightning's global_step counts 2 per batch,
  one per optimizer), i.e. twice the default run's 300, so it ends at 0.5·adv_weight (D trains
  throughout; its accuracy then 0.5-0.9): seeds 1-5 74.4, 75.2, 74.2, 70.7, 80.5 (ceiling + 10 =
  59.3); over 300 steps (the full weight at the run's end) 64.5 (seed 1). Not the cause (seed 1, same options): D's lr 3e-4 58.5, the adversarial
  gradient stopped at the generator's input 58.2, no gradient clipping 65.9, a tanh on G's output
  55.1, complementary_norm=layer 64.9.

Training (driven by the task module, manual optimization):
  generator/task step: task + recon_weight·recon (+ fused_recon_weight·recon_fused)
    + adv_weight·min(1, step/adv_warmup_steps)·BCE(D(z_g), real), every parameter but D's;
  discriminator step: :meth:`discriminator_loss` on that step's *detached* z_tr and z_g, only D stepped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionlab.errors import ConfigError
from fusionlab.fusion.auto import AutoEncoderFusion
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.fusion.mlp import COMPRESSOR_NORMS, bn_leaky_stack, compressor


DISCRIMINATOR_NORMS = ("batch", "none", "spectral")
GENERATOR_NORMS = ("batch", "none")
FUSED = ("compressor", "autofusion")
DISCRIMINATOR_INPUT_NORMS = ("none", "layer")


def generator(d: int, norm: str) -> nn.Sequential:
    """(B, d) -> (B, d): Linear(d, 2d) -> norm -> LeakyReLU(0.2) -> Linear(2d, 2d) -> norm ->
    LeakyReLU(0.2) -> Linear(2d, d); norm="batch" is the paper's, "none" drops the BatchNorm."""
    if norm == "batch":
        return bn_leaky_stack([d, 2 * d, 2 * d], d)
    return nn.Sequential(nn.Linear(d, 2 * d), nn.LeakyReLU(0.2), nn.Linear(2 * d, 2 * d),
                         nn.LeakyReLU(0.2), nn.Linear(2 * d, d))


def discriminator(d: int, norm: str) -> nn.Sequential:
    """(B, d) -> (B, 1) logits: [Linear -> norm -> LeakyReLU(0.2)] x 2 -> Linear(d, 1).

    norm="batch" is the paper's Linear-BN-LeakyReLU; "none" drops the BatchNorm; "spectral" drops
    it and spectrally normalises every Linear (Miyato et al., 2018).
    """
    if norm == "batch":
        return bn_leaky_stack([d, d, d], 1)
    # the hook-based spectral_norm, not torch.nn.utils.parametrizations': parametrized modules
    # cannot be pickled, which ddp_spawn does to every worker
    wrap = nn.utils.spectral_norm if norm == "spectral" else (lambda m: m)
    return nn.Sequential(wrap(nn.Linear(d, d)), nn.LeakyReLU(0.2), wrap(nn.Linear(d, d)),
                         nn.LeakyReLU(0.2), wrap(nn.Linear(d, 1)))


#: Training choices per variant; an option left null in the config takes its variant's value.
#: "paper" is the literal text (DESIGN.md section 4): BatchNorm discriminator, the task's Adam for
#: D, noise of fixed std, reconstruction loss through its target. "fusionlab" changes the choices
#: that measurably broke training (README, "Reproducing the paper").
VARIANTS = {
    "paper": {"detach_target": False, "relative_noise": False, "discriminator_norm": "batch",
              "d_lr": None, "d_betas": None, "fused": "compressor", "generator_residual": False,
              "adv_warmup_steps": 0},
    "fusionlab": {"detach_target": True, "relative_noise": True, "discriminator_norm": "spectral",
                  "d_lr": None, "d_betas": None, "fused": "autofusion", "generator_residual": True,
                  "adv_warmup_steps": 600},
}


class GANHead(nn.Module):
    """Generator, complementary AutoFusion and discriminator for one target modality."""

    def __init__(self, d: int, n_complementary: int, detach_target: bool = True,
                 discriminator_norm: str = "batch", generator_norm: str = "batch",
                 compressor_norm: str = "none", residual: bool = False):
        super().__init__()
        self.generator = generator(d, generator_norm)
        if residual:  # z_g = z_t + G(z_t + ε) starts as z_t
            nn.init.zeros_(self.generator[-1].weight)
            nn.init.zeros_(self.generator[-1].bias)
        self.complementary = AutoEncoderFusion(n_complementary * d, d, detach_target, compressor_norm)
        self.discriminator = discriminator(d, discriminator_norm)


class GANFusion(Fusion):
    """dict of Encoded (vec (B, d_in)) -> FusionOutput(z (B, d_out), losses {"recon", "adv_g"},
    extras {"z_real": (B, M, d_in), "z_fake": (B, M, d_in)} for latent-space plots)."""

    def __init__(self, modalities, d_in: int, d_out: int, *, recon_weight: float,
                 adv_weight: float, noise_std: float, variant: str,
                 detach_target: bool | None, relative_noise: bool | None,
                 discriminator_norm: str | None, generator_norm: str,
                 d_lr: float | None, d_betas: tuple[float, float] | None,
                 compressor_norm: str, complementary_norm: str | None, fused: str | None,
                 fused_recon_weight: float,
                 generator_residual: bool | None, discriminator_input_norm: str,
                 adv_warmup_steps: int | None):
        super().__init__(modalities, d_in, d_out,
                         loss_weights={"recon": recon_weight, "adv_g": adv_weight,
                                       "recon_fused": fused_recon_weight})
        if len(self.modalities) < 2:
            raise ConfigError(
                f"fusion=gan needs at least two modalities, the dataset gives {self.modalities}; "
                "enable a second modality (e.g. dataset.features=avgpool) or use fusion=text_only")
        if variant not in VARIANTS:
            raise ConfigError(f"fusion.variant={variant!r}: use one of {', '.join(VARIANTS)}")
        given = {"detach_target": detach_target, "relative_noise": relative_noise,
                 "discriminator_norm": discriminator_norm, "d_lr": d_lr, "d_betas": d_betas,
                 "fused": fused, "generator_residual": generator_residual,
                 "adv_warmup_steps": adv_warmup_steps}
        opts = {k: VARIANTS[variant][k] if v is None else v for k, v in given.items()}
        self.variant, self.options = variant, opts
        fused, generator_residual = opts["fused"], bool(opts["generator_residual"])
        #: Adam options of the discriminator step (None: the task optimizer's), read by the task
        self.discriminator_optimizer = {
            "lr": opts["d_lr"], "betas": None if opts["d_betas"] is None else tuple(opts["d_betas"])}
        self.noise_std = float(noise_std)
        self.relative_noise = bool(opts["relative_noise"])
        for name, value, allowed in (("discriminator_norm", opts["discriminator_norm"], DISCRIMINATOR_NORMS),
                                     ("generator_norm", generator_norm, GENERATOR_NORMS),
                                     ("compressor_norm", compressor_norm, COMPRESSOR_NORMS),
                                     ("complementary_norm", complementary_norm or compressor_norm,
                                      COMPRESSOR_NORMS),
                                     ("fused", fused, FUSED),
                                     ("discriminator_input_norm", discriminator_input_norm,
                                      DISCRIMINATOR_INPUT_NORMS)):
            if value not in allowed:
                raise ConfigError(f"fusion.{name}={value!r}: use one of {', '.join(allowed)}")
        m = len(self.modalities)
        self.heads = nn.ModuleDict({
            t: GANHead(d_in, m - 1, bool(opts["detach_target"]), opts["discriminator_norm"],
                       generator_norm, complementary_norm or compressor_norm, bool(generator_residual))
            for t in self.modalities})
        self.generator_residual = bool(generator_residual)
        self.adv_weight, self.adv_warmup_steps = float(adv_weight), int(opts["adv_warmup_steps"])
        #: training forward passes so far (one per batch: the generator step), for the adversarial warm-up; a
        #: buffer, so a resumed run continues its warm-up (_steps: its value on the host, no sync)
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))
        self._steps = 0
        self._ramp_adversarial_weight()
        self.discriminator_input_norm = discriminator_input_norm
        self.fused = fused
        if fused == "autofusion":
            self.fuse = AutoEncoderFusion(m * d_in, d_out, True, compressor_norm)
        else:
            self.fuse = compressor(m * d_in, d_out, compressor_norm)

    def _d_input(self, z: Tensor) -> Tensor:
        """What a discriminator sees of a (B, d) latent: as is, or layer-normalised (no parameters)."""
        return F.layer_norm(z, z.shape[-1:]) if self.discriminator_input_norm == "layer" else z

    def _complement(self, encoded: dict[str, Encoded], target: str) -> Tensor:
        return torch.cat([encoded[m].vec for m in self.modalities if m != target], dim=-1)

    def _real_and_fake(self, encoded: dict[str, Encoded], target: str):
        head = self.heads[target]
        z_t = encoded[target].vec
        if self.training and self.noise_std > 0:
            scale = self.noise_std
            if self.relative_noise:  # per-feature batch std, so shrinking z_t cannot drown it
                scale = scale * z_t.detach().std(0, keepdim=True).clamp(min=1e-6)
            z_t = z_t + scale * torch.randn_like(z_t)
        z_g = head.generator(z_t)
        if self.generator_residual:
            z_g = encoded[target].vec + z_g
        z_tr, recon = head.complementary(self._complement(encoded, target))
        return z_tr, z_g, recon

    def _ramp_adversarial_weight(self) -> None:
        """loss_weights["adv_g"] = adv_weight · min(1, train_steps / adv_warmup_steps) (adv_weight
        without warm-up), so the total loss and the logged adversarial share both use it."""
        ramp = 1.0 if self.adv_warmup_steps <= 0 else min(1.0, self._steps / self.adv_warmup_steps)
        self.loss_weights["adv_g"] = self.adv_weight * ramp

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the warm-up existed have no step count: their warm-up is over
        state_dict.setdefault(prefix + "train_steps", torch.tensor(self.adv_warmup_steps))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._steps = int(self.train_steps)
        self._ramp_adversarial_weight()

    def forward(self, encoded: dict[str, Encoded]) -> FusionOutput:
        if self.training:
            self.train_steps.add_(1)
            self._steps += 1
            self._ramp_adversarial_weight()
        fakes, reals, recons, advs = [], [], [], []
        for t in self.modalities:
            z_tr, z_g, recon = self._real_and_fake(encoded, t)
            logits = self.heads[t].discriminator(self._d_input(z_g))
            advs.append(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
            fakes.append(z_g)
            reals.append(z_tr)
            recons.append(recon)
        losses = {"recon": torch.stack(recons).mean(), "adv_g": torch.stack(advs).mean()}
        if self.fused == "autofusion":  # target: the modality latents, detached
            z, losses["recon_fused"] = self.fuse(torch.cat(fakes, dim=-1), self.concatenated(encoded))
        else:
            z = self.fuse(torch.cat(fakes, dim=-1))
        return FusionOutput(
            z=z,
            losses=losses,
            extras={"z_real": torch.stack(reals, 1).detach(), "z_fake": torch.stack(fakes, 1).detach()},
        )

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [p for h in self.heads.values() for p in h.discriminator.parameters()]

    def discriminator_loss(self, encoded: dict[str, Encoded], out: FusionOutput | None = None) -> Tensor:
        """Mean over heads of BCE(D(z_tr), real) + BCE(D(z_g), fake) on detached z_tr and z_g.

        ``out``: this step's forward output; its extras (already detached) are reused, so the
        generator runs once per step. Without it, z_tr and z_g are recomputed under no_grad.
        """
        if out is not None and "z_real" in out.extras:
            reals, fakes = out.extras["z_real"].detach(), out.extras["z_fake"].detach()
        else:
            with torch.no_grad():
                pairs = [self._real_and_fake(encoded, t)[:2] for t in self.modalities]
            reals = torch.stack([p[0] for p in pairs], 1)
            fakes = torch.stack([p[1] for p in pairs], 1)
        losses, acc_real, acc_fake = [], [], []
        for i, t in enumerate(self.modalities):
            d = self.heads[t].discriminator
            real, fake = d(self._d_input(reals[:, i])), d(self._d_input(fakes[:, i]))
            losses.append(F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                          + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
            acc_real.append((real.detach() > 0).float().mean())
            acc_fake.append((fake.detach() < 0).float().mean())
        self.last_discriminator_stats = {
            "d_acc_real": torch.stack(acc_real).mean(), "d_acc_fake": torch.stack(acc_fake).mean(),
            "z_real_std": reals.std(0).mean(), "z_fake_std": fakes.std(0).mean(),
            "z_real_norm": reals.norm(dim=-1).mean(), "z_fake_norm": fakes.norm(dim=-1).mean()}
        return torch.stack(losses).mean()
