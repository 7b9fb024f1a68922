"""Build one encoder per modality from a DataSpec and the ``encoder`` config group."""

from __future__ import annotations

from torch import nn

from fusionlab.data.spec import SEQUENCE, TOKENS, VECTOR, DataSpec
from fusionlab.encoders.features import SequenceEncoder, VectorEncoder
from fusionlab.encoders.text import TextEncoder
from fusionlab.errors import ConfigError


def build_text_encoder(vocab_size: int, d: int, pad_id: int, options: dict) -> nn.Module:
    """options["kind"]: "rnn" (embeddings + BiRNN, default) or "transformer"."""
    options = dict(options)
    kind = options.pop("kind", "rnn")
    if kind == "rnn":
        return TextEncoder(vocab_size, d, pad_id=pad_id, **options)
    if kind == "transformer":
        from fusionlab.encoders.transformer import TransformerTextEncoder

        return TransformerTextEncoder(vocab_size, d, pad_id=pad_id, **options)
    raise ConfigError(f"encoder.text.kind must be 'rnn' or 'transformer', got {kind!r}")


def build_encoders(spec: DataSpec, d: int, text: dict | None = None, vector: dict | None = None,
                   sequence: dict | None = None) -> nn.ModuleDict:
    """modality -> encoder producing size-d :class:`Encoded`. Option dicts come from conf/encoder."""
    text, vector, sequence = dict(text or {}), dict(vector or {}), dict(sequence or {})
    encoders = nn.ModuleDict()
    for name, m in spec.modalities.items():
        if m.kind == TOKENS:
            encoders[name] = build_text_encoder(m.dim, d, m.pad_id, text)
        elif m.kind == VECTOR:
            encoders[name] = VectorEncoder(m.dim, d, **vector)
        elif m.kind == SEQUENCE:
            encoders[name] = SequenceEncoder(m.dim, d, **sequence)
        else:
            raise ConfigError(f"modality {name!r} has unknown kind {m.kind!r}")
    return encoders
