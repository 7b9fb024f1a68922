"""Adversarial training: the strategy a task uses when its fusion declares a discriminator.

Chosen from the fusion's declaration (``Fusion.has_discriminator``: GAN-Fusion, or any fusion whose
``discriminator_parameters()`` is not empty), with Lightning's manual optimization and two optimizers:

1. generator/task step: the task loss + the fusion's weighted auxiliary terms, on every task parameter
   except the discriminator's (the fusion's :meth:`~fusionlab.fusion.base.Fusion.generator_parameters`
   plus the encoders' and the head's), gradients clipped to ``task.grad_clip``;
2. discriminator step: ``fusion.discriminator_loss(encoded, out)`` on detached inputs, only the
   discriminator's parameters.

The discriminator's optimizer is the task's (same class and options) with, in this order of
precedence, ``task.optimizer.d_lr``, then the fusion's ``discriminator_optimizer["lr"]``, then the task's
lr; its betas are the fusion's ``discriminator_optimizer["betas"]`` when set. Schedulers step once per
batch. Fusions without a discriminator (including adversarial fusion, whose modality discriminator
trains through gradient reversal in the single step) use Lightning's automatic optimization.

Logged per step: ``train/loss_d`` and the fusion's ``last_discriminator_stats`` (D accuracy on real and
generated latents, latent norms), plus ``train/adv_share`` = |adv_weight·adv_g| / |total loss|.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn
from torch.optim import Optimizer

from fusionlab.contracts import ADVERSARIAL_TERM, DISCRIMINATOR_TERM, Batch, Encoded, FusionOutput
from fusionlab.tasks.optimizers import OptimizerFactory

if TYPE_CHECKING:
    from fusionlab.tasks.base import FusionTask


class AdversarialTraining:
    """Alternating generator/task and discriminator steps for ``task`` (see the module docstring)."""

    def __init__(self, task: "FusionTask"):
        self.task = task

    def parameter_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(generator/task step parameters, discriminator parameters), in registration order."""
        fusion = self.task.fusion
        generator = {id(p) for p in fusion.generator_parameters()}
        discriminator = {id(p) for p in fusion.parameters() if id(p) not in generator}
        return ([p for p in self.task.parameters() if id(p) not in discriminator],
                fusion.discriminator_parameters())

    def optimizers(self, factory: OptimizerFactory) -> list[Optimizer]:
        own = self.task.fusion.discriminator_optimizer
        overrides = {"lr": factory.d_lr or own.get("lr") or factory.options["lr"]}
        if own.get("betas"):
            overrides["betas"] = tuple(own["betas"])
        generator, discriminator = self.parameter_groups()
        return [factory.make(generator), factory.make(discriminator, **overrides)]

    def training_step(self, batch: Batch, terms: dict[str, Tensor], out: FusionOutput,
                      encoded: dict[str, Encoded]) -> None:
        """Both steps for one batch whose losses ``terms`` were finite."""
        task = self.task
        opt_g, opt_d = task.optimizers()
        opt_g.zero_grad(set_to_none=True)
        task.manual_backward(terms["total"])
        if task.grad_clip > 0:
            task.clip_gradients(opt_g, gradient_clip_val=task.grad_clip, gradient_clip_algorithm="norm")
        opt_g.step()
        d_loss = task.fusion.discriminator_loss(encoded, out)
        terms[DISCRIMINATOR_TERM] = d_loss
        if task.check_finite({DISCRIMINATOR_TERM: d_loss}):
            opt_d.zero_grad(set_to_none=True)
            task.manual_backward(d_loss)
            opt_d.step()
        schedulers = task.lr_schedulers()
        for scheduler in [] if schedulers is None else \
                schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()
        task.log_terms(terms, "train", len(batch))
        self.log_health(terms, len(batch))

    def log_health(self, terms: dict[str, Tensor], batch_size: int) -> None:
        """What a GAN user watches: D accuracy on real/generated latents, latent scales, and the
        adversarial share |adv_weight·adv_g| / |total| of the generator/task loss."""
        fusion = self.task.fusion
        stats = dict(fusion.last_discriminator_stats)
        if ADVERSARIAL_TERM in terms:
            adv = float(fusion.loss_weights.get(ADVERSARIAL_TERM, 1.0)) * terms[ADVERSARIAL_TERM].detach()
            stats["adv_share"] = adv.abs() / terms["total"].detach().abs().clamp(min=1e-12)
        for k, v in stats.items():
            self.task.log(f"train/{k}", v.detach(), on_step=True, on_epoch=True, batch_size=batch_size)
