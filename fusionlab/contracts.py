"""The data that travels between the parts, declared in one place.

::

    DataModule --Batch--> encoders --Encoded--> Fusion --FusionOutput--> head --> loss
                                                                          \\--> EvalRecord (per sample)
    task evaluation: EvalRecords of a set --> EvalResult (metrics, notes, records) --> callbacks, metrics.json

- :class:`Batch` and :class:`DataSpec` (with :class:`ModalitySpec` and the kind/task constants) are what
  a DataModule yields and describes (``fusionlab.data.batch`` and ``fusionlab.data.spec`` re-export
  them); a DataSpec holds only plain values, so it can be stored in a checkpoint's hyper-parameters
  and loaded with ``torch.load(weights_only=True)``;
- :class:`Encoded` and :class:`FusionOutput` are the fusion contract (``fusionlab.fusion.base`` re-exports
  them; the capabilities a fusion may declare are attributes of ``Fusion`` there);
- :class:`EvalContext` is what evaluation needs from the data besides batches (test set names, target
  decoding), handed to the task by its DataModule;
- :class:`EvalRecord` (one evaluated sample) and :class:`EvalResult` (one evaluated set) are what a task's
  evaluation produces; callbacks receive them (``fusionlab.callbacks.evaluation``) instead of reading the
  task's attributes or running the model again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

__all__ = ["Batch", "DataSpec", "ModalitySpec", "TOKENS", "VECTOR", "SEQUENCE", "TRANSLATION",
           "CLASSIFICATION", "REGRESSION", "Encoded", "FusionOutput", "REAL_LATENTS", "FAKE_LATENTS",
           "ADVERSARIAL_TERM", "DISCRIMINATOR_TERM", "D_ACC_REAL", "D_ACC_FAKE", "REAL_NORM", "FAKE_NORM",
           "EvalContext", "EvalRecord", "EvalResult", "PER_LABEL", "CLASS", "SCORE",
           "TEXT"]


# --- what a DataModule yields and describes ----------------------------------------------------
TOKENS = "tokens"      # (B, T) long token ids + (B, T) bool mask
VECTOR = "vector"      # (B, D) float feature vector
SEQUENCE = "sequence"  # (B, T, D) float feature sequence + (B, T) bool mask

TRANSLATION = "translation"
CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass
class ModalitySpec:
    """One input modality. ``dim`` is the vocabulary size for TOKENS, the feature size otherwise."""

    kind: str
    dim: int
    pad_id: int = 0


@dataclass
class DataSpec:
    """Everything the model needs to know about a dataset to build its modules.

    task: TRANSLATION | CLASSIFICATION | REGRESSION.
    modalities: ordered; the first is the primary (text) modality.
    Translation: tgt_vocab_size, pad/bos/eos ids of the target tokenizer, tokenizer_fingerprint,
    joint_vocab (the source text and the targets share one tokenizer).
    Classification: label_names (e.g. Neutral, Happy, Sad, Angry), each a binary task (MulT protocol).
    """

    task: str
    modalities: dict[str, ModalitySpec]
    tgt_vocab_size: int = 0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    label_names: list[str] = field(default_factory=list)
    tokenizer_fingerprint: str = ""
    joint_vocab: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        d = dict(d)
        d["modalities"] = {k: ModalitySpec(**v) for k, v in d["modalities"].items()}
        return cls(**d)


@dataclass
class Batch:
    """A collated mini-batch.

    inputs:  modality -> tensor. TOKENS (B, T) long; VECTOR (B, D) float; SEQUENCE (B, T, D) float.
    masks:   modality -> (B, T) bool, True where the step is real (TOKENS and SEQUENCE modalities).
             Real steps always come first (right padding); loaders of left-padded releases shift them.
    index:   (B,) long, row of each sample in its split; lets distributed evaluation drop duplicates.
    target:  translation: (B, T_tgt) long, BOS w_1 .. w_n EOS then pad_id;
             classification: (B, n_labels) long class per label (IEMOCAP: 0/1 per emotion);
             regression: (B,) float.
    target_text: raw reference sentences (translation only), for sacreBLEU.
    meta:    other per-sample data, e.g. {"source_text": raw source sentences} (fusions that declare
             ``wants_raw_text``, sample tables).
    """

    inputs: dict[str, Tensor]
    masks: dict[str, Tensor]
    index: Tensor
    target: Tensor | None = None
    target_text: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device) -> "Batch":
        return Batch(
            inputs={k: v.to(device, non_blocking=True) for k, v in self.inputs.items()},
            masks={k: v.to(device, non_blocking=True) for k, v in self.masks.items()},
            index=self.index.to(device),
            target=None if self.target is None else self.target.to(device, non_blocking=True),
            target_text=self.target_text,
            meta=self.meta,
        )


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
