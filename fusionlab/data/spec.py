"""What a DataModule tells the task module about its data (sizes, modalities, vocabulary).

A :class:`DataSpec` is built by ``DataModule.setup()`` and holds only plain values, so it can be
stored in a checkpoint's hyper-parameters and loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    Translation: tgt_vocab_size, pad/bos/eos ids of the target tokenizer, tokenizer_fingerprint.
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        d = dict(d)
        d["modalities"] = {k: ModalitySpec(**v) for k, v in d["modalities"].items()}
        return cls(**d)
