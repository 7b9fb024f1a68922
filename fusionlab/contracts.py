"""The data that travels between the parts, declared in one place.

::

    DataModule --Batch--> encoders --Encoded--> Fusion --FusionOutput--> head --> loss
                                                                          \\--> EvalRecord (per sample)
    task evaluation: EvalRecords of a set --> EvalResult (metrics, notes, records) --> callbacks, metrics.json

- :class:`Batch` and :class:`DataSpec` (with :class:`ModalitySpec` and the kind/task constants) are what
  a DataModule yields and describes (defined next to the DataModules, in ``fusionlab/data/batch.py``
  and ``fusionlab/data/spec.py``, and re-exported here);
- :class:`Encoded` and :class:`FusionOutput` are the fusion contract (``fusionlab.fusion.base`` re-exports
  them; the capabilities a fusion may declare are attributes of ``Fusion`` there);
- :class:`EvalContext` is what evaluation needs from the data besides batches (test set names, target
  decoding), handed to the task by its DataModule;
- :class:`EvalRecord` (one evaluated sample) and :class:`EvalResult` (one evaluated set) are what a task's
  evaluation produces; callbacks receive them (``fusionlab.callbacks.evaluation``) instead of reading the
  task's attributes or running the model again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from fusionlab.data.batch import Batch
from fusionlab.data.spec import (CLASSIFICATION, REGRESSION, SEQUENCE, TOKENS, TRANSLATION, VECTOR,
                                 DataSpec, ModalitySpec)

__all__ = ["Batch", "DataSpec", "ModalitySpec", "TOKENS", "VECTOR", "SEQUENCE", "TRANSLATION",
           "CLASSIFICATION", "REGRESSION", "Encoded", "FusionOutput", "REAL_LATENTS", "FAKE_LATENTS",
           "ADVERSARIAL_TERM", "DISCRIMINATOR_TERM", "D_ACC_REAL", "D_ACC_FAKE", "REAL_NORM", "FAKE_NORM",
           "EvalContext", "EvalRecord", "EvalResult", "PER_LABEL", "CLASS", "SCORE",
           "TEXT"]


# --- the fusion contract ----------------------------------------------------------------------
@dataclass
class Encoded:
    """One encoded modality.

    vec:  (B, d) pooled summary.
    seq:  (B, T, d) per-step states, or None (sequence fusions and decoder attention use it).
    mask: (B, T) bool, True where the step is real, or None when seq is None.
    """

    vec: Tensor
    seq: Tensor | None = None
    mask: Tensor | None = None

    def detach(self) -> "Encoded":
        return Encoded(
            self.vec.detach(),
            None if self.seq is None else self.seq.detach(),
            self.mask,
        )

    def steps(self) -> tuple[Tensor, Tensor]:
        """(B, T, d) states and (B, T) mask; a vector-only modality becomes one step."""
        if self.seq is not None:
            mask = self.mask if self.mask is not None else torch.ones(
                self.seq.shape[:2], dtype=torch.bool, device=self.seq.device)
            return self.seq, mask
        return self.vec.unsqueeze(1), torch.ones(
            (self.vec.shape[0], 1), dtype=torch.bool, device=self.vec.device)


#: ``FusionOutput.extras`` keys of a fusion with a discriminator: the (B, M, d) latents it calls real
#: and the generated ones, one row per target modality (plotted by the latent-projection callback).
REAL_LATENTS, FAKE_LATENTS = "z_real", "z_fake"
#: ``FusionOutput.losses`` key of the generator's adversarial term (its share of the loss is logged).
ADVERSARIAL_TERM = "adv_g"
#: the discriminator step's loss term, logged as ``train/loss_d`` (fusionlab/tasks/adversarial.py)
DISCRIMINATOR_TERM = "d"
#: ``Fusion.last_discriminator_stats`` keys the collapse monitor reads (logged as ``train/<key>``):
#: D's accuracy on real and on generated latents, and the latents' mean norms
D_ACC_REAL, D_ACC_FAKE, REAL_NORM, FAKE_NORM = "d_acc_real", "d_acc_fake", "z_real_norm", "z_fake_norm"


@dataclass
class FusionOutput:
    """What every fusion returns.

    z:        (B, d_out) fused vector.
    losses:   auxiliary terms (unweighted scalars), e.g. {"recon": ..., "adv_g": ...}.
    extras:   tensors for logging/analysis, e.g. {"attention": (B, n_modalities)}, and
              ``REAL_LATENTS``/``FAKE_LATENTS`` for fusions with a discriminator.
    """

    z: Tensor
    losses: dict[str, Tensor] = field(default_factory=dict)
    extras: dict[str, Tensor] = field(default_factory=dict)


# --- evaluation -------------------------------------------------------------------------------
#: What a task predicts per sample (``EvalResult.kind``): one class per label (IEMOCAP's binary
#: tasks), one class over the labels, a score, or a sentence.
PER_LABEL, CLASS, SCORE, TEXT = "per_label", "class", "score", "text"


@dataclass
class EvalContext:
    """What evaluation needs from the data besides batches.

    set_names: the test sets, in ``dataloader_idx`` order.
    decode:    target token ids -> detokenized sentence (translation), else None.
    lowercase: the target vocabulary is lowercased (BLEU is then case-insensitive).
    tgt_lang:  target language code (the tokenized BLEU's Moses tokenizer).
    """

    set_names: list[str] = field(default_factory=lambda: ["test"])
    decode: Callable[[list[int]], str] | None = None
    lowercase: bool = False
    tgt_lang: str = "en"


@dataclass
class EvalRecord:
    """One evaluated sample.

    index:      row of the sample in its split (under DDP, duplicates are dropped by it).
    prediction: PER_LABEL (n_labels,) class ids; CLASS a class id; SCORE the predicted value;
                TEXT the detokenized hypothesis.
    target:     the same kind as ``prediction`` (TEXT: the raw reference sentence).
    source:     TEXT: the raw source sentence, if the dataset has one.
    latents:    test sets only: ``{"z": (d,)}`` the fused vector, plus ``REAL_LATENTS``/``FAKE_LATENTS``
                (M, d) for a fusion with a discriminator (numpy float arrays).
    """

    index: int
    prediction: Any
    target: Any
    source: str | None = None
    latents: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalResult:
    """One evaluated set, as the task hands it to callbacks after computing its metrics.

    stage:       "val" or "test".
    set_name:    "val", or the test set's name.
    prefix:      the metrics' prefix: "val", "test", or "test/<set_name>" when there are several.
    several:     whether the stage has several sets (file names then carry ``set_name``).
    kind:        PER_LABEL | CLASS | SCORE | TEXT (see :class:`EvalRecord`).
    label_names: class label names (PER_LABEL, CLASS), else empty.
    modalities:  the fusion's modality order (rows of REAL_LATENTS/FAKE_LATENTS).
    records:     every sample of the set once, by index (gathered across DDP ranks).
    metrics:     name -> value, without the prefix.
    notes:       what the metrics are (e.g. ``bleu_signature``), written to metrics.json.
    """

    stage: str
    set_name: str
    prefix: str
    several: bool
    kind: str
    label_names: list[str]
    modalities: list[str]
    records: list[EvalRecord]
    metrics: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
