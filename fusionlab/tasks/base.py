"""Shared LightningModule logic: encoders -> fusion -> head, loss assembly, GAN alternation, logging.

Subclasses implement ``build_head()``, ``task_loss(out, encoded, batch)`` and the evaluation
(``eval_step`` collecting per-sample records, ``eval_metrics`` turning them into numbers).

Hyper-parameters stored in checkpoints are plain containers only (the fusion/head factories are
ignored), so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import lightning as L
import torch
from torch import Tensor

from fusionlab.data.batch import Batch
from fusionlab.data.spec import DataSpec
from fusionlab.encoders import build_encoders
from fusionlab.errors import NumericalError
from fusionlab.fusion.base import Encoded, Fusion, FusionOutput
from fusionlab.tasks.gather import gather_unique
from fusionlab.tasks.schedulers import build_scheduler, check_scheduler_options


class FusionTask(L.LightningModule):
    """data_spec: DataSpec.to_dict(); encoder: conf/encoder options; fusion: partial Fusion factory;
    optimizer: {lr, weight_decay, betas, d_lr}; grad_clip: max grad norm (0 = off);
    monitor/monitor_mode: the validation metric that picks the best checkpoint;
    scheduler: {name: none|inverse_sqrt|cosine, warmup_steps, total_steps, min_lr_ratio}, stepped
    per optimizer step (fusionlab/tasks/schedulers.py)."""

    def __init__(self, data_spec: dict, fusion: Callable[..., Fusion], latent_dim: int = 256,
                 encoder: dict | None = None, optimizer: dict | None = None, grad_clip: float = 0.0,
                 monitor: str = "val/loss", monitor_mode: str = "min", nan_policy: str = "stop",
                 fusion_name: str = "", scheduler: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["fusion", "decoder", "head"])
        self.spec = DataSpec.from_dict(data_spec)
        self.encoders = build_encoders(self.spec, latent_dim, **(encoder or {}))
        self.fusion: Fusion = fusion(modalities=list(self.spec.modalities), d_in=latent_dim,
                                     d_out=latent_dim)
        self.optim_cfg = {"lr": 1e-3, "weight_decay": 0.0, "betas": (0.9, 0.999), "d_lr": None,
                          **(optimizer or {})}
        self.grad_clip = float(grad_clip)
        self.sched_cfg = check_scheduler_options(scheduler)
        self.nan_policy = nan_policy
        self.automatic_optimization = not self.fusion.has_discriminator
        self._records: list[tuple] = []
        #: optional (batch) -> inputs dict applied before encoding (eval.py robustness curves)
        self.input_corruption: Callable[[Batch], dict] | None = None

    # --- forward pieces -----------------------------------------------------------------------
    def encode(self, batch: Batch) -> dict[str, Encoded]:
        inputs = batch.inputs if self.input_corruption is None else self.input_corruption(batch)
        return {name: enc(inputs[name], batch.masks.get(name)) for name, enc in self.encoders.items()}

    def fuse(self, batch: Batch) -> tuple[dict[str, Encoded], FusionOutput]:
        """Encode, then fuse; fusions with ``wants_raw_text`` also get the raw source sentences
        (``Batch.meta["source_text"]``, None when the dataset has none)."""
        encoded = self.encode(batch)
        if getattr(self.fusion, "wants_raw_text", False):
            return encoded, self.fusion(encoded, texts=batch.meta.get("source_text"))
        return encoded, self.fusion(encoded)

    def task_loss(self, out: FusionOutput, encoded: dict[str, Encoded], batch: Batch) -> Tensor:
        raise NotImplementedError

    def losses(self, batch: Batch) -> tuple[dict[str, Tensor], FusionOutput, dict[str, Encoded]]:
        """{"task", aux terms..., "total"} for one batch, plus the fusion output and encodings."""
        encoded, out = self.fuse(batch)
        terms = {"task": self.task_loss(out, encoded, batch)}
        terms.update(out.losses)
        aux = self.fusion.weighted_loss(out.losses)
        terms["total"] = terms["task"] if aux is None else terms["task"] + aux
        return terms, out, encoded

    # --- training -----------------------------------------------------------------------------
    def _check_finite(self, terms: dict[str, Tensor]) -> bool:
        bad = [k for k, v in terms.items() if not torch.isfinite(v.detach()).all()]
        if not bad:
            return True
        if self.nan_policy == "skip":
            self.log("train/skipped_batches", 1.0, reduce_fx="sum", on_step=False, on_epoch=True)
            return False
        raise NumericalError(
            f"loss term(s) {bad} became non-finite at global step {self.global_step} "
            f"(epoch {self.current_epoch}); the last good checkpoint is kept. Lower the learning "
            "rate, check the input data, or set task.nan_policy=skip to skip such batches")

    def _log_terms(self, terms: dict[str, Tensor], stage: str, batch_size: int) -> None:
        on_step = stage == "train"
        for k, v in terms.items():
            name = f"{stage}/loss" if k == "total" else f"{stage}/loss_{k}"
            self.log(name, v.detach(), on_step=on_step, on_epoch=True, batch_size=batch_size,
                     prog_bar=(k == "total"), sync_dist=not on_step)

    def training_step(self, batch: Batch, batch_idx: int):
        terms, out, encoded = self.losses(batch)
        ok = self._check_finite(terms)
        if self.automatic_optimization:
            if ok:
                self._log_terms(terms, "train", len(batch))
            return terms["total"] if ok else None
        opt_g, opt_d = self.optimizers()
        if not ok:
            return None
        # generator/task step: everything except the discriminator
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(terms["total"])
        if self.grad_clip > 0:
            self.clip_gradients(opt_g, gradient_clip_val=self.grad_clip, gradient_clip_algorithm="norm")
        opt_g.step()
        # discriminator step: detached real/fake latents, only discriminator parameters
        d_loss = self.fusion.discriminator_loss(encoded, out)
        terms["d"] = d_loss
        if self._check_finite({"d": d_loss}):
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            opt_d.step()
        for scheduler in self._manual_schedulers():
            scheduler.step()
        self._log_terms(terms, "train", len(batch))
        self._log_gan_health(terms, len(batch))
        return None

    def _log_gan_health(self, terms: dict[str, Tensor], batch_size: int) -> None:
        """What a GAN user watches: D accuracy on real/generated latents, latent scales, and the
        adversarial share |adv_weight·adv_g| / |total| of the generator/task loss."""
        stats = dict(getattr(self.fusion, "last_discriminator_stats", None) or {})
        if "adv_g" in terms:
            adv = float(self.fusion.loss_weights.get("adv_g", 1.0)) * terms["adv_g"].detach()
            stats["adv_share"] = adv.abs() / terms["total"].detach().abs().clamp(min=1e-12)
        for k, v in stats.items():
            self.log(f"train/{k}", v.detach(), on_step=True, on_epoch=True, batch_size=batch_size)

    def _manual_schedulers(self) -> list:
        schedulers = self.lr_schedulers()
        return [] if schedulers is None else list(schedulers) if isinstance(schedulers, list) \
            else [schedulers]

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None):
        if self.grad_clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip,
                                gradient_clip_algorithm="norm")

    def configure_optimizers(self):
        cfg = self.optim_cfg
        kw = dict(lr=cfg["lr"], weight_decay=cfg["weight_decay"], betas=tuple(cfg["betas"]))
        if self.automatic_optimization:
            optimizers = [torch.optim.Adam(self.parameters(), **kw)]
        else:
            disc = {id(p) for p in self.fusion.discriminator_parameters()}
            gen_params = [p for p in self.parameters() if id(p) not in disc]
            optimizers = [torch.optim.Adam(gen_params, **kw),
                          torch.optim.Adam(self.fusion.discriminator_parameters(),
                                           **self._discriminator_optimizer(kw))]
        if self.sched_cfg["name"] == "none":
            return optimizers[0] if self.automatic_optimization else optimizers
        steps = self._estimated_steps()
        schedulers = [{"scheduler": build_scheduler(opt, self.sched_cfg, steps), "interval": "step"}
                      for opt in optimizers]
        return optimizers, schedulers

    def _discriminator_optimizer(self, kw: dict) -> dict:
        """Adam options of the discriminator: task.optimizer.d_lr, else the fusion's own ``d_lr``
        (GAN-Fusion: fusion.d_lr / fusion.d_betas), else the task's lr/betas."""
        own = getattr(self.fusion, "discriminator_optimizer", None) or {}
        lr = self.optim_cfg["d_lr"] or own.get("lr") or kw["lr"]
        return {**kw, "lr": lr, "betas": tuple(own.get("betas") or kw["betas"])}

    def _estimated_steps(self) -> int | None:
        """Optimizer steps of this run as Lightning estimates them (cosine's default length)."""
        if self.sched_cfg["name"] != "cosine" or self.sched_cfg["total_steps"] is not None:
            return None
        try:
            steps = self.trainer.estimated_stepping_batches
        except (RuntimeError, AttributeError):  # not attached to a Trainer
            return None
        return int(steps) if math.isfinite(float(steps)) else None

    # --- evaluation ---------------------------------------------------------------------------
    def eval_step(self, batch: Batch, out: FusionOutput, encoded: dict[str, Encoded],
                  stage: str) -> list[tuple]:
        """Per-sample records (index, ...) for :meth:`eval_metrics`."""
        raise NotImplementedError

    def eval_metrics(self, records: list[tuple], stage: str) -> dict[str, float]:
        raise NotImplementedError

    def _eval_batch(self, batch: Batch, stage: str, dataloader_idx: int = 0) -> FusionOutput:
        terms, out, encoded = self.losses(batch)
        self._log_terms(terms, stage, len(batch))
        # this batch's records, read by callbacks (confusion matrices) instead of re-running the model
        self.last_eval_records = self.eval_step(batch, out, encoded, stage)
        self._records.extend((dataloader_idx,) + r for r in self.last_eval_records)
        return out

    # the FusionOutput goes to callbacks' on_*_batch_end (latent-space plots, confusion matrices)
    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> FusionOutput:
        return self._eval_batch(batch, "val", dataloader_idx)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> FusionOutput:
        return self._eval_batch(batch, "test", dataloader_idx)

    def on_validation_epoch_start(self) -> None:
        self._records = []

    on_test_epoch_start = on_validation_epoch_start

    def _eval_epoch_end(self, stage: str) -> None:
        names = self.test_set_names() if stage == "test" else ["val"]
        by_set: dict[int, list[tuple]] = {}
        for r in self._records:
            by_set.setdefault(r[0], []).append(r[1:])
        self._records = []
        for idx, name in enumerate(names):
            records = gather_unique(by_set.get(idx, []))
            if not records:
                continue
            prefix = stage if len(names) == 1 else f"{stage}/{name}"
            # every rank computed the same numbers from the gathered records: sync_dist averages
            # identical values (it keeps Lightning from warning about unsynchronized epoch metrics)
            for key, value in self.eval_metrics(records, stage).items():
                if isinstance(value, float) and math.isfinite(value):
                    self.log(f"{prefix}/{key}", value, sync_dist=True,
                             prog_bar=key in ("bleu", "f1_mean", "mae"))
            self.log(f"{prefix}/num_samples", float(len(records)), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def test_set_names(self) -> list[str]:
        dm = getattr(self.trainer, "datamodule", None)
        return list(getattr(dm, "test_names", None) or ["test"])

    # --- reporting ----------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        counts = {f"params/encoder_{k}": count(v) for k, v in self.encoders.items()}
        counts["params/fusion"] = count(self.fusion)
        counts["params/total"] = count(self)
        return counts

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fusionlab"] = {"tokenizer_fingerprint": self.spec.tokenizer_fingerprint,
                                   "fusion": type(self.fusion).__name__}
