"""Shared LightningModule logic: encoders -> fusion -> head, loss assembly, evaluation plumbing.

A task subclass implements ``build``-time head construction in its ``__init__``, :meth:`task_loss`,
:meth:`eval_step` (one :class:`~fusionlab.contracts.EvalRecord` per sample), :meth:`eval_metrics`
(records -> metrics and notes) and the class attribute ``prediction_kind``. Everything else is here:

- training: one optimizer (``task.optimizer``, fusionlab/tasks/optimizers.py) with Lightning's
  automatic optimization, or, for a fusion that declares a discriminator, the alternating steps of
  fusionlab/tasks/adversarial.py;
- evaluation: per-sample records of every batch, gathered once per sample across DDP ranks, turned into
  metrics per evaluated set; each set's :class:`~fusionlab.contracts.EvalResult` is then handed to the
  trainer's :class:`~fusionlab.callbacks.evaluation.EvaluationCallback` s and kept in
  :attr:`FusionTask.eval_results`; the metrics' notes accumulate in :attr:`FusionTask.metric_notes`
  (written to metrics.json). What evaluation needs from the data (test set names, target decoding)
  is the DataModule's :meth:`~fusionlab.data.base.FusionDataModule.evaluation_context`, taken at setup.

Hyper-parameters stored in checkpoints are plain containers only (the fusion/head/optimizer
factories are ignored), so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import lightning as L
import torch
from torch import Tensor

from fusionlab.callbacks.evaluation import EvaluationCallback
from fusionlab.contracts import (FAKE_LATENTS, REAL_LATENTS, Batch, DataSpec, Encoded, EvalContext,
                                 EvalRecord, EvalResult, FusionOutput)
from fusionlab.data.base import FusionDataModule
from fusionlab.encoders import build_encoders
from fusionlab.errors import NumericalError
from fusionlab.fusion.base import Fusion
from fusionlab.tasks.adversarial import AdversarialTraining
from fusionlab.tasks.gather import gather_unique
from fusionlab.tasks.optimizers import OptimizerFactory
from fusionlab.tasks.schedulers import DECAYS, MAX_TIME, build_scheduler, check_scheduler_options


class FusionTask(L.LightningModule):
    """data_spec: DataSpec.to_dict(); encoder: conf/encoder options; fusion: partial Fusion factory;
    optimizer: partial torch.optim class or dict of Adam options (fusionlab/tasks/optimizers.py);
    grad_clip: max grad norm (0 = off); monitor/monitor_mode: the validation metric that picks the
    best checkpoint; scheduler: {name: none|inverse_sqrt|cosine|linear, warmup_steps, total_steps, total_minutes,
    min_lr_ratio}, stepped per optimizer step (fusionlab/tasks/schedulers.py)."""

    #: what eval_step predicts per sample: contracts.PER_LABEL | CLASS | SCORE | TEXT
    prediction_kind: str = ""

    def __init__(self, data_spec: dict, fusion: Callable[..., Fusion], latent_dim: int = 256,
                 encoder: dict | None = None, optimizer: Callable | dict | None = None,
                 grad_clip: float = 0.0, monitor: str = "val/loss", monitor_mode: str = "min",
                 nan_policy: str = "stop", fusion_name: str = "", scheduler: dict | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["fusion", "decoder", "head"] +
                                  ([] if optimizer is None or isinstance(optimizer, dict) else ["optimizer"]))
        self.spec = DataSpec.from_dict(data_spec)
        self.encoders = build_encoders(self.spec, latent_dim, **(encoder or {}))
        self.fusion: Fusion = fusion(modalities=list(self.spec.modalities), d_in=latent_dim,
                                     d_out=latent_dim)
        self.optimizer_factory = OptimizerFactory.of(optimizer)
        self.grad_clip = float(grad_clip)
        self.sched_cfg = check_scheduler_options(scheduler)
        self.nan_policy = nan_policy
        #: the training strategy the fusion's declaration asks for (None: one optimizer)
        self.adversarial = AdversarialTraining(self) if self.fusion.has_discriminator else None
        self.automatic_optimization = self.adversarial is None
        #: test set names and target decoding, from the DataModule at setup (or set by the caller)
        self.eval_context = EvalContext()
        #: the last evaluation's result per metric prefix ("val", "test", "test/<set>")
        self.eval_results: dict[str, EvalResult] = {}
        #: what the metrics are (sacreBLEU signature, tokenized-BLEU recipe, ...), for metrics.json
        self.metric_notes: dict[str, str] = {}
        self._records: list[tuple[int, EvalRecord]] = []
        #: optional (batch) -> inputs dict applied before encoding (eval.py robustness curves)
        self.input_corruption: Callable[[Batch], dict] | None = None

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        if isinstance(datamodule, FusionDataModule):
            self.eval_context = datamodule.evaluation_context()

    # --- forward pieces -----------------------------------------------------------------------
    def encode(self, batch: Batch) -> dict[str, Encoded]:
        inputs = batch.inputs if self.input_corruption is None else self.input_corruption(batch)
        return {name: enc(inputs[name], batch.masks.get(name)) for name, enc in self.encoders.items()}

    def fuse(self, batch: Batch) -> tuple[dict[str, Encoded], FusionOutput]:
        """Encode, then fuse; a fusion declaring ``wants_raw_text`` also gets the raw source
        sentences (``Batch.meta["source_text"]``, None when the dataset has none)."""
        encoded = self.encode(batch)
        if self.fusion.wants_raw_text:
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
    def check_finite(self, terms: dict[str, Tensor]) -> bool:
        """True when every term is finite; else skip (task.nan_policy=skip) or NumericalError."""
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

    def log_terms(self, terms: dict[str, Tensor], stage: str, batch_size: int) -> None:
        """Each term as <stage>/loss_<name> (the total as <stage>/loss)."""
        on_step = stage == "train"
        for k, v in terms.items():
            name = f"{stage}/loss" if k == "total" else f"{stage}/loss_{k}"
            self.log(name, v.detach(), on_step=on_step, on_epoch=True, batch_size=batch_size,
                     prog_bar=(k == "total"), sync_dist=not on_step)

    def training_step(self, batch: Batch, batch_idx: int):
        terms, out, encoded = self.losses(batch)
        ok = self.check_finite(terms)
        if self.adversarial is not None:
            if ok:
                self.adversarial.training_step(batch, terms, out, encoded)
            return None
        if ok:
            self.log_terms(terms, "train", len(batch))
        return terms["total"] if ok else None

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None):
        if self.grad_clip > 0:
            self.clip_gradients(optimizer, gradient_clip_val=self.grad_clip,
                                gradient_clip_algorithm="norm")

    def configure_optimizers(self):
        factory = self.optimizer_factory
        optimizers = [factory.make(self.parameters())] if self.adversarial is None \
            else self.adversarial.optimizers(factory)
        if self.sched_cfg["name"] == "none":
            return optimizers[0] if self.automatic_optimization else optimizers
        options = self.schedule_options()
        steps = self._estimated_steps(options)
        schedulers = [{"scheduler": build_scheduler(opt, options, steps), "interval": "step"}
                      for opt in optimizers]
        return optimizers, schedulers

    def schedule_options(self) -> dict:
        """``task.scheduler`` with ``total_minutes: max_time`` replaced by the attached Trainer's
        max_time budget in minutes (null without one: the schedule then runs over steps)."""
        options = dict(self.sched_cfg)
        if options["total_minutes"] == MAX_TIME:
            options["total_minutes"] = self._max_time_minutes()
        return options

    def _max_time_minutes(self) -> float | None:
        """Minutes of the Trainer's ``max_time`` (its Timer callback), None without one."""
        from lightning.pytorch.callbacks import Timer

        try:
            callbacks = self.trainer.callbacks
        except RuntimeError:  # not attached to a Trainer
            return None
        timers = [cb for cb in callbacks if isinstance(cb, Timer)]
        return timers[0].time_remaining("train") / 60.0 if timers else None

    def _estimated_steps(self, options: dict) -> int | None:
        """Optimizer steps of this run as Lightning estimates them (the default length of the
        cosine and linear schedules)."""
        if options["name"] not in DECAYS or options["total_steps"] is not None \
                or options["total_minutes"] is not None:
            return None
        try:
            steps = self.trainer.estimated_stepping_batches
        except (RuntimeError, AttributeError):  # not attached to a Trainer
            return None
        return int(steps) if math.isfinite(float(steps)) else None

    # --- evaluation ---------------------------------------------------------------------------
    def eval_step(self, batch: Batch, out: FusionOutput, encoded: dict[str, Encoded],
                  stage: str) -> list[EvalRecord]:
        """One record per sample of ``batch`` (prediction, target, source) for :meth:`eval_metrics`."""
        raise NotImplementedError

    def eval_metrics(self, records: list[EvalRecord], stage: str) -> tuple[dict[str, float], dict[str, str]]:
        """(metrics, notes) of one evaluated set; notes say what a metric is (for metrics.json)."""
        raise NotImplementedError

    def _eval_batch(self, batch: Batch, stage: str, dataloader_idx: int = 0) -> FusionOutput:
        terms, out, encoded = self.losses(batch)
        self.log_terms(terms, stage, len(batch))
        records = self.eval_step(batch, out, encoded, stage)
        if stage == "test":
            self._attach_latents(records, out)
        self._records.extend((dataloader_idx, r) for r in records)
        return out

    def _attach_latents(self, records: list[EvalRecord], out: FusionOutput) -> None:
        """Test records also carry the fused vector and the discriminator's real/generated latents."""
        latents = {"z": out.z}
        pair = self.fusion.discriminated_latents(out)
        if pair is not None:
            latents[REAL_LATENTS], latents[FAKE_LATENTS] = pair
        arrays = {k: v.detach().float().cpu().numpy() for k, v in latents.items()}
        for k, record in enumerate(records):
            record.latents = {name: a[k] for name, a in arrays.items()}

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> FusionOutput:
        return self._eval_batch(batch, "val", dataloader_idx)

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> FusionOutput:
        return self._eval_batch(batch, "test", dataloader_idx)

    def on_validation_epoch_start(self) -> None:
        self._records = []

    on_test_epoch_start = on_validation_epoch_start

    def _eval_epoch_end(self, stage: str) -> None:
        names = self.eval_context.set_names if stage == "test" else ["val"]
        by_set: dict[int, list[EvalRecord]] = {}
        for idx, r in self._records:
            by_set.setdefault(idx, []).append(r)
        self._records = []
        for idx, name in enumerate(names):
            records = gather_unique(by_set.get(idx, []))
            if not records:
                continue
            prefix = stage if len(names) == 1 else f"{stage}/{name}"
            metrics, notes = self.eval_metrics(records, stage)
            # every rank computed the same numbers from the gathered records: sync_dist averages
            # identical values (it keeps Lightning from warning about unsynchronized epoch metrics)
            for key, value in metrics.items():
                if isinstance(value, float) and math.isfinite(value):
                    self.log(f"{prefix}/{key}", value, sync_dist=True,
                             prog_bar=key in ("bleu", "f1_mean", "mae"))
            self.log(f"{prefix}/num_samples", float(len(records)), sync_dist=True)
            self.metric_notes.update(notes)
            result = EvalResult(stage=stage, set_name=name, prefix=prefix, several=len(names) > 1,
                                kind=self.prediction_kind, label_names=[str(n) for n in self.spec.label_names],
                                modalities=list(self.fusion.modalities), records=records,
                                metrics=metrics, notes=notes)
            self.eval_results[prefix] = result
            if not self.trainer.sanity_checking:
                for callback in self.trainer.callbacks:
                    if isinstance(callback, EvaluationCallback):
                        callback.on_evaluation(self.trainer, result)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

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
