"""Tokenizers for translation data: a word vocabulary (the paper's) and SentencePiece (bpe/unigram).

Both share one small interface (:class:`Tokenizer`):

- ``encode(text) -> list[int]`` without BOS/EOS; ``decode(ids) -> str`` detokenized, stopping at EOS
  and dropping pad/BOS;
- fixed special ids ``pad_id=0, bos_id=1, eos_id=2, unk_id=3``; ``vocab_size``;
- ``fingerprint``: a short hash of vocabulary + settings, stored in checkpoints so a model is never
  decoded with another vocabulary;
- ``save(path)`` writes one JSON file; :func:`load_tokenizer` reads either kind back. Tokenizers are
  picklable (DataLoader workers, ``ddp_spawn``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from fusionlab.atomic import write_text
from fusionlab.errors import ConfigError, DataError

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

# dotted abbreviations ("E.S.E.", "z.B."), words (with inner hyphens/apostrophes, and a word-final
# apostrophe as in "Kids' Food"; the detokenizer could not re-attach either) or single punctuation marks
_WORD_RE = re.compile(r"(?:\w\.){2,}|\w+(?:[-'’]\w+)*(?:['’](?!\w))?|[^\w\s]")
# light detokenization: no space before closing punctuation, none after opening brackets
_SPACE_BEFORE_RE = re.compile(r" ([.,!?;:%)\]}”])")
_SPACE_AFTER_RE = re.compile(r"([(\[{“]) ")


def _hash(payload: dict | bytes) -> str:
    data = payload if isinstance(payload, bytes) else json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha1(data).hexdigest()[:16]


class Tokenizer:
    """Common interface; see the module docstring."""

    kind = "base"
    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def _decode_pieces(self, ids: list[int]) -> str:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (optionally with BOS/EOS/pad) -> detokenized text; stops at the first EOS."""
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                kept.append(i)
        return self._decode_pieces(kept)

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def to_dict(self) -> dict:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as one JSON file (atomically, so concurrent readers never see half)."""
        write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @staticmethod
    def load(path: str | Path) -> "Tokenizer":
        return load_tokenizer(path)


class WordTokenizer(Tokenizer):
    """Word vocabulary: simple punctuation split, optional lowercasing, rare words -> <unk>.

    Words seen fewer than ``min_count`` times in the training text map to ``unk_id`` (the paper's
    vocabulary keeps words seen more than twice: ``min_count=3``).
    """

    kind = "word"

    def __init__(self, words: list[str], lowercase: bool = True, min_count: int = 3):
        if list(words[: len(SPECIALS)]) != list(SPECIALS):
            words = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.words = list(words)
        self.lowercase = bool(lowercase)
        self.min_count = int(min_count)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def train(cls, texts: Iterable[str], lowercase: bool = True, min_count: int = 3) -> "WordTokenizer":
        """Build the vocabulary from training sentences (most frequent first, ties alphabetical)."""
        counts: Counter = Counter()
        for t in texts:
            counts.update(cls.split(t, lowercase))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + kept, lowercase=lowercase, min_count=min_count)

    @staticmethod
    def split(text: str, lowercase: bool = True) -> list[str]:
        return _WORD_RE.findall(text.lower() if lowercase else text)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    @property
    def fingerprint(self) -> str:
        return _hash({"kind": self.kind, "lowercase": self.lowercase, "words": self.words})

    def encode(self, text: str) -> list[int]:
        unk = self.unk_id
        return [self.index.get(w, unk) for w in self.split(text, self.lowercase)]

    def _decode_pieces(self, ids: list[int]) -> str:
        text = " ".join(self.words[i] if 0 <= i < len(self.words) else UNK for i in ids)
        return detokenize(text)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase, "min_count": self.min_count,
                "words": self.words}


def detokenize(text: str) -> str:
    """Undo the word split's spaces around punctuation: ``"a dog ( big ) ."`` -> ``"a dog (big)."``."""
    text = _SPACE_BEFORE_RE.sub(r"\1", text)
    return _SPACE_AFTER_RE.sub(r"\1", text)


class SentencePieceTokenizer(Tokenizer):
    """SentencePiece subwords (bpe or unigram) with the fixed special ids; decode gives plain text."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, lowercase: bool = False):
        self.model_proto = bytes(model_proto)
        self.lowercase = bool(lowercase)
        self._sp = None

    @property
    def sp(self):
        if self._sp is None:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        return self._sp

    def __getstate__(self) -> dict:
        return {"model_proto": self.model_proto, "lowercase": self.lowercase}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model_proto"], state["lowercase"])

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, model_type: str = "bpe",
              lowercase: bool = False, character_coverage: float = 1.0) -> "SentencePieceTokenizer":
        """Train on the given sentences, deterministically (in memory, one thread, no sampling).

        ``vocab_size`` is an upper bound: small corpora get fewer pieces instead of an error.
        """
        import io

        import sentencepiece as spm

        if model_type not in ("bpe", "unigram"):
            raise ConfigError(f"dataset.sp_model_type={model_type!r}: use 'bpe' or 'unigram'")
        if int(vocab_size) <= len(SPECIALS):
            raise ConfigError(f"dataset.vocab_size={vocab_size}: must be larger than {len(SPECIALS)}")
        lines = [(t.lower() if lowercase else t).replace("\n", " ") for t in texts]
        if not any(line.strip() for line in lines):
            raise DataError("cannot train SentencePiece: the training text is empty")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=int(vocab_size),
            model_type=model_type, character_coverage=float(character_coverage),
            pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece=PAD, bos_piece=BOS, eos_piece=EOS,
            unk_piece=UNK, hard_vocab_limit=False, num_threads=1, input_sentence_size=0,
            shuffle_input_sentence=False, minloglevel=2)
        return cls(model.getvalue(), lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    @property
    def fingerprint(self) -> str:
        return _hash(self.model_proto + f"|lowercase={self.lowercase}".encode())

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text.lower() if self.lowercase else text))

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = [t.lower() for t in texts] if self.lowercase else list(texts)
        return [list(ids) for ids in self.sp.encode(texts)]

    def _decode_pieces(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "lowercase": self.lowercase,
                "model_proto": base64.b64encode(self.model_proto).decode("ascii")}


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by :meth:`Tokenizer.save`."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        kind = d["kind"]
    except FileNotFoundError:
        raise DataError(f"tokenizer file {path} not found; run `scripts/prepare_data.py` again") from None
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"tokenizer file {path} is not a fusionlab tokenizer ({e}); delete it and "
                        "prepare the data again") from None
    if kind == WordTokenizer.kind:
        return WordTokenizer(d["words"], lowercase=d["lowercase"], min_count=d["min_count"])
    if kind == SentencePieceTokenizer.kind:
        return SentencePieceTokenizer(base64.b64decode(d["model_proto"]), lowercase=d["lowercase"])
    raise DataError(f"tokenizer file {path} has unknown kind {kind!r}")


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int = 8000, model_type: str = "bpe",
                    lowercase: bool = False, min_count: int = 3) -> Tokenizer:
    """Train a tokenizer of the configured kind (``dataset.tokenizer``: sentencepiece | word)."""
    if kind == "word":
        return WordTokenizer.train(texts, lowercase=lowercase, min_count=min_count)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(texts, vocab_size=vocab_size, model_type=model_type,
                                            lowercase=lowercase)
    raise ConfigError(f"dataset.tokenizer={kind!r}: use 'sentencepiece' or 'word'")
